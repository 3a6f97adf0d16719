//! The local PostgreSQL cluster usher runs itself, exercised through the
//! real binary: first use, reuse, a stale pid file, a data folder private
//! to root with a path too long for a socket, several processes sharing one
//! cluster, and no server binaries at all.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::support::{free_port, repo, stderr, stdout, usher};

/// Where the cluster of a data folder lives (it moves out of folders the
/// server's user can't reach).
fn cluster_of(data: &Path) -> PathBuf {
    match fs::read_to_string(data.join("postgres.location")) {
        Ok(text) => PathBuf::from(text.lines().next().unwrap()).join("data"),
        Err(_) => data.join("postgres"),
    }
}

/// Removes a relocated cluster (outside the temp folder) after a test.
fn cleanup(data: &Path) {
    if let Ok(text) = fs::read_to_string(data.join("postgres.location")) {
        let _ = fs::remove_dir_all(text.lines().next().unwrap());
    }
}

fn running(cluster: &Path) -> bool {
    cluster.join("postmaster.pid").exists()
}

fn migrate(data: &Path) -> std::process::Output {
    usher()
        .env("USHER_DATA_DIR", data)
        .arg("migrate")
        .output()
        .unwrap()
}

#[test]
fn first_use_reuse_and_a_stale_pid_file_in_a_private_deep_folder() {
    // A private folder (mode 0700, as mktemp -d makes) and a data folder
    // deep enough that a socket inside it would exceed ~107 bytes.
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let data = tmp.path().join("a-rather-long-folder-name/another-long-folder-name/and-one-more-for-good-measure/and-yet-another-level/usher-data");
    assert!(data.as_os_str().len() > 110);

    let started = Instant::now();
    let out = migrate(&data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("the database is at version"),
        "{}",
        stdout(&out)
    );
    let first = started.elapsed();
    let cluster = cluster_of(&data);
    assert!(cluster.join("PG_VERSION").exists(), "{}", cluster.display());
    if nix::unistd::Uid::effective().is_root() {
        // The server's user can't reach a 0700 folder of root's: the
        // cluster lives outside, tied to the data folder.
        assert!(data.join("postgres.location").exists());
    }
    // The last process out stops the server.
    assert!(
        !running(&cluster),
        "the server should be stopped after usher exits"
    );

    // Reuse: no second initdb.
    let version = fs::metadata(cluster.join("PG_VERSION"))
        .unwrap()
        .modified()
        .unwrap();
    let started = Instant::now();
    assert!(migrate(&data).status.success());
    let second = started.elapsed();
    assert_eq!(
        fs::metadata(cluster.join("PG_VERSION"))
            .unwrap()
            .modified()
            .unwrap(),
        version
    );
    eprintln!("first use {first:?}, reuse {second:?}");

    // A crash leaves a pid file naming a process that is not PostgreSQL
    // (here: this test process). usher recovers.
    fs::write(
        cluster.join("postmaster.pid"),
        format!("{}\n{}\n", std::process::id(), cluster.display()),
    )
    .unwrap();
    let out = migrate(&data);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!running(&cluster));
    cleanup(&data);
}

fn wait_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("usher serve exited early: {status}");
        }
        if let Ok(resp) = http_probe::get(&format!("http://127.0.0.1:{port}/readyz"))
            && resp == 200
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("usher serve did not become ready");
}

mod http_probe {
    /// A tiny blocking GET over a TCP socket: enough for a health probe
    /// without a second HTTP client stack.
    pub fn get(url: &str) -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = std::net::TcpStream::connect(host)?;
        stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let code = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok(code)
    }
}

#[test]
fn serve_and_import_share_one_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let mut serve = usher()
        .env("USHER_DATA_DIR", &data)
        .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
        .env("USHER_SCIM_TOKEN", "scim-token-of-the-shared-cluster-test")
        .arg("serve")
        .spawn()
        .unwrap();
    wait_ready(port, &mut serve);
    // SCIM is served when its token is set: without the token, refused.
    assert_eq!(
        http_probe::get(&format!("http://127.0.0.1:{port}/scim/v2/Users")).unwrap(),
        401
    );
    let cluster = cluster_of(&data);
    assert!(running(&cluster));

    // A second process joins the running cluster, and leaves it running
    // for serve when it exits.
    let out = usher()
        .env("USHER_DATA_DIR", &data)
        .args(["catalog", "import"])
        .arg(repo().join("deploy/demo/catalog-info.yaml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("added"), "{}", stdout(&out));
    assert!(
        running(&cluster),
        "import must not stop the cluster serve uses"
    );
    assert_eq!(
        http_probe::get(&format!("http://127.0.0.1:{port}/readyz")).unwrap(),
        200
    );
    // `usher health` (the container's health check) agrees, from
    // USHER_LISTEN, whatever state usher.toml is in.
    let bad = tmp.path().join("broken.toml");
    fs::write(&bad, "[serve\n").unwrap();
    let out = usher()
        .env("USHER_LISTEN", format!("0.0.0.0:{port}"))
        .env("USHER_CONFIG", &bad)
        .arg("health")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = usher()
        .args([
            "health",
            "--url",
            &format!("http://127.0.0.1:{}", free_port()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("could not be reached"),
        "{}",
        stderr(&out)
    );

    // SIGTERM: serve exits 0 and, as the last user, stops the cluster.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(
        !running(&cluster),
        "the cluster should be stopped with its last user"
    );
    cleanup(&data);
}

#[test]
fn without_server_binaries_one_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let out = usher()
        .env("USHER_DATA_DIR", tmp.path().join("data"))
        .env("USHER_PG_BINDIR", tmp.path().join("nowhere"))
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("found no server binaries"), "{err}");
    assert!(err.contains("apt-get install -y postgresql"), "{err}");
    assert!(err.contains("brew install"), "{err}");
    assert!(err.contains("DATABASE_URL"), "{err}");
}

