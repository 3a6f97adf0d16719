//! `usher bench soak`: two `usher serve` replicas on one database under
//! mixed load for minutes — slash commands about services nobody asked
//! about before and about popular ones, mentions, button clicks, a hygiene
//! round, catalog refreshes — with a PostgreSQL restart and a `kill -9` of
//! one replica in the middle. It prints what was answered and what failed,
//! every outbox effect expected against what reached the Slack stand-in
//! (lost and doubled), and each replica's memory at start and end.
//!
//! Everything is real but Slack: the local PostgreSQL cluster, the `usher`
//! binary started twice, signed HTTP. Not run in CI (it takes minutes);
//! tests never assert on its figures.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::generate;
use super::slack::{sign, slash_body};
use super::slack_counter::{SlackCounter, TEAM};
use crate::db::{Database, DbSettings, LocalOptions, LocalPostgres};

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakSpec {
    /// The `usher` binary to start as replicas.
    pub binary: PathBuf,
    /// A scratch folder of its own (the cluster, the catalog, logs).
    pub dir: PathBuf,
    pub duration: Duration,
    pub services: usize,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Requests a second, all kinds together (a busy organisation's day
    /// squeezed: far above what people type, within Slack's per-channel
    /// pace for the mentions spread over 100 channels).
    pub rate: f64,
}

const SECRET: &str = "soak-signing-secret";

/// One replica: its port, its process, whether it should be up.
struct Replica {
    port: u16,
    child: Child,
    up: Arc<AtomicBool>,
    rss_start: f64,
}

/// Counts, by kind of request.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failed: AtomicUsize,
    /// Slash commands acknowledged "still looking" (an answer must follow
    /// at their response_url).
    late: AtomicUsize,
    mentions: AtomicUsize,
    clicks: AtomicUsize,
}

