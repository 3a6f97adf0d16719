//! The durable outbox: every outbound side effect (a chat message, a
//! notification, a webhook, an automation step) is a row here, written in
//! the same transaction as the change that causes it.
//!
//! Why: a crash between "changed the catalog" and "told the team" must mean
//! a retry, never a lost message, and two replicas must not both send it.
//! The idempotency key (unique) makes enqueueing the same effect twice a
//! no-op, and delivered rows are kept for a while so the key keeps working
//! after delivery.
//!
//! It is a lease queue, as Postgres job queues that have run for years are
//! (graphile-worker, Oban, crates.io's): a worker *claims* a due job in a
//! short committed transaction that counts the attempt and sets a lease;
//! the send happens outside any transaction; the outcome is recorded in
//! another, only while the claim still holds. So no transaction stays open
//! for a slow webhook, and a job whose process died mid-send (its lease ran
//! out) is claimed again — and after `max_attempts` claims without an
//! outcome it goes to the dead letters with "the process stopped while
//! sending this" and the admins are told, instead of crashing every replica
//! that picks it up. A sender sees `job.attempts > 1` on a retry and, where
//! the receiver can de-duplicate, asks it to (see each sender).
//!
//! Jobs run in lanes: pages and answers someone is waiting for have a lane
//! of their own, so a slow webhook or a round of digests never delays them.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};

use super::jobs::{self, Payload};

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

impl NewJob {
    /// A job carrying `payload`, as its payload's kind.
    pub fn new<P: Payload>(
        destination: impl Into<String>,
        payload: &P,
        idempotency_key: impl Into<String>,
    ) -> NewJob {
        NewJob::as_kind(P::KIND, destination, payload, idempotency_key)
    }

    /// A job carrying `payload` as one of the kinds that carry it (a chat
    /// message for one platform only, an automation step).
    pub fn as_kind<P: Payload>(
        kind: &'static str,
        destination: impl Into<String>,
        payload: &P,
        idempotency_key: impl Into<String>,
    ) -> NewJob {
        debug_assert!(
            P::KINDS.contains(&kind),
            "{kind} doesn't carry this payload"
        );
        NewJob {
            kind: kind.to_string(),
            destination: destination.into(),
            // Structs of strings, numbers and JSON values: nothing in them
            // can fail to encode.
            payload: serde_json::to_value(payload).expect("job payloads encode as JSON"),
            idempotency_key: idempotency_key.into(),
        }
    }
}

/// Adds a job inside the caller's transaction. Returns false when a job
/// with the same idempotency key exists already (nothing added).
pub async fn enqueue(
    conn: &mut PgConnection,
    job: &NewJob,
    max_attempts: i32,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO outbox (kind, destination, payload, idempotency_key, max_attempts, priority)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&job.kind)
    .bind(&job.destination)
    .bind(&job.payload)
    .bind(&job.idempotency_key)
    .bind(max_attempts)
    .bind(Priority::of(job) as i16)
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

/// How soon a job should go, relative to others: the lane it runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i16)]
pub enum Priority {
    /// Someone is waiting: a page, the answer to a command or a mention.
    Urgent = 0,
    /// Messages usher sends on its own.
    Normal = 1,
    /// Digests, notifications, proposals and automation: nobody is
    /// waiting on the minute.
    Bulk = 2,
}

impl Priority {
    /// The lane a job belongs in, from its kind (and, for a chat message,
    /// whether it is a page: those are keyed `page:…`).
    pub fn of(job: &NewJob) -> Priority {
        const URGENT: &[&str] = &[
            jobs::PAGERDUTY_TRIGGER,
            jobs::OPSGENIE_ALERT,
            jobs::SLACK_RESPOND,
            jobs::SLACK_MENTION,
            jobs::DISCORD_FOLLOWUP,
        ];
        const BULK: &[&str] = &[
            jobs::NOTIFY,
            jobs::HYGIENE_PROPOSAL,
            jobs::DESCRIPTOR_PROPOSAL,
        ];
        if URGENT.contains(&job.kind.as_str()) || job.idempotency_key.starts_with("page:") {
            Priority::Urgent
        } else if BULK.contains(&job.kind.as_str())
            || job.kind.starts_with(jobs::ACTION_PREFIX)
            || job.idempotency_key.starts_with("hygiene")
        {
            Priority::Bulk
        } else {
            Priority::Normal
        }
    }
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
    /// Claims so far, this one included: 1 on the first send, more on a
    /// retry (then the previous attempt's outcome may be unknown).
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Job {
    /// The payload, as the struct its kind carries. One that doesn't fit
    /// (queued by another version, or edited by hand) is a permanent
    /// failure: the job goes to the dead letters, the admins are told
    /// which field is wrong, and no replica retries it forever.
    pub fn decode<P: Payload>(&self) -> Result<P, SendError> {
        if !P::KINDS.contains(&self.kind.as_str()) {
            return Err(SendError::Permanent(format!(
                "job {} is a {}, which the sender reading it as a {} can't deliver",
                self.id,
                self.kind,
                P::KIND
            )));
        }
        P::deserialize(&self.payload).map_err(|e| {
            SendError::Permanent(format!(
                "job {}'s payload doesn't read as a {}: {e}. It was queued by another version of usher or changed by hand; `usher outbox list --dead` shows it",
                self.id, self.kind
            ))
        })
    }
}

macro_rules! job_columns {
    () => {
        "id, kind, destination, payload, idempotency_key, state, attempts, max_attempts, next_attempt_at, last_error, created_at"
    };
    ($t:ident) => {
        concat!(
            stringify!($t), ".id, ", stringify!($t), ".kind, ", stringify!($t), ".destination, ",
            stringify!($t), ".payload, ", stringify!($t), ".idempotency_key, ", stringify!($t), ".state, ",
            stringify!($t), ".attempts, ", stringify!($t), ".max_attempts, ", stringify!($t), ".next_attempt_at, ",
            stringify!($t), ".last_error, ", stringify!($t), ".created_at"
        )
    };
}

mod worker;
pub use worker::{Lane, Worker, backoff};

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
        "UPDATE outbox o SET state = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now(),
                leased_until = NULL, lease_token = NULL
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
