//! `hygiene [service|team]`: scorecards — which rules a service passes, a
//! team's services with something to fix (the worst first), or the whole
//! catalog by rule.

use std::collections::BTreeMap;

use crate::catalog::model::Kind;
use crate::chat::{Action, ButtonStyle, Element, Field, Reply, Request, Text};
use crate::hygiene::{self, Scope, rules};

use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core};

pub const OPTIONS: &[&str] = &[
    "target",
    "service",
    "rule",
    "for",
    "reason",
    "field",
    "value",
    // `hygiene fix`'s several fields at once (its form's answers).
    "description",
    "tier",
    "lifecycle",
    "runbook",
    "docs",
    "repo",
];

/// `hygiene`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("hygiene", OPTIONS, Never, |core, request, parsed| {
        Box::pin(route(core, request, parsed))
    });

/// `hygiene`, `hygiene fix`, and the ways to set a finding aside.
async fn route(core: &Core, request: &Request, parsed: &super::parse::Parsed) -> CommandResult {
    let args = &parsed.args;
    match parsed.sub.map(|s| s.name.as_str()) {
        Some("fix") => super::hygiene_fix::run(core, request, args).await,
        Some(sub) => set_aside(core, request, sub, args).await,
        None => run(core, request, args).await,
    }
}

/// Services listed in a team's scorecard before "and N more".
const SHOWN: usize = 12;

pub async fn run(core: &Core, _request: &Request, args: &Args) -> CommandResult {
    crate::catalog::store::record_whole_catalog();
    let query = args.text("target").unwrap_or_default().trim().to_string();
    if query.is_empty() {
        return everyone(core).await;
    }
    if matches!(
        query.to_lowercase().as_str(),
        "(no owner)" | "no owner" | "unowned" | "nobody"
    ) {
        return team(core, hygiene::UNOWNED, "Services without an owner").await;
    }
    let mut kinds: Vec<Kind> = Kind::OWNED.to_vec();
    // A person can own services too (Backstage allows a User as owner).
    kinds.extend([Kind::Group, Kind::User]);
    match resolve::resolve(core, &query, &kinds).await? {
        Resolved::One(row) if row.kind == "group" || row.kind == "user" => {
            let name = row
                .title
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| row.name.clone());
            team(core, &row.key, &name).await
        }
        Resolved::One(row) if row.kind == "component" => service(core, row.id).await,
        Resolved::One(row) => Ok(Reply::text(format!(
            "{} is a {}; hygiene checks services (components) and teams.",
            row.name, row.kind
        ))),
        other => {
            // An owner the services name that isn't in the catalog (a team
            // that was renamed or never described): its services still
            // have a scorecard.
            let named: Option<String> = sqlx::query_scalar(
                "SELECT owner_ref FROM entities WHERE kind = 'component'
                   AND (lower(owner_ref) = lower($1) OR lower(split_part(owner_ref, '/', 2)) = lower($1))
                 ORDER BY lower(owner_ref) = lower($1) DESC LIMIT 1",
            )
            .bind(&query)
            .fetch_optional(&core.pool)
            .await?;
            if let Some(owner) = named {
                let name = format!("{query} (not in the catalog)");
                return team(core, &owner, &name).await;
            }
            Ok(resolve::unresolved_reply(
                &other,
                &query,
                "hygiene",
                "service or team",
            ))
        }
    }
}

