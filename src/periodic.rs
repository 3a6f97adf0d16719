//! Periodic work shared by replicas: each task has a row in
//! `periodic_tasks` with when it is next due and a lease. A process runs a
//! due task only after claiming its lease in one UPDATE, so two `usher
//! serve` processes on one database run it once, and a process that dies
//! mid-run frees it when the lease runs out.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::schedule::Schedule;

/// Claims `name` when it is due and nobody holds it; true when this
/// process should run it now.
pub async fn claim(
    pool: &PgPool,
    name: &str,
    owner: &str,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    sqlx::query("INSERT INTO periodic_tasks (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(name)
        .execute(pool)
        .await?;
    let claimed = sqlx::query(
        "UPDATE periodic_tasks SET lease_until = now() + make_interval(secs => $3), lease_owner = $2
         WHERE name = $1 AND next_run_at <= now() AND coalesce(lease_until, '-infinity') < now()",
    )
    .bind(name)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// Records a run's outcome, frees the lease and sets the next run.
pub async fn finish(
    pool: &PgPool,
    name: &str,
    next: DateTime<Utc>,
    outcome: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE periodic_tasks SET next_run_at = $2, last_run_at = now(), last_outcome = $3,
                lease_until = NULL, lease_owner = NULL
         WHERE name = $1",
    )
    .bind(name)
    .bind(next)
    .bind(outcome)
    .execute(pool)
    .await?;
    Ok(())
}

/// The last outcome of a task, if it ran.
pub async fn last_outcome(pool: &PgPool, name: &str) -> Result<Option<Value>, sqlx::Error> {
    Ok(
        sqlx::query_scalar("SELECT last_outcome FROM periodic_tasks WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?
            .flatten(),
    )
}

/// Runs `task` on `schedule` until `stop` turns true, once across all
/// processes. A task that is due when the process starts (or was never
/// run) runs at once.
pub async fn run<F, Fut>(
    pool: PgPool,
    name: impl Into<String>,
    schedule: Schedule,
    mut stop: watch::Receiver<bool>,
    task: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Value>,
{
    let name: String = name.into();
    let name = name.as_str();
    let owner = format!("{}:{}", hostname(), std::process::id());
    let lease = Duration::from_secs(15 * 60);
    loop {
        if *stop.borrow() {
            break;
        }
        match claim(&pool, name, &owner, lease).await {
            Ok(true) => {
                let outcome = tokio::select! {
                    outcome = task() => outcome,
                    _ = stop.wait_for(|s| *s) => break,
                };
                let next = schedule
                    .next_after(Utc::now())
                    .unwrap_or_else(|| Utc::now() + chrono::Duration::hours(1));
                if let Err(e) = finish(&pool, name, next, &outcome).await {
                    tracing::warn!(task = name, error = %e, "recording a periodic task failed");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(task = name, error = %e, "claiming a periodic task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            _ = stop.changed() => {}
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "usher".to_string())
}
