//! A periodically refreshed snapshot of every provider's on-calls, fetched
//! with their bulk, paginated list endpoints — never one provider call per
//! service — so the hygiene round can ask "does anyone cover this service?"
//! for 100,000 services from one table.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;

use super::OnCallService;

/// Refreshes both providers' snapshots (a provider without credentials is
/// skipped); returns the rows written per provider.
pub async fn refresh(
    pool: &PgPool,
    service: &OnCallService,
    now: DateTime<Utc>,
) -> Result<Vec<(String, usize)>, sqlx::Error> {
    let mut done = Vec::new();
    if service.pagerduty.has_token() {
        let result = service.pagerduty.all_oncalls().await;
        let rows = result.as_ref().map(|r| {
            r.iter()
                .map(|(svc, level, who)| {
                    (
                        svc.clone(),
                        *level as i32,
                        who.email.clone().unwrap_or_else(|| who.name.clone()),
                        who.until,
                    )
                })
                .collect::<Vec<_>>()
        });
        done.push((
            "pagerduty".to_string(),
            store(pool, "pagerduty", rows.map_err(|e| e.to_string()), now).await?,
        ));
    }
    if service.opsgenie.has_key() {
        let result = service.opsgenie.all_oncalls().await;
        let rows = result.as_ref().map(|r| {
            r.iter()
                .map(|(schedule, who)| {
                    (
                        schedule.clone(),
                        1,
                        who.email.clone().unwrap_or_else(|| who.name.clone()),
                        who.until,
                    )
                })
                .collect::<Vec<_>>()
        });
        done.push((
            "opsgenie".to_string(),
            store(pool, "opsgenie", rows.map_err(|e| e.to_string()), now).await?,
        ));
    }
    Ok(done)
}

type Row = (String, i32, String, Option<DateTime<Utc>>);

/// Replaces a provider's snapshot in one transaction (a failed fetch keeps
/// the previous one and records the error).
async fn store(
    pool: &PgPool,
    provider: &str,
    rows: Result<Vec<Row>, String>,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (count, error) = match rows {
        Ok(rows) => {
            sqlx::query("DELETE FROM oncall_snapshot WHERE provider = $1")
                .bind(provider)
                .execute(&mut *tx)
                .await?;
            let mut rows = rows;
            rows.sort();
            rows.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1 && a.2 == b.2);
            let targets: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
            let levels: Vec<i32> = rows.iter().map(|r| r.1).collect();
            let people: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
            let until: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.3).collect();
            sqlx::query(
                "INSERT INTO oncall_snapshot (provider, target, level, person, until, fetched_at)
                 SELECT $1, * , $6 FROM UNNEST($2::text[], $3::int4[], $4::text[], $5::timestamptz[])",
            )
            .bind(provider)
            .bind(&targets)
            .bind(&levels)
            .bind(&people)
            .bind(&until)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let distinct: std::collections::HashSet<&str> = targets.iter().copied().collect();
            (distinct.len(), None)
        }
        Err(e) => (0, Some(e)),
    };
    if let Some(e) = &error {
        tracing::warn!(provider, error = %e, "the on-call snapshot could not be refreshed");
    }
    sqlx::query(
        "INSERT INTO oncall_snapshot_runs (provider, refreshed_at, targets, error) VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, targets = EXCLUDED.targets, error = EXCLUDED.error",
    )
    .bind(provider)
    .bind(now)
    .bind(count as i32)
    .bind(&error)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(count)
}

/// The snapshot loop of `usher serve`. A Postgres advisory lock makes one
/// replica do it per round.
pub async fn run(
    pool: PgPool,
    service: std::sync::Arc<OnCallService>,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = Duration::from_secs(service.config.snapshot_minutes.max(1) * 60);
    loop {
        // The lock belongs to one connection: take, use and release it there.
        if let Ok(mut conn) = pool.acquire().await {
            let locked: Result<bool, _> = sqlx::query_scalar(
                "SELECT pg_try_advisory_lock(hashtext('usher-oncall-snapshot'))",
            )
            .fetch_one(&mut *conn)
            .await;
            if let Ok(true) = locked {
                if let Err(e) = refresh(&pool, &service, Utc::now()).await {
                    tracing::warn!(error = %e, "on-call snapshot failed");
                }
                let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext('usher-oncall-snapshot'))")
                    .execute(&mut *conn)
                    .await;
            }
        }
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
