//! The outbox against a real database: enqueued with the change or not at
//! all, once per idempotency key, retried with backoff, dead-lettered with
//! a report for the admins, and each job run once across workers.

use std::sync::Arc;

use serde_json::json;
use usher::actions::jobs;
use usher::actions::outbox::{self, NewJob, SendError, Senders, Worker};
use usher::config::Config;

use crate::support::{RecordingSender, TestDb, drain_outbox, stdout, usher};

fn job(key: &str) -> NewJob {
    NewJob {
        kind: "test".to_string(),
        destination: "team-a".to_string(),
        payload: json!({ "text": key }),
        idempotency_key: key.to_string(),
    }
}

#[tokio::test]
async fn enqueued_in_the_same_transaction_or_not_at_all() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    assert!(
        outbox::enqueue(&mut tx, &job("rolled-back"), 8)
            .await
            .unwrap()
    );
    tx.rollback().await.unwrap();
    let mut tx = db.pool.begin().await.unwrap();
    assert!(outbox::enqueue(&mut tx, &job("k1"), 8).await.unwrap());
    // The same key again is the same job.
    assert!(!outbox::enqueue(&mut tx, &job("k1"), 8).await.unwrap());
    tx.commit().await.unwrap();
    let sender = Arc::new(RecordingSender::default());
    let ran = drain_outbox(&db.pool, Senders::new().with("test", sender.clone())).await;
    assert_eq!(ran, 1);
    assert_eq!(sender.sent.lock().unwrap().len(), 1);
    // Delivered jobs keep their key: enqueueing again does nothing.
    let mut conn = db.pool.acquire().await.unwrap();
    assert!(!outbox::enqueue(&mut conn, &job("k1"), 8).await.unwrap());
}

