//! A rolling deploy under load: two `usher serve` processes on one
//! database behind a load balancer that follows `/readyz` (as Kubernetes'
//! endpoints and most load balancers do), signed Slack requests sent
//! continuously, one process stopped with SIGTERM and a new one started
//! mid-load. Nothing may fail, no outbox message may be lost or sent twice,
//! and each team gets exactly one hygiene digest for the round all three
//! processes see.

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::commands::demo_db;
use crate::fake_slack::{FakeSlack, SIGNING_SECRET, TEAM, sign};
use crate::slack::{block_text, command_form, mention, people};
use crate::support::{free_port, usher};

/// Hourly rounds every day: the round of the past hour is due at start,
/// in every process.
const CONFIG: &str = "[slack]\nworkspaces = [\"T0ACME\"]\ninline_ms = 2000\n\
[serve]\ndrain_ms = 1500\nshutdown_secs = 10\n\
[hygiene]\nschedule = \"0 * * * *\"\ntimezone = \"UTC\"\nquiet_days = []\n\
[outbox]\nbase_backoff_secs = 0\n";

/// The balancer's backends: each process's port and whether its `/readyz`
/// last said ready.
type Backends = Arc<std::sync::Mutex<Vec<(u16, Arc<AtomicBool>)>>>;

/// One `usher serve` and whether the balancer thinks it is ready.
struct Backend {
    port: u16,
    ready: Arc<AtomicBool>,
    child: Child,
}

/// The processes still running; killed if the test fails half-way, so no
/// `usher serve` outlives it.
#[derive(Default)]
struct Fleet(HashMap<u16, Child>);

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.0.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start(db_url: &str, config: &std::path::Path, fake: &FakeSlack) -> Backend {
    let port = free_port();
    let child = usher()
        .env("DATABASE_URL", db_url)
        .env("USHER_CONFIG", config)
        .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_BOT_TOKEN", "xoxb-rolling")
        .env("SLACK_API_URL", fake.api_url())
        .arg("serve")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Backend {
        port,
        ready: Arc::new(AtomicBool::new(false)),
        child,
    }
}

