//! Reading what scans recorded, for `repos` and `stats coverage`: only
//! repositories still in their source (`gone_at IS NULL`).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool};

/// One repository as the chat shows it.
#[derive(Debug, Clone, FromRow)]
pub struct RepositoryRow {
    pub id: i64,
    pub source: String,
    pub name: String,
    pub url: String,
    pub default_branch: Option<String>,
    pub pushed_at: Option<DateTime<Utc>>,
    pub archived: bool,
    pub languages: Vec<String>,
    pub topics: Vec<String>,
    pub descriptors: Vec<String>,
    /// The likely owner (a team's ref) of one without a descriptor.
    pub owner_ref: Option<String>,
    /// Why it is the likely owner, or why there is none.
    pub owner_evidence: Option<String>,
    pub scanned_at: DateTime<Utc>,
    pub location_id: Option<i64>,
    /// Manifests that couldn't be read, and why.
    pub dependency_notes: Vec<String>,
    /// Who set (or refused) the likely owner, when a person did.
    pub owner_decided_by: Option<String>,
    /// Not a service: library, archive, experiment or other.
    pub dismissed: Option<String>,
    pub dismissed_by: Option<String>,
    /// The pull/merge request adding its catalog-info.yaml.
    pub proposal_url: Option<String>,
}

impl RepositoryRow {
    /// Its topics and languages: what a type is guessed from.
    pub fn topics_and_languages(&self) -> Vec<String> {
        self.topics.iter().chain(&self.languages).cloned().collect()
    }
}

const COLUMNS: &str =
    "id, source, name, url, default_branch, pushed_at, archived, languages, topics, descriptors,
     owner_ref, owner_evidence, scanned_at, location_id, dependency_notes,
     owner_decided_by, dismissed, dismissed_by, proposal_url";

/// The counts `repos` and `stats coverage` start with.
#[derive(Debug, Clone, Default, FromRow)]
pub struct Totals {
    pub repositories: i64,
    pub described: i64,
    /// Without a descriptor, not archived, not set aside as no service.
    pub undescribed: i64,
    pub with_likely_owner: i64,
    pub archived: i64,
    /// Set aside: not a service (a library, an archive, an experiment).
    pub dismissed: i64,
    pub last_scan: Option<DateTime<Utc>>,
}

/// A repository still to describe: no descriptor, not archived, not set
/// aside as no service (a constant, for the queries below).
const UNDESCRIBED: &str = "cardinality(descriptors) = 0 AND NOT archived AND dismissed IS NULL";

/// The counts over every source, or (`source`) one source's — inside a
/// scan's transaction too.
pub async fn totals<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    source: Option<&str>,
) -> Result<Totals, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) AS repositories,
                count(*) FILTER (WHERE cardinality(descriptors) > 0) AS described,
                count(*) FILTER (WHERE {UNDESCRIBED}) AS undescribed,
                count(*) FILTER (WHERE {UNDESCRIBED} AND owner_ref IS NOT NULL) AS with_likely_owner,
                count(*) FILTER (WHERE archived) AS archived,
                count(*) FILTER (WHERE cardinality(descriptors) = 0 AND NOT archived
                                   AND dismissed IS NOT NULL) AS dismissed,
                max(scanned_at) AS last_scan
         FROM repositories WHERE gone_at IS NULL AND ($1::text IS NULL OR source = $1)"
    )))
    .bind(source)
    .fetch_one(executor)
    .await
}

/// Undescribed repositories by likely owner (`None`: nobody), the most first.
pub async fn undescribed_by_owner(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<(Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT owner_ref, count(*) FROM repositories
         WHERE gone_at IS NULL AND {UNDESCRIBED}
         GROUP BY owner_ref ORDER BY count(*) DESC, owner_ref NULLS LAST LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Undescribed repositories whose likely owner is `team` (a ref), or with
/// no likely owner (`None`): the first `limit`, and how many in all.
pub async fn undescribed_of(
    pool: &PgPool,
    team: Option<&str>,
    limit: i64,
) -> Result<(Vec<RepositoryRow>, i64), sqlx::Error> {
    let filter = format!("gone_at IS NULL AND {UNDESCRIBED} AND owner_ref IS NOT DISTINCT FROM $1");
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM repositories WHERE {filter}
         ORDER BY pushed_at DESC NULLS LAST, name LIMIT $2"
    )))
    .bind(team)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM repositories WHERE {filter}"
    )))
    .bind(team)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

