//! `oncall <service|team>`: who is on call now, until when, who is next —
//! and a Page button. `oncall set` and `oncall override` manage usher's own
//! rotations (team members and admins, audit-logged).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::json;

use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::store::{self, EntityRow};
use crate::chat::{Action, ButtonStyle, Element, Field, Reply, Request, Span, Text};
use crate::oncall::{self, Lookup, OnCall, Responder, Source};
use crate::rotation::{last_weekday, parse_handoff, parse_length};

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
    let team = if entity.kind == "group" {
        Some(entity.clone())
    } else {
        match &entity.owner_ref {
            Some(key) => store::find_by_ref(&core.pool, key).await?,
            None => None,
        }
    };
    let paging = oncall::source_for(&core.pool, entity, team.as_ref()).await?;
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
        && oncall::has_rotation(&core.pool, &team.key).await?
    {
        source = Source::Native {
            team_ref: team.key.clone(),
        };
    }
    let lookup = core
        .oncall
        .lookup(&core.pool, &source, core.clock.now())
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
        if let Some(row) = store::find_by_ref(&core.pool, &key).await? {
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

/// Whether the actor may manage a team's rotation: a member, or an admin.
pub(crate) async fn may_manage(
    core: &Core,
    request: &Request,
    team: &EntityRow,
) -> Result<bool, sqlx::Error> {
    if core.is_admin(request) {
        return Ok(true);
    }
    let Some(person) = &request.actor.person else {
        return Ok(false);
    };
    let members = store::team_members(&core.pool, team).await?;
    Ok(members.iter().any(|m| m.key == person.key))
}

async fn find_team(
    core: &Core,
    name: &str,
    command: &str,
) -> Result<Result<EntityRow, Reply>, sqlx::Error> {
    Ok(match resolve::resolve(core, name, &[Kind::Group]).await? {
        Resolved::One(team) => Ok(*team),
        other => Err(resolve::unresolved_reply(&other, name, command, "team")),
    })
}

/// `oncall set <team> --people … --length … --handoff … --tz … [--start …]`.
pub async fn set(core: &Core, request: &Request, args: &Args) -> CommandResult {
    let team = match find_team(core, args.text("team").unwrap_or_default(), "oncall set").await? {
        Ok(t) => t,
        Err(reply) => return Ok(reply),
    };
    if !may_manage(core, request, &team).await? {
        return Ok(Reply::text(format!(
            "Only members of {} and usher admins may change its rotation.",
            team.short()
        )));
    }
    let declared: Option<String> =
        sqlx::query_scalar("SELECT source FROM rotations WHERE team_ref = $1")
            .bind(&team.key)
            .fetch_optional(&core.pool)
            .await?;
    if declared.as_deref() == Some("catalog") {
        return Ok(Reply::text(format!(
            "{}'s rotation is declared in its descriptor ({}); change it there, so git stays the source of truth.",
            team.short(),
            team.provenance()
        )));
    }
    let bad = |why: String| Ok(Reply::text(format!("oncall set: {why}.")));
    let tz: Tz = match args.text("tz").unwrap_or("UTC").parse() {
        Ok(tz) => tz,
        Err(_) => {
            return bad(format!(
                "'{}' is not a time zone; use an IANA name such as Europe/Berlin",
                args.text("tz").unwrap_or_default()
            ));
        }
    };
    let length = match parse_length(args.text("length").unwrap_or("weekly")) {
        Ok(l) => l,
        Err(why) => return bad(why),
    };
    let default_handoff = if length % 7 == 0 {
        "mon 09:00"
    } else {
        "09:00"
    };
    let (weekday, handoff) = match parse_handoff(args.text("handoff").unwrap_or(default_handoff)) {
        Ok(h) => h,
        Err(why) => return bad(why),
    };
    let today = core.clock.now().with_timezone(&tz).date_naive();
    let start = match args.text("start") {
        Some(text) => match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(d) => d,
            Err(_) => return bad(format!("--start '{text}' is not a date; write YYYY-MM-DD")),
        },
        None => match weekday {
            Some(day) => last_weekday(today, day),
            None => today,
        },
    };
    let members = store::team_members(&core.pool, &team).await?;
    let mut people = Vec::new();
    for name in args
        .text("people")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        match store::find_person(&core.pool, name).await? {
            // Only the team's own people: a rotation decides who is paged
            // for it, and who may act as on call.
            Some(p) if !members.iter().any(|m| m.key == p.key) => {
                return bad(format!(
                    "{} isn't a member of {}, so they can't be on its rotation; its members are {}",
                    p.label(),
                    team.short(),
                    if members.is_empty() {
                        "none yet (add them in the team's descriptor)".to_string()
                    } else {
                        members
                            .iter()
                            .map(|m| m.label())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ));
            }
            Some(p) => people.push(p.key),
            None => {
                return bad(format!(
                    "there's no person '{name}' in the catalog (use their name, email or user:namespace/name)"
                ));
            }
        }
    }
    if people.is_empty() {
        return bad("--people needs at least one person".into());
    }
    let mut tx = core.pool.begin().await?;
    sqlx::query(
        "INSERT INTO rotations (team_ref, people, length_days, handoff, timezone, start_date, source, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'chat', $7, $8)
         ON CONFLICT (team_ref) DO UPDATE SET people = EXCLUDED.people, length_days = EXCLUDED.length_days,
             handoff = EXCLUDED.handoff, timezone = EXCLUDED.timezone, start_date = EXCLUDED.start_date,
             source = 'chat', updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
    )
    .bind(&team.key)
    .bind(&people)
    .bind(length as i32)
    .bind(handoff)
    .bind(tz.name())
    .bind(start)
    .bind(request.actor.audit_name())
    .bind(core.clock.now())
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, 'oncall.set', $3, $4)")
        .bind(core.clock.now())
        .bind(request.actor.audit_name())
        .bind(&team.key)
        .bind(json!({ "people": people, "length_days": length, "handoff": handoff.to_string(), "tz": tz.name(), "start": start }))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let names: Vec<String> = people
        .iter()
        .map(|p| {
            EntityRef::from_key(p)
                .map(|r| r.short())
                .unwrap_or_default()
        })
        .collect();
    Ok(Reply::new()
        .section(Text::plain(format!(
            "{}'s rotation: {} — {} day{} each, handing off at {}{} ({}).",
            team.short(),
            names.join(" → "),
            length,
            if length == 1 { "" } else { "s" },
            weekday.map(|d| format!("{d} ")).unwrap_or_default(),
            handoff.format("%H:%M"),
            tz.name()
        )))
        .actions(vec![Element::Button {
            label: "Who's on call now".into(),
            action: Action::run(format!("oncall {}", team.command_ref())),
            style: ButtonStyle::Default,
        }]))
}

