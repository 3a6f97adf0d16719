//! `stats [topic]`: the questions a platform team asks first, as counts
//! with a compact bar chart that renders in any chat.

use crate::catalog::model::EntityRef;
use crate::catalog::store;
use crate::chat::{Action, Element, Reply, Request, Text};

use super::parse::Args;
use super::{CommandResult, Core};

pub const OPTIONS: &[&str] = &["topic"];

/// `stats`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("stats", OPTIONS, Kept, |core, request, parsed| Box::pin(
        run(core, request, &parsed.args)
    ));

const TOPICS: &[&str] = &[
    "languages",
    "lifecycle",
    "tier",
    "owners",
    "types",
    "coverage",
    "spof",
];

pub async fn run(core: &Core, _request: &Request, args: &Args) -> CommandResult {
    match args.text("topic") {
        None => overview(core).await,
        Some("coverage") => coverage(core).await,
        Some("spof") => spof(core).await,
        Some(topic) => {
            let (title, column) = match topic {
                "languages" => ("Languages", "coalesce(e.language, '(none)')"),
                "lifecycle" => ("Lifecycles", "coalesce(e.lifecycle, '(none)')"),
                "tier" => ("Tiers", "coalesce('tier ' || e.tier, '(none)')"),
                "owners" => (
                    "Teams that own the most",
                    "coalesce(e.owner_ref, '(no owner)')",
                ),
                _ => ("Types", "coalesce(e.spec_type, '(none)')"),
            };
            let rows = counts(core, column).await?;
            let total: i64 = rows.iter().map(|r| r.1).sum();
            let rows: Vec<(String, i64)> = rows
                .into_iter()
                .map(|(label, n)| {
                    (
                        EntityRef::from_key(&label)
                            .map(|r| r.short())
                            .unwrap_or(label),
                        n,
                    )
                })
                .collect();
            Ok(Reply::new()
                .header(format!("{title} — {total} services"))
                .section(Text::new().add_pre(bars(&rows, total, 15)))
                .actions(topic_buttons(topic)))
        }
    }
}

