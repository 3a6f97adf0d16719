//! Discovery: every repository the organisation has, catalogued or not.
//!
//! A scan reads a source's repositories (a folder of clones, [`clones`];
//! a GitHub organisation, [`github`]; a GitLab group, [`gitlab`]) and keeps a row per repository in `repositories`: where it
//! is, its default branch and last commit, its languages, the descriptors
//! it has — imported as locations that stay refreshed — and, for one
//! without a descriptor, a likely owner with the evidence for it: the
//! CODEOWNERS default rule mapped to a catalog team ([`owners`]). A
//! repository whose default branch hasn't moved since the last scan is not
//! read again; one no longer in the source is marked gone, not deleted.

pub mod asks;
pub mod clones;
pub mod codeowners;
pub mod github;
pub mod gitlab;
pub mod graphql;
pub mod languages;
pub mod manifests;
pub mod owners;
mod packages;
pub mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sqlx::PgPool;

use crate::catalog::loader::LoadOptions;
use crate::catalog::source::Source;
use crate::config::DiscoveryConfig;
use owners::LikelyOwner;

/// What a scan read about one repository.
#[derive(Debug, Clone, Default)]
pub struct Scanned {
    /// The name within its source (`payments-api`, `acme/payments-api`).
    pub name: String,
    /// The host's id for it (GitHub's node id), so a rename is the same row.
    pub remote_id: Option<String>,
    /// Where it lives, without credentials.
    pub url: String,
    /// Its files on the default branch as web links
    /// (`https://github.com/acme/x/blob/main`), for importing descriptors.
    pub blob_base: Option<String>,
    pub default_branch: Option<String>,
    /// The default branch's commit that was read.
    pub head: Option<String>,
    /// When the default branch last changed.
    pub pushed_at: Option<DateTime<Utc>>,
    pub archived: bool,
    pub fork: bool,
    /// public, private or internal, where the host says.
    pub visibility: Option<String>,
    pub languages: Vec<String>,
    pub topics: Vec<String>,
    /// Descriptor files at its root (`catalog-info.yaml`).
    pub descriptors: Vec<String>,
    /// The CODEOWNERS file read (its path) and its rules.
    pub codeowners: Option<(String, Vec<codeowners::Rule>)>,
    /// Teams the host says hold it, strongest first: (`org/slug`, how —
    /// "has admin access on GitHub", "is the GitLab group it lives in") —
    /// the evidence when CODEOWNERS names no owner.
    pub host_teams: Vec<(String, String)>,
    /// The packages its manifests and lockfiles pin (read when it moved).
    pub dependencies: manifests::Found,
    /// The checkout's folder (`None` for a bare repository).
    pub checkout: Option<PathBuf>,
    /// The default branch is where the last scan left it: nothing was read.
    pub unchanged: bool,
}

