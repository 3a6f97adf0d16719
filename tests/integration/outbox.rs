//! The outbox against a real database: enqueued with the change or not at
//! all, once per idempotency key, retried with backoff, dead-lettered with
//! a report for the admins, and each job run once across workers.

use std::sync::Arc;

use serde_json::json;
use usher::actions::outbox::{self, ADMIN_REPORT_KIND, NewJob, SendError, Senders, Worker};
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
    drain_outbox(&db.pool, senders.with(ADMIN_REPORT_KIND, report.clone())).await;
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