/// Repositories named `name` (its whole name, or its last part:
/// `billing-worker` finds `acme/billing-worker`), in any source.
pub async fn named(pool: &PgPool, name: &str) -> Result<Vec<RepositoryRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM repositories
         WHERE gone_at IS NULL AND (lower(name) = lower($1)
               OR lower(regexp_replace(name, '^.*/', '')) = lower($1))
         ORDER BY (lower(name) = lower($1)) DESC, source, name LIMIT 10"
    )))
    .bind(name)
    .fetch_all(pool)
    .await
}

/// Names that contain `text`, for "did you mean …?".
pub async fn names_like(pool: &PgPool, text: &str) -> Result<Vec<String>, sqlx::Error> {
    let pattern = format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    sqlx::query_scalar(
        "SELECT name FROM repositories WHERE gone_at IS NULL AND name ILIKE $1
         ORDER BY length(name), name LIMIT 3",
    )
    .bind(pattern)
    .fetch_all(pool)
    .await
}

/// The catalog entities a repository's descriptor location holds: (ref, name).
pub async fn entities_of(
    pool: &PgPool,
    location_id: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ref, name FROM entities WHERE location_id = $1 ORDER BY kind <> 'component', name LIMIT 10",
    )
    .bind(location_id)
    .fetch_all(pool)
    .await
}

/// A repository that looks like a team's and has no descriptor, as its
/// check-up digest asks about it.
#[derive(Debug, Clone)]
pub struct RepoAsk {
    pub source: String,
    pub name: String,
    pub url: String,
    pub languages: Vec<String>,
    /// Why it looks like theirs.
    pub evidence: Option<String>,
    /// A catalog-info.yaml already proposed for it.
    pub proposal_url: Option<String>,
}

/// A row of [`undescribed_for_digest`]: the owner, then the repository.
type DigestRow = (
    String,
    String,
    String,
    String,
    Vec<String>,
    Option<String>,
    Option<String>,
);

/// The repositories a digest asks a team about: theirs by likely owner,
/// without a descriptor, not archived, not set aside; every team's when
/// `team` is `None`. Most recently pushed first.
pub async fn undescribed_for_digest(
    pool: &PgPool,
    team: Option<&str>,
) -> Result<Vec<(String, RepoAsk)>, sqlx::Error> {
    let rows: Vec<DigestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT owner_ref, source, name, url, languages, owner_evidence, proposal_url
             FROM repositories
             WHERE gone_at IS NULL AND {UNDESCRIBED} AND owner_ref IS NOT NULL
               AND ($1::text IS NULL OR owner_ref = $1)
             ORDER BY owner_ref, pushed_at DESC NULLS LAST, name"
    )))
    .bind(team)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(owner, source, name, url, languages, evidence, proposal_url)| {
                (
                    owner,
                    RepoAsk {
                        source,
                        name,
                        url,
                        languages,
                        evidence,
                        proposal_url,
                    },
                )
            },
        )
        .collect())
}

/// What a repository depends on, by ecosystem: (ecosystem, the files it
/// was read from, how many packages), the most first.
pub async fn dependencies_of(
    pool: &PgPool,
    repository_id: i64,
) -> Result<Vec<(String, Vec<String>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ecosystem, array_agg(DISTINCT file ORDER BY file), count(*)
         FROM repository_packages WHERE repository_id = $1
         GROUP BY ecosystem ORDER BY count(*) DESC, ecosystem",
    )
    .bind(repository_id)
    .fetch_all(pool)
    .await
}