/// One repository as `usher discover` lists it.
#[derive(Debug, Clone)]
pub struct Undescribed {
    pub name: String,
    pub owner: Option<LikelyOwner>,
    /// Why there is no likely owner, when there is none.
    pub why_no_owner: Option<String>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct ScanSummary {
    pub source: String,
    pub repositories: i64,
    pub described: i64,
    pub undescribed: i64,
    pub with_likely_owner: i64,
    pub archived: i64,
    /// Read again this time (the rest hadn't moved).
    pub read: usize,
    /// No longer in the source.
    pub gone: u64,
    /// Descriptor locations imported: (location, entities, errors).
    pub imported: Vec<(String, usize, usize)>,
    /// Repositories without a descriptor, this scan's reading of them.
    pub undescribed_list: Vec<Undescribed>,
    /// Repositories that couldn't be read, and why.
    pub unreadable: Vec<(String, String)>,
    /// Descriptors found but not imported, and why.
    pub not_imported: Vec<(String, String)>,
    /// Packages read from manifests this time, and from how many files.
    pub packages: usize,
    pub manifests: usize,
    /// Manifests that couldn't be read: (repository, "file why").
    pub unreadable_manifests: Vec<(String, String)>,
    /// GitHub's dependency graphs read after the scan, when enabled.
    pub dependency_graphs: Option<github::sbom::SbomSummary>,
}

/// Scans a folder of clones and records what it found (nothing is
/// written with `dry_run`). Descriptors in a checkout are imported as
/// remembered locations, refreshed by `usher serve` like any other.
pub async fn scan_folder(
    pool: &PgPool,
    dir: &Path,
    options: &LoadOptions,
    actor: &str,
    dry_run: bool,
) -> Result<ScanSummary, ScanError> {
    let found = clones::find(dir).map_err(|e| {
        ScanError::Source(format!(
            "{} can't be read as a folder of clones: {e}",
            dir.display()
        ))
    })?;
    let source = format!(
        "path:{}",
        dir.canonicalize().unwrap_or(dir.to_path_buf()).display()
    );
    let known = known_heads(pool, &source).await?;
    // A few repositories at once: each is a handful of git processes.
    let results: Vec<(String, Result<Scanned, String>)> = futures_util::stream::iter(&found)
        .map(|(name, path)| {
            let known = known.get(name).map(String::as_str);
            async move { (name.clone(), clones::scan(name, path, known).await) }
        })
        .buffered(CLONES_AT_ONCE)
        .collect()
        .await;
    let mut scanned = Vec::new();
    let mut unreadable = Vec::new();
    let mut strings = manifests::Interner::default();
    for (name, result) in results {
        match result {
            Ok(mut repo) => {
                repo.dependencies.intern(&mut strings);
                scanned.push(repo);
            }
            Err(why) => unreadable.push((name, why)),
        }
    }
    let mut summary = finish(pool, &source, &scanned, options, actor, dry_run).await?;
    summary.unreadable = unreadable;
    Ok(summary)
}

/// What a host's scan cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiCost {
    /// "GitHub", "GitLab".
    pub host: &'static str,
    pub calls: usize,
    /// GitHub's rate-limit points; GitLab's complexity scores.
    pub points: i64,
    pub remaining: Option<i64>,
    pub resets_at: Option<DateTime<Utc>>,
    /// GitLab: the most complexity one query may have.
    pub complexity_limit: Option<i64>,
}

/// Scans a `[[discovery]]` source — a GitHub organisation or a GitLab
/// group — and records what it found, its descriptors imported as URL
/// locations (refreshed with conditional requests, like any URL location).
pub async fn scan_source(
    pool: &PgPool,
    entry: &DiscoveryConfig,
    token: &str,
    options: &LoadOptions,
    actor: &str,
    dry_run: bool,
) -> Result<(ScanSummary, ApiCost), ScanError> {
    let source = entry.source();
    let known = known_heads(pool, &source).await?;
    let (host, scanned) = match entry.kind.as_str() {
        "gitlab" => ("GitLab", gitlab::scan(entry, token, &known).await),
        _ => ("GitHub", github::scan(entry, token, &known).await),
    };
    let org = scanned.map_err(|e| ScanError::Source(e.to_string()))?;
    let cost = ApiCost {
        host,
        calls: org.calls,
        points: org.points,
        remaining: org.remaining,
        resets_at: org.resets_at,
        complexity_limit: org.complexity_limit,
    };
    let mut summary = finish(pool, &source, &org.repositories, options, actor, dry_run).await?;
    if entry.kind == "github" && entry.dependency_graph && !dry_run {
        summary.dependency_graphs = Some(github::sbom::fill(pool, entry, token, &source).await?);
    }
    Ok((summary, cost))
}

/// The head commit each repository had at the last scan, by name and by
/// the host's id (a renamed repository is found by its id).
async fn known_heads(pool: &PgPool, source: &str) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT name, remote_id, head FROM repositories WHERE source = $1 AND head IS NOT NULL",
    )
    .bind(source)
    .fetch_all(pool)
    .await?;
    let mut known = HashMap::new();
    for (name, remote_id, head) in rows {
        if let Some(id) = remote_id {
            known.insert(id, head.clone());
        }
        known.insert(name, head);
    }
    Ok(known)
}

