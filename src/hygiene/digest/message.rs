//! The digest as a message: findings grouped by service, the worst first,
//! one screen at most, with the buttons that fix or set them aside.

use std::collections::BTreeMap;

use sqlx::PgPool;

use super::super::{Finding, UNOWNED, worst};
use crate::chat::{Action, ButtonStyle, Element, Reply, SelectOption, Text};
use crate::discovery::store::RepoAsk;

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

/// Names the members who left since the last digest: they are still
/// listed, and what they led may need someone new.
pub fn with_leavers(reply: Reply, typed: &str, leavers: &[(String, String)]) -> Reply {
    let names: Vec<&str> = leavers
        .iter()
        .map(|(_, name)| name.as_str())
        .take(10)
        .collect();
    let more = leavers.len().saturating_sub(names.len());
    reply.section(Text::plain(format!(
        "Left the team: {}{} — inactive in the catalog now (deprovisioned or deactivated). They are still listed as members; `team {typed}` shows who is active, and services they led may need a new contact.",
        names.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    )))
}

/// Repositories asked about in one digest before "and N more".
const REPOSITORIES_ASKED: usize = 3;

/// "These look like yours and aren't in the catalog": each with why, and
/// buttons to describe it, say it's someone else's, or set it aside.
fn ask_about_repositories(mut reply: Reply, repositories: &[RepoAsk]) -> Reply {
    let mut text = Text::plain(format!(
        "{} that look{} like yours {} no catalog-info.yaml, so nobody can ask usher about {}:",
        if repositories.len() == 1 {
            "1 repository".to_string()
        } else {
            format!("{} repositories", repositories.len())
        },
        if repositories.len() == 1 { "s" } else { "" },
        if repositories.len() == 1 {
            "has"
        } else {
            "have"
        },
        if repositories.len() == 1 {
            "it"
        } else {
            "them"
        },
    ));
    let asked = &repositories[..repositories.len().min(REPOSITORIES_ASKED)];
    for r in asked {
        text = text
            .add_plain("\n• ")
            .add_link(r.name.clone(), r.url.clone());
        if let Some(lang) = r.languages.first() {
            text = text.add_plain(format!(" ({lang})"));
        }
        if let Some(url) = &r.proposal_url {
            text = text
                .add_plain(" — a catalog-info.yaml is proposed: ")
                .add_link("review it", url.clone());
        } else if let Some(why) = &r.evidence {
            text = text.add_plain(format!(" — {why}"));
        }
    }
    if repositories.len() > asked.len() {
        text = text.add_plain(format!(
            "\n… and {} more — `repos --team` lists them",
            repositories.len() - asked.len()
        ));
    }
    reply = reply.section(text);
    for r in asked.iter().filter(|r| r.proposal_url.is_none()) {
        // Every repository a digest asks about has a likely owner: the team.
        let shown = crate::discovery::asks::Shown {
            named: true,
            has_owner: true,
        };
        reply = reply.actions(crate::discovery::asks::decision_buttons(&r.name, shown));
    }
    if let Some(first) = asked.iter().find(|r| r.proposal_url.is_none()) {
        reply = reply.actions(vec![crate::discovery::asks::not_a_service(&first.name)]);
    }
    reply
}

/// The digest message; `typed` is what `hygiene` takes for the owner's
/// scorecard ([`scorecard_name`]); `repositories`: the team's repositories
/// without a descriptor, asked about after the services.
pub fn render(
    typed: &str,
    team_name: &str,
    findings: &[Finding],
    repositories: &[RepoAsk],
    max_services: usize,
) -> Reply {
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
    let mut reply = Reply::new().header(format!("Catalog check-up: {team_name}"));
    if !findings.is_empty() {
        reply = reply.section(Text::plain(format!(
            "{} thing{} to fix in {} service{}. Fixing them keeps `owner`, `oncall` and `docs` answers right for everyone who asks.",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" },
            services.len(),
            if services.len() == 1 { "" } else { "s" },
        )));
    }
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
    if !repositories.is_empty() {
        reply = ask_about_repositories(reply, repositories);
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
