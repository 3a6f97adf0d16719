//! The metadata a service can lack, as SQL predicates over `entities e`,
//! defined once for the service card, `search missing:…`, `stats coverage`
//! and (later) the hygiene rules.

/// A kind of gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The name in `missing:FIELD`.
    pub field: &'static str,
    /// How people read it.
    pub label: &'static str,
    /// True when the entity lacks it.
    pub missing_sql: &'static str,
}

pub const GAPS: &[Gap] = &[
    Gap {
        field: "owner",
        label: "an owner",
        missing_sql: "(e.owner_ref IS NULL OR NOT EXISTS (SELECT 1 FROM entities o WHERE o.ref = e.owner_ref))",
    },
    Gap {
        field: "oncall",
        label: "on-call",
        missing_sql: "(e.pagerduty_service_id IS NULL AND e.pagerduty_integration_key IS NULL AND e.opsgenie_team IS NULL
                      AND e.opsgenie_component_selector IS NULL
                      AND NOT EXISTS (SELECT 1 FROM entities o WHERE o.ref = e.owner_ref
                                      AND (o.opsgenie_team IS NOT NULL OR o.pagerduty_service_id IS NOT NULL)))",
    },
    Gap {
        field: "runbook",
        label: "a runbook",
        missing_sql: "NOT EXISTS (SELECT 1 FROM links l WHERE l.entity_id = e.id AND l.category = 'runbook')",
    },
    Gap {
        field: "docs",
        label: "docs",
        missing_sql: "(e.techdocs_ref IS NULL AND NOT EXISTS (SELECT 1 FROM links l WHERE l.entity_id = e.id AND l.category = 'docs'))",
    },
    Gap {
        field: "repo",
        label: "a repository",
        missing_sql: "(e.github_slug IS NULL AND e.source_location IS NULL
                      AND NOT EXISTS (SELECT 1 FROM links l WHERE l.entity_id = e.id AND l.category = 'repository'))",
    },
    Gap {
        field: "description",
        label: "a description",
        missing_sql: "(e.description IS NULL OR btrim(e.description) = '')",
    },
    Gap {
        field: "tier",
        label: "a tier",
        missing_sql: "e.tier IS NULL",
    },
    Gap {
        field: "lifecycle",
        label: "a lifecycle",
        missing_sql: "e.lifecycle IS NULL",
    },
];

/// The gap a `missing:` value names.
pub fn find(field: &str) -> Option<&'static Gap> {
    GAPS.iter().find(|g| g.field.eq_ignore_ascii_case(field))
}

/// The fields `missing:` accepts, for error messages.
pub fn fields() -> String {
    GAPS.iter().map(|g| g.field).collect::<Vec<_>>().join(", ")
}

/// Which gaps an entity has, by `field`.
pub async fn of(pool: &sqlx::PgPool, id: i64) -> Result<Vec<&'static Gap>, sqlx::Error> {
    let columns: Vec<String> = GAPS.iter().map(|g| g.missing_sql.to_string()).collect();
    // Every part is a constant of this module.
    let sql = format!(
        "SELECT ARRAY[{}] FROM entities e WHERE e.id = $1",
        columns.join(", ")
    );
    let flags: Option<Vec<bool>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(flags
        .unwrap_or_default()
        .into_iter()
        .zip(GAPS)
        .filter(|(missing, _)| *missing)
        .map(|(_, g)| g)
        .collect())
}

/// The share of components that have each of owner, on-call, runbook, docs,
/// repository, description and tier — the same rules as [`GAPS`], written
/// as one pass with joins (per-row subqueries take seconds on 100,000).
pub const COVERAGE_FIELDS: [&str; 7] = [
    "owner",
    "oncall",
    "runbook",
    "docs",
    "repo",
    "description",
    "tier",
];

pub async fn coverage(pool: &sqlx::PgPool) -> Result<(i64, Vec<i64>), sqlx::Error> {
    sqlx::query_as(
        "WITH l AS (
             SELECT entity_id, bool_or(category = 'runbook') AS runbook, bool_or(category = 'docs') AS docs,
                    bool_or(category = 'repository') AS repo
             FROM links GROUP BY entity_id),
         o AS (
             SELECT ref, (opsgenie_team IS NOT NULL OR pagerduty_service_id IS NOT NULL) AS oncall
             FROM entities WHERE kind IN ('group', 'user'))
         SELECT count(*), ARRAY[
             count(*) FILTER (WHERE o.ref IS NOT NULL),
             count(*) FILTER (WHERE e.pagerduty_service_id IS NOT NULL OR e.pagerduty_integration_key IS NOT NULL
                                 OR e.opsgenie_team IS NOT NULL OR e.opsgenie_component_selector IS NOT NULL
                                 OR coalesce(o.oncall, false)),
             count(*) FILTER (WHERE coalesce(l.runbook, false)),
             count(*) FILTER (WHERE e.techdocs_ref IS NOT NULL OR coalesce(l.docs, false)),
             count(*) FILTER (WHERE e.github_slug IS NOT NULL OR e.source_location IS NOT NULL OR coalesce(l.repo, false)),
             count(*) FILTER (WHERE e.description IS NOT NULL AND btrim(e.description) <> ''),
             count(*) FILTER (WHERE e.tier IS NOT NULL)]
         FROM entities e LEFT JOIN l ON l.entity_id = e.id LEFT JOIN o ON o.ref = e.owner_ref
         WHERE e.kind = 'component'",
    )
    .fetch_one(pool)
    .await
}
