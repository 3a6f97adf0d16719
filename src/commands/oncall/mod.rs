//! `oncall <service|team>`: who is on call now, until when, who is next —
//! and a Page button. `oncall set` and `oncall override` manage usher's own
//! rotations (team members and admins, audit-logged).

use chrono::{DateTime, Utc};

use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::store::EntityRow;
use crate::chat::{Action, ButtonStyle, Element, Field, Reply, Request, Span, Text};
use crate::oncall::{self, Lookup, OnCall, Responder, Source};

mod manage;

use manage::{add_override, set};
pub(crate) use manage::{may_act_for, may_manage};

use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core, render};

pub const OPTIONS: &[&str] = &[
    "service", "team", "people", "length", "handoff", "tz", "start", "person", "from", "to",
];

/// `oncall`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("oncall", OPTIONS, Never, |core, request, parsed| {
        Box::pin(route(core, request, parsed))
    });

/// `oncall`, `oncall set`, `oncall override`.
async fn route(core: &Core, request: &Request, parsed: &super::parse::Parsed) -> CommandResult {
    let args = &parsed.args;
    match parsed.sub.map(|s| s.name.as_str()) {
        Some("set") => set(core, request, args).await,
        Some("override") => add_override(core, request, args).await,
        _ => run(core, request, args).await,
    }
}

/// What the catalog and the provider say about an entity's on-call.
pub struct OnCallView {
    /// Where the answer came from.
    pub source: Source,
    /// Where a page goes: the service's paging product even when usher
    /// can't read who is on call there (PagerDuty's Events API needs no
    /// token), else the same as `source`.
    pub paging: Source,
    pub lookup: Lookup,
    pub team: Option<EntityRow>,
}

/// Looks up who is on call for a service or a team.
pub async fn lookup_for(core: &Core, entity: &EntityRow) -> Result<OnCallView, sqlx::Error> {
    let reader = core.reader().await;
    let team = if entity.kind == "group" {
        Some(entity.clone())
    } else {
        match &entity.owner_ref {
            Some(key) => reader.find_by_ref(key).await?,
            None => None,
        }
    };
    let paging = oncall::source_for(&reader, entity, team.as_ref()).await?;
    let mut source = paging.clone();
    // A paging product this deployment can't read (no token) gives way to
    // the team's usher rotation, when it has one.
    let unreadable = match &source {
        Source::PagerDuty { .. } => !core.oncall.pagerduty.has_token(),
        Source::Opsgenie { .. } => !core.oncall.opsgenie.has_key(),
        _ => false,
    };
    if unreadable
        && let Some(team) = team.as_ref().filter(|t| t.kind == "group")
        && reader.has_rotation(&team.key).await?
    {
        source = Source::Native {
            team_ref: team.key.clone(),
        };
    }
    let lookup = core
        .oncall
        .lookup(&reader, &source, core.clock.now())
        .await?;
    Ok(OnCallView {
        source,
        paging,
        lookup,
        team,
    })
}

/// "Mon 30 Nov 09:00 UTC".
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%a %d %b %H:%M UTC").to_string()
}

fn responder_span(core_people: &[EntityRow], r: &Responder) -> Span {
    match r
        .person
        .as_deref()
        .and_then(|k| core_people.iter().find(|p| p.key == k))
    {
        Some(row) => render::person(row),
        None => Span::Person {
            name: r.name.clone(),
            slack_id: None,
            discord_id: None,
        },
    }
}

