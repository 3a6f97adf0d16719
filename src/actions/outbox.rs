//! The durable outbox: every outbound side effect (a chat message, a
//! notification, a webhook, an automation step) is a row here, written in
//! the same transaction as the change that causes it.
//!
//! Why: a crash between "changed the catalog" and "told the team" must mean
//! a retry, never a lost message, and two replicas must not both send it.
//! So a worker claims one due job with `FOR UPDATE SKIP LOCKED`, runs its
//! sender while holding the row, and records the outcome in the same
//! transaction. The idempotency key (unique) makes enqueueing the same
//! effect twice a no-op, and delivered rows are kept for a while so the key
//! keeps working after delivery.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{FromRow, PgConnection, PgPool};
use tokio::sync::{Notify, watch};

use crate::config::OutboxConfig;

/// The channel enqueueing notifies, so workers wake at once.
pub const NOTIFY_CHANNEL: &str = "usher_outbox";

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Which sender runs it (`log`, `chat.message`, `webhook` …).
    pub kind: String,
    /// Where it goes, in the sender's terms (`slack:C123`, a URL …).
    pub destination: String,
    pub payload: Value,
    /// The same key twice is one job: derive it from what makes the
    /// effect unique (e.g. `notify:<query>:<team>`).
    pub idempotency_key: String,
}

/// Adds a job inside the caller's transaction. Returns false when a job
/// with the same idempotency key exists already (nothing added).
pub async fn enqueue(
    conn: &mut PgConnection,
    job: &NewJob,
    max_attempts: i32,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO outbox (kind, destination, payload, idempotency_key, max_attempts)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&job.kind)
    .bind(&job.destination)
    .bind(&job.payload)
    .bind(&job.idempotency_key)
    .bind(max_attempts)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(&job.kind)
            .execute(&mut *conn)
            .await?;
    }
    Ok(inserted)
}

/// A job as stored.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub destination: String,
    pub payload: Value,
    pub idempotency_key: String,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

macro_rules! job_columns {
    () => {
        "id, kind, destination, payload, idempotency_key, state, attempts, max_attempts, next_attempt_at, last_error, created_at"
    };
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying later (a timeout, a 5xx, a 429).
    Retry(String),
    /// Retrying can't fix it (unknown channel, a 4xx): dead-letter now.
    Permanent(String),
    /// The receiver asked us to wait (HTTP 429 with Retry-After): try again
    /// then, without counting an attempt — being told to slow down is not
    /// a failure, and the message must not be dropped for it.
    RetryAfter(Duration, String),
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Delivers jobs of one kind.
pub trait Sender: Send + Sync {
    fn send<'a>(&'a self, job: &'a Job) -> SendFuture<'a>;
}

/// Senders by job kind. Jobs whose kind has no sender here wait in the
/// queue (e.g. chat messages before a platform is configured).
#[derive(Clone, Default)]
pub struct Senders {
    by_kind: HashMap<String, Arc<dyn Sender>>,
}

impl Senders {
    pub fn new() -> Self {
        Senders::default()
    }

    pub fn with(mut self, kind: &str, sender: Arc<dyn Sender>) -> Self {
        self.by_kind.insert(kind.to_string(), sender);
        self
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.by_kind.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    fn get(&self, kind: &str) -> Option<&Arc<dyn Sender>> {
        self.by_kind.get(kind)
    }
}

/// The `log` sender: writes the job to the log. Handy to try a
/// configuration without a chat platform.
pub struct LogSender;

impl Sender for LogSender {
    fn send<'a>(&'a self, job: &'a Job) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(job = job.id, destination = %job.destination, payload = %job.payload, "outbox message");
            Ok(())
        })
    }
}

/// Runs due jobs.
#[derive(Clone)]
pub struct Worker {
    pool: PgPool,
    senders: Senders,
    config: OutboxConfig,
    wake: Arc<Notify>,
}