/// A time in the rotation's zone: "YYYY-MM-DD HH:MM", "YYYY-MM-DDTHH:MM",
/// a date (midnight), "now"; for `to`, also a duration after `from`.
fn parse_time(
    text: &str,
    tz: Tz,
    now: DateTime<Utc>,
    after: Option<DateTime<Utc>>,
) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some(base) = after {
        let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        if let Ok(n) = n.parse::<i64>() {
            let d = match unit {
                "m" | "min" => Some(Duration::minutes(n)),
                "h" => Some(Duration::hours(n)),
                "d" => Some(Duration::days(n)),
                _ => None,
            };
            if let Some(d) = d {
                return Ok(base + d);
            }
        }
    }
    let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M"))
        .or_else(|_| NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| d.and_time(NaiveTime::MIN)))
        .map_err(|_| format!("'{t}' is not a time; write YYYY-MM-DD HH:MM (in quotes), a date, now, or a duration like 4h"))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("'{t}' doesn't exist in {tz} (a DST change)"))
}

/// `oncall override <team> <person> <from> <to>`.
pub async fn add_override(core: &Core, request: &Request, args: &Args) -> CommandResult {
    let team = match find_team(
        core,
        args.text("team").unwrap_or_default(),
        "oncall override",
    )
    .await?
    {
        Ok(t) => t,
        Err(reply) => return Ok(reply),
    };
    if !may_manage(core, request, &team).await? {
        return Ok(Reply::text(format!(
            "Only members of {} and usher admins may add overrides to its rotation.",
            team.short()
        )));
    }
    let tz: Option<String> =
        sqlx::query_scalar("SELECT timezone FROM rotations WHERE team_ref = $1")
            .bind(&team.key)
            .fetch_optional(&core.pool)
            .await?;
    let Some(tz) = tz else {
        return Ok(Reply::text(format!(
            "{} has no usher rotation to override; set one with `oncall set {} --people …`.",
            team.short(),
            team.name
        )));
    };
    let tz: Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    let now = core.clock.now();
    let bad = |why: String| Ok(Reply::text(format!("oncall override: {why}.")));
    let from = match parse_time(args.text("from").unwrap_or_default(), tz, now, None) {
        Ok(t) => t,
        Err(why) => return bad(why),
    };
    let to = match parse_time(args.text("to").unwrap_or_default(), tz, now, Some(from)) {
        Ok(t) => t,
        Err(why) => return bad(why),
    };
    if to <= from {
        return bad("the end must come after the start".into());
    }
    let Some(person) =
        store::find_person(&core.pool, args.text("person").unwrap_or_default()).await?
    else {
        return bad(format!(
            "there's no person '{}' in the catalog",
            args.text("person").unwrap_or_default()
        ));
    };
    let mut tx = core.pool.begin().await?;
    sqlx::query("INSERT INTO rotation_overrides (team_ref, person, starts_at, ends_at, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&team.key)
        .bind(&person.key)
        .bind(from)
        .bind(to)
        .bind(request.actor.audit_name())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, 'oncall.override', $3, $4)")
        .bind(now)
        .bind(request.actor.audit_name())
        .bind(&team.key)
        .bind(json!({ "person": person.key, "from": from, "to": to }))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Reply::text(format!(
        "{} covers {}'s rotation from {} to {}.",
        person.label(),
        team.short(),
        when(from),
        when(to)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_times() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let from = parse_time("2026-12-24 18:00", berlin, now, None).unwrap();
        assert_eq!(from, Utc.with_ymd_and_hms(2026, 12, 24, 17, 0, 0).unwrap());
        assert_eq!(
            parse_time("4h", berlin, now, Some(from)).unwrap(),
            from + Duration::hours(4)
        );
        assert_eq!(parse_time("now", berlin, now, None).unwrap(), now);
        assert!(parse_time("tomorrowish", berlin, now, None).is_err());
    }
}