async fn service(core: &Core, id: i64) -> CommandResult {
    let scope = Scope {
        team: None,
        service_id: Some(id),
    };
    let cards = hygiene::scorecards(&core.pool, &core.config.hygiene, &scope).await?;
    let Some(card) = cards.into_iter().next() else {
        return Ok(Reply::text(
            "That service has no scorecard yet. Try again in a moment.",
        ));
    };
    let proposals: Vec<(String, String)> =
        sqlx::query_as("SELECT field, url FROM hygiene_proposals WHERE service_ref = $1")
            .bind(&card.key)
            .fetch_all(&core.pool)
            .await?;
    let mut text = Text::new();
    for (i, rule) in card.applied.iter().enumerate() {
        if i > 0 {
            text = text.add_plain("\n");
        }
        if card.broken.iter().any(|b| b.id == rule.id) {
            text = text
                .add_plain(format!("{} ", rule.severity.icon()))
                .add_plain(format!("{} — ", rule.message));
            match proposals
                .iter()
                .find(|(field, _)| rule.id == format!("{field}-missing"))
            {
                Some((_, url)) => {
                    text = text
                        .add_plain("fix proposed: ")
                        .add_link("pull request", url.clone())
                }
                None => text = text.add_italic(rule.hint),
            }
        } else if card.set_aside.iter().any(|b| b.id == rule.id) {
            text = text.add_plain(format!(
                "⏸ {} — set aside (snoozed or doesn't apply)",
                rule.message
            ));
        } else {
            text = text.add_plain(format!("✅ {}", passed(rule.id)));
        }
    }
    let mut reply = Reply::new()
        .header(format!(
            "{}: {} of {} checks pass",
            card.title,
            card.passing(),
            card.applied.len()
        ))
        .section(text);
    if let Some(owner) = &card.owner {
        reply = reply.context(Text::plain(format!("Owner: {owner}")));
    }
    Ok(reply.actions(vec![Element::Button {
        label: format!("Open {}", card.service),
        action: Action::run(format!("service {}", card.service)),
        style: ButtonStyle::Default,
    }]))
}

/// How a passed rule reads.
fn passed(id: &str) -> &'static str {
    match id {
        "owner-missing" => "has an owner",
        "owner-unknown" => "the owner is a known team",
        "owner-no-members" => "the owning team has members",
        "owner-people-left" => "the owning team has active people",
        "oncall-missing" => "has on-call",
        "import-failed" => "its descriptor imports cleanly",
        "runbook-missing" => "has a runbook",
        "depends-on-deprecated" => "depends on nothing deprecated",
        "stale" => "changed or confirmed recently",
        "docs-missing" => "has docs",
        "repo-missing" => "has a repository link",
        "description-missing" => "has a description",
        "tier-missing" => "has a tier",
        "lifecycle-missing" => "has a lifecycle",
        _ => "passes",
    }
}

