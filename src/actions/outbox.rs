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
use futures_util::FutureExt;
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgPool};
use tokio::sync::{Notify, watch};
use tracing::Instrument;

use super::jobs::{self, AdminReport, Payload};
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
        const BULK: &[&str] = &[jobs::NOTIFY, jobs::HYGIENE_PROPOSAL];
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

/// Which jobs a worker lane takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Only urgent jobs: pages and answers, never stuck behind bulk work.
    Urgent,
    /// Any job, most urgent first.
    Any,
}

/// What the worker does with a job it claimed, as decided by the send.
enum Outcome {
    Delivered,
    Failed(SendError),
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

    /// How long a claim holds: longer than the longest send, so a live
    /// process never loses its job to another.
    fn lease(&self) -> Duration {
        Duration::from_secs(self.config.lease_secs.max(1))
    }

    /// The longest one send may take before it counts as failed.
    fn send_timeout(&self) -> Duration {
        SEND_TIMEOUT.min(self.lease())
    }

    /// Claims and runs one due job of any priority. Returns whether there
    /// was one.
    pub async fn run_one(&self) -> Result<bool, sqlx::Error> {
        self.run_one_in(Lane::Any).await
    }

    /// Claims and runs one due job this lane takes.
    pub async fn run_one_in(&self, lane: Lane) -> Result<bool, sqlx::Error> {
        let Some((job, token)) = self.claim(lane).await? else {
            return Ok(false);
        };
        let sender = self
            .senders
            .get(&job.kind)
            .expect("claimed only kinds with senders")
            .clone();
        let span = tracing::info_span!("outbox_job", job = job.id, kind = %job.kind, attempt = job.attempts);
        let outcome = self.send(sender.as_ref(), &job).instrument(span).await;
        self.record(&job, &token, outcome).await?;
        Ok(true)
    }

    /// Claims the next due job in a transaction of its own: the attempt is
    /// counted and the lease set before anything is sent, so a process
    /// that dies sending it leaves a trace.
    async fn claim(&self, lane: Lane) -> Result<Option<(Job, String)>, sqlx::Error> {
        let kinds = self.senders.kinds();
        if kinds.is_empty() {
            return Ok(None);
        }
        let max_priority = match lane {
            Lane::Urgent => Priority::Urgent as i16,
            Lane::Any => Priority::Bulk as i16,
        };
        let token = lease_token();
        let sql = concat!(
            "UPDATE outbox o SET attempts = o.attempts + 1, leased_until = now() + make_interval(secs => $3),
                    lease_token = $4, updated_at = now()
             FROM (SELECT id FROM outbox
                   WHERE state = 'pending' AND next_attempt_at <= now() AND kind = ANY($1)
                     AND priority <= $2 AND attempts < max_attempts
                     AND (leased_until IS NULL OR leased_until < now())
                   ORDER BY priority, next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) due
             WHERE o.id = due.id
             RETURNING ",
            job_columns!(o)
        );
        let job = sqlx::query_as::<_, Job>(sql)
            .bind(&kinds)
            .bind(max_priority)
            .bind(self.lease().as_secs_f64())
            .bind(&token)
            .fetch_optional(&self.pool)
            .await?;
        Ok(job.map(|job| (job, token)))
    }

    /// Sends one job, outside any transaction, time-boxed; a panic in the
    /// sender is caught and counts as a failed attempt.
    async fn send(&self, sender: &dyn Sender, job: &Job) -> Outcome {
        let timeout = self.send_timeout();
        let sent = std::panic::AssertUnwindSafe(tokio::time::timeout(timeout, sender.send(job)))
            .catch_unwind()
            .await;
        match sent {
            Ok(Ok(Ok(()))) => Outcome::Delivered,
            Ok(Ok(Err(e))) => Outcome::Failed(e),
            Ok(Err(_)) => Outcome::Failed(SendError::Retry(format!(
                "the send took longer than {} s",
                timeout.as_secs()
            ))),
            Err(panic) => {
                let id = crate::diagnostics::error_id();
                tracing::error!(job = job.id, error_id = %id, panic = %crate::diagnostics::panic_message(&panic), "outbox sender panicked");
                Outcome::Failed(SendError::Retry(format!(
                    "the sender failed unexpectedly (reference {id} in usher's logs)"
                )))
            }
        }
    }

