//! The digest as a message: findings grouped by service, the worst first,
//! one screen at most, with the buttons that fix or set them aside.

use std::collections::BTreeMap;

use sqlx::PgPool;

use super::super::{Finding, UNOWNED, worst};
use crate::chat::{Action, ButtonStyle, Element, Reply, SelectOption, Text};

/// What to type after `hygiene` for an owner's scorecard: its short name
/// when that names only this owner in the catalog, else the full reference
/// (an owner the catalog doesn't describe, or a name a service shares —
/// snyk's `cli` team owns a `cli` service).
pub async fn scorecard_name(pool: &PgPool, owner: &str) -> Result<String, sqlx::Error> {
    if owner == UNOWNED {
        return Ok(owner.to_string());
    }
    let short = owner.rsplit('/').next().unwrap_or(owner);
    let named: Vec<String> =
        sqlx::query_scalar("SELECT ref FROM entities WHERE lower(name) = lower($1) LIMIT 2")
            .bind(short)
            .fetch_all(pool)
            .await?;
    Ok(if named == [owner] {
        short.to_string()
    } else {
        owner.to_string()
    })
}

/// The digest message; `typed` is what `hygiene` takes for the owner's
/// scorecard ([`scorecard_name`]).
pub fn render(typed: &str, team_name: &str, findings: &[Finding], max_services: usize) -> Reply {
    let mut by_service: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_service.entry(f.service.clone()).or_default().push(f);
    }
    let mut services: Vec<(String, Vec<&Finding>)> = by_service.into_iter().collect();
    // The worst first, then the most findings, then by name.
    services.sort_by(|(a, fa), (b, fb)| {
        worst(fb)
            .cmp(&worst(fa))
            .then(fb.len().cmp(&fa.len()))
            .then(a.cmp(b))
    });
    let team_short = typed;
    let mut reply = Reply::new()
        .header(format!("Catalog check-up: {team_name}"))
        .section(Text::plain(format!(
            "{} thing{} to fix in {} service{}. Fixing them keeps `owner`, `oncall` and `docs` answers right for everyone who asks.",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            services.len(),
            if services.len() == 1 { "" } else { "s" },
        )));
    let mut buttons: Vec<Element> = Vec::new();
    let mut options: Vec<SelectOption> = Vec::new();
    for (service, mut list) in services.iter().take(max_services).cloned() {
        list.sort_by_key(|f| std::cmp::Reverse(f.rule.severity));
        let mut text = Text::new().add_bold(list[0].title.clone());
        if list[0].title != service {
            text = text
                .add_plain(" (")
                .add_code(service.clone())
                .add_plain(")");
        }
        for f in &list {
            text = text.add_plain(format!(
                "\n{} {} — {}",
                f.rule.severity.icon(),
                f.rule.message,
                f.rule.hint
            ));
            for d in f.details.iter().take(3) {
                text = text.add_plain("\n    ").add_code(d.clone());
            }
            if f.details.len() > 3 {
                text = text.add_plain(format!("\n    … and {} more", f.details.len() - 3));
            }
        }
        reply = reply.section(text);
        if list[0].service_id.is_some() {
            const FIXABLE: [&str; 6] = [
                "description-missing",
                "tier-missing",
                "lifecycle-missing",
                "runbook-missing",
                "docs-missing",
                "repo-missing",
            ];
            if buttons.len() < 4 {
                buttons.push(if list.iter().any(|f| FIXABLE.contains(&f.rule.id)) {
                    Element::Button {
                        label: format!("Fix {service}"),
                        action: Action::run(format!("hygiene fix {service}")),
                        style: ButtonStyle::Primary,
                    }
                } else {
                    Element::Button {
                        label: format!("Open {service}"),
                        action: Action::run(format!("hygiene {service}")),
                        style: ButtonStyle::Default,
                    }
                });
            }
            for f in &list {
                if f.rule.id == "stale" {
                    buttons.insert(
                        0,
                        Element::Button {
                            label: format!("Confirm {service} still accurate"),
                            action: Action::run(format!("hygiene confirm {service}")),
                            style: ButtonStyle::Primary,
                        },
                    );
                    continue;
                }
                for (label, line) in [
                    (
                        "Snooze 7 days",
                        format!("hygiene snooze {service} {} 7d", f.rule.id),
                    ),
                    (
                        "Snooze 30 days",
                        format!("hygiene snooze {service} {} 30d", f.rule.id),
                    ),
                    (
                        "Doesn't apply",
                        format!("hygiene not-applicable {service} {}", f.rule.id),
                    ),
                ] {
                    options.push(SelectOption {
                        label: format!("{label}: {service} — {}", f.rule.id),
                        description: None,
                        action: Action::run(line),
                    });
                }
            }
        }
    }
    buttons.truncate(5);
    reply = reply.actions(buttons);
    if !options.is_empty() {
        reply = reply.actions(vec![Element::Select {
            placeholder: "Snooze or set aside a finding…".into(),
            options,
        }]);
    }
    if services.len() > max_services {
        reply = reply.context(Text::plain(format!(
            "… and {} more services — `hygiene {team_short}` lists them all.",
            services.len() - max_services
        )));
    } else {
        reply = reply.context(Text::plain(format!(
            "`hygiene {team_short}` shows the scorecard of everything it owns."
        )));
    }
    reply.public()
}