/// The balancer's health check, as load balancers do it: `/readyz` every
/// 50 ms; in after one success, out after three failures in a row (so a
/// slow answer on a busy machine doesn't take a healthy process out). A
/// draining process answers 503 at once: out within ~150 ms, well inside
/// its 1.5 s drain.
fn watch_health(http: reqwest::Client, port: u16, ready: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut failures = 0;
        while !stop.load(Ordering::SeqCst) {
            let ok = http
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            failures = if ok { 0 } else { failures + 1 };
            if ok {
                ready.store(true, Ordering::SeqCst);
            } else if failures >= 3 {
                ready.store(false, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

async fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

async fn exit_code(mut child: Child) -> Option<i32> {
    tokio::task::spawn_blocking(move || child.wait().unwrap().code())
        .await
        .unwrap()
}

/// What the load generator saw.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: std::sync::Mutex<Vec<String>>,
    /// Mentions acknowledged: their ts, each to be answered exactly once.
    mentions: std::sync::Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_loses_and_doubles_nothing() {
    let db = demo_db().await;
    let fake = FakeSlack::start().await;
    people(&fake);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("usher.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let http = reqwest::Client::new();
    let stop_health = Arc::new(AtomicBool::new(false));

    let backends: Backends = Arc::default();
    let mut children = Fleet::default();
    for _ in 0..2 {
        let b = start(&db.url(), &config, &fake);
        watch_health(http.clone(), b.port, b.ready.clone(), stop_health.clone());
        backends.lock().unwrap().push((b.port, b.ready.clone()));
        children.0.insert(b.port, b.child);
    }
    {
        let backends = backends.clone();
        wait_until("both processes ready", 60, move || {
            backends
                .lock()
                .unwrap()
                .iter()
                .all(|(_, r)| r.load(Ordering::SeqCst))
        })
        .await;
    }

    // The load: 4 clients, each sending a slash command, then a mention
    // (answered in its thread through the outbox), over and over, to the
    // ready backends in turn.
    let tally = Arc::new(Tally::default());
    let stop_load = Arc::new(AtomicBool::new(false));
    let sequence = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (http, backends, tally, stop, sequence) = (
            http.clone(),
            backends.clone(),
            tally.clone(),
            stop_load.clone(),
            sequence.clone(),
        );
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let n = sequence.fetch_add(1, Ordering::SeqCst);
                let ready: Vec<u16> = backends
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, r)| r.load(Ordering::SeqCst))
                    .map(|(p, _)| *p)
                    .collect();
                if ready.is_empty() {
                    tally
                        .failed
                        .lock()
                        .unwrap()
                        .push(format!("#{n}: no backend ready"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let port = ready[n % ready.len()];
                let ts = chrono::Utc::now().timestamp();
                let (path, kind, body, ts_of_mention) = if n % 4 == 3 {
                    let mut event = mention(
                        &format!("EvROLL{n:06}"),
                        "<@UUSHERBOT> who owns payments-api?",
                    );
                    // Its own channel and ts: one thread per mention, and no
                    // per-channel pacing between them.
                    let thread = format!("1764150000.{n:06}");
                    event["event"]["ts"] = json!(thread);
                    event["event"]["channel"] = json!(format!("C0ROLL{n:06}"));
                    (
                        "/slack/events",
                        "application/json",
                        event.to_string(),
                        Some(thread),
                    )
                } else {
                    (
                        "/slack/commands",
                        "application/x-www-form-urlencoded",
                        command_form(
                            TEAM,
                            "/whoowns",
                            "payments-api",
                            "U01JONAS",
                            "http://127.0.0.1:9/none",
                        ),
                        None,
                    )
                };
                let sent = http
                    .post(format!("http://127.0.0.1:{port}{path}"))
                    .header("content-type", kind)
                    .header("x-slack-request-timestamp", ts.to_string())
                    .header("x-slack-signature", sign(SIGNING_SECRET, ts, &body))
                    .body(body)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                let outcome = match sent {
                    Ok(r) if r.status() == 200 => {
                        let text = r.text().await.unwrap_or_default();
                        match &ts_of_mention {
                            Some(_) => Ok(()),
                            None => {
                                let answer: Value =
                                    serde_json::from_str(&text).unwrap_or(Value::Null);
                                if block_text(&answer).contains("Payments API") {
                                    Ok(())
                                } else {
                                    Err(format!("an unexpected answer: {text}"))
                                }
                            }
                        }
                    }
                    Ok(r) => Err(format!("HTTP {}", r.status())),
                    Err(e) => Err(e.to_string()),
                };
                match outcome {
                    Ok(()) => {
                        tally.ok.fetch_add(1, Ordering::SeqCst);
                        if let Some(thread) = ts_of_mention {
                            tally.mentions.lock().unwrap().push(thread);
                        }
                    }
                    Err(why) => tally
                        .failed
                        .lock()
                        .unwrap()
                        .push(format!("#{n} to :{port}{path}: {why}")),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    // The deploy: the first process is told to stop, a new one starts.
    let old = backends.lock().unwrap()[0].0;
    sigterm(&children.0[&old]);
    let new = start(&db.url(), &config, &fake);
    watch_health(
        http.clone(),
        new.port,
        new.ready.clone(),
        stop_health.clone(),
    );
    backends.lock().unwrap().push((new.port, new.ready.clone()));
    let new_ready = new.ready.clone();
    children.0.insert(new.port, new.child);
    wait_until("the new process ready", 60, move || {
        new_ready.load(Ordering::SeqCst)
    })
    .await;
    let old_exit = exit_code(children.0.remove(&old).unwrap()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_load.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }

    let failed = tally.failed.lock().unwrap().clone();
    let ok = tally.ok.load(Ordering::SeqCst);
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:#?}",
        failed.len(),
        ok + failed.len()
    );
    assert_eq!(old_exit, Some(0), "the stopped process exits 0");
    assert!(ok > 100, "a real load: {ok} requests");

    // Every acknowledged mention answered exactly once, by whichever process.
    let mentions = tally.mentions.lock().unwrap().clone();
    assert!(mentions.len() > 20, "{} mentions", mentions.len());
    let answered = |fake: &FakeSlack| -> HashMap<String, usize> {
        let mut by_thread = HashMap::new();
        for call in fake.calls_of("chat.postMessage") {
            if let Some(thread) = call.params["thread_ts"].as_str() {
                *by_thread.entry(thread.to_string()).or_default() += 1;
            }
        }
        by_thread
    };
    {
        let (fake, mentions) = (fake.clone(), mentions.clone());
        wait_until("every mention answered", 60, move || {
            let by_thread = answered(&fake);
            mentions.iter().all(|m| by_thread.contains_key(m))
        })
        .await;
    }
    // Each job is marked done just after its message is sent: wait for the
    // marks, then a little longer for a doubled delivery to show, were there one.
    let mut pending: i64 = -1;
    for _ in 0..200 {
        pending = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE state <> 'done' AND kind = 'slack.mention'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let by_thread = answered(&fake);
    let doubled: Vec<(&String, &usize)> = by_thread.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "answered twice: {doubled:?}");
    assert_eq!(
        by_thread.len(),
        mentions.len(),
        "one answer per mention, none for anything else"
    );
    assert_eq!(pending, 0, "nothing left waiting in the outbox");

    // The hygiene round of the past hour, seen by all three processes:
    // one digest per team.
    let mut digests: HashMap<String, usize> = HashMap::new();
    for call in fake.calls_of("chat.postMessage") {
        let text = call.params["text"].as_str().unwrap_or_default();
        if text.contains("Catalog check-up") {
            let channel = call.params["channel"].as_str().unwrap_or_default();
            *digests.entry(channel.to_string()).or_default() += 1;
        }
    }
    assert!(digests.len() >= 3, "digests went out: {digests:?}");
    assert!(
        digests.values().all(|n| *n == 1),
        "one digest per team: {digests:?}"
    );
    eprintln!(
        "rolling restart: {ok} requests answered, 0 failed; {} mentions answered once each; {} team digests, one each",
        mentions.len(),
        digests.len()
    );

    // The rest stop cleanly too.
    for child in children.0.values() {
        sigterm(child);
    }
    for (_, child) in children.0.drain() {
        assert_eq!(exit_code(child).await, Some(0));
    }
    stop_health.store(true, Ordering::SeqCst);
}
