//! Catalog hygiene: the rules every service is checked against
//! ([`rules`]), the findings for the whole catalog in one query
//! ([`evaluate`]), scorecards, and the digests owners get ([`digest`]).
//!
//! A finding is (service, rule). The rules apply by tier and lifecycle as
//! `[hygiene.rules.<id>]` says (defaults in [`rules`]); a deprecated service
//! is only held to the ownership and import rules.

pub mod digest;
pub mod proposal;
pub mod rounds;
pub mod rules;

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use sqlx::PgPool;

use crate::config::HygieneConfig;
use rules::{Rule, Severity};

/// One rule a service breaks.
#[derive(Debug, Clone)]
pub struct Finding {
    pub service_id: Option<i64>,
    /// The service's name (or the file, for a descriptor that can't be read).
    pub service: String,
    pub title: String,
    pub owner: Option<String>,
    pub rule: &'static Rule,
    /// `file:line: field: message` for import problems.
    pub details: Vec<String>,
}

/// What to evaluate.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only services owned by this team or person (`group:ns/name`,
    /// `user:ns/name`), or, with [`UNOWNED`], by nobody.
    pub team: Option<String>,
    /// Only this service.
    pub service_id: Option<i64>,
}

/// The owner of services that have none, as digests and scopes name it.
pub const UNOWNED: &str = "(no owner)";

/// The checks of one service: which rules applied and which it breaks.
#[derive(Debug, Clone)]
pub struct Scorecard {
    pub service_id: i64,
    /// `component:ns/name`.
    pub key: String,
    pub service: String,
    pub title: String,
    pub owner: Option<String>,
    pub applied: Vec<&'static Rule>,
    /// Broken and not set aside.
    pub broken: Vec<&'static Rule>,
    /// Broken, but snoozed or marked not applicable by the owners.
    pub set_aside: Vec<&'static Rule>,
}

impl Scorecard {
    pub fn passing(&self) -> usize {
        self.applied.len() - self.broken.len()
    }
}

/// The rules that only ownership and imports are held to for deprecated
/// services.
const FOR_DEPRECATED: &[&str] = &[
    "owner-missing",
    "owner-unknown",
    "owner-no-members",
    "owner-people-left",
    "import-failed",
];

/// Whether `rule` applies to a service of this tier and lifecycle.
pub fn applies(
    config: &HygieneConfig,
    rule: &Rule,
    tier: Option<&str>,
    lifecycle: Option<&str>,
) -> bool {
    let custom = config.rules.get(rule.id);
    if custom.and_then(|c| c.enabled) == Some(false) {
        return false;
    }
    let lifecycle = lifecycle.map(|l| l.trim().to_lowercase());
    if lifecycle.as_deref() == Some("deprecated") && !FOR_DEPRECATED.contains(&rule.id) {
        return false;
    }
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let tiers = custom
        .and_then(|c| c.tiers.clone())
        .unwrap_or_else(|| owned(rule.tiers));
    let lifecycles = custom
        .and_then(|c| c.lifecycles.clone())
        .unwrap_or_else(|| owned(rule.lifecycles));
    if tiers.is_empty() && lifecycles.is_empty() {
        return true;
    }
    let tier = tier.map(rules::normalize_tier);
    tiers.iter().any(|t| Some(rules::normalize_tier(t)) == tier)
        || lifecycles
            .iter()
            .any(|l| Some(l.trim().to_lowercase()) == lifecycle)
}

type Row = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i32,
    Option<Vec<String>>,
);

/// Every service's scorecard in scope, from one query.
pub async fn scorecards(
    pool: &PgPool,
    config: &HygieneConfig,
    scope: &Scope,
) -> Result<Vec<Scorecard>, sqlx::Error> {
    let mut cards = Vec::new();
    each_scorecard(pool, config, scope, |card| cards.push(card)).await?;
    Ok(cards)
}

