//! The hygiene rules: what a service in a trustworthy catalog has, each
//! with an id (used in `usher.toml` and buttons), a severity, what people
//! are told and how to fix it, and the services it applies to by default.
//!
//! Every rule is one SQL predicate over `entities e` (a component), so all
//! of them are evaluated for the whole catalog in one query
//! ([`super::evaluate`]).

use crate::catalog::gaps;

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

fn gap(field: &str) -> &'static str {
    gaps::find(field).map(|g| g.missing_sql).unwrap_or("false")
}

/// The members of the service's owning team (ids), for `IN (…)`.
macro_rules! members {
    () => {
        "SELECT r.source_id FROM relations r WHERE r.target_ref = e.owner_ref AND r.type = 'memberOf'
         UNION
         SELECT m.id FROM entities g2 JOIN relations r2 ON r2.source_id = g2.id AND r2.type = 'hasMember'
         JOIN entities m ON m.ref = r2.target_ref WHERE g2.ref = e.owner_ref"
    };
}

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
                message: "is owned by a team the catalog doesn't know",
                hint: "point spec.owner at an existing Group (see `team`), or add the team's descriptor",
                tiers: &[],
                lifecycles: &[],
                sql: "e.owner_ref IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entities o WHERE o.ref = e.owner_ref AND o.kind IN ('group', 'user'))",
            },
            Rule {
                id: "owner-no-members",
                severity: Severity::High,
                message: "is owned by a team with no members",
                hint: "list the team's people in its Group descriptor (spec.members)",
                tiers: &[],
                lifecycles: &[],
                sql: concat!(
                    "EXISTS (SELECT 1 FROM entities g WHERE g.ref = e.owner_ref AND g.kind = 'group')
                     AND NOT EXISTS (SELECT 1 FROM entities u WHERE u.kind = 'user' AND u.id IN (",
                    members!(),
                    "))"
                ),
            },
            Rule {
                id: "owner-people-left",
                severity: Severity::High,
                message: "is owned by a team whose people have all left",
                hint: "hand the service to a team that runs it (spec.owner), or update the team's members",
                tiers: &[],
                lifecycles: &[],
                sql: concat!(
                    "EXISTS (SELECT 1 FROM entities u WHERE u.kind = 'user' AND u.id IN (",
                    members!(),
                    ")) AND NOT EXISTS (SELECT 1 FROM entities u WHERE u.kind = 'user' AND u.active
                         AND u.deactivated_at IS NULL AND u.id IN (",
                    members!(),
                    "))"
                ),
            },
            Rule {
                id: "oncall-missing",
                severity: Severity::High,
                message: "has no on-call",
                hint: "add a PagerDuty or Opsgenie annotation, or `oncall set <team> --people …`",
                tiers: TIER_1_2,
                lifecycles: PRODUCTION,
                sql: "",
            },
            Rule {
                id: "import-failed",
                severity: Severity::High,
                message: "has a catalog-info.yaml that fails to import",
                hint: "fix the file at the line shown; `usher catalog validate` checks it",
                tiers: &[],
                lifecycles: &[],
                sql: "EXISTS (SELECT 1 FROM import_problems p WHERE p.entity_ref = e.ref AND p.severity = 'error')",
            },
            Rule {
                id: "runbook-missing",
                severity: Severity::Medium,
                message: "has no runbook",
                hint: "link one in metadata.links (type: runbook)",
                tiers: TIER_1_2,
                lifecycles: PRODUCTION,
                sql: "",
            },
            Rule {
                id: "depends-on-deprecated",
                severity: Severity::Medium,
                message: "depends on a deprecated service",
                hint: "plan the move off it (`deps <service>` shows which)",
                tiers: &[],
                lifecycles: &[],
                sql: "EXISTS (SELECT 1 FROM relations r JOIN entities t ON t.ref = r.target_ref
                              WHERE r.source_id = e.id AND r.type = 'dependsOn' AND t.lifecycle = 'deprecated')",
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
                sql: "",
            },
            Rule {
                id: "repo-missing",
                severity: Severity::Low,
                message: "has no repository link",
                hint: "add backstage.io/source-location or github.com/project-slug",
                tiers: &[],
                lifecycles: &[],
                sql: "",
            },
            Rule {
                id: "description-missing",
                severity: Severity::Low,
                message: "has no description",
                hint: "one sentence in metadata.description: what it does, for whom",
                tiers: &[],
                lifecycles: &[],
                sql: "",
            },
            Rule {
                id: "tier-missing",
                severity: Severity::Low,
                message: "has no tier",
                hint: "set the usher.dev/tier annotation (1 = most critical)",
                tiers: &[],
                lifecycles: &[],
                sql: "",
            },
            Rule {
                id: "lifecycle-missing",
                severity: Severity::Low,
                message: "has no lifecycle",
                hint: "set spec.lifecycle (experimental, production, deprecated)",
                tiers: &[],
                lifecycles: &[],
                sql: "",
            },
        ]
        .into_iter()
        .map(|mut r| {
            // The gap rules share their predicates with `search missing:`.
            if r.sql.is_empty() {
                r.sql = match r.id {
                    "oncall-missing" => ONCALL_SQL,
                    "runbook-missing" => gap("runbook"),
                    "docs-missing" => gap("docs"),
                    "repo-missing" => gap("repo"),
                    "description-missing" => gap("description"),
                    "tier-missing" => gap("tier"),
                    "lifecycle-missing" => gap("lifecycle"),
                    _ => "false",
                };
            }
            r
        })
        .collect()
    })
}

/// No provider configured for the service or its team, and no usher
/// rotation for its team.
const ONCALL_SQL: &str = "(e.pagerduty_service_id IS NULL AND e.pagerduty_integration_key IS NULL AND e.opsgenie_team IS NULL
      AND e.opsgenie_component_selector IS NULL
      AND NOT EXISTS (SELECT 1 FROM entities o WHERE o.ref = e.owner_ref
                      AND (o.opsgenie_team IS NOT NULL OR o.pagerduty_service_id IS NOT NULL))
      AND NOT EXISTS (SELECT 1 FROM rotations ro WHERE ro.team_ref = e.owner_ref))";

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
