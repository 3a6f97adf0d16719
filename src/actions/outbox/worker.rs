//! The worker: claims a due job under a lease, sends it outside any
//! transaction (time-boxed, panics caught), records the outcome while the
//! claim still holds — done, a retry with backoff, or a dead letter the
//! admins hear about — and reaps jobs whose process died mid-send. Lanes
//! keep pages and answers ahead of bulk work.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Notify, watch};
use tracing::Instrument;

use super::jobs::{self, AdminReport};
use super::{Job, NOTIFY_CHANNEL, NewJob, Priority, SendError, Sender, Senders, enqueue, prune};
use crate::config::OutboxConfig;

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