/// Components by a column expression (a constant of this module).
async fn counts(core: &Core, column: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let sql = format!(
        "SELECT {column} AS label, count(*) FROM entities e WHERE e.kind = 'component'
         GROUP BY label ORDER BY count(*) DESC, label LIMIT 50"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&core.pool)
        .await
}

/// "java        ████████████░░░░  412  41%" (no share when `total` is 0).
pub fn bars(rows: &[(String, i64)], total: i64, limit: usize) -> String {
    let width = rows
        .iter()
        .take(limit)
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        .min(28);
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let mut out: Vec<String> = rows
        .iter()
        .take(limit)
        .map(|(label, n)| {
            let filled = ((*n as f64 / max as f64) * 20.0).round() as usize;
            let label: String = label.chars().take(28).collect();
            let pad = " ".repeat(width.saturating_sub(label.chars().count()));
            let share = if total > 0 {
                format!("  {:>3.0}%", *n as f64 * 100.0 / total as f64)
            } else {
                String::new()
            };
            format!(
                "{label}{pad}  {}{}  {n:>6}{share}",
                "█".repeat(filled),
                "░".repeat(20 - filled)
            )
        })
        .collect();
    if rows.len() > limit {
        let rest: i64 = rows[limit..].iter().map(|r| r.1).sum();
        out.push(format!("… and {} more ({rest})", rows.len() - limit));
    }
    out.join("\n")
}

fn topic_buttons(current: &str) -> Vec<Element> {
    TOPICS
        .iter()
        .filter(|t| **t != current)
        .take(5)
        .map(|t| Element::Button {
            label: t.to_string(),
            action: Action::run(format!("stats {t}")),
            style: Default::default(),
        })
        .collect()
}

async fn overview(core: &Core) -> CommandResult {
    let kinds = store::counts(&core.pool).await?;
    let count = |k: &str| {
        kinds
            .iter()
            .find(|(kind, _)| kind == k)
            .map(|r| r.1)
            .unwrap_or(0)
    };
    let lifecycles = counts(core, "coalesce(e.lifecycle, '(none)')").await?;
    let lifecycle_text = lifecycles
        .iter()
        .take(4)
        .map(|(l, n)| format!("{n} {l}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Reply::new()
        .header("The catalog")
        .section(Text::plain(format!(
            "{} services ({lifecycle_text}), {} APIs, {} resources, {} systems, {} domains; {} teams and {} people.",
            count("component"),
            count("api"),
            count("resource"),
            count("system"),
            count("domain"),
            count("group"),
            count("user")
        )))
        .actions(topic_buttons("")))
}

async fn coverage(core: &Core) -> CommandResult {
    let (total, have) = crate::catalog::gaps::coverage(&core.pool).await?;
    let rows: Vec<(String, i64)> = crate::catalog::gaps::COVERAGE_FIELDS
        .iter()
        .zip(have)
        .map(|(field, n)| (field.to_string(), n))
        .collect();
    let worst = rows
        .iter()
        .min_by_key(|r| r.1)
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let mut actions = vec![Element::Button {
        label: format!("Services missing {worst}"),
        action: Action::run(format!("search missing:{worst}")),
        style: Default::default(),
    }];
    let mut reply = Reply::new()
        .header(format!("Metadata coverage — {total} services"))
        .section(Text::new().add_pre(bars_fixed(&rows, total)));
    // The services the catalog doesn't know about yet: repositories
    // discovery found without a descriptor.
    let repos = crate::discovery::store::totals(&core.pool, None).await?;
    if repos.repositories > 0 {
        reply = reply.section(Text::plain(format!(
            "Repositories: {} of {} have a descriptor; {} don't ({} with a likely owner).",
            repos.described, repos.repositories, repos.undescribed, repos.with_likely_owner
        )));
        actions.push(Element::Button {
            label: "Repositories without a descriptor".into(),
            action: Action::run("repos"),
            style: Default::default(),
        });
    }
    Ok(reply
        .context(Text::plain(format!(
            "The biggest gap is {worst}: `search missing:{worst}` lists the services without it."
        )))
        .actions(actions))
}

/// Bars scaled to the total (coverage), not to the largest row.
fn bars_fixed(rows: &[(String, i64)], total: i64) -> String {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(label, n)| {
            let share = *n as f64 / total.max(1) as f64;
            let filled = (share * 20.0).round() as usize;
            format!(
                "{label:<width$}  {}{}  {:>3.0}%  ({n} of {total})",
                "█".repeat(filled),
                "░".repeat(20 - filled),
                share * 100.0
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn spof(core: &Core) -> CommandResult {
    let snapshot = core.snapshot.get(&core.pool).await?;
    let top = snapshot.graph.most_depended_on(10, 200);
    if top.is_empty() {
        return Ok(Reply::text(
            "No dependencies are recorded yet (spec.dependsOn), so there is nothing to rank.",
        ));
    }
    let ids: Vec<i64> = top.iter().map(|t| t.0).collect();
    let rows = core.reader().await.find_by_ids(&ids).await?;
    let named: Vec<(String, usize, usize, String)> = top
        .iter()
        .filter_map(|(id, direct, all)| {
            let row = rows.iter().find(|r| r.id == *id)?;
            let owner = row
                .owner_ref
                .as_deref()
                .and_then(EntityRef::from_key)
                .map(|r| r.short())
                .unwrap_or_else(|| "no owner".into());
            let mut name = row.short();
            if row.kind != "component" {
                name.push_str(&format!(" ({})", row.kind));
            }
            Some((name, *direct, *all, owner))
        })
        .collect();
    let width = named.iter().map(|n| n.0.chars().count()).max().unwrap_or(0);
    let max = named.iter().map(|n| n.2).max().unwrap_or(1).max(1);
    let chart: Vec<String> = named
        .iter()
        .map(|(name, direct, all, owner)| {
            let filled = (*all as f64 / max as f64 * 20.0).round() as usize;
            let pad = " ".repeat(width - name.chars().count());
            format!(
                "{name}{pad}  {}{}  {all:>5} affected · {direct} direct · {owner}",
                "█".repeat(filled),
                "░".repeat(20 - filled)
            )
        })
        .collect();
    let first = rows
        .iter()
        .find(|r| r.id == top[0].0)
        .map(|r| r.command_ref())
        .unwrap_or_default();
    Ok(Reply::new()
        .header("Single points of failure")
        .section(Text::plain("The services with the most dependents, counting everything that depends on them indirectly:"))
        .section(Text::new().add_pre(chart.join("\n")))
        .actions(vec![Element::Button {
            label: "Blast radius of the first".into(),
            action: Action::run(format!("deps --reverse --depth 2 {first}")),
            style: Default::default(),
        }]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_charts_fit_a_chat_message() {
        let rows = vec![
            ("java".to_string(), 40),
            ("go".to_string(), 20),
            ("rust".to_string(), 10),
        ];
        let text = bars(&rows, 70, 2);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("java  ████████████████████"), "{text}");
        assert!(lines[0].ends_with("40   57%"), "{text}");
        assert_eq!(lines[2], "… and 1 more (10)");
    }
}