    /// Records how a claimed job's send ended, in a transaction of its
    /// own, only while this claim still holds (`lease_token`).
    async fn record(&self, job: &Job, token: &str, outcome: Outcome) -> Result<(), sqlx::Error> {
        crate::metrics::delivery(
            &job.kind,
            match &outcome {
                Outcome::Delivered => "delivered",
                Outcome::Failed(SendError::RetryAfter(..)) => "rate_limited",
                Outcome::Failed(SendError::Retry(_)) => "retry",
                Outcome::Failed(SendError::Permanent(_)) => "permanent",
            },
        );
        let mut tx = self.pool.begin().await?;
        let held = |sql: &'static str| sqlx::query(sql).bind(job.id).bind(token);
        let updated = match outcome {
            Outcome::Delivered => {
                held(
                    "UPDATE outbox SET state = 'done', done_at = now(), updated_at = now(), last_error = NULL,
                            leased_until = NULL, lease_token = NULL
                     WHERE id = $1 AND lease_token = $2",
                )
                .execute(&mut *tx)
                .await?
            }
            Outcome::Failed(SendError::RetryAfter(after, why)) => {
                // Being told to slow down is not a failed attempt: the claim
                // is given back uncounted.
                tracing::info!(job = job.id, error = %why, retry_in_ms = after.as_millis() as u64, "outbox send rate-limited; waiting as asked");
                held(
                    "UPDATE outbox SET attempts = greatest(attempts - 1, 0), last_error = $3, updated_at = now(),
                            next_attempt_at = now() + make_interval(secs => $4),
                            leased_until = NULL, lease_token = NULL
                     WHERE id = $1 AND lease_token = $2",
                )
                .bind(&why)
                .bind(after.as_secs_f64())
                .execute(&mut *tx)
                .await?
            }
            Outcome::Failed(SendError::Retry(why)) if job.attempts < job.max_attempts => {
                let delay = backoff(&self.config, job.attempts);
                tracing::warn!(job = job.id, attempts = job.attempts, error = %why, retry_in_secs = delay.as_secs(), "outbox send failed; will retry");
                held(
                    "UPDATE outbox SET last_error = $3, updated_at = now(),
                            next_attempt_at = now() + make_interval(secs => $4),
                            leased_until = NULL, lease_token = NULL
                     WHERE id = $1 AND lease_token = $2",
                )
                .bind(&why)
                .bind(delay.as_secs_f64())
                .execute(&mut *tx)
                .await?
            }
            Outcome::Failed(SendError::Retry(why) | SendError::Permanent(why)) => {
                tracing::error!(job = job.id, attempts = job.attempts, error = %why, "outbox job moved to the dead letters");
                let updated = held(
                    "UPDATE outbox SET state = 'dead', last_error = $3, updated_at = now(),
                            leased_until = NULL, lease_token = NULL
                     WHERE id = $1 AND lease_token = $2",
                )
                .bind(&why)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 1 {
                    report_dead(&mut tx, job, &why, self.config.max_attempts).await?;
                }
                updated
            }
        };
        if updated.rows_affected() == 0 {
            tracing::warn!(
                job = job.id,
                "outbox: the claim on this job ran out before its send ended; the outcome is not recorded (another claim owns it)"
            );
        }
        tx.commit().await
    }

