//! The test harness: one PostgreSQL cluster per test run (the same local
//! cluster code usher uses, or `DATABASE_URL` when set), a migrated
//! template database made once, and a fresh database per test cloned from
//! it and dropped afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection};

use usher::actions::outbox::{self, Job, SendError, SendFuture, Sender, Senders, Worker};
use usher::commands::Core;
use usher::config::Config;
use usher::db::{LocalOptions, LocalPostgres, MIGRATOR};

/// Where the test cluster lives: under cargo's target folder.
fn cluster_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("usher-test-pg")
}

/// How to reach the server the tests use.
struct Server {
    /// Options for the maintenance database.
    admin: PgConnectOptions,
    local: Mutex<Option<LocalPostgres>>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        usher::install_crypto_provider();
        match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            Some(url) => Server {
                admin: PgConnectOptions::from_str(&url).expect("DATABASE_URL parses"),
                local: Mutex::new(None),
            },
            None => {
                let local =
                    LocalPostgres::start(&cluster_dir(), &LocalOptions { unsafe_fast: true })
                        .unwrap_or_else(|e| panic!("the test PostgreSQL cluster: {e}"));
                let admin = usher::db::local_options(&local, "postgres");
                // Leave the cluster when the test process exits (the last
                // test binary out stops it).
                unsafe {
                    nix::libc::atexit(leave_cluster);
                }
                Server {
                    admin,
                    local: Mutex::new(Some(local)),
                }
            }
        }
    })
}

extern "C" fn leave_cluster() {
    if let Some(server) = SERVER_REF.get()
        && let Ok(mut guard) = server.local.lock()
        && let Some(local) = guard.take()
    {
        local.leave();
    }
}

static SERVER_REF: OnceLock<&'static Server> = OnceLock::new();

/// The name of the template database for this set of migrations.
fn template_name() -> String {
    let mut hasher = Sha256::new();
    for m in MIGRATOR.iter() {
        hasher.update(m.version.to_le_bytes());
        hasher.update(&m.checksum);
    }
    format!("usher_tpl_{}", &hex::encode(hasher.finalize())[..12])
}

async fn ensure_template(admin: &PgConnectOptions) -> String {
    let name = template_name();
    let mut conn = PgConnection::connect_with(admin)
        .await
        .expect("connect to the test server");
    sqlx::query("SELECT pg_advisory_lock(hashtext('usher-test-template'))")
        .execute(&mut conn)
        .await
        .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    if !exists {
        // Templates of older migration sets are of no use any more.
        let old: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'usher_tpl_%'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for db in old {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
        let building = format!("{name}_building");
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {building} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {building}")))
            .execute(&mut conn)
            .await
            .unwrap();
        {
            let mut db = PgConnection::connect_with(&admin.clone().database(&building))
                .await
                .unwrap();
            MIGRATOR
                .run(&mut db)
                .await
                .expect("migrations apply to a fresh database");
            db.close().await.unwrap();
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {building} RENAME TO {name}"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    sqlx::query("SELECT pg_advisory_unlock(hashtext('usher-test-template'))")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    name
}

/// A database of this test's own, dropped when it goes out of scope.
pub struct TestDb {
    pub pool: PgPool,
    pub name: String,
    options: PgConnectOptions,
}

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new() -> TestDb {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let server = server();
        let _ = SERVER_REF.set(server);
        let template = ensure_template(&server.admin).await;
        let name = format!(
            "usher_t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = PgConnection::connect_with(&server.admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE {template}"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let options = server
            .admin
            .clone()
            .database(&name)
            .log_statements(log::LevelFilter::Debug);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .unwrap();
        TestDb {
            pool,
            name,
            options,
        }
    }

    /// A `DATABASE_URL` for this database, for usher subprocesses.
    pub fn url(&self) -> String {
        let port = self.options.get_port();
        let user = self.options.get_username();
        if let Some(socket) = self.options.get_socket() {
            format!(
                "postgres://{user}@localhost/{}?host={}&port={port}",
                self.name,
                socket.display()
            )
        } else {
            let base = std::env::var("DATABASE_URL").unwrap();
            let (prefix, _) = base.rsplit_once('/').unwrap();
            let query = base
                .split_once('?')
                .map(|(_, q)| format!("?{q}"))
                .unwrap_or_default();
            format!("{prefix}/{}{query}", self.name)
        }
    }

    /// Another pool on this database (for a server that closes its own),
    /// set up as usher sets up its own.
    pub async fn new_pool(&self) -> PgPool {
        usher::db::pool_options(16)
            .connect_with(self.options.clone())
            .await
            .unwrap()
    }

    /// A database outage (or its end): while unreachable, every
    /// connection is cut and new ones are refused.
    pub async fn set_reachable(&self, reachable: bool) {
        let mut conn = PgConnection::connect_with(&server().admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS {reachable}",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        if !reachable {
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&self.name)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        conn.close().await.unwrap();
    }

    pub fn core(&self) -> Core {
        self.core_with(Config::default())
    }

    /// A core on this database; on-call providers get no credentials
    /// from the environment, so tests don't depend on it.
    pub fn core_with(&self, config: Config) -> Core {
        let mut core = Core::new(self.pool.clone(), Arc::new(config.clone()));
        core.oncall = Arc::new(usher::oncall::OnCallService::with_credentials(
            config.oncall,
            None,
            None,
        ));
        core
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = server().admin.clone();
        // The pool belongs to the test's runtime, which is blocked here:
        // don't touch it; FORCE ends its sessions server-side. A thread of
        // its own runs the drop.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// A sender that records what it was asked to send, and can be told to
/// fail the next N sends.
#[derive(Default)]
pub struct RecordingSender {
    pub sent: Mutex<Vec<Job>>,
    pub fail_next: Mutex<Vec<SendError>>,
}

impl Sender for RecordingSender {
    fn send<'a>(&'a self, job: &'a Job) -> SendFuture<'a> {
        Box::pin(async move {
            if let Some(err) = self.fail_next.lock().unwrap().pop() {
                return Err(err);
            }
            self.sent.lock().unwrap().push(job.clone());
            Ok(())
        })
    }
}

/// Runs every due job with `senders`, then fails the test if any pending
/// job is left behind.
pub async fn drain_outbox(pool: &PgPool, senders: Senders) -> usize {
    let worker = Worker::new(pool.clone(), senders, Config::default().outbox);
    let ran = worker.run_due().await.unwrap();
    let left = outbox::counts(pool).await.unwrap();
    assert_eq!(
        left.get("pending").copied().unwrap_or(0),
        0,
        "jobs left in the outbox: {left:?}"
    );
    ran
}

/// Polls `/readyz` at `base` (at most `tries` times, 50 ms apart) until
/// `platform`'s detail mentions `detail`, asserting that usher itself stays
/// ready meanwhile; the last answer.
pub async fn readyz_until(
    http: &reqwest::Client,
    base: &str,
    (platform, detail): (&str, &str),
    tries: usize,
) -> serde_json::Value {
    let mut seen = serde_json::Value::Null;
    for _ in 0..tries {
        let r = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200, "usher itself stays ready");
        seen = r.json().await.unwrap();
        if seen[platform]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(detail))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    seen
}

/// A port nothing listens on now (for a process under test to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The usher binary.
pub fn usher() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_usher"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("USHER_CONFIG")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// Runs usher with `stdin` text; returns its output.
pub fn usher_with_input(mut cmd: Command, input: &str) -> Output {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("usher starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Third-party data the tests read (each folder with its NOTICE), inside
/// the repository so a fresh clone has it.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
