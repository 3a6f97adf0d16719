//! Opening the database: `DATABASE_URL` when set, else the local cluster
//! (see [`local`]); then the migrations, under sqlx's advisory lock so
//! processes starting together don't race.

pub mod local;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use local::{LocalOptions, LocalPgError, LocalPostgres};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// The database every usher process of one installation uses on the local
/// cluster.
pub const LOCAL_DATABASE: &str = "usher";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Local(#[from] LocalPgError),
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    BadUrl(String),
    #[error(
        "cannot connect to the database at {target}: {source}\nCheck that the server is running and the address is right{hint}"
    )]
    Connect {
        target: String,
        hint: &'static str,
        source: sqlx::Error,
    },
    #[error("applying the database migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Where the database is.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    pub max_connections: u32,
}

impl DbSettings {
    /// Where the environment says the database is (`DATABASE_URL`, else
    /// the local cluster under `USHER_DATA_DIR`).
    pub fn from_env(env: &crate::config::Env) -> Self {
        DbSettings {
            database_url: env.database_url.clone(),
            data_dir: env.data_dir.clone(),
            max_connections: 16,
        }
    }
}

/// An open, migrated database. Holds the local cluster (when used) for as
/// long as it lives; [`Database::close`] leaves it cleanly.
#[derive(Debug, Clone)]
pub struct Database {
    pub pool: PgPool,
    local: Option<Arc<Mutex<Option<LocalPostgres>>>>,
}

impl Database {
    /// Opens and migrates the database described by `settings`.
    pub async fn open(settings: &DbSettings) -> Result<Database, DbError> {
        let db = match &settings.database_url {
            Some(url) => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| DbError::BadUrl(redact_url_error(&e.to_string(), url)))?
                    .application_name("usher");
                let pool = pool_options(settings.max_connections)
                    .connect_with(quiet(options))
                    .await
                    .map_err(|source| DbError::Connect {
                        target: redact_url(url),
                        hint: " (DATABASE_URL).",
                        source,
                    })?;
                Database { pool, local: None }
            }
            None => {
                let local = start_local(&settings.data_dir, LocalOptions::default()).await?;
                ensure_database(&local, LOCAL_DATABASE).await?;
                let pool = pool_options(settings.max_connections)
                    .connect_with(quiet(local_options(&local, LOCAL_DATABASE)))
                    .await
                    .map_err(|source| DbError::Connect {
                        target: local.url(LOCAL_DATABASE),
                        hint: " (the local cluster; see its server.log).",
                        source,
                    })?;
                Database {
                    pool,
                    local: Some(Arc::new(Mutex::new(Some(local)))),
                }
            }
        };
        MIGRATOR.run(&db.pool).await?;
        Ok(db)
    }

    /// A database already open elsewhere (tests), without a local
    /// cluster to leave.
    pub fn from_pool(pool: PgPool) -> Database {
        Database { pool, local: None }
    }

    /// Closes the pool, then leaves the local cluster (stopping it when no
    /// other usher process uses it).
    pub async fn close(self) {
        self.pool.close().await;
        if let Some(local) = self.local {
            let taken = local.lock().map(|mut guard| guard.take()).unwrap_or(None);
            if let Some(local) = taken {
                let _ = tokio::task::spawn_blocking(move || local.leave()).await;
            }
        }
    }

    /// Whether this database is the local cluster.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }
}

/// A throw-away database on the same server (benchmarks): created empty
/// and migrated, dropped by [`Scratch::drop_now`].
pub struct Scratch {
    pub db: Database,
    name: String,
    admin: PgConnectOptions,
}

impl Scratch {
    pub async fn create(settings: &DbSettings, name: &str) -> Result<Scratch, DbError> {
        let (admin, local) = match &settings.database_url {
            Some(url) => (
                PgConnectOptions::from_str(url)
                    .map_err(|e| DbError::BadUrl(redact_url_error(&e.to_string(), url)))?,
                None,
            ),
            None => {
                let local = start_local(&settings.data_dir, LocalOptions::default()).await?;
                (local_options(&local, "postgres"), Some(local))
            }
        };
        let mut conn = sqlx::PgConnection::connect_with(&quiet(admin.clone()))
            .await
            .map_err(|source| DbError::Connect {
                target: "the benchmark server".to_string(),
                hint: ".",
                source,
            })?;
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        // Names are quoted identifiers.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(&mut conn)
            .await?;
        use sqlx::Connection;
        conn.close().await?;
        let pool = pool_options(settings.max_connections)
            .connect_with(quiet(admin.clone().database(name)))
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Scratch {
            db: Database {
                pool,
                local: local.map(|l| Arc::new(Mutex::new(Some(l)))),
            },
            name: name.to_string(),
            admin,
        })
    }

    /// Drops the database and closes everything.
    pub async fn drop_now(self) -> Result<(), DbError> {
        self.db.pool.close().await;
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect_with(&quiet(self.admin.clone())).await?;
        let quoted = format!("\"{}\"", self.name.replace('"', "\"\""));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        self.db.close().await;
        Ok(())
    }
}