    /// Moves jobs whose every attempt was claimed and never finished (the
    /// process died each time: a crash, a kill, a sender that takes the
    /// process down) to the dead letters, and tells the admins. Returns
    /// how many.
    pub async fn reap(&self) -> Result<usize, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let sql = concat!(
            "UPDATE outbox o SET state = 'dead', updated_at = now(), leased_until = NULL, lease_token = NULL,
                    last_error = concat('the process stopped while sending this (', o.attempts, ' attempts',
                                        coalesce('; before that: ' || o.last_error, ''), ')')
             FROM (SELECT id FROM outbox
                   WHERE state = 'pending' AND leased_until < now() AND attempts >= max_attempts
                   FOR UPDATE SKIP LOCKED) gone
             WHERE o.id = gone.id
             RETURNING ",
            job_columns!(o)
        );
        let dead: Vec<Job> = sqlx::query_as(sql).fetch_all(&mut *tx).await?;
        for job in &dead {
            tracing::error!(job = job.id, kind = %job.kind, attempts = job.attempts, "outbox job moved to the dead letters: its process stopped while sending it, every attempt");
            crate::metrics::delivery(&job.kind, "abandoned");
            let why = job.last_error.clone().unwrap_or_default();
            report_dead(&mut tx, job, &why, self.config.max_attempts).await?;
        }
        tx.commit().await?;
        Ok(dead.len())
    }

    /// Runs every job due now (after moving abandoned ones to the dead
    /// letters); returns how many ran.
    pub async fn run_due(&self) -> Result<usize, sqlx::Error> {
        self.run_due_in(Lane::Any).await
    }

    /// How long until the next job this lane takes comes due (or its
    /// claim runs out), if any is waiting.
    async fn next_due(&self, lane: Lane) -> Option<Duration> {
        let max_priority = match lane {
            Lane::Urgent => Priority::Urgent as i16,
            Lane::Any => Priority::Bulk as i16,
        };
        let secs: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM min(greatest(next_attempt_at, coalesce(leased_until, next_attempt_at))) - now())::float8
             FROM outbox WHERE state = 'pending' AND kind = ANY($1) AND priority <= $2",
        )
        .bind(self.senders.kinds())
        .bind(max_priority)
        .fetch_one(&self.pool)
        .await
        .ok()
        .flatten();
        secs.map(|s| Duration::from_secs_f64(s.clamp(0.01, 3600.0)))
    }

    async fn run_due_in(&self, lane: Lane) -> Result<usize, sqlx::Error> {
        self.reap().await?;
        let mut count = 0;
        while self.run_one_in(lane).await? {
            count += 1;
        }
        Ok(count)
    }

    /// Runs until `shutdown` turns true: one urgent lane and
    /// `workers - 1` lanes for anything, each woken by NOTIFY (any
    /// process) or this process's waker, and polling as a fallback.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let workers = self.config.workers.max(2);
        let mut lanes = tokio::task::JoinSet::new();
        for i in 0..workers {
            let lane = if i == 0 { Lane::Urgent } else { Lane::Any };
            lanes.spawn(self.clone().run_lane(lane, shutdown.clone()));
        }
        while lanes.join_next().await.is_some() {}
    }

    async fn run_lane(self, lane: Lane, mut shutdown: watch::Receiver<bool>) {
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
            if let Err(e) = self.run_due_in(lane).await {
                tracing::warn!(error = %e, "outbox: running due jobs failed");
            }
            if lane == Lane::Urgent && last_prune.elapsed() > Duration::from_secs(3600) {
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
            // A job coming due soon (a retry, a busy channel's turn) is
            // run when it does, not at the next poll.
            let sleep = match self.next_due(lane).await {
                Some(due) => due.min(poll),
                None => poll,
            };
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = self.wake.notified() => {}
                _ = notified => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }
}

/// The longest one send may take (a lease is longer still).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// A token naming one claim.
fn lease_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:x}-{:x}-{:x}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Tells the admins about a job that went to the dead letters (inside
/// the transaction that moved it).
async fn report_dead(
    tx: &mut PgConnection,
    job: &Job,
    why: &str,
    max_attempts: i32,
) -> Result<(), sqlx::Error> {
    if job.kind == jobs::ADMIN_REPORT {
        return Ok(());
    }
    let report = NewJob::new(
        "admins",
        &AdminReport {
            job: job.id,
            kind: job.kind.clone(),
            destination: job.destination.clone(),
            error: why.to_string(),
            attempts: job.attempts,
        },
        format!("dead-letter:{}:{}", job.id, job.attempts),
    );
    enqueue(tx, &report, max_attempts).await?;
    Ok(())
}

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