async fn team(core: &Core, key: &str, name: &str) -> CommandResult {
    let scope = Scope {
        team: Some(key.to_string()),
        service_id: None,
    };
    let cards = hygiene::scorecards(&core.pool, &core.config.hygiene, &scope).await?;
    let rejected = hygiene::rejected_descriptors(&core.pool, &core.config.hygiene, &scope).await?;
    if cards.is_empty() && rejected.is_empty() {
        return Ok(Reply::text(if key == hygiene::UNOWNED {
            "Every service names an owner, and no descriptor without one was rejected.".to_string()
        } else {
            format!("{name} owns no services.")
        }));
    }
    let (checks, passing): (usize, usize) = cards.iter().fold((0, 0), |(c, p), card| {
        (c + card.applied.len(), p + card.passing())
    });
    let mut failing: Vec<&hygiene::Scorecard> =
        cards.iter().filter(|c| !c.broken.is_empty()).collect();
    failing.sort_by(|a, b| {
        let worst = |c: &hygiene::Scorecard| c.broken.iter().map(|r| r.severity).max();
        worst(b)
            .cmp(&worst(a))
            .then(b.broken.len().cmp(&a.broken.len()))
            .then(a.service.cmp(&b.service))
    });
    let mut reply = Reply::new()
        .header(format!("{name}: catalog check-up"))
        .section(Text::plain(if cards.is_empty() {
            "No services in the catalog yet.".to_string()
        } else {
            format!(
                "{} of {} services pass every check; {passing} of {checks} checks pass ({}%).",
                cards.len() - failing.len(),
                cards.len(),
                passing * 100 / checks.max(1)
            )
        }));
    let mut text = Text::new();
    for (i, card) in failing.iter().take(SHOWN).enumerate() {
        if i > 0 {
            text = text.add_plain("\n");
        }
        let mut broken = card.broken.clone();
        broken.sort_by_key(|r| std::cmp::Reverse(r.severity));
        text = text
            .add_plain(format!("{} ", broken[0].severity.icon()))
            .add_bold(card.service.clone())
            .add_plain(format!(
                ": {}",
                broken
                    .iter()
                    .map(|r| r.message)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
    }
    if !failing.is_empty() {
        reply = reply.section(text);
    }
    if failing.len() > SHOWN {
        reply = reply.context(Text::plain(format!(
            "… and {} more services with something to fix — `hygiene <service>` for one.",
            failing.len() - SHOWN
        )));
    }
    if !rejected.is_empty() {
        reply = reply.section(rejected_text(&rejected));
    }
    let buttons: Vec<Element> = failing
        .iter()
        .take(5)
        .map(|c| Element::Button {
            label: format!("Check {}", c.service),
            action: Action::run(format!("hygiene {}", c.service)),
            style: ButtonStyle::Default,
        })
        .collect();
    Ok(reply.actions(buttons))
}

/// Descriptors this owner's files name that were rejected at import: each
/// problem with its file:line, so whoever reads it knows what to change.
fn rejected_text(rejected: &[hygiene::Finding]) -> Text {
    let mut text = Text::new().add_bold(format!(
        "🔴 {} descriptor(s) rejected at import, so not in the catalog:",
        rejected.len()
    ));
    for finding in rejected.iter().take(SHOWN) {
        text = text.add_plain(format!("\n{}: ", finding.service));
        for (i, detail) in finding.details.iter().take(3).enumerate() {
            if i > 0 {
                text = text.add_plain("; ");
            }
            text = text.add_code(detail.clone());
        }
    }
    if rejected.len() > SHOWN {
        text = text.add_plain(format!("\n… and {} more", rejected.len() - SHOWN));
    }
    text.add_plain("\nFix the descriptor; usher reads it again at the next refresh.")
}

async fn everyone(core: &Core) -> CommandResult {
    let cards = hygiene::scorecards(&core.pool, &core.config.hygiene, &Scope::default()).await?;
    let mut by_rule: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut by_team: BTreeMap<String, usize> = BTreeMap::new();
    for card in &cards {
        for rule in &card.applied {
            by_rule.entry(rule.id).or_default().0 += 1;
        }
        for rule in &card.broken {
            by_rule.entry(rule.id).or_default().1 += 1;
            *by_team
                .entry(
                    card.owner
                        .clone()
                        .unwrap_or_else(|| hygiene::UNOWNED.into()),
                )
                .or_default() += 1;
        }
    }
    // Descriptors rejected at import never became services, but they are
    // the catalog's gaps too.
    let never_imported: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT coalesce(p.entity_ref, p.file)) FROM import_problems p
         WHERE p.severity = 'error'
           AND (p.entity_ref IS NULL OR NOT EXISTS (SELECT 1 FROM entities e WHERE e.ref = p.entity_ref))",
    )
    .fetch_one(&core.pool)
    .await?;
    let mut fields = Vec::new();
    for rule in rules::all() {
        if let Some((applied, broken)) = by_rule.get(rule.id).filter(|(a, _)| *a > 0) {
            let mut value = format!("{broken} of {applied} services");
            if rule.id == "import-failed" && never_imported > 0 {
                value.push_str(&format!(
                    ", and {never_imported} descriptor{} rejected whole (not in the catalog)",
                    if never_imported == 1 { "" } else { "s" }
                ));
            }
            fields.push(Field {
                label: format!("{} {}", rule.severity.icon(), rule.id),
                value: Text::plain(value),
            });
        }
    }
    let mut teams: Vec<(String, usize)> = by_team.into_iter().collect();
    teams.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let clean = cards.iter().filter(|c| c.broken.is_empty()).count();
    let mut reply = Reply::new()
        .header("Catalog check-up")
        .section(Text::plain(format!(
            "{clean} of {} services pass every check.",
            cards.len()
        )))
        .fields(fields);
    if !teams.is_empty() {
        reply = reply.context(Text::plain(format!(
            "Most to fix: {}",
            teams
                .iter()
                .take(5)
                .map(|(t, n)| format!("{} ({n})", t.rsplit('/').next().unwrap_or(t)))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(reply)
}

/// `hygiene snooze | not-applicable | withdraw | confirm`: the owners set
/// a finding aside (or take it back), or confirm a card is still right —
/// members of the owning team and admins, audit-logged.
pub async fn set_aside(core: &Core, request: &Request, sub: &str, args: &Args) -> CommandResult {
    let query = args.text("service").unwrap_or_default().trim().to_string();
    let service = match resolve::resolve(core, &query, &[Kind::Component]).await? {
        Resolved::One(row) => *row,
        other => {
            return Ok(resolve::unresolved_reply(
                &other, &query, "hygiene", "service",
            ));
        }
    };
    let Some(owner) = service.owner_ref.clone() else {
        return Ok(Reply::text(format!(
            "{} has no owner, so nobody can set its findings aside; give it an owner (spec.owner) first.",
            service.name
        )));
    };
    let team = crate::catalog::store::find_by_ref(&core.pool, &owner).await?;
    let allowed = match &team {
        Some(team) => super::oncall::may_manage(core, request, team).await?,
        None => core.is_admin(request),
    };
    if !allowed {
        return Ok(Reply::text(format!(
            "Only members of {owner} (and usher admins) can do that for {}. Nothing changed.",
            service.name
        )));
    }
    let who = request.actor.audit_name();
    let mut tx = core.pool.begin().await?;
    let (what, details) = if sub == "confirm" {
        crate::catalog::read_model::note_local_write();
        sqlx::query("UPDATE entities SET confirmed_at = now() WHERE id = $1")
            .bind(service.id)
            .execute(&mut *tx)
            .await?;
        (
            format!(
                "Confirmed: {}'s card is still accurate. It won't be reported as stale for {} days.",
                service.name, core.config.hygiene.stale_days
            ),
            serde_json::json!({}),
        )
    } else {
        let rule_id = args.text("rule").unwrap_or_default().trim().to_string();
        let Some(rule) = rules::find(&rule_id) else {
            return Ok(Reply::text(format!(
                "'{rule_id}' is not a rule. The rules are: {}.",
                rules::ids()
            )));
        };
        let reason = args.text("reason").unwrap_or_default().trim().to_string();
        match sub {
            "withdraw" => {
                let gone = sqlx::query(
                    "DELETE FROM hygiene_suppressions WHERE service_id = $1 AND rule = $2",
                )
                .bind(service.id)
                .bind(rule.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if gone == 0 {
                    return Ok(Reply::text(format!(
                        "{} for {} wasn't set aside; nothing to withdraw.",
                        rule.id, service.name
                    )));
                }
                (
                    format!(
                        "{} applies to {} again from the next round.",
                        rule.id, service.name
                    ),
                    serde_json::json!({ "rule": rule.id }),
                )
            }
            "not-applicable" if reason.is_empty() => {
                return Ok(Reply::text(format!(
                    "Say why {} doesn't apply to {}: `hygiene not-applicable {} {} <reason>`.",
                    rule.id, service.name, service.name, rule.id
                )));
            }
            _ => {
                let days: Option<i32> = match (sub, args.text("for")) {
                    ("snooze", Some("30d")) => Some(30),
                    ("snooze", _) => Some(7),
                    _ => None,
                };
                let reason = if reason.is_empty() {
                    format!("snoozed by {}", request.actor.display)
                } else {
                    reason
                };
                sqlx::query(
                    "INSERT INTO hygiene_suppressions (service_id, rule, until, reason, by_person)
                     VALUES ($1, $2, CASE WHEN $3::int IS NULL THEN NULL ELSE now() + make_interval(days => $3::int) END, $4, $5)
                     ON CONFLICT (service_id, rule) DO UPDATE
                     SET until = EXCLUDED.until, reason = EXCLUDED.reason, by_person = EXCLUDED.by_person, created_at = now()",
                )
                .bind(service.id)
                .bind(rule.id)
                .bind(days)
                .bind(&reason)
                .bind(&who)
                .execute(&mut *tx)
                .await?;
                let what = match days {
                    Some(d) => format!(
                        "Snoozed for {d} days: {} {} ({reason}).",
                        service.name, rule.message
                    ),
                    None => format!(
                        "Noted: {} doesn't apply to {} ({reason}). `hygiene withdraw {} {}` takes it back.",
                        rule.id, service.name, service.name, rule.id
                    ),
                };
                (
                    what,
                    serde_json::json!({ "rule": rule.id, "days": days, "reason": reason }),
                )
            }
        }
    };
    sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, $2, $3, $4)")
        .bind(&who)
        .bind(format!("hygiene.{sub}"))
        .bind(&service.key)
        .bind(details)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Reply::text(what))
}