/// Hands each service's scorecard to `visit` as its row arrives, so a
/// whole-catalog round never holds 100,000 rows and cards at once.
async fn each_scorecard(
    pool: &PgPool,
    config: &HygieneConfig,
    scope: &Scope,
    mut visit: impl FnMut(Scorecard),
) -> Result<(), sqlx::Error> {
    let all = rules::all();
    // One bit per rule (rule i broken: bit i set): one integer to decode
    // per service rather than an array.
    let predicates: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, r)| format!("(CASE WHEN ({}) THEN {} ELSE 0 END)", r.sql, 1i32 << i))
        .collect();
    // Every part is a constant of `rules`.
    let columns = format!(
        "e.id, e.ref, e.name, coalesce(nullif(e.title, ''), e.name), e.owner_ref, e.tier, e.lifecycle,
         ({}),
         sup.rules",
        predicates.join(" | ")
    );
    // Every part is a constant of `rules`.
    let sql = rules::FROM.replace("{columns}", &columns);
    let mut rows = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
        .bind(config.stale_days as i32)
        .bind(&scope.team)
        .bind(scope.service_id)
        .fetch(pool);
    while let Some((id, key, name, title, owner, tier, lifecycle, broken, set_aside)) =
        rows.try_next().await?
    {
        let mut card = Scorecard {
            service_id: id,
            key,
            service: name,
            title,
            owner,
            applied: Vec::new(),
            broken: Vec::new(),
            set_aside: Vec::new(),
        };
        let set_aside = set_aside.unwrap_or_default();
        for (i, rule) in all.iter().enumerate() {
            let is_broken = broken & (1 << i) != 0;
            if applies(config, rule, tier.as_deref(), lifecycle.as_deref()) {
                card.applied.push(rule);
                if is_broken && set_aside.iter().any(|r| r == rule.id) {
                    card.set_aside.push(rule);
                } else if is_broken {
                    card.broken.push(rule);
                }
            }
        }
        visit(card);
    }
    Ok(())
}

/// The findings in scope: every broken rule, with import problems spelled
/// out, plus descriptors that couldn't be read at all (addressed to the
/// owner they name).
pub async fn evaluate(
    pool: &PgPool,
    config: &HygieneConfig,
    scope: &Scope,
) -> Result<Vec<Finding>, sqlx::Error> {
    let problems = import_problems(pool, scope).await?;
    let mut findings = Vec::new();
    each_scorecard(pool, config, scope, |card| {
        for rule in card.broken {
            let details = if rule.id == "import-failed" {
                problems.get(&card.service).cloned().unwrap_or_default()
            } else {
                Vec::new()
            };
            findings.push(Finding {
                service_id: Some(card.service_id),
                service: card.service.clone(),
                title: card.title.clone(),
                owner: card.owner.clone(),
                rule,
                details,
            });
        }
    })
    .await?;
    if scope.service_id.is_none() {
        findings.extend(rejected_descriptors(pool, config, scope).await?);
    }
    Ok(findings)
}

/// Import errors of catalog entities, by entity name.
async fn import_problems(
    pool: &PgPool,
    scope: &Scope,
) -> Result<BTreeMap<String, Vec<String>>, sqlx::Error> {
    let rows: Vec<(String, String, Option<i32>, String, String)> = sqlx::query_as(
        "SELECT e.name, p.file, p.line, p.field, p.message
         FROM import_problems p JOIN entities e ON e.ref = p.entity_ref
         WHERE p.severity = 'error' AND ($1::text IS NULL OR coalesce(e.owner_ref, '(no owner)') = $1)
           AND ($2::bigint IS NULL OR e.id = $2)
         ORDER BY p.file, p.line",
    )
    .bind(&scope.team)
    .bind(scope.service_id)
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, file, line, field, message) in rows {
        out.entry(name)
            .or_default()
            .push(problem_line(&file, line, &field, &message));
    }
    Ok(out)
}

fn problem_line(file: &str, line: Option<i32>, field: &str, message: &str) -> String {
    match line {
        Some(line) => format!("{file}:{line}: {field}: {message}"),
        None => format!("{file}: {field}: {message}"),
    }
}