/// Records a scan, then imports the descriptors of the repositories that
/// moved: from the checkout, or as a URL on the host.
async fn finish(
    pool: &PgPool,
    source: &str,
    scanned: &[Scanned],
    options: &LoadOptions,
    actor: &str,
    dry_run: bool,
) -> Result<ScanSummary, ScanError> {
    let mut summary = record(pool, source, scanned, &options.forge_teams, dry_run).await?;
    let mut imports = Vec::new();
    for repo in scanned.iter().filter(|r| !r.unchanged) {
        for descriptor in &repo.descriptors {
            match descriptor_location(repo, descriptor) {
                Ok(location) if dry_run => summary.imported.push((location.location_key(), 0, 0)),
                Ok(location) => imports.push((repo.name.clone(), location)),
                Err(why) => summary
                    .not_imported
                    .push((format!("{}/{descriptor}", repo.name), why)),
            }
        }
    }
    // Each location is its own transaction, as refreshes are: a few at
    // once keep the database and the host busy without crowding either.
    let done: Vec<Result<(String, usize, usize), sqlx::Error>> =
        futures_util::stream::iter(imports)
            .map(|(name, location)| async move {
                import_descriptor(pool, source, &name, location, options, actor).await
            })
            .buffer_unordered(IMPORTS_AT_ONCE)
            .collect()
            .await;
    for result in done {
        summary.imported.push(result?);
    }
    summary.imported.sort();
    Ok(summary)
}

/// A CODEOWNERS text larger than this is not read.
pub(crate) const MAX_CODEOWNERS: u64 = 512 * 1024;

/// Clones read at once.
const CLONES_AT_ONCE: usize = 4;

/// Descriptor locations imported at once.
const IMPORTS_AT_ONCE: usize = 4;

/// Remembers a repository's descriptor as a location, links it to the
/// repository and imports it: (location, entities, errors).
async fn import_descriptor(
    pool: &PgPool,
    source: &str,
    name: &str,
    location: Source,
    options: &LoadOptions,
    actor: &str,
) -> Result<(String, usize, usize), sqlx::Error> {
    let location_id =
        crate::catalog::refresh::remember(pool, &location, None, &format!("discovery:{source}"))
            .await?;
    sqlx::query("UPDATE repositories SET location_id = $3 WHERE source = $1 AND name = $2")
        .bind(source)
        .bind(name)
        .bind(location_id)
        .execute(pool)
        .await?;
    let done = crate::catalog::import_one(
        pool,
        &location,
        crate::catalog::refresh::kind_of(&location),
        options,
        actor,
        false,
    )
    .await?;
    let errors = done.loaded.problems.iter().filter(|p| p.is_error()).count();
    Ok((done.target, done.loaded.entity_count, errors))
}