/// Starts (or joins) the local cluster without blocking the runtime.
pub async fn start_local(data_dir: &Path, options: LocalOptions) -> Result<LocalPostgres, DbError> {
    let data_dir = data_dir.to_path_buf();
    let local = tokio::task::spawn_blocking(move || LocalPostgres::start(&data_dir, &options))
        .await
        .expect("starting the local PostgreSQL panicked")?;
    Ok(local)
}

/// Connection options for a database on the local cluster.
pub fn local_options(local: &LocalPostgres, database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(local.socket_dir())
        .port(local.port())
        .username("postgres")
        .database(database)
        .application_name("usher")
}

/// Creates `database` on the local cluster when it doesn't exist yet.
pub async fn ensure_database(local: &LocalPostgres, database: &str) -> Result<(), DbError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect_with(&quiet(local_options(local, "postgres")))
        .await
        .map_err(|source| DbError::Connect {
            target: local.url("postgres"),
            hint: " (the local cluster; see its server.log).",
            source,
        })?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // The name is quoted as an identifier.
        let sql = format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\""));
        if let Err(err) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
        {
            // Another process created it at the same moment: fine.
            let duplicate = err
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "42P04");
            if !duplicate {
                return Err(err.into());
            }
        }
    }
    conn.close().await?;
    Ok(())
}

/// The pool every usher process uses (tests build theirs with it too).
pub fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .min_connections(0)
        // Short enough that a chat answer during an outage ("the catalog
        // is unavailable") still fits in Slack's and Discord's 3 seconds.
        .acquire_timeout(Duration::from_millis(2500))
}

/// Statement logging at DEBUG only: replies and the console stay clean.
fn quiet(options: PgConnectOptions) -> PgConnectOptions {
    options
        .log_statements(log::LevelFilter::Debug)
        .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(2))
}

/// Whether the database answers, asked at most once a second and never
/// for longer than 700 ms: chat checks it before looking anything up, so
/// that during an outage people hear "the catalog is unavailable" inside
/// Slack's and Discord's 3 seconds instead of waiting on every connection
/// attempt (or being told they aren't in the catalog).
pub struct Health {
    pool: PgPool,
    last: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

impl Health {
    const FRESH: Duration = Duration::from_secs(1);
    const PROBE: Duration = Duration::from_millis(700);

    pub fn new(pool: PgPool) -> Health {
        Health {
            pool,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether the database answered its last probe (probing again when
    /// that is over a second old; one probe at a time).
    pub async fn available(&self) -> bool {
        let mut last = self.last.lock().await;
        if let Some((at, up)) = *last
            && at.elapsed() < Self::FRESH
        {
            return up;
        }
        let up = tokio::time::timeout(Self::PROBE, sqlx::query("SELECT 1").execute(&self.pool))
            .await
            .is_ok_and(|r| r.is_ok());
        if !up {
            tracing::warn!("the database doesn't answer: chat says the catalog is unavailable");
        }
        *last = Some((std::time::Instant::now(), up));
        up
    }
}

/// Runs `attempt` again while the database is unavailable (a restart, a
/// fail-over), for up to `patience`: for work that was already promised
/// to someone (an acknowledged click's answer) and must not be dropped
/// because the database blinked.
pub async fn while_unavailable<T, F, Fut>(
    patience: Duration,
    mut attempt: F,
) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match attempt().await {
            Err(e) if is_unavailable(&e) && started.elapsed() + pause < patience => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// Whether an error means the database can't be reached (down,
/// restarting, refusing connections, the pool exhausted) rather than a
/// problem with one statement.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            // 08: connection exceptions; 57P0x: shutting down, starting up,
            // can't connect now; 55000 while connections are not allowed.
            code.starts_with("08") || code.starts_with("57P") || code == "55000"
        }),
        _ => false,
    }
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    // A password can ride in the query too (`?password=…`, `sslpassword`).
    let (url, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let query = query.map(|q| {
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.to_lowercase().contains("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        format!("?{}", pairs.join("&"))
    });
    let query = query.unwrap_or_default();
    let base = match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) if userinfo.contains(':') => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}")
            }
            _ => url.to_string(),
        },
        None => return "(unparseable URL)".to_string(),
    };
    format!("{base}{query}")
}

fn redact_url_error(message: &str, url: &str) -> String {
    message.replace(url, &redact_url(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.example.com/usher"),
            "postgres://app:***@db.example.com/usher"
        );
        assert_eq!(
            redact_url("postgres://localhost/usher"),
            "postgres://localhost/usher"
        );
        assert_eq!(
            redact_url("postgres://app@db/usher?sslmode=require&password=s3cret"),
            "postgres://app@db/usher?sslmode=require&password=***"
        );
    }
}