/// Runs the soak; returns the report to print.
pub async fn run(spec: &SoakSpec) -> Result<String, String> {
    let err = |what: &str| {
        let what = what.to_string();
        move |e: &dyn std::fmt::Display| format!("{what}: {e}")
    };
    std::fs::create_dir_all(&spec.dir).map_err(|e| err("the scratch folder")(&e))?;
    let data = spec.dir.join("data");
    let local = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || LocalPostgres::start(&data, &LocalOptions::default()))
            .await
            .map_err(|e| err("starting PostgreSQL")(&e))?
            .map_err(|e| err("starting PostgreSQL")(&e))?
    };
    let local = Arc::new(local);
    // sqlx wants a host in the URL; the socket folder in `host=` wins.
    let url = |database: &str| {
        format!(
            "postgres://postgres@localhost/{database}?host={}&port={}",
            local.socket_dir().display(),
            local.port()
        )
    };
    let admin = url("postgres");
    {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .map_err(|e| err("connecting")(&e))?;
        for sql in [
            "DROP DATABASE IF EXISTS usher_soak WITH (FORCE)",
            "CREATE DATABASE usher_soak",
        ] {
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .map_err(|e| err("creating the database")(&e))?;
        }
    }
    let db_url = url("usher_soak");
    let db = Database::open(&DbSettings {
        database_url: Some(db_url.clone()),
        data_dir: data.clone(),
        max_connections: 8,
    })
    .await
    .map_err(|e| err("opening the database")(&e))?;
    let pool = db.pool.clone();

    let catalog = spec.dir.join("catalog");
    let _ = std::fs::remove_dir_all(&catalog);
    let generated = generate::generate(
        &catalog,
        &generate::Spec {
            services: spec.services,
            seed: 11,
        },
    )
    .map_err(|e| err("generating the catalog")(&e))?;
    let config = crate::config::Config::default();
    crate::catalog::import_one(
        &pool,
        &crate::catalog::source::Source::File(generated.root.clone()),
        crate::catalog::import::LocationKind::Dir,
        &crate::catalog::loader::LoadOptions::from_config(&config),
        "soak",
        false,
    )
    .await
    .map_err(|e| err("importing")(&e))?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM entities WHERE kind = 'component'")
            .fetch_all(&pool)
            .await
            .map_err(|e| err("reading names")(&e))?;

    let counter = SlackCounter::default();
    let slack = counter
        .start()
        .await
        .map_err(|e| err("the Slack stand-in")(&e))?;
    let config_file = spec.dir.join("usher.toml");
    std::fs::write(
        &config_file,
        format!(
            "[slack]\nworkspaces = [\"{TEAM}\"]\ninline_ms = 1500\nusers_list_interval_ms = 0\n\
             [hygiene]\nschedule = \"0 * * * *\"\ntimezone = \"UTC\"\nquiet_days = []\n\
             [outbox]\nbase_backoff_secs = 1\nmax_backoff_secs = 10\nlease_secs = 15\n"
        ),
    )
    .map_err(|e| err("writing usher.toml")(&e))?;
    let launch = |name: &str| -> Result<Replica, String> {
        let port = free_port().map_err(|e| err("a port")(&e))?;
        let log = std::fs::File::create(spec.dir.join(format!("{name}.log")))
            .map_err(|e| err("a log file")(&e))?;
        let child = Command::new(&spec.binary)
            .env("DATABASE_URL", &db_url)
            .env("USHER_CONFIG", &config_file)
            .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
            .env("SLACK_SIGNING_SECRET", SECRET)
            .env("SLACK_BOT_TOKEN", "xoxb-soak")
            .env("SLACK_API_URL", format!("{slack}/api"))
            .env("RUST_LOG", "warn")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| err("starting usher serve")(&e))?;
        Ok(Replica {
            port,
            child,
            up: Arc::new(AtomicBool::new(false)),
            rss_start: 0.0,
        })
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(spec.concurrency)
        .build()
        .map_err(|e| err("the HTTP client")(&e))?;
    let mut replicas = vec![launch("replica-a")?, launch("replica-b")?];
    for r in &mut replicas {
        wait_ready(&http, r.port).await?;
        r.up.store(true, Ordering::SeqCst);
        r.rss_start = rss_mb(r.child.id());
    }
    let ports: Vec<(u16, Arc<AtomicBool>)> =
        replicas.iter().map(|r| (r.port, r.up.clone())).collect();
    let ports = Arc::new(std::sync::Mutex::new(ports));

    // The load.
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let sequence = Arc::new(AtomicU64::new(0));
    let names = Arc::new(names);
    let started = Instant::now();
    let mut load = Vec::new();
    for worker in 0..spec.concurrency {
        let (http, ports, tally, stop, sequence, names, slack) = (
            http.clone(),
            ports.clone(),
            tally.clone(),
            stop.clone(),
            sequence.clone(),
            names.clone(),
            slack.clone(),
        );
        let every = Duration::from_secs_f64(spec.concurrency as f64 / spec.rate.max(1.0));
        load.push(tokio::spawn(async move {
            let mut turn = worker;
            let mut next = tokio::time::Instant::now() + every.mul_f64(worker as f64 / 16.0);
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep_until(next).await;
                next += every;
                turn += 1;
                let n = sequence.fetch_add(1, Ordering::SeqCst);
                let Some(port) = pick(&ports, turn) else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let base = format!("http://127.0.0.1:{port}");
                let result = request(&http, &base, &slack, &names, n, &tally).await;
                match result {
                    Ok(()) => tally.ok.fetch_add(1, Ordering::SeqCst),
                    Err(_) => tally.failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    let refresher = tokio::spawn(super::slack::refresh_while(
        pool.clone(),
        generated.root.clone(),
        crate::catalog::loader::LoadOptions::from_config(&config),
        Duration::from_secs(20),
        stop.clone(),
    ));

    let third = spec.duration / 3;
    let mut events = Vec::new();
    tokio::time::sleep(third).await;
    // PostgreSQL restarts under everyone's feet.
    let restart_started = Instant::now();
    let restarting = local.clone();
    let restarted = tokio::task::spawn_blocking(move || restarting.restart())
        .await
        .map_err(|e| err("restarting PostgreSQL")(&e))?;
    events.push(format!(
        "{:>5.0} s  PostgreSQL restarted (fast) in {:.1} s{}",
        restart_started.duration_since(started).as_secs_f64(),
        restart_started.elapsed().as_secs_f64(),
        restarted
            .err()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    ));
    tokio::time::sleep(third / 2).await;
    // One replica dies mid-work.
    replicas[1].up.store(false, Ordering::SeqCst);
    let killed_at = started.elapsed();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(replicas[1].child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = replicas[1].child.wait();
    events.push(format!(
        "{:>5.0} s  replica B killed with SIGKILL",
        killed_at.as_secs_f64()
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut again = launch("replica-b2")?;
    wait_ready(&http, again.port).await?;
    again.up.store(true, Ordering::SeqCst);
    again.rss_start = rss_mb(again.child.id());
    ports
        .lock()
        .expect("ports")
        .push((again.port, again.up.clone()));
    events.push(format!(
        "{:>5.0} s  replica B started again",
        started.elapsed().as_secs_f64()
    ));
    replicas.push(again);
    let left = spec.duration.saturating_sub(started.elapsed());
    tokio::time::sleep(left).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        let _ = task.await;
    }
    let refreshes = refresher.await.unwrap_or_default();
    let load_time = started.elapsed();

    // Everything queued goes out (a job the killed replica held waits for
    // its lease to run out).
    let drain_started = Instant::now();
    let mut pending = i64::MAX;
    while drain_started.elapsed() < Duration::from_secs(120) {
        pending = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'pending'")
            .fetch_one(&pool)
            .await
            .unwrap_or(i64::MAX);
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state = 'dead'")
        .fetch_one(&pool)
        .await
        .unwrap_or(-1);
    // Digests to team channels (the rest go to leads' DMs).
    let digests: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE idempotency_key LIKE 'hygiene:%' AND destination LIKE 'channel:%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap_or(-1);

    let mut report = String::new();
    let t = &tally;
    let answered = t.ok.load(Ordering::SeqCst);
    let failed = t.failed.load(Ordering::SeqCst);
    report.push_str(&format!(
        "soak: {} services, 2 replicas, {} connections at {:.0} requests/s, {:.0} s of load\n",
        spec.services,
        spec.concurrency,
        spec.rate,
        load_time.as_secs_f64()
    ));
    for e in &events {
        report.push_str(&format!("  {e}\n"));
    }
    report.push_str(&format!(
        "requests: {answered} answered, {failed} failed ({:.0}/s); catalog refreshes: {}\n",
        answered as f64 / load_time.as_secs_f64(),
        refreshes.len()
    ));
    let line = |what: &str, expected: usize, (delivered, doubled): (usize, usize)| {
        format!(
            "  {what:<28} expected {expected:>6}, delivered {delivered:>6}, lost {:>4}, doubled {doubled}\n",
            expected.saturating_sub(delivered)
        )
    };
    report.push_str(&format!(
        "outbox effects at Slack (after {:.0} s to drain; {pending} pending, {dead} dead letters):\n",
        drain_started.elapsed().as_secs_f64()
    ));
    report.push_str(&line(
        "mention answers",
        t.mentions.load(Ordering::SeqCst),
        counter.thread_answers(),
    ));
    report.push_str(&line(
        "button-click answers",
        t.clicks.load(Ordering::SeqCst),
        counter.responses("click-"),
    ));
    report.push_str(&line(
        "late slash-command answers",
        t.late.load(Ordering::SeqCst),
        counter.responses("cmd-"),
    ));
    report.push_str(&line(
        "hygiene digests",
        digests.max(0) as usize,
        counter.channel_posts("C0000"),
    ));
    let stuck: Vec<(String, String, i64, i32)> = sqlx::query_as(
        "SELECT kind, state, count(*), max(attempts) FROM outbox WHERE state <> 'done' GROUP BY kind, state ORDER BY kind",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_default();
    for (kind, state, count, attempts) in stuck {
        let why: Option<String> = sqlx::query_scalar(
            "SELECT last_error FROM outbox WHERE kind = $1 AND state = $2 AND last_error IS NOT NULL LIMIT 1",
        )
        .bind(&kind)
        .bind(&state)
        .fetch_optional(&pool)
        .await
        .ok()
        .flatten();
        report.push_str(&format!(
            "  {state} {kind}: {count} (attempts up to {attempts}){}\n",
            why.map(|w| format!("; e.g. {w}")).unwrap_or_default()
        ));
    }
    report.push_str("memory (RSS, MB):\n");
    for (name, r) in ["A", "B (killed)", "B (restarted)"].iter().zip(&replicas) {
        let end = if r.up.load(Ordering::SeqCst) {
            format!("{:.1}", rss_mb(r.child.id()))
        } else {
            "—".to_string()
        };
        report.push_str(&format!(
            "  replica {name:<14} start {:.1}, end {end}\n",
            r.rss_start
        ));
    }
    for r in &mut replicas {
        if r.up.load(Ordering::SeqCst) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(r.child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = r.child.wait();
        }
    }
    db.close().await;
    Ok(report)
}

/// A live replica, round-robin.
fn pick(ports: &std::sync::Mutex<Vec<(u16, Arc<AtomicBool>)>>, turn: usize) -> Option<u16> {
    let ports = ports.lock().expect("ports");
    let live: Vec<u16> = ports
        .iter()
        .filter(|(_, up)| up.load(Ordering::SeqCst))
        .map(|(p, _)| *p)
        .collect();
    (!live.is_empty()).then(|| live[turn % live.len()])
}

/// One request of the mix, by its sequence number: cold and warm slash
/// commands, mentions and clicks.
async fn request(
    http: &reqwest::Client,
    base: &str,
    slack: &str,
    names: &[String],
    n: u64,
    tally: &Tally,
) -> Result<(), String> {
    let ts = chrono::Utc::now().timestamp();
    let post = |path: &str, content_type: &str, body: String| {
        http.post(format!("{base}{path}"))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sign(SECRET, ts, &body))
            .body(body)
            .send()
    };
    let form = "application/x-www-form-urlencoded";
    match n % 20 {
        // A service nobody asked about yet, or one of a popular few.
        kind @ 0..=17 => {
            let name = if kind < 11 {
                &names[(n as usize * 7919) % names.len()]
            } else {
                &names[n as usize % 20.min(names.len())]
            };
            let body = slash_body(
                TEAM,
                &format!("owner {name}"),
                n,
                &format!("{slack}/respond/cmd-{n}"),
            );
            let response = post("/slack/commands", form, body)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let text = response.text().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            if text.contains("Still looking") {
                tally.late.fetch_add(1, Ordering::SeqCst);
            }
            Ok(())
        }
        18 => {
            let event = json!({
                "token": "x", "team_id": TEAM, "api_app_id": "A0SOAK", "type": "event_callback",
                "event_id": format!("EvSOAK{n}"), "event_time": ts,
                "event": { "type": "app_mention", "user": format!("U{:05}", n % 500),
                           "text": format!("<@UUSHERSOAK> who owns {}?", names[n as usize % names.len()]),
                           "ts": format!("{ts}.{n:06}"), "channel": format!("C1SOAK{:03}", (n / 20) % 100), "event_ts": format!("{ts}.{n:06}") },
            });
            let response = post("/slack/events", "application/json", event.to_string())
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            tally.mentions.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        _ => {
            let payload = json!({
                "type": "block_actions", "team": { "id": TEAM, "domain": "soak" },
                "user": { "id": format!("U{:05}", n % 500), "team_id": TEAM },
                "api_app_id": "A0SOAK", "token": "x", "trigger_id": format!("1.2.{n}"),
                "container": { "type": "message", "message_ts": "1.2", "channel_id": "C0SOAKGENERAL", "is_ephemeral": true },
                "channel": { "id": "C0SOAKGENERAL", "name": "general" },
                "response_url": format!("{slack}/respond/click-{n}"),
                "actions": [{ "type": "button", "action_id": "run:0", "block_id": "b0",
                              "text": { "type": "plain_text", "text": "Owner" },
                              "value": format!("owner {}", names[n as usize % names.len()]) }],
            });
            let body = serde_urlencoded::to_string([("payload", payload.to_string())])
                .map_err(|e| e.to_string())?;
            let response = post("/slack/interactions", form, body)
                .await
                .map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            tally.clicks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
}

async fn wait_ready(http: &reqwest::Client, port: u16) -> Result<(), String> {
    for _ in 0..600 {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("usher serve on port {port} never became ready"))
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A process's resident memory in MB (Linux).
fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"))
        .unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