impl Worker {
    pub fn new(pool: PgPool, senders: Senders, config: OutboxConfig) -> Self {
        Worker {
            pool,
            senders,
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The same worker, woken by `wake` (shared with whoever enqueues).
    pub fn with_waker(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// Wakes the worker now (after this process enqueued something).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Claims and runs one due job. Returns whether there was one.
    pub async fn run_one(&self) -> Result<bool, sqlx::Error> {
        let kinds = self.senders.kinds();
        if kinds.is_empty() {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await?;
        let sql = concat!(
            "SELECT ",
            job_columns!(),
            " FROM outbox
             WHERE state = 'pending' AND next_attempt_at <= now() AND kind = ANY($1)
             ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
        );
        let Some(job) = sqlx::query_as::<_, Job>(sql)
            .bind(&kinds)
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.commit().await?;
            return Ok(false);
        };
        let sender = self
            .senders
            .get(&job.kind)
            .expect("claimed only kinds with senders")
            .clone();
        let span = tracing::info_span!("outbox_job", job = job.id, kind = %job.kind, attempt = job.attempts + 1);
        let outcome = {
            let _entered = span.enter();
            match tokio::time::timeout(Duration::from_secs(60), sender.send(&job)).await {
                Ok(result) => result,
                Err(_) => Err(SendError::Retry(
                    "the send took longer than 60 s".to_string(),
                )),
            }
        };
        let attempts = job.attempts + 1;
        crate::metrics::delivery(
            &job.kind,
            match &outcome {
                Ok(()) => "delivered",
                Err(SendError::RetryAfter(..)) => "rate_limited",
                Err(SendError::Retry(_)) => "retry",
                Err(SendError::Permanent(_)) => "permanent",
            },
        );
        match outcome {
            Ok(()) => {
                sqlx::query(
                    "UPDATE outbox SET state = 'done', attempts = $2, done_at = now(), updated_at = now(), last_error = NULL
                     WHERE id = $1",
                )
                .bind(job.id)
                .bind(attempts)
                .execute(&mut *tx)
                .await?;
            }
            Err(SendError::RetryAfter(after, why)) => {
                tracing::info!(job = job.id, error = %why, retry_in_ms = after.as_millis() as u64, "outbox send rate-limited; waiting as asked");
                sqlx::query(
                    "UPDATE outbox SET last_error = $2, updated_at = now(),
                            next_attempt_at = now() + make_interval(secs => $3)
                     WHERE id = $1",
                )
                .bind(job.id)
                .bind(&why)
                .bind(after.as_secs_f64())
                .execute(&mut *tx)
                .await?;
            }
            Err(SendError::Retry(why)) if attempts < job.max_attempts => {
                let delay = backoff(&self.config, attempts);
                tracing::warn!(job = job.id, attempts, error = %why, retry_in_secs = delay.as_secs(), "outbox send failed; will retry");
                sqlx::query(
                    "UPDATE outbox SET attempts = $2, last_error = $3, updated_at = now(),
                            next_attempt_at = now() + make_interval(secs => $4)
                     WHERE id = $1",
                )
                .bind(job.id)
                .bind(attempts)
                .bind(&why)
                .bind(delay.as_secs_f64())
                .execute(&mut *tx)
                .await?;
            }
            Err(SendError::Retry(why) | SendError::Permanent(why)) => {
                tracing::error!(job = job.id, attempts, error = %why, "outbox job moved to the dead letters");
                sqlx::query(
                    "UPDATE outbox SET state = 'dead', attempts = $2, last_error = $3, updated_at = now() WHERE id = $1",
                )
                .bind(job.id)
                .bind(attempts)
                .bind(&why)
                .execute(&mut *tx)
                .await?;
                if job.kind != ADMIN_REPORT_KIND {
                    let report = NewJob {
                        kind: ADMIN_REPORT_KIND.to_string(),
                        destination: "admins".to_string(),
                        payload: json!({
                            "job": job.id,
                            "kind": job.kind,
                            "destination": job.destination,
                            "error": why,
                            "attempts": attempts,
                        }),
                        idempotency_key: format!("dead-letter:{}:{}", job.id, attempts),
                    };
                    enqueue(&mut tx, &report, self.config.max_attempts).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Runs every job due now; returns how many ran.
    pub async fn run_due(&self) -> Result<usize, sqlx::Error> {
        let mut count = 0;
        while self.run_one().await? {
            count += 1;
        }
        Ok(count)
    }

    /// Runs until `shutdown` turns true: woken by NOTIFY (any process) or
    /// this process's waker, and polling as a fallback.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&self.pool).await {
            Ok(mut l) => match l.listen(NOTIFY_CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: LISTEN failed; polling only");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "outbox: no listener connection; polling only");
                None
            }
        };
        let poll = Duration::from_secs(self.config.poll_interval_secs.max(1));
        let mut last_prune = std::time::Instant::now() - Duration::from_secs(3600);
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.run_due().await {
                tracing::warn!(error = %e, "outbox: running due jobs failed");
            }
            if last_prune.elapsed() > Duration::from_secs(3600) {
                last_prune = std::time::Instant::now();
                if let Err(e) = prune(&self.pool, self.config.keep_done_days).await {
                    tracing::warn!(error = %e, "outbox: pruning delivered jobs failed");
                }
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => {
                        // A lost connection fails at once (and again at each
                        // reconnect while the database is away): wait a poll
                        // interval rather than spin.
                        if let Err(e) = l.recv().await {
                            tracing::debug!(error = %e, "outbox: the listener lost its connection");
                            tokio::time::sleep(poll).await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = self.wake.notified() => {}
                _ = notified => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// The kind of the job that tells admins about a dead letter.
pub const ADMIN_REPORT_KIND: &str = "admin.report";

/// Exponential backoff: base × 2^(attempt−1), capped.
pub fn backoff(config: &OutboxConfig, attempts: i32) -> Duration {
    let exp = (attempts.max(1) - 1).min(30) as u32;
    let secs = config.base_backoff_secs.saturating_mul(1u64 << exp);
    Duration::from_secs(secs.min(config.max_backoff_secs))
}

/// Deletes delivered jobs older than `days`.
pub async fn prune(pool: &PgPool, days: i32) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM outbox WHERE state = 'done' AND done_at < now() - make_interval(days => $1)",
    )
    .bind(days)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Jobs for `usher outbox list`: pending and dead by default, dead only
/// with `dead_only`.
pub async fn list(pool: &PgPool, dead_only: bool, limit: i64) -> Result<Vec<Job>, sqlx::Error> {
    let states: Vec<&str> = if dead_only {
        vec!["dead"]
    } else {
        vec!["pending", "dead"]
    };
    let sql = concat!(
        "SELECT ",
        job_columns!(),
        " FROM outbox WHERE state = ANY($1) ORDER BY id LIMIT $2"
    );
    sqlx::query_as(sql)
        .bind(&states)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// Puts a job back in the queue, due now, with its attempts reset.
/// Returns the job's state before, or `None` when there is no such job.
pub async fn retry(pool: &PgPool, id: i64) -> Result<Option<String>, sqlx::Error> {
    let before: Option<String> = sqlx::query_scalar(
        "UPDATE outbox o SET state = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
         FROM (SELECT id, state FROM outbox WHERE id = $1) old
         WHERE o.id = old.id AND o.state <> 'done' RETURNING old.state",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    if before.is_some() {
        sqlx::query("SELECT pg_notify($1, 'retry')")
            .bind(NOTIFY_CHANNEL)
            .execute(pool)
            .await?;
        return Ok(before);
    }
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(state)
}

/// Counts by state, for `/metrics` and tests.
pub async fn counts(pool: &PgPool) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM outbox GROUP BY state")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let c = OutboxConfig {
            base_backoff_secs: 5,
            max_backoff_secs: 60,
            ..OutboxConfig::default()
        };
        assert_eq!(backoff(&c, 1), Duration::from_secs(5));
        assert_eq!(backoff(&c, 2), Duration::from_secs(10));
        assert_eq!(backoff(&c, 4), Duration::from_secs(40));
        assert_eq!(backoff(&c, 5), Duration::from_secs(60));
        assert_eq!(backoff(&c, 100), Duration::from_secs(60));
    }
}
