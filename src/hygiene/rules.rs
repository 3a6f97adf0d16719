//! The hygiene rules: what a service in a trustworthy catalog has, each
//! with an id (used in `usher.toml` and buttons), a severity, what people
//! are told and how to fix it, and the services it applies to by default.
//!
//! Every rule is one SQL predicate over a service `e` and the facts in
//! [`FROM`], so all of them are evaluated for the whole catalog in one
//! query ([`super::scorecards`]).

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low = 1,
    Medium = 2,
    High = 3,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    pub fn icon(self) -> &'static str {
        match self {
            Severity::High => "🔴",
            Severity::Medium => "🟠",
            Severity::Low => "🟡",
        }
    }
}

#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    /// What is wrong, as a finding line says it.
    pub message: &'static str,
    /// What to do about it.
    pub hint: &'static str,
    /// Applies by default to these tiers or these lifecycles (both empty:
    /// every service).
    pub tiers: &'static [&'static str],
    pub lifecycles: &'static [&'static str],
    /// True when the service breaks the rule (`$1`: stale days).
    pub sql: &'static str,
}

const TIER_1_2: &[&str] = &["1", "2"];
const PRODUCTION: &[&str] = &["production"];

/// Every rule, in the order findings are listed within a severity.
pub fn all() -> &'static [Rule] {
    static RULES: std::sync::OnceLock<Vec<Rule>> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        vec![
            Rule {
                id: "owner-missing",
                severity: Severity::High,
                message: "has no owner",
                hint: "set spec.owner to the team that runs it",
                tiers: &[],
                lifecycles: &[],
                sql: "e.owner_ref IS NULL",
            },
            Rule {
                id: "owner-unknown",
                severity: Severity::High,
                message: "names an owner (spec.owner) the catalog doesn't know",
                hint: "point spec.owner at an existing Group (see `team`), or add its Group or User descriptor",
                tiers: &[],
                lifecycles: &[],
                sql: "e.owner_ref IS NOT NULL AND (og.id IS NULL OR og.kind NOT IN ('group', 'user'))",
            },
            Rule {
                id: "owner-no-members",
                severity: Severity::High,
                message: "is owned by a team with no members",
                hint: "list the team's people in its Group descriptor (spec.members)",
                tiers: &[],
                lifecycles: &[],
                sql: "og.kind = 'group' AND coalesce(ts.members, 0) = 0",
            },
            Rule {
                id: "owner-people-left",
                severity: Severity::High,
                message: "is owned by a team whose people have all left",
                hint: "hand the service to a team that runs it (spec.owner), or update the team's members",
                tiers: &[],
                lifecycles: &[],
                sql: "coalesce(ts.members, 0) > 0 AND ts.active = 0",
            },
            Rule {
                id: "oncall-missing",
                severity: Severity::High,
                message: "has no on-call",
                hint: "add a PagerDuty or Opsgenie annotation, or `oncall set <team> --people …`",
                tiers: TIER_1_2,
                lifecycles: PRODUCTION,
                sql: ONCALL_SQL,
            },
            Rule {
                id: "import-failed",
                severity: Severity::High,
                message: "has a catalog-info.yaml that fails to import",
                hint: "fix the file at the line shown; `usher catalog validate` checks it",
                tiers: &[],
                lifecycles: &[],
                sql: "ip.entity_ref IS NOT NULL",
            },
            Rule {
                id: "runbook-missing",
                severity: Severity::Medium,
                message: "has no runbook",
                hint: "link one in metadata.links (type: runbook)",
                tiers: TIER_1_2,
                lifecycles: PRODUCTION,
                sql: "NOT coalesce(lf.runbook, false)",
            },
            Rule {
                id: "depends-on-deprecated",
                severity: Severity::Medium,
                message: "depends on a deprecated service",
                hint: "plan the move off it (`deps <service>` shows which)",
                tiers: &[],
                lifecycles: &[],
                sql: "dd.source_id IS NOT NULL",
            },
            Rule {
                id: "stale",
                severity: Severity::Medium,
                message: "hasn't been changed or confirmed in a long time",
                hint: "check the card is still right and press Confirm",
                tiers: &[],
                lifecycles: &[],
                sql: "coalesce(e.confirmed_at, e.updated_at) < now() - make_interval(days => $1::int)",
            },
            Rule {
                id: "docs-missing",
                severity: Severity::Low,
                message: "has no docs",
                hint: "add backstage.io/techdocs-ref or a docs link",
                tiers: &[],
                lifecycles: &[],
                sql: "(e.techdocs_ref IS NULL AND NOT coalesce(lf.docs, false))",
            },
            Rule {
                id: "repo-missing",
                severity: Severity::Low,
                message: "has no repository link",
                hint: "add backstage.io/source-location or github.com/project-slug",
                tiers: &[],
                lifecycles: &[],
                sql: "(e.github_slug IS NULL AND e.source_location IS NULL AND NOT coalesce(lf.repo, false))",
            },
            Rule {
                id: "description-missing",
                severity: Severity::Low,
                message: "has no description",
                hint: "one sentence in metadata.description: what it does, for whom",
                tiers: &[],
                lifecycles: &[],
                sql: "(e.description IS NULL OR btrim(e.description) = '')",
            },
            Rule {
                id: "tier-missing",
                severity: Severity::Low,
                message: "has no tier",
                hint: "set the usher.dev/tier annotation (1 = most critical)",
                tiers: &[],
                lifecycles: &[],
                sql: "e.tier IS NULL",
            },
            Rule {
                id: "lifecycle-missing",
                severity: Severity::Low,
                message: "has no lifecycle",
                hint: "set spec.lifecycle (experimental, production, deprecated)",
                tiers: &[],
                lifecycles: &[],
                sql: "e.lifecycle IS NULL",
            },
        ]
    })
}

