//! The private PostgreSQL cluster usher runs when `DATABASE_URL` is unset.
//!
//! Why this exists: the first command a new user types must work on a machine
//! that only has the PostgreSQL server package installed. So usher finds the
//! server binaries itself, initialises a cluster under `USHER_DATA_DIR`,
//! starts it on a Unix socket only, and stops it again when the last usher
//! process using it exits.
//!
//! How several processes share one cluster, race-free, on one machine:
//!
//! * `start.lock` (exclusive) serialises starting and stopping: whoever holds
//!   it may run `initdb`, start the server, or stop it.
//! * `users.lock` (shared) is held by every process for as long as it uses the
//!   cluster. A process leaving takes `start.lock`, drops its own share and
//!   tries to take `users.lock` exclusively without waiting: success means no
//!   other usher process is still connected, so it stops the server. Locks die
//!   with their process, so a crashed process never blocks the others.
//!
//! As root, the server runs as an unprivileged system user (`postgres`, or
//! `USHER_PG_USER`) because `initdb` refuses root. When that user cannot reach
//! the data folder (a `mktemp -d` folder, anything under `/root`), the cluster
//! lives in `/var/tmp/usher-postgres/<hash of the data folder>/` and the data
//! folder records where. The socket always goes in a short folder under
//! `/tmp`, because Unix socket paths are limited to ~107 bytes.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::unistd::{Gid, Pid, Uid, User, chown};
use sha2::{Digest, Sha256};

mod dirs;
mod process;

pub use dirs::check_data_dir;
use dirs::{cluster_dir_for, prepare_private_dir, service_user, socket_dir_for};
use process::{
    find_binaries, init_cluster, is_postgres_process, lock_file, read_pid, run, wait_until,
    with_log_tail,
};

/// The port number only names the socket file (`.s.PGSQL.5432`): the
/// cluster never listens on TCP, and each cluster has its own socket folder.
const SOCKET_PORT: u16 = 5432;

/// Errors a user can act on; each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error(
        "usher needs a PostgreSQL server but found no server binaries (initdb, pg_ctl) on PATH, under /usr/lib/postgresql/*/bin or in USHER_PG_BINDIR.\n\
         Install them:\n  Debian/Ubuntu: sudo apt-get install -y postgresql\n  macOS (Homebrew): brew install postgresql@16\n\
         or point usher at an existing server: export DATABASE_URL=postgres://user:password@host/dbname"
    )]
    NoBinaries,
    #[error(
        "USHER_DATA_DIR {data_dir:?} contains {character:?}, which a shell would read as more than a folder name (pg_ctl starts the server through a shell). Use a path of letters, digits and / . _ - + , : @ = (and spaces)"
    )]
    UnsafeDataDir { data_dir: String, character: char },
    #[error(
        "the data folder {data_dir} was initialised by PostgreSQL {version}, but that version's server binaries are not installed.\n\
         Install PostgreSQL {version} (Debian/Ubuntu: sudo apt-get install -y postgresql-{version}), \
         or move {data_dir} aside to start afresh, or set DATABASE_URL"
    )]
    VersionMissing { data_dir: String, version: String },
    #[error(
        "usher runs as root, and PostgreSQL refuses to run as root, but there is no unprivileged user '{user}' to run it as.\n\
         Create one (useradd --system --create-home {user}), set USHER_PG_USER to another existing user, or set DATABASE_URL"
    )]
    NoServiceUser { user: String },
    #[error("{action} failed: {detail}")]
    Command { action: String, detail: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
}

fn io_err(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> LocalPgError + use<> {
    let path = path.display().to_string();
    move |source| LocalPgError::Io {
        action,
        path,
        source,
    }
}

/// How to start the cluster.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// Turn off fsync: only for throw-away clusters such as the test suite's.
    pub unsafe_fast: bool,
}