/// People rows for mentions.
async fn people_of(core: &Core, answer: &OnCall) -> Result<Vec<EntityRow>, sqlx::Error> {
    let refs: Vec<String> = answer
        .levels
        .iter()
        .flat_map(|l| l.responders.iter())
        .chain(answer.next.iter().map(|n| &n.0))
        .filter_map(|r| r.person.clone())
        .collect();
    let mut rows = Vec::new();
    for key in refs {
        if let Some(row) = core.reader().await.find_by_ref(&key).await? {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// The one-line summary of an answer, for `owner`, `team` and `service`.
pub fn summary(view: &OnCallView) -> Text {
    let line = |answer: &OnCall| match answer.primary() {
        Some(r) => {
            let mut t = Text::new().add_bold(r.name.clone());
            if let Some(until) = r.until {
                t = t.add_plain(format!(" until {}", when(until)));
            }
            t.add_plain(format!(" ({})", answer.provider.label()))
        }
        None => Text::plain(format!("nobody, says {}", answer.provider.label())),
    };
    match &view.lookup {
        Lookup::Answer(a) => line(a),
        Lookup::Stale {
            answer, fetched_at, ..
        } => {
            let mut t = line(answer);
            t = t.add_plain(format!(
                " — last known, {} (provider unreachable)",
                age(*fetched_at)
            ));
            t
        }
        // A setting only admins can fix isn't the asker's business: the
        // why is in `status` and in an admin's `oncall`.
        Lookup::Unavailable {
            transient: false, ..
        } => Text::plain(format!(
            "not shown: usher isn't connected to {} yet",
            provider_name(&view.source)
        )),
        Lookup::Unavailable { why, .. } => Text::plain(format!("unknown right now: {why}")),
        Lookup::PagingOnly => Text::plain("PagerDuty (paging only)"),
        Lookup::NotConfigured => Text::plain("no on-call configured"),
    }
}

fn age(t: DateTime<Utc>) -> String {
    let minutes = (Utc::now() - t).num_minutes();
    match minutes {
        m if m < 1 => "under a minute ago".into(),
        m if m < 120 => format!("{m} min ago"),
        m => format!("{} h ago", m / 60),
    }
}

/// A Page button, when paging is possible.
pub fn page_button(entity: &EntityRow, view: &OnCallView) -> Option<Element> {
    let who = match &view.lookup {
        Lookup::Answer(a) | Lookup::Stale { answer: a, .. } => a.primary().map(|r| r.name.clone()),
        Lookup::PagingOnly => Some("on-call".into()),
        _ => None,
    }?;
    Some(Element::Button {
        label: format!("Page {who}"),
        action: Action::run(format!("page {}", entity.command_ref())),
        style: ButtonStyle::Danger,
    })
}

/// The paging product a source reads.
fn provider_name(source: &Source) -> &'static str {
    match source {
        Source::Opsgenie { .. } => "Opsgenie",
        _ => "PagerDuty",
    }
}

pub async fn run(core: &Core, request: &Request, args: &Args) -> CommandResult {
    let query = args.text("service").unwrap_or_default();
    let kinds = [
        Kind::Component,
        Kind::Api,
        Kind::Resource,
        Kind::System,
        Kind::Domain,
        Kind::Group,
    ];
    let entity = match resolve::resolve(core, query, &kinds).await? {
        Resolved::One(row) => *row,
        other => {
            return Ok(resolve::unresolved_reply(
                &other,
                query,
                "oncall",
                "service or team",
            ));
        }
    };
    let view = lookup_for(core, &entity).await?;
    let mut reply = Reply::new().header(format!("On call for {}", entity.label()));
    let answer = match &view.lookup {
        Lookup::Answer(a) => a.clone(),
        Lookup::Stale {
            answer,
            fetched_at,
            why,
        } => {
            reply = reply.section(Text::plain(format!(
                "⚠ {why}. Showing the last known answer, from {} ({}).",
                when(*fetched_at),
                age(*fetched_at)
            )));
            answer.clone()
        }
        Lookup::Unavailable { why, transient } => {
            let text = if *transient {
                format!("I can't tell right now: {why}. Try again in a minute.")
            } else if core.is_admin(request) {
                format!(
                    "I can't tell: {why}. (Only admins see this; `status` lists every setting missing.)"
                )
            } else {
                format!(
                    "{} is on call through {}, which usher isn't connected to yet — your usher admins can see why in `status`. Meanwhile, ask in the team's channel.",
                    entity.short(),
                    provider_name(&view.source)
                )
            };
            return Ok(reply
                .section(Text::plain(text))
                .actions(page_button(&entity, &view).into_iter().collect()));
        }
        Lookup::PagingOnly => {
            return Ok(reply
                .section(Text::plain(format!(
                    "{} can be paged through PagerDuty (an integration key is set), but without a pagerduty.com/service-id usher can't tell who is on call.",
                    entity.short()
                )))
                .actions(page_button(&entity, &view).into_iter().collect()));
        }
        Lookup::NotConfigured => {
            return Ok(reply.section(
                Text::new()
                    .add_bold(entity.short())
                    .add_plain(" has no on-call configured. Add a ")
                    .add_code("pagerduty.com/service-id")
                    .add_plain(" or ")
                    .add_code("opsgenie.com/team")
                    .add_plain(" annotation, or give its team an usher rotation: ")
                    .add_code("oncall set TEAM --people a,b,c"),
            ));
        }
    };
    let people = people_of(core, &answer).await?;
    match answer.primary() {
        Some(primary) => {
            let mut text = Text::new()
                .add_span(responder_span(&people, primary))
                .add_plain(" is on call");
            if let Some(until) = primary.until {
                text = text.add_plain(format!(" until {}", when(until)));
            }
            text = text.add_plain(format!(" — {}", answer.provider.label()));
            if answer.levels.len() > 1 {
                text = text.add_plain(", level 1");
            }
            reply = reply.section(text.add_plain("."));
        }
        None => {
            reply = reply.section(Text::plain(format!(
                "Nobody is on call right now, says {}.",
                answer.provider.label()
            )));
        }
    }
    let mut fields: Vec<Field> = answer
        .levels
        .iter()
        .skip(1)
        .map(|l| {
            let mut value = Text::new();
            for (i, r) in l.responders.iter().enumerate() {
                if i > 0 {
                    value = value.add_plain(", ");
                }
                value = value.add_span(responder_span(&people, r));
            }
            Field {
                label: format!("Level {}", l.level),
                value,
            }
        })
        .collect();
    if let Some((next, from)) = &answer.next {
        let mut value = Text::new().add_span(responder_span(&people, next));
        if let Some(from) = from {
            value = value.add_plain(format!(" from {}", when(*from)));
        }
        fields.push(Field {
            label: "Next".into(),
            value,
        });
    }
    reply = reply.fields(fields);
    let mut actions: Vec<Element> = page_button(&entity, &view).into_iter().collect();
    if let Some(team) = &view.team
        && let Some(button) = render::channel_button(team)
    {
        actions.push(button);
    }
    let source = match &view.source {
        Source::PagerDuty { service_id } => format!("PagerDuty service {service_id}"),
        Source::Opsgenie { schedule, .. } => format!("Opsgenie schedule {schedule}"),
        Source::Native { team_ref } => format!(
            "usher rotation of {}",
            EntityRef::from_key(team_ref)
                .map(|r| r.short())
                .unwrap_or_default()
        ),
        _ => String::new(),
    };
    Ok(reply
        .actions(actions)
        .context(Text::plain(format!("From the {source}."))))
}