/// No provider configured for the service or its team and no usher
/// rotation for its team — or a PagerDuty service that, in the last good
/// bulk snapshot of on-calls (`oncall::snapshot`), nobody covers.
const ONCALL_SQL: &str = "((e.pagerduty_service_id IS NULL AND e.pagerduty_integration_key IS NULL AND e.opsgenie_team IS NULL
      AND e.opsgenie_component_selector IS NULL
      AND og.opsgenie_team IS NULL AND og.pagerduty_service_id IS NULL
      AND ro.team_ref IS NULL)
   OR (e.pagerduty_service_id IS NOT NULL AND pd.ok
      AND NOT EXISTS (SELECT 1 FROM oncall_snapshot os
                      WHERE os.provider = 'pagerduty' AND os.target = e.pagerduty_service_id)))";

/// The facts the rules read, for the services in scope (`$2` team, `$3`
/// service), computed once per query instead of once per service: `e`
/// the service, `og` its owner, `ts` the owner's member counts, `lf` its
/// link kinds, `ip` its import errors, `dd` whether it depends on a
/// deprecated service, `ro` the owner's rotation. (The same gaps as
/// `catalog::gaps`, written as joins: per-row subqueries take seconds on
/// 100,000 services.)
pub const FROM: &str = "
WITH s AS (
    SELECT e.id, e.ref, e.name, e.title, e.owner_ref, e.tier, e.lifecycle, e.description,
           e.techdocs_ref, e.github_slug, e.source_location, e.pagerduty_service_id,
           e.pagerduty_integration_key, e.opsgenie_team, e.opsgenie_component_selector,
           e.confirmed_at, e.updated_at
    FROM entities e
    WHERE e.kind = 'component' AND ($2::text IS NULL OR coalesce(e.owner_ref, '(no owner)') = $2) AND ($3::bigint IS NULL OR e.id = $3)),
owners AS (SELECT DISTINCT owner_ref AS ref FROM s WHERE owner_ref IS NOT NULL),
m AS (
    SELECT r.target_ref AS team, r.source_id AS user_id FROM relations r
    WHERE r.type = 'memberOf' AND r.target_ref IN (SELECT ref FROM owners)
    UNION
    SELECT g.ref, u.id FROM entities g JOIN relations r ON r.source_id = g.id AND r.type = 'hasMember'
    JOIN entities u ON u.ref = r.target_ref
    WHERE g.ref IN (SELECT ref FROM owners)),
ts AS (
    SELECT m.team AS ref, count(*) AS members,
           count(*) FILTER (WHERE u.active AND u.deactivated_at IS NULL) AS active
    FROM m JOIN entities u ON u.id = m.user_id AND u.kind = 'user' GROUP BY m.team),
lf AS (
    SELECT l.entity_id, bool_or(l.category = 'runbook') AS runbook, bool_or(l.category = 'docs') AS docs,
           bool_or(l.category = 'repository') AS repo
    FROM links l WHERE l.entity_id IN (SELECT id FROM s) GROUP BY l.entity_id),
ip AS (SELECT DISTINCT p.entity_ref FROM import_problems p WHERE p.severity = 'error'),
pd AS (
    SELECT true AS ok FROM oncall_snapshot_runs
    WHERE provider = 'pagerduty' AND error IS NULL AND targets > 0),
sup AS (
    SELECT x.service_id, array_agg(x.rule) AS rules FROM hygiene_suppressions x
    WHERE (x.until IS NULL OR x.until > now()) AND x.service_id IN (SELECT id FROM s)
    GROUP BY x.service_id),
dd AS (
    SELECT DISTINCT r.source_id FROM relations r JOIN entities t ON t.ref = r.target_ref
    WHERE r.type = 'dependsOn' AND t.lifecycle = 'deprecated' AND r.source_id IN (SELECT id FROM s))
SELECT {columns}
FROM s e
LEFT JOIN entities og ON og.ref = e.owner_ref
LEFT JOIN ts ON ts.ref = e.owner_ref
LEFT JOIN lf ON lf.entity_id = e.id
LEFT JOIN ip ON ip.entity_ref = e.ref
LEFT JOIN dd ON dd.source_id = e.id
LEFT JOIN rotations ro ON ro.team_ref = e.owner_ref
LEFT JOIN pd ON true
LEFT JOIN sup ON sup.service_id = e.id
ORDER BY e.name";

/// Refuses a `[hygiene.rules.<id>]` section for a rule that doesn't exist
/// (checked when usher loads its configuration).
pub fn check_config(config: &crate::config::Config) -> Result<(), String> {
    for id in config.hygiene.rules.keys() {
        if find(id).is_none() {
            return Err(format!(
                "hygiene.rules.{id}: no such rule; the rules are {}",
                ids()
            ));
        }
    }
    Ok(())
}

pub fn find(id: &str) -> Option<&'static Rule> {
    all().iter().find(|r| r.id == id)
}

/// The rule ids, for messages.
pub fn ids() -> String {
    all().iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
}

/// A tier as people write it ("1", "tier-1", "Tier 1") → "1".
pub fn normalize_tier(tier: &str) -> String {
    tier.trim()
        .to_lowercase()
        .trim_start_matches("tier")
        .trim_matches(|c: char| c == '-' || c == '_' || c == ' ')
        .to_string()
}