/// Where the PostgreSQL server binaries of one major version live.
#[derive(Debug, Clone)]
struct Binaries {
    version: String,
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

/// A running local cluster that this process is registered as a user of.
/// Dropping it leaves the cluster, stopping the server when this was the
/// last usher process using it.
#[derive(Debug)]
pub struct LocalPostgres {
    data_dir: PathBuf,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    binaries: Binaries,
    run_as: Option<(Uid, Gid)>,
    users_lock: Option<Flock<File>>,
    started_here: bool,
}

impl LocalPostgres {
    /// Initialises (first use), recovers (stale pid file) and starts the
    /// cluster for `data_dir` as needed, and registers this process as a
    /// user. Blocking: call from `spawn_blocking` in async code.
    pub fn start(data_dir: &Path, options: &LocalOptions) -> Result<Self, LocalPgError> {
        check_data_dir(data_dir)?;
        fs::create_dir_all(data_dir).map_err(io_err("cannot create the data folder", data_dir))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(io_err("cannot resolve", data_dir))?;
        let run_as = service_user()?;
        let start_lock = lock_file(&data_dir.join("start.lock"), FlockArg::LockExclusive)?;

        let cluster_dir = cluster_dir_for(&data_dir, run_as)?;
        let socket_dir = socket_dir_for(&cluster_dir);

        let binaries = match fs::read_to_string(cluster_dir.join("PG_VERSION")) {
            Ok(version) => {
                let version = version.trim().to_string();
                find_binaries(Some(&version)).ok_or_else(|| LocalPgError::VersionMissing {
                    data_dir: cluster_dir.display().to_string(),
                    version: version.clone(),
                })?
            }
            Err(_) => {
                let binaries = find_binaries(None).ok_or(LocalPgError::NoBinaries)?;
                init_cluster(&binaries, &cluster_dir, run_as)?;
                binaries
            }
        };

        prepare_private_dir(&socket_dir, run_as)?;
        let mut this = LocalPostgres {
            data_dir,
            cluster_dir,
            socket_dir,
            binaries,
            run_as,
            users_lock: None,
            started_here: false,
        };
        if !this.is_running() {
            this.recover_stale_pid_files();
            this.start_server(options)?;
            this.started_here = true;
        }
        this.users_lock = Some(lock_file(
            &this.data_dir.join("users.lock"),
            FlockArg::LockShared,
        )?);
        drop(start_lock);
        Ok(this)
    }

    /// The folder holding the Unix socket, for `PgConnectOptions::socket`.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The socket's port number (it names the socket file).
    pub fn port(&self) -> u16 {
        SOCKET_PORT
    }