#[tokio::test]
async fn failures_retry_with_backoff_then_dead_letter_with_a_report() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    outbox::enqueue(&mut conn, &job("flaky"), 8).await.unwrap();
    outbox::enqueue(&mut conn, &job("doomed"), 3).await.unwrap();
    drop(conn);
    let sender = Arc::new(RecordingSender::default());
    sender.fail_next.lock().unwrap().extend([
        SendError::Permanent("channel_not_found".into()),
        SendError::Retry("timeout".into()),
    ]);
    let senders = Senders::new().with("test", sender.clone());
    let worker = Worker::new(db.pool.clone(), senders.clone(), Config::default().outbox);
    // First round: flaky fails (retry later), doomed fails for good.
    assert_eq!(worker.run_due().await.unwrap(), 2);
    let states: Vec<(String, String, i32, Option<String>)> = sqlx::query_as(
        "SELECT idempotency_key, state, attempts, last_error FROM outbox WHERE kind = 'test' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        states[0],
        ("flaky".into(), "pending".into(), 1, Some("timeout".into()))
    );
    assert_eq!(
        states[1],
        (
            "doomed".into(),
            "dead".into(),
            1,
            Some("channel_not_found".into())
        )
    );
    let delay: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM next_attempt_at - now())::float8 FROM outbox WHERE idempotency_key = 'flaky'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(delay > 3.0 && delay <= 5.0, "{delay}");
    // Not due yet: nothing runs.
    assert_eq!(worker.run_due().await.unwrap(), 0);
    sqlx::query("UPDATE outbox SET next_attempt_at = now() WHERE idempotency_key = 'flaky'")
        .execute(&db.pool)
        .await
        .unwrap();
    // A report for the admins waits for a platform that can deliver it.
    let report = Arc::new(RecordingSender::default());
    drain_outbox(&db.pool, senders.with(jobs::ADMIN_REPORT, report.clone())).await;
    assert_eq!(sender.sent.lock().unwrap().len(), 1);
    let reports = report.sent.lock().unwrap().clone();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].payload["error"], "channel_not_found");

    // The CLI shows the dead letter and puts it back in the queue.
    let url = db.url();
    let out = usher()
        .env("DATABASE_URL", &url)
        .args(["outbox", "list", "--dead"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("dead") && text.contains("channel_not_found"),
        "{text}"
    );
    let id: i64 = sqlx::query_scalar("SELECT id FROM outbox WHERE idempotency_key = 'doomed'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let out = usher()
        .env("DATABASE_URL", &url)
        .args(["outbox", "retry", &id.to_string()])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("queued again"), "{}", stdout(&out));
    let out = usher()
        .env("DATABASE_URL", &url)
        .args(["outbox", "retry", "999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    drain_outbox(&db.pool, Senders::new().with("test", sender.clone())).await;
    assert_eq!(sender.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn two_workers_run_each_job_once() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    for i in 0..60 {
        outbox::enqueue(&mut tx, &job(&format!("job-{i}")), 8)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let sender = Arc::new(RecordingSender::default());
    let senders = Senders::new().with("test", sender.clone());
    let a = Worker::new(db.pool.clone(), senders.clone(), Config::default().outbox);
    let b = Worker::new(db.pool.clone(), senders, Config::default().outbox);
    let (ra, rb) = tokio::join!(a.run_due(), b.run_due());
    assert_eq!(ra.unwrap() + rb.unwrap(), 60);
    let mut keys: Vec<String> = sender
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|j| j.idempotency_key.clone())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 60);
}

/// A sender that never finishes: the process "dies" while it sends.
struct Hangs;

impl outbox::Sender for Hangs {
    fn send<'a>(&'a self, _job: &'a outbox::Job) -> outbox::SendFuture<'a> {
        Box::pin(std::future::pending())
    }
}

/// Waits until the job keyed `key` is claimed (leased) `attempts` times.
async fn claimed(pool: &sqlx::PgPool, key: &str, attempts: i32) {
    for _ in 0..200 {
        let row: Option<(i32, bool)> = sqlx::query_as(
            "SELECT attempts, leased_until IS NOT NULL FROM outbox WHERE idempotency_key = $1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await
        .unwrap();
        if row == Some((attempts, true)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{key} was never claimed {attempts} times");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_process_dies_mid_send_is_retried_then_dead_lettered_and_reported() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    outbox::enqueue(&mut conn, &job("poison"), 2).await.unwrap();
    drop(conn);
    let config = usher::config::OutboxConfig {
        lease_secs: 1,
        ..Config::default().outbox
    };
    let hangs = Senders::new().with("test", Arc::new(Hangs));
    for attempt in 1..=2 {
        // A process claims the job and dies sending it (the task is dropped
        // mid-send: no outcome is ever recorded).
        let worker = Worker::new(db.pool.clone(), hangs.clone(), config.clone());
        let dying = tokio::spawn(async move { worker.run_one().await });
        claimed(&db.pool, "poison", attempt).await;
        // The send holds no transaction and no row lock: the row can be
        // locked by anyone while it is in flight.
        let mut tx = db.pool.begin().await.unwrap();
        sqlx::query("SELECT id FROM outbox WHERE idempotency_key = 'poison' FOR UPDATE NOWAIT")
            .execute(&mut *tx)
            .await
            .expect("no lock is held during a send");
        tx.rollback().await.unwrap();
        dying.abort();
        // While the lease holds, nobody else takes it.
        let other = Worker::new(db.pool.clone(), hangs.clone(), config.clone());
        assert!(!other.run_one().await.unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    // Two claims, two deaths: never sent again, dead-lettered with why, and
    // the admins told.
    let report = Arc::new(RecordingSender::default());
    let senders = hangs.with(jobs::ADMIN_REPORT, report.clone());
    let worker = Worker::new(db.pool.clone(), senders, config);
    assert_eq!(worker.run_due().await.unwrap(), 1, "only the report runs");
    let (state, attempts, error): (String, i32, String) = sqlx::query_as(
        "SELECT state, attempts, last_error FROM outbox WHERE idempotency_key = 'poison'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), attempts), ("dead", 2));
    assert!(
        error.contains("the process stopped while sending this (2 attempts"),
        "{error}"
    );
    let reports = report.sent.lock().unwrap().clone();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].payload["kind"], "test");
    assert!(
        reports[0].payload["error"]
            .as_str()
            .unwrap()
            .contains("the process stopped while sending this"),
        "{}",
        reports[0].payload
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_not_delayed_by_slow_bulk_work() {
    let db = TestDb::new().await;
    let mut tx = db.pool.begin().await.unwrap();
    // Bulk work whose every send hangs (a slow webhook) …
    for i in 0..4 {
        let bulk = NewJob {
            kind: "chat.notify".into(),
            ..job(&format!("notify-{i}"))
        };
        outbox::enqueue(&mut tx, &bulk, 8).await.unwrap();
    }
    tx.commit().await.unwrap();
    let paged = Arc::new(RecordingSender::default());
    let senders = Senders::new()
        .with("chat.notify", Arc::new(Hangs))
        .with("pagerduty.trigger", paged.clone());
    let config = usher::config::OutboxConfig {
        workers: 3,
        ..Config::default().outbox
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(Worker::new(db.pool.clone(), senders, config).run(stopped));
    // … holds every general lane (two of the three) …
    let mut busy = 0;
    for _ in 0..200 {
        busy = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM outbox WHERE kind = 'chat.notify' AND leased_until IS NOT NULL",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if busy == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(busy, 2, "the urgent lane never takes bulk work");
    // … and a page still goes out at once.
    let page = NewJob {
        kind: "pagerduty.trigger".into(),
        ..job("page:payments:pagerduty")
    };
    let mut conn = db.pool.acquire().await.unwrap();
    outbox::enqueue(&mut conn, &page, 8).await.unwrap();
    for _ in 0..200 {
        if !paged.sent.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(paged.sent.lock().unwrap().len(), 1, "the page went out");
    let _ = stop.send(true);
    running.abort();
}

/// A sender with a bug.
struct Panics;

impl outbox::Sender for Panics {
    fn send<'a>(&'a self, _job: &'a outbox::Job) -> outbox::SendFuture<'a> {
        Box::pin(async { panic!("a bug in a sender") })
    }
}

#[tokio::test]
async fn a_panicking_sender_is_a_failed_attempt_not_a_dead_worker() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    outbox::enqueue(&mut conn, &job("buggy"), 1).await.unwrap();
    outbox::enqueue(&mut conn, &job("fine"), 1).await.unwrap();
    drop(conn);
    let worker = Worker::new(
        db.pool.clone(),
        Senders::new().with("test", Arc::new(Panics)),
        Config::default().outbox,
    );
    assert_eq!(worker.run_due().await.unwrap(), 2, "the worker went on");
    let errors: Vec<(String, String)> =
        sqlx::query_as("SELECT state, last_error FROM outbox WHERE kind = 'test' ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    for (state, error) in errors {
        assert_eq!(state, "dead");
        assert!(
            error.contains("failed unexpectedly (reference E"),
            "{error}"
        );
    }
}

/// A payload that doesn't read as its kind's struct (a renamed field, a row
/// edited by hand) is dead at the first attempt with the field named, and
/// the admins hear of it: no retries against a shape that will never fit.
#[tokio::test]
async fn a_payload_that_does_not_fit_its_kind_is_dead_at_once_and_reported() {
    let db = TestDb::new().await;
    let mut conn = db.pool.acquire().await.unwrap();
    let misshapen = NewJob {
        kind: jobs::ACTION_WEBHOOK.to_string(),
        destination: "provision".to_string(),
        payload: json!({ "service": "component:default/billing", "action": "provision" }),
        idempotency_key: "misshapen".to_string(),
    };
    outbox::enqueue(&mut conn, &misshapen, 8).await.unwrap();
    drop(conn);
    let config = Arc::new(Config::default());
    let automation = Arc::new(usher::actions::automation::AutomationSender::new(
        config.clone(),
        db.pool.clone(),
        Arc::new(usher::catalog::import::CatalogAnnotations(db.pool.clone())),
    ));
    let senders = Senders::new().with(jobs::ACTION_WEBHOOK, automation);
    let worker = Worker::new(db.pool.clone(), senders.clone(), config.outbox.clone());
    assert_eq!(worker.run_due().await.unwrap(), 1);
    let (state, attempts, error): (String, i32, Option<String>) = sqlx::query_as(
        "SELECT state, attempts, last_error FROM outbox WHERE idempotency_key = 'misshapen'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let error = error.unwrap_or_default();
    assert_eq!((state.as_str(), attempts), ("dead", 1), "{error}");
    assert!(
        error.contains("action.webhook") && error.contains("missing field"),
        "{error}"
    );
    let report = Arc::new(RecordingSender::default());
    drain_outbox(&db.pool, senders.with(jobs::ADMIN_REPORT, report.clone())).await;
    let reports = report.sent.lock().unwrap().clone();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].payload["kind"], jobs::ACTION_WEBHOOK);
}