/// An import problem: entity, file, line, owner, field, message.
type ProblemRow = (
    Option<String>,
    String,
    Option<i32>,
    Option<String>,
    String,
    String,
);

/// Descriptors rejected whole at import (their entity never reached the
/// catalog) whose owner is in `scope`, as `import-failed` findings — none
/// when that rule is switched off. A scorecard can't show them (there is no
/// service to score), so views of a team list them beside its services.
pub async fn rejected_descriptors(
    pool: &PgPool,
    config: &HygieneConfig,
    scope: &Scope,
) -> Result<Vec<Finding>, sqlx::Error> {
    match rules::find("import-failed") {
        Some(rule) if config.rules.get(rule.id).and_then(|c| c.enabled) != Some(false) => {
            unreadable(pool, scope, rule).await
        }
        _ => Ok(Vec::new()),
    }
}

/// Descriptors with errors whose entity isn't in the catalog (it never
/// imported): one finding per entity (or file), to the owner it names.
async fn unreadable(
    pool: &PgPool,
    scope: &Scope,
    rule: &'static Rule,
) -> Result<Vec<Finding>, sqlx::Error> {
    let rows: Vec<ProblemRow> = sqlx::query_as(
        "SELECT p.entity_ref, p.file, p.line, p.owner_ref, p.field, p.message
             FROM import_problems p
             WHERE p.severity = 'error'
               AND NOT EXISTS (SELECT 1 FROM entities e WHERE e.ref = p.entity_ref)
               AND ($1::text IS NULL OR coalesce(p.owner_ref, '(no owner)') = $1)
             ORDER BY p.file, p.line",
    )
    .bind(&scope.team)
    .fetch_all(pool)
    .await?;
    let mut by_subject: BTreeMap<(String, Option<String>), Vec<String>> = BTreeMap::new();
    for (entity, file, line, owner, field, message) in rows {
        let subject = entity
            .map(|e| e.rsplit('/').next().unwrap_or(&e).to_string())
            .unwrap_or_else(|| file.clone());
        by_subject
            .entry((subject, owner))
            .or_default()
            .push(problem_line(&file, line, &field, &message));
    }
    Ok(by_subject
        .into_iter()
        .map(|((subject, owner), details)| Finding {
            service_id: None,
            title: subject.clone(),
            service: subject,
            owner,
            rule,
            details,
        })
        .collect())
}

/// The worst severity among findings.
pub fn worst(findings: &[&Finding]) -> Severity {
    findings
        .iter()
        .map(|f| f.rule.severity)
        .max()
        .unwrap_or(Severity::Low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_by_tier_or_lifecycle_and_configuration() {
        let config = HygieneConfig::default();
        let runbook = rules::find("runbook-missing").unwrap();
        assert!(applies(&config, runbook, Some("1"), Some("experimental")));
        assert!(applies(&config, runbook, Some("tier-2"), None));
        assert!(applies(&config, runbook, Some("3"), Some("production")));
        assert!(!applies(&config, runbook, Some("3"), Some("experimental")));
        let docs = rules::find("docs-missing").unwrap();
        assert!(applies(&config, docs, None, None));
        assert!(!applies(&config, docs, None, Some("deprecated")));
        let mut config = HygieneConfig::default();
        config.rules.insert(
            "docs-missing".into(),
            crate::config::RuleConfig {
                enabled: Some(false),
                ..Default::default()
            },
        );
        assert!(!applies(&config, docs, None, None));
    }

    #[test]
    fn every_rule_has_sql_and_unique_id() {
        // Broken rules come back as bits of one int4.
        assert!(rules::all().len() < 31);
        let mut ids = std::collections::HashSet::new();
        for r in rules::all() {
            assert!(!r.sql.is_empty() && r.sql != "false", "{}", r.id);
            assert!(ids.insert(r.id));
        }
    }
}