#[test]
fn sigterm_drains_with_readiness_off_and_a_second_signal_exits_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("usher.toml");
    std::fs::write(
        &config,
        "[serve]\ndrain_ms = 3000\n[hygiene]\nenabled = false\n",
    )
    .unwrap();
    let port = free_port();
    let start = |data: &std::path::Path| {
        usher()
            .env("USHER_DATA_DIR", data)
            .env("USHER_CONFIG", &config)
            .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
            .arg("serve")
            .spawn()
            .unwrap()
    };
    let term = |child: &std::process::Child| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap()
    };
    let mut serve = start(&data);
    wait_ready(port, &mut serve);
    // Without USHER_SCIM_TOKEN there is no SCIM at all.
    assert_eq!(
        http_probe::get(&format!("http://127.0.0.1:{port}/scim/v2/Users")).unwrap(),
        404
    );
    term(&serve);
    // During the drain: still answering, but not ready.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        http_probe::get(&format!("http://127.0.0.1:{port}/readyz")).unwrap(),
        503
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(2000),
        "it drained first"
    );

    // A second signal doesn't wait for the drain.
    let mut serve = start(&data);
    wait_ready(port, &mut serve);
    term(&serve);
    std::thread::sleep(Duration::from_millis(300));
    term(&serve);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a second signal should stop it at once"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_millis(1500));
    // The forced exit left its PostgreSQL running; the next usher process
    // takes it over, and stops it as the last one out.
    let cluster = cluster_of(&data);
    let out = usher()
        .env("USHER_DATA_DIR", &data)
        .env("USHER_CONFIG", &config)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!running(&cluster), "the cluster is stopped again");
}

#[test]
fn secrets_never_reach_the_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let secrets = [
        ("SLACK_BOT_TOKEN", "xoxb-11111-secret-bot-token"),
        ("SLACK_SIGNING_SECRET", "signing-secret-22222"),
        ("DISCORD_BOT_TOKEN", "discord-bot-token-33333"),
        ("GITHUB_TOKEN", "ghp_secret44444"),
        ("PAGERDUTY_TOKEN", "pd-secret-55555"),
    ];
    let mut cmd = usher();
    cmd.env("USHER_DATA_DIR", &data)
        .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "debug")
        .env("USHER_LOG_FORMAT", "json")
        // Unreachable APIs: the start-up checks fail and say so in the log.
        .env("SLACK_API_URL", "http://127.0.0.1:9/api")
        .env("DISCORD_API_URL", "http://127.0.0.1:9")
        .env(
            "DISCORD_PUBLIC_KEY",
            "67c6bd767ca099e79efac9fcce4d2022a63bf7dea780e7f3d813f694c1597089",
        )
        .arg("serve")
        .stderr(std::process::Stdio::piped());
    for (k, v) in secrets {
        cmd.env(k, v);
    }
    let mut serve = cmd.spawn().unwrap();
    // Drained while serve runs: debug logs fill a pipe's buffer in seconds,
    // and a serve blocked on a full pipe never becomes ready.
    let mut stderr = serve.stderr.take().unwrap();
    let drain = std::thread::spawn(move || {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut text).unwrap();
        String::from_utf8_lossy(&text).into_owned()
    });
    wait_ready(port, &mut serve);
    // One request to /metrics (its span is looked for below); on a busy
    // machine the first try may time out.
    let metrics = (0..5)
        .map(|_| http_probe::get(&format!("http://127.0.0.1:{port}/metrics")))
        .find(|r| matches!(r, Ok(200)));
    assert!(metrics.is_some(), "/metrics never answered 200");
    std::thread::sleep(Duration::from_millis(2500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    serve.wait().unwrap();
    let log = drain.join().unwrap();
    assert!(
        log.contains("auth.test failed"),
        "the failing checks were logged: {log}"
    );
    for (name, value) in secrets {
        assert!(!log.contains(value), "{name} appears in the log");
    }
    // JSON lines, and the request to /metrics under its own span.
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!lines.is_empty(), "{log}");
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["name"] == "http" && l["span"]["path"] == "/metrics"),
        "a span per request: {log}"
    );
}