    /// The folder holding the cluster itself (inside the data folder unless
    /// it had to be relocated, see the module doc).
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// Whether this process started the server (rather than joining one).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// A connection URL for tools such as `psql`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@/{database}?host={}&port={}",
            self.socket_dir.display(),
            SOCKET_PORT
        )
    }

    fn pid_file(&self) -> PathBuf {
        self.cluster_dir.join("postmaster.pid")
    }

    fn socket_lock_file(&self) -> PathBuf {
        self.socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}.lock"))
    }

    /// Running means: a pid file whose process is alive and is a postgres
    /// server. A pid reused by another program after a crash doesn't count.
    fn is_running(&self) -> bool {
        read_pid(&self.pid_file()).is_some_and(is_postgres_process)
            && self
                .socket_dir
                .join(format!(".s.PGSQL.{SOCKET_PORT}"))
                .exists()
    }

    /// After a crash (or a reboot) the pid files may name a dead process or
    /// one that now belongs to another program; PostgreSQL refuses to start
    /// over the latter, so remove them when no server is behind them.
    fn recover_stale_pid_files(&self) {
        for file in [self.pid_file(), self.socket_lock_file()] {
            if let Some(pid) = read_pid(&file)
                && !is_postgres_process(pid)
            {
                tracing::warn!(file = %file.display(), pid, "removing a stale PostgreSQL pid file");
                let _ = fs::remove_file(&file);
            }
        }
        // A server that died without cleaning its socket leaves it behind.
        let socket = self.socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"));
        if socket.exists() && !self.socket_lock_file().exists() {
            let _ = fs::remove_file(socket);
        }
    }

    fn start_server(&self, options: &LocalOptions) -> Result<(), LocalPgError> {
        let mut server_options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c port={SOCKET_PORT} \
             -c max_connections=200 -c shared_buffers=128MB",
            self.socket_dir.display()
        );
        if options.unsafe_fast {
            server_options
                .push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let log = self.cluster_dir.join("server.log");
        let mut cmd = Command::new(&self.binaries.pg_ctl);
        cmd.arg("start")
            .arg("-D")
            .arg(&self.cluster_dir)
            .arg("-w")
            .args(["-t", "60"])
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(server_options);
        run(cmd, self.run_as, "starting PostgreSQL").map_err(|err| with_log_tail(err, &log))?;
        tracing::info!(cluster = %self.cluster_dir.display(), "started the local PostgreSQL");
        Ok(())
    }

    /// Restarts the server (fast shutdown: open connections are cut), as
    /// an operator's restart or a crash-and-recover would. Blocking. For the
    /// soak benchmark, which checks that nothing is lost across it.
    pub fn restart(&self) -> Result<(), LocalPgError> {
        let log = self.cluster_dir.join("server.log");
        let mut cmd = Command::new(&self.binaries.pg_ctl);
        cmd.arg("restart")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-w", "-t", "60", "-l"])
            .arg(&log);
        run(cmd, self.run_as, "restarting PostgreSQL")
            .map(|_| ())
            .map_err(|err| with_log_tail(err, &log))
    }

    /// Leaves the cluster now (what dropping does), stopping the server when
    /// no other usher process uses it.
    pub fn leave(mut self) {
        self.leave_inner();
    }

    fn leave_inner(&mut self) {
        let Some(users_lock) = self.users_lock.take() else {
            return;
        };
        let start_lock = match lock_file(&self.data_dir.join("start.lock"), FlockArg::LockExclusive)
        {
            Ok(lock) => lock,
            Err(err) => {
                tracing::warn!(%err, "cannot take the start lock; leaving PostgreSQL running");
                return;
            }
        };
        drop(users_lock);
        let last = lock_file(
            &self.data_dir.join("users.lock"),
            FlockArg::LockExclusiveNonblock,
        );
        if let Ok(last) = last {
            if self.is_running() {
                let mut cmd = Command::new(&self.binaries.pg_ctl);
                cmd.arg("stop")
                    .arg("-D")
                    .arg(&self.cluster_dir)
                    .args(["-m", "fast", "-w", "-t", "30"]);
                match run(cmd, self.run_as, "stopping PostgreSQL") {
                    Ok(_) => {
                        tracing::info!("stopped the local PostgreSQL");
                        // The socket folder is recreated at the next start.
                        let _ = fs::remove_dir_all(&self.socket_dir);
                    }
                    Err(err) => tracing::warn!(%err, "could not stop the local PostgreSQL"),
                }
            }
            drop(last);
        } else {
            tracing::debug!(
                "another usher process still uses the local PostgreSQL; leaving it running"
            );
        }
        drop(start_lock);
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        self.leave_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::dirs::short_hash;
    use super::*;

    #[test]
    fn socket_folder_is_short_whatever_the_data_folder() {
        let deep = PathBuf::from("/".to_string() + &"very-long-folder-name/".repeat(20));
        let socket = socket_dir_for(&deep);
        assert!(socket.as_os_str().len() + ".s.PGSQL.5432".len() + 1 < 100);
    }

    #[test]
    fn hashes_are_stable() {
        assert_eq!(
            short_hash(Path::new("/a"), 8),
            short_hash(Path::new("/a"), 8)
        );
        assert_ne!(
            short_hash(Path::new("/a"), 8),
            short_hash(Path::new("/b"), 8)
        );
    }

    #[test]
    fn data_dirs_a_shell_would_misread_are_refused() {
        for bad in [
            "/tmp/x$(touch /tmp/pwned)",
            "/tmp/`id`",
            "/tmp/a\"b",
            "/tmp/a;b",
            "/tmp/a\nb",
        ] {
            let err = check_data_dir(Path::new(bad)).unwrap_err().to_string();
            assert!(err.contains("a shell would read"), "{bad}: {err}");
        }
        for good in ["/var/lib/usher", ".usher", "/srv/usher data/pg-17_a+b"] {
            assert!(check_data_dir(Path::new(good)).is_ok(), "{good}");
        }
    }
}
