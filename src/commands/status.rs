//! `status` (admins in chat; `usher status` at the shell): where an
//! organisation stands after an import, on one screen — what each location
//! rejected and why (file:line), owners that don't resolve, which owners a
//! digest reaches and, for the rest, the line to add where, the metadata
//! coverage, and the settings that are missing for what the catalog uses.
//! The day-one view for a platform engineer; also where the configuration
//! problems go that people's answers leave out.

use crate::chat::{Action, Element, Field, Reply, Request, Text};
use crate::hygiene::digest::{self, Destination};

use super::parse::Args;
use super::{CommandResult, Core};

pub const OPTIONS: &[&str] = &[];

/// `status`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("status", OPTIONS, Never, |core, request, parsed| {
        Box::pin(run(core, request, &parsed.args))
    });

/// Lines shown per part before "… and N more".
const SHOWN: usize = 8;

pub async fn run(core: &Core, _request: &Request, _args: &Args) -> CommandResult {
    Ok(report(core).await?)
}

/// The whole report.
pub async fn report(core: &Core) -> Result<Reply, sqlx::Error> {
    let pool = &core.pool;
    let (services, teams, people, locations): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE kind = 'component'), count(*) FILTER (WHERE kind = 'group'),
                count(*) FILTER (WHERE kind = 'user'), (SELECT count(*) FROM locations)
         FROM entities",
    )
    .fetch_one(pool)
    .await?;
    let mut reply = Reply::new()
        .header("usher status")
        .section(Text::plain(format!(
            "{services} services, {teams} teams, {people} people from {locations} location(s)."
        )));

    // 1. What the imports rejected, by location.
    let rejected: Vec<(String, String, Option<i32>, String, String)> = sqlx::query_as(
        "SELECT l.target, p.file, p.line, p.field, p.message FROM import_problems p
         JOIN locations l ON l.id = p.location_id
         WHERE p.severity = 'error' ORDER BY l.target, p.file, p.line",
    )
    .fetch_all(pool)
    .await?;
    let mut text = Text::new();
    if rejected.is_empty() {
        text = text.add_plain("✅ Every descriptor imported.");
    } else {
        text = text.add_bold(format!("❌ {} import error(s):", rejected.len()));
        let mut location = "";
        for (target, file, line, field, message) in rejected.iter().take(SHOWN) {
            if target != location {
                location = target;
                text = text.add_plain(format!("\n{target}"));
            }
            let at = match line {
                Some(l) => format!("{file}:{l}"),
                None => file.clone(),
            };
            text = text
                .add_plain("\n  ")
                .add_code(format!("{at}: {field}: {message}"));
        }
        if rejected.len() > SHOWN {
            text = text.add_plain(format!(
                "\n… and {} more (`usher catalog validate` lists them all)",
                rejected.len() - SHOWN
            ));
        }
    }
    reply = reply.section(text);
    if let Some(directory) = directory_line(pool).await? {
        reply = reply.section(directory);
    }

    // 2. Owners that don't resolve.
    let unresolved: Vec<(String, i64, Option<String>, Option<i32>)> = sqlx::query_as(
        "SELECT e.owner_ref, count(*), min(e.source_file), min(e.source_line)
         FROM entities e
         WHERE e.kind = 'component' AND e.owner_ref IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM entities o WHERE o.ref = e.owner_ref AND o.kind IN ('group', 'user'))
         GROUP BY e.owner_ref ORDER BY count(*) DESC, e.owner_ref",
    )
    .fetch_all(pool)
    .await?;
    let unowned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM entities WHERE kind = 'component' AND owner_ref IS NULL",
    )
    .fetch_one(pool)
    .await?;
    if !unresolved.is_empty() || unowned > 0 {
        let mut text = Text::new().add_bold("⚠ Owners:");
        if unowned > 0 {
            text = text.add_plain(format!(
                "\n{unowned} service(s) name no owner (spec.owner)."
            ));
        }
        for (owner, count, file, line) in unresolved.iter().take(SHOWN) {
            let at = match (file, line) {
                (Some(f), Some(l)) => format!(" (e.g. {f}:{l})"),
                (Some(f), None) => format!(" (e.g. {f})"),
                _ => String::new(),
            };
            text = text
                .add_plain("\n")
                .add_code(owner.clone())
                .add_plain(format!(
                    " owns {count} service(s) but isn't a team or person in the catalog{at}"
                ));
        }
        reply = reply.section(text);
    }

    // 3. Who the digests reach.
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT owner_ref FROM entities WHERE kind = 'component' AND owner_ref IS NOT NULL ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    let (mut reached, mut missing) = (0usize, Vec::new());
    for owner in &owners {
        match digest::destination(pool, &core.config, owner).await?.1 {
            Destination::Channels(_) | Destination::People(_) => reached += 1,
            Destination::Nowhere(why) => missing.push((owner.clone(), why)),
        }
    }
    let mut text = Text::new().add_bold(format!(
        "📬 Digests reach {reached} of {} owner(s).",
        owners.len()
    ));
    for (owner, why) in missing.iter().take(SHOWN) {
        let place: Option<(Option<String>, Option<i32>)> =
            sqlx::query_as("SELECT source_file, source_line FROM entities WHERE ref = $1")
                .bind(owner)
                .fetch_optional(pool)
                .await?;
        text = text.add_plain("\n").add_code(owner.clone()).add_plain(": ");
        match place {
            Some((Some(file), line)) if owner.starts_with("group:") => {
                let at = line.map(|l| format!("{file}:{l}")).unwrap_or(file);
                text = text
                    .add_plain("add ")
                    .add_code("slack.com/channel-id: C…")
                    .add_plain(format!(" under metadata.annotations at {at}"));
            }
            _ => text = text.add_plain(why.clone()),
        }
    }
    if missing.len() > SHOWN {
        text = text.add_plain(format!("\n… and {} more", missing.len() - SHOWN));
    }
    reply = reply.section(text);

    // 4. Coverage.
    let (total, have) = crate::catalog::gaps::coverage(pool).await?;
    let fields = crate::catalog::gaps::COVERAGE_FIELDS
        .iter()
        .zip(have)
        .map(|(field, n)| Field {
            label: field.to_string(),
            value: Text::plain(format!("{}%", n * 100 / total.max(1))),
        })
        .collect();
    reply = reply.fields(fields);

    // 5. Settings the catalog needs and this deployment lacks.
    let mut settings = Vec::new();
    let (pagerduty, opsgenie): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE pagerduty_service_id IS NOT NULL),
                count(*) FILTER (WHERE opsgenie_team IS NOT NULL)
         FROM entities",
    )
    .fetch_one(pool)
    .await?;
    if pagerduty > 0 && !core.oncall.pagerduty.has_token() {
        settings.push(format!(
            "{pagerduty} entities name a PagerDuty service, but no PAGERDUTY_TOKEN is set: `oncall` can't read who is on call there."
        ));
    }
    if opsgenie > 0 && !core.oncall.opsgenie.has_key() {
        settings.push(format!(
            "{opsgenie} entities name an Opsgenie team, but no OPSGENIE_API_KEY is set."
        ));
    }
    if core.config.admins.people.is_empty() {
        settings.push("No admins are named ([admins] people in usher.toml): dead letters and undeliverable digests reach nobody.".into());
    }
    if core
        .config
        .hygiene
        .deliver_on
        .as_ref()
        .is_some_and(|on| on.is_empty())
    {
        settings.push("No chat platform can post (no SLACK_BOT_TOKEN or DISCORD_BOT_TOKEN): digests and pages wait in the outbox.".into());
    }
    let hygiene = &core.config.hygiene;
    for caution in core
        .config
        .cautions(hygiene.posts_on("slack"), hygiene.posts_on("discord"))
    {
        settings.push(format!("Caution — {caution}."));
    }
    if !settings.is_empty() {
        let mut text = Text::new().add_bold("⚙ Settings:");
        for s in settings {
            text = text.add_plain(format!("\n• {s}"));
        }
        reply = reply.section(text);
    }
    Ok(reply
        .actions(vec![
            Element::Button {
                label: "Catalog check-up".into(),
                action: Action::run("hygiene"),
                style: Default::default(),
            },
            Element::Button {
                label: "Coverage".into(),
                action: Action::run("stats coverage"),
                style: Default::default(),
            },
        ])
        .context(Text::plain(
            "`usher nag --once --dry-run` shows each digest; `usher catalog validate PATH` checks descriptors before they are imported.",
        )))
}

