//! `oncall set` and `oncall override`: usher's own rotations, managed by
//! the team's members and the admins, audit-logged; times read in the
//! rotation's time zone.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::super::parse::Args;
use super::super::resolve::{self, Resolved};
use super::super::{CommandResult, Core};
use super::when;
use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::store::{self, EntityRow};
use crate::chat::{Action, ButtonStyle, Element, Reply, Request, Text};
use crate::rotation::{last_weekday, parse_handoff, parse_length};

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

/// Whether the person may act for whatever `owner` (a team's ref) owns:
/// an admin, or a member of that team.
pub(crate) async fn may_act_for(
    core: &Core,
    request: &Request,
    owner: Option<&str>,
) -> Result<bool, sqlx::Error> {
    if core.is_admin(request) {
        return Ok(true);
    }
    let Some(owner) = owner else {
        return Ok(false);
    };
    match store::find_by_ref(&core.pool, owner).await? {
        Some(team) => may_manage(core, request, &team).await,
        None => Ok(false),
    }
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
    crate::catalog::read_model::note_local_write();
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
    crate::catalog::read_model::note_local_write();
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