/// Where a repository's descriptor is imported from: its checkout, or its
/// web link on the host; or why it can't be.
fn descriptor_location(repo: &Scanned, descriptor: &str) -> Result<Source, String> {
    if let Some(checkout) = &repo.checkout {
        let file = checkout.join(descriptor);
        return if file.is_file() {
            Ok(Source::File(file))
        } else {
            Err(format!(
                "it is on {} but not in the checkout; check out the default branch",
                repo.default_branch
                    .as_deref()
                    .unwrap_or("the default branch")
            ))
        };
    }
    match &repo.blob_base {
        Some(base) => Ok(Source::Url(format!("{base}/{descriptor}"))),
        None => Err(
            "a bare repository has no checkout to import from; clone it with a working tree".into(),
        ),
    }
}

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{0}")]
    Source(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Writes a source's scan in one transaction (rolled back with `dry_run`)
/// and counts what the source now holds.
async fn record(
    pool: &PgPool,
    source: &str,
    scanned: &[Scanned],
    forge_teams: &std::collections::BTreeMap<String, String>,
    dry_run: bool,
) -> Result<ScanSummary, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut summary = ScanSummary {
        source: source.to_string(),
        ..ScanSummary::default()
    };
    // Renamed on the host: the same repository under its new name. Then
    // the ones that didn't move are only marked seen — two statements
    // whatever the size of the source.
    let (ids, names): (Vec<&str>, Vec<&str>) = scanned
        .iter()
        .filter_map(|r| Some((r.remote_id.as_deref()?, r.name.as_str())))
        .unzip();
    sqlx::query(
        "UPDATE repositories r SET name = u.name
         FROM UNNEST($2::text[], $3::text[]) AS u(remote_id, name)
         WHERE r.source = $1 AND r.remote_id = u.remote_id AND r.name <> u.name",
    )
    .bind(source)
    .bind(&ids)
    .bind(&names)
    .execute(&mut *tx)
    .await?;
    let unchanged: Vec<&str> = scanned
        .iter()
        .filter(|r| r.unchanged)
        .map(|r| r.name.as_str())
        .collect();
    sqlx::query(
        "UPDATE repositories SET scanned_at = now(), gone_at = NULL
         WHERE source = $1 AND name = ANY($2)",
    )
    .bind(source)
    .bind(&unchanged)
    .execute(&mut *tx)
    .await?;
    // An unchanged repository keeps its row, but its likely owner is mapped
    // again where the scan carries the evidence (GitHub sends CODEOWNERS
    // and the teams every time): a team given its github.com/team-slug
    // since the last scan is found now. Clones that didn't move weren't
    // read, so theirs stays.
    for repo in scanned.iter().filter(|r| {
        r.unchanged
            && r.descriptors.is_empty()
            && (r.codeowners.is_some() || !r.host_teams.is_empty())
    }) {
        let (owner, why) = owners::likely_owner(&mut tx, repo, forge_teams).await?;
        sqlx::query(
            "UPDATE repositories SET owner_ref = $3, owner_evidence = $4
             WHERE source = $1 AND name = $2 AND owner_decided_by IS NULL
               AND (owner_ref IS DISTINCT FROM $3 OR owner_evidence IS DISTINCT FROM $4)",
        )
        .bind(source)
        .bind(&repo.name)
        .bind(owner.as_ref().map(|o| o.team.clone()))
        .bind(owner.map(|o| o.evidence).or(why))
        .execute(&mut *tx)
        .await?;
    }
    // The repositories that moved, with what their manifests pin now.
    let mut moved = Vec::new();
    for repo in scanned.iter().filter(|r| !r.unchanged) {
        summary.read += 1;
        let found = &repo.dependencies;
        summary.packages += found.deps.len();
        summary.manifests += found.files.len();
        summary
            .unreadable_manifests
            .extend(found.notes.iter().map(|n| (repo.name.clone(), n.clone())));
        let (owner, why_none) = if repo.descriptors.is_empty() {
            let (owner, why) = owners::likely_owner(&mut tx, repo, forge_teams).await?;
            summary.undescribed_list.push(Undescribed {
                name: repo.name.clone(),
                owner: owner.clone(),
                why_no_owner: why.clone(),
            });
            (owner, why)
        } else {
            (None, None)
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO repositories (source, name, url, default_branch, head, pushed_at, archived,
                 languages, topics, descriptors, owner_ref, owner_evidence, remote_id, fork, visibility,
                 dependency_notes, scanned_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, now())
             ON CONFLICT (source, name) DO UPDATE SET url = EXCLUDED.url,
                 remote_id = EXCLUDED.remote_id, fork = EXCLUDED.fork, visibility = EXCLUDED.visibility,
                 default_branch = EXCLUDED.default_branch, head = EXCLUDED.head,
                 pushed_at = EXCLUDED.pushed_at, archived = EXCLUDED.archived,
                 languages = EXCLUDED.languages, topics = EXCLUDED.topics,
                 descriptors = EXCLUDED.descriptors,
                 owner_ref = CASE WHEN repositories.owner_decided_by IS NULL
                                  THEN EXCLUDED.owner_ref ELSE repositories.owner_ref END,
                 owner_evidence = CASE WHEN repositories.owner_decided_by IS NULL
                                  THEN EXCLUDED.owner_evidence ELSE repositories.owner_evidence END,
                 dependency_notes = EXCLUDED.dependency_notes,
                 scanned_at = now(), gone_at = NULL
             RETURNING id",
        )
        .bind(source)
        .bind(&repo.name)
        .bind(&repo.url)
        .bind(&repo.default_branch)
        .bind(&repo.head)
        .bind(repo.pushed_at)
        .bind(repo.archived)
        .bind(&repo.languages)
        .bind(&repo.topics)
        .bind(&repo.descriptors)
        .bind(owner.as_ref().map(|o| o.team.clone()))
        .bind(owner.as_ref().map(|o| o.evidence.clone()).or(why_none))
        .bind(&repo.remote_id)
        .bind(repo.fork)
        .bind(&repo.visibility)
        .bind(&repo.dependencies.notes)
        .fetch_one(&mut *tx)
        .await?;
        moved.push((id, &repo.dependencies));
    }
    packages::replace(&mut tx, &moved).await?;
    let names: Vec<&str> = scanned.iter().map(|r| r.name.as_str()).collect();
    summary.gone = sqlx::query(
        "UPDATE repositories SET gone_at = now()
         WHERE source = $1 AND gone_at IS NULL AND NOT (name = ANY($2))",
    )
    .bind(source)
    .bind(&names)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let totals = store::totals(&mut *tx, Some(source)).await?;
    summary.repositories = totals.repositories;
    summary.described = totals.described;
    summary.undescribed = totals.undescribed;
    summary.with_likely_owner = totals.with_likely_owner;
    summary.archived = totals.archived;
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(summary)
}