/// The directory: when it was last synced and how each LDAP source's last
/// read went (a failing one says why, and that its last good read is
/// used). None when no directory was ever connected.
async fn directory_line(pool: &sqlx::PgPool) -> Result<Option<Text>, sqlx::Error> {
    type SourceRow = (
        String,
        i32,
        i32,
        Option<chrono::DateTime<chrono::Utc>>,
        Option<String>,
        Option<chrono::DateTime<chrono::Utc>>,
    );
    let synced: Option<(Option<chrono::DateTime<chrono::Utc>>, i64)> = sqlx::query_as(
        "SELECT l.refreshed_at, (SELECT count(*) FROM entities e WHERE e.location_id = l.id AND e.kind = 'user' AND e.active)
         FROM locations l WHERE l.target = $1",
    )
    .bind(crate::directory::catalog::LOCATION)
    .fetch_optional(pool)
    .await?;
    let sources: Vec<SourceRow> = sqlx::query_as(
        "SELECT source, people, groups, read_at, error, error_at FROM directory_sources ORDER BY source",
    )
    .fetch_all(pool)
    .await?;
    if synced.is_none() && sources.is_empty() {
        return Ok(None);
    }
    let when = |t: &Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "never".into())
    };
    let mut text = Text::plain(match &synced {
        Some((at, people)) => format!("Directory: synced {}, {people} active people.", when(at)),
        None => "Directory: not synced yet.".to_string(),
    });
    for (source, people, groups, read_at, error, error_at) in sources {
        text = match error {
            Some(error) => text.add_plain(format!(
                "\n  ❌ {source}: failing since {}: {error}. Its last good read ({}) is used.",
                when(&error_at),
                when(&read_at)
            )),
            None => text.add_plain(format!(
                "\n  ✅ {source}: read {}: {people} active people, {groups} groups.",
                when(&read_at)
            )),
        };
    }
    Ok(Some(text))
}
