//! Remembered locations, refreshed on their schedule by `usher serve`.
//!
//! One location at a time per process, in the background: a refresh is an
//! ordinary import in its own transaction, so lookups never wait on it.
//! Processes share the work through a lease in Postgres (claimed with
//! `FOR UPDATE SKIP LOCKED`), so two replicas never refresh the same
//! location at once; a slow or failing location is time-boxed and recorded,
//! and the next one goes ahead.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgPool};
use tokio::sync::watch;

use super::import::LocationKind;
use super::source::Source;
use crate::config::Config;
use crate::schedule::Schedule;

/// The longest one refresh may take before it is abandoned (rolled back).
const REFRESH_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a claim holds a location (longer than the timeout).
const LEASE: &str = "15 minutes";

/// A location as `usher catalog locations` shows it.
#[derive(Debug, Clone, FromRow)]
pub struct LocationRow {
    pub id: i64,
    pub target: String,
    pub kind: String,
    pub remembered: bool,
    pub schedule: Option<String>,
    pub added_by: Option<String>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub next_refresh_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<Value>,
    pub last_error: Option<String>,
    pub entities: i64,
    pub problems: i64,
}

/// The kind of location a target is.
pub fn kind_of(source: &Source) -> LocationKind {
    match source {
        Source::Url(_) => LocationKind::Url,
        Source::File(p) if p.is_dir() => LocationKind::Dir,
        Source::File(_) => LocationKind::File,
    }
}

/// Remembers a location (or updates its schedule), due for refresh now.
pub async fn remember(
    pool: &PgPool,
    source: &Source,
    schedule: Option<&str>,
    added_by: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO locations (target, kind, remembered, schedule, added_by, next_refresh_at)
         VALUES ($1, $2, true, $3, $4, now())
         ON CONFLICT (target) DO UPDATE SET remembered = true, schedule = EXCLUDED.schedule,
             added_by = coalesce(locations.added_by, EXCLUDED.added_by),
             next_refresh_at = CASE WHEN locations.remembered THEN locations.next_refresh_at ELSE now() END
         RETURNING id",
    )
    .bind(source.location_key())
    .bind(kind_of(source).as_str())
    .bind(schedule)
    .bind(added_by)
    .fetch_one(pool)
    .await
}

/// Makes the remembered locations from `usher.toml` match the file: new
/// ones are added, ones removed from the file are no longer refreshed.
pub async fn sync_config(pool: &PgPool, config: &Config) -> Result<(), sqlx::Error> {
    let mut targets = Vec::new();
    for location in &config.catalog.locations {
        let source = Source::from_arg(&location.target);
        targets.push(source.location_key());
        remember(pool, &source, location.schedule.as_deref(), "config").await?;
    }
    sqlx::query("UPDATE locations SET remembered = false WHERE added_by = 'config' AND NOT (target = ANY($1))")
        .bind(&targets)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every location, remembered ones first.
pub async fn list(pool: &PgPool) -> Result<Vec<LocationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, l.target, l.kind, l.remembered, l.schedule, l.added_by, l.refreshed_at, l.next_refresh_at,
                l.last_outcome, l.last_error,
                (SELECT count(*) FROM entities e WHERE e.location_id = l.id) AS entities,
                (SELECT count(*) FROM import_problems p WHERE p.location_id = l.id) AS problems
         FROM locations l ORDER BY l.remembered DESC, l.target",
    )
    .fetch_all(pool)
    .await
}

#[derive(Debug, FromRow)]
struct Claimed {
    id: i64,
    target: String,
    kind: String,
    schedule: Option<String>,
}

/// Claims the most overdue location, if one is due.
async fn claim(pool: &PgPool, owner: &str) -> Result<Option<Claimed>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE locations SET lease_until = now() + interval '{LEASE}', lease_owner = $1
         WHERE id = (SELECT id FROM locations
                     WHERE remembered AND coalesce(next_refresh_at, '-infinity') <= now()
                       AND coalesce(lease_until, '-infinity') < now()
                     ORDER BY next_refresh_at NULLS FIRST LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING id, target, kind, schedule"
    )))
    .bind(owner)
    .fetch_optional(pool)
    .await
}

/// Refreshes one claimed location and schedules its next refresh.
async fn refresh(pool: &PgPool, config: &Config, location: Claimed) -> Result<(), sqlx::Error> {
    let source = Source::from_arg(&location.target);
    let kind = match location.kind.as_str() {
        "url" => LocationKind::Url,
        "dir" => LocationKind::Dir,
        "demo" => LocationKind::Demo,
        _ => LocationKind::File,
    };
    let options = super::loader::LoadOptions::from_config_with(config, Some(pool.clone()));
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(
        REFRESH_TIMEOUT,
        super::import_one(pool, &source, kind, &options, "usher:refresh", false),
    )
    .await;
    let error = match result {
        Ok(Ok(done)) => {
            let o = &done.outcome;
            tracing::info!(
                location = %location.target,
                added = o.added, changed = o.changed, removed = o.removed, unchanged = o.unchanged,
                errors = o.errors, warnings = o.warnings, ms = started.elapsed().as_millis() as u64,
                "refreshed a location"
            );
            None
        }
        Ok(Err(e)) => Some(format!("the refresh failed: {e}")),
        Err(_) => Some(format!(
            "the refresh took longer than {} s and was abandoned",
            REFRESH_TIMEOUT.as_secs()
        )),
    };
    if let Some(e) = &error {
        tracing::warn!(location = %location.target, error = %e, "refreshing a location failed");
    }
    let schedule_text = location
        .schedule
        .clone()
        .unwrap_or_else(|| config.catalog.refresh_schedule.clone());
    let next = Schedule::parse(&schedule_text, "")
        .ok()
        .and_then(|s| s.next_after(Utc::now()))
        .unwrap_or_else(|| Utc::now() + chrono::Duration::hours(1));
    sqlx::query("UPDATE locations SET next_refresh_at = $2, lease_until = NULL, lease_owner = NULL, last_error = $3 WHERE id = $1")
        .bind(location.id)
        .bind(next)
        .bind(error)
        .execute(pool)
        .await?;
    Ok(())
}

/// Refreshes every due location now, one after the other; returns how
/// many were refreshed.
pub async fn refresh_due(
    pool: &PgPool,
    config: &Config,
    owner: &str,
) -> Result<usize, sqlx::Error> {
    let mut count = 0;
    while let Some(location) = claim(pool, owner).await? {
        refresh(pool, config, location).await?;
        count += 1;
    }
    Ok(count)
}

/// The refresh loop of `usher serve`, until `shutdown`.
pub async fn run(
    pool: PgPool,
    config: std::sync::Arc<Config>,
    mut shutdown: watch::Receiver<bool>,
) {
    let owner = format!("{}:{}", hostname(), std::process::id());
    if let Err(e) = sync_config(&pool, &config).await {
        tracing::warn!(error = %e, "could not record the locations of usher.toml");
    }
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Err(e) = refresh_due(&pool, &config, &owner).await {
            tracing::warn!(error = %e, "refreshing locations failed");
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(15)) => {}
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "usher".to_string())
}
