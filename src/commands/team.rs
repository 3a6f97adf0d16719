//! `team <team>`: the services a team owns (grouped by system), its people,
//! lead, channel and on-call.

use std::collections::BTreeMap;

use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::store::EntityRow;
use crate::chat::{Action, Element, Field, Reply, Request, Text};

use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core, render};

pub const OPTIONS: &[&str] = &["team"];

/// `team`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("team", OPTIONS, Kept, |core, request, parsed| Box::pin(
        run(core, request, &parsed.args)
    ));

/// Services listed before "and N more".
const SHOWN: usize = 40;

pub async fn run(core: &Core, _request: &Request, args: &Args) -> CommandResult {
    let query = args.text("team").unwrap_or_default();
    let team = match resolve::resolve(core, query, &[Kind::Group, Kind::User]).await? {
        Resolved::One(row) if row.kind == "group" => *row,
        Resolved::One(person) => {
            return Ok(Reply::text(
                Text::new()
                    .add_span(render::person(&person))
                    .add_plain(" is a person, not a team. Their teams: ")
                    .add_plain(person_teams(core, &person).await?.join(", ")),
            ));
        }
        other => return Ok(resolve::unresolved_reply(&other, query, "team", "team")),
    };
    let members = core.reader().await.team_members(&team).await?;
    let lead = render::find_lead(&team, &members);
    let owned: Vec<EntityRow> = owned_by(core, &team.key).await?;
    let children: Vec<String> = sqlx::query_scalar(
        "SELECT e.name FROM entities e WHERE e.kind = 'group' AND e.parent_ref = $1 ORDER BY e.name",
    )
    .bind(&team.key)
    .fetch_all(&core.pool)
    .await?;

    let mut reply = Reply::new().header(team.label());
    if let Some(d) = team.description.as_deref().filter(|d| !d.trim().is_empty()) {
        reply = reply.section(Text::new().add_italic(d.trim().to_string()));
    }
    let mut fields = render::team_fields(&team, lead, &members);
    fields.push(Field {
        label: "On call".into(),
        value: super::oncall::summary(&super::oncall::lookup_for(core, &team).await?),
    });
    if !children.is_empty() {
        fields.push(Field {
            label: "Sub-teams".into(),
            value: Text::plain(children.join(", ")),
        });
    }
    if let Some(source) = members_source(core, &team).await? {
        fields.push(Field {
            label: "People from".into(),
            value: Text::plain(source),
        });
    }
    reply = reply.fields(fields);

    if owned.is_empty() {
        reply = reply.section(Text::plain(format!(
            "{} owns nothing in the catalog.",
            team.short()
        )));
    } else {
        let mut by_system: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let systems: Vec<String> = owned
            .iter()
            .filter(|r| r.kind == "system" || r.kind == "domain")
            .map(|r| format!("{} ({})", r.short(), r.kind))
            .collect();
        for row in owned
            .iter()
            .filter(|r| r.kind != "system" && r.kind != "domain")
            .take(SHOWN)
        {
            let system = row
                .system_ref
                .as_deref()
                .and_then(EntityRef::from_key)
                .map(|r| r.short())
                .unwrap_or_else(|| "no system".into());
            let mut name = row.short();
            if row.kind != "component" {
                name.push_str(&format!(" ({})", row.kind));
            }
            by_system.entry(system).or_default().push(name);
        }
        let mut text = Text::new().add_bold(format!("Owns {}:", owned.len()));
        if !systems.is_empty() {
            text = text.add_plain(format!(" {}", systems.join(", ")));
        }
        for (system, names) in by_system {
            text = text
                .add_plain("\n• ")
                .add_bold(system)
                .add_plain(format!(": {}", names.join(", ")));
        }
        if owned.len() > SHOWN {
            text = text
                .add_plain(format!("\n… and {} more — ", owned.len() - SHOWN))
                .add_code(format!("search owner:{}", team.name));
        }
        reply = reply.section(text);
    }
    let mut actions: Vec<Element> = render::channel_button(&team).into_iter().collect();
    if owned.len() > SHOWN {
        actions.push(Element::Button {
            label: "All its services".into(),
            action: Action::run(format!("search owner:{}", team.name)),
            style: Default::default(),
        });
    }
    actions.push(Element::Button {
        label: "What they lack".into(),
        action: Action::run(format!("search owner:{} missing:runbook", team.name)),
        style: Default::default(),
    });
    Ok(reply
        .actions(actions)
        .context(Text::plain(render::context_line(&team))))
}

/// What a team owns, by system then name.
async fn owned_by(core: &Core, team_key: &str) -> Result<Vec<EntityRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        crate::entity_columns!(),
        " FROM entities e WHERE e.owner_ref = $1 AND e.kind IN ('component', 'api', 'resource', 'system', 'domain')
          ORDER BY e.system_ref NULLS LAST, e.kind, e.name LIMIT 5000"
    );
    sqlx::query_as(sql)
        .bind(team_key)
        .fetch_all(&core.pool)
        .await
}

async fn person_teams(core: &Core, person: &EntityRow) -> Result<Vec<String>, sqlx::Error> {
    let teams: Vec<String> = sqlx::query_scalar(
        "SELECT g.name FROM entities g WHERE g.kind = 'group' AND (
             g.ref IN (SELECT target_ref FROM relations WHERE source_id = $1 AND type = 'memberOf')
             OR g.id IN (SELECT source_id FROM relations WHERE target_ref = $2 AND type = 'hasMember'))
         ORDER BY g.name",
    )
    .bind(person.id)
    .bind(&person.key)
    .fetch_all(&core.pool)
    .await?;
    Ok(if teams.is_empty() {
        vec!["none recorded".into()]
    } else {
        teams
    })
}

/// Where the team and its people come from: the directory (its sources)
/// with when it was last synced — also for a team a descriptor defines
/// whose members the directory gives — or the descriptors' location;
/// `None` for a team made in chat.
async fn members_source(core: &Core, team: &EntityRow) -> Result<Option<String>, sqlx::Error> {
    let provenance = super::me::provenance(core, &team.key).await?;
    if let Some(p) = provenance.as_ref().filter(|p| p.is_directory()) {
        return Ok(Some(format!("{}{}", p.directory(), p.synced(", synced "))));
    }
    // Members the directory gives a team defined elsewhere.
    let from_directory: Option<super::me::Provenance> = sqlx::query_as(
        "SELECT l.target AS location, NULL::text AS file, 'location' AS origin, l.refreshed_at AS synced,
                string_agg(DISTINCT u.annotations->>'usher.dev/source', ', ') AS sources
         FROM entities u JOIN locations l ON l.id = u.location_id AND l.target = $2
         JOIN relations r ON r.source_id = u.id AND r.type = 'memberOf' AND r.target_ref = $1
         GROUP BY l.target, l.refreshed_at",
    )
    .bind(&team.key)
    .bind(crate::directory::catalog::LOCATION)
    .fetch_optional(&core.pool)
    .await?;
    let defined = match provenance {
        Some(super::me::Provenance {
            location: Some(target),
            ..
        }) => Some(format!("descriptors in {target}")),
        _ => None,
    };
    Ok(match (from_directory, defined) {
        (Some(p), Some(defined)) => Some(format!(
            "{}{} (the team itself: {defined})",
            p.directory(),
            p.synced(", synced ")
        )),
        (Some(p), None) => Some(format!("{}{}", p.directory(), p.synced(", synced "))),
        (None, defined) => defined,
    })
}