/// The `[[discovery]]` sources `usher serve` scans on their schedules, each
/// a periodic task (`discovery:<source>`) run once across replicas. A
/// source whose token isn't set is left out, with a warning.
pub fn scheduled(
    pool: &PgPool,
    config: &std::sync::Arc<crate::config::Config>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for entry in &config.discovery {
        let Some(token) = entry.token() else {
            tracing::warn!(source = %entry.source(), token_env = %entry.token_env,
                "discovery: the token isn't set, so this source isn't scanned");
            continue;
        };
        let Ok(schedule) = crate::schedule::Schedule::parse(&entry.schedule, "") else {
            continue; // checked when the configuration was read
        };
        let (pool, config, entry) = (pool.clone(), config.clone(), entry.clone());
        let name = format!("discovery:{}", entry.source());
        tasks.push(tokio::spawn(crate::periodic::run(
            pool.clone(),
            name,
            schedule,
            stop.clone(),
            move || {
                let (pool, config, entry, token) =
                    (pool.clone(), config.clone(), entry.clone(), token.clone());
                async move {
                    let options = LoadOptions::from_config_with(&config, Some(pool.clone()));
                    match scan_source(&pool, &entry, &token, &options, "discovery", false).await {
                        Ok((summary, cost)) => serde_json::json!({
                            "repositories": summary.repositories,
                            "described": summary.described,
                            "undescribed": summary.undescribed,
                            "with_likely_owner": summary.with_likely_owner,
                            "read": summary.read,
                            "gone": summary.gone,
                            "calls": cost.calls,
                            "points": cost.points,
                        }),
                        Err(e) => {
                            tracing::warn!(source = %entry.source(), error = %e, "discovery scan failed");
                            serde_json::json!({ "error": e.to_string() })
                        }
                    }
                }
            },
        )));
    }
    tasks
}
