//! Running the server's programs: finding the binaries and their version,
//! `initdb` into a staging folder, commands run as the server's user with
//! the log's tail on failure, the two `flock`s, and stale pid files.

use super::*;

/// Runs `initdb` into a temporary folder and renames it into place, so a
/// crash half-way through never leaves a half-made cluster behind.
pub(super) fn init_cluster(
    binaries: &Binaries,
    cluster_dir: &Path,
    run_as: Option<(Uid, Gid)>,
) -> Result<(), LocalPgError> {
    let parent = cluster_dir.parent().expect("cluster folder has a parent");
    let staging = parent.join(format!(".postgres-init-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io_err("cannot create", &staging))?;
    fs::set_permissions(&staging, fs::Permissions::from_mode(0o700))
        .map_err(io_err("cannot set permissions on", &staging))?;
    if let Some((uid, gid)) = run_as {
        chown(&staging, Some(uid), Some(gid))
            .map_err(|e| io_err("cannot hand over", &staging)(e.into()))?;
    }
    let initdb = |locale: &str| {
        let mut cmd = Command::new(&binaries.initdb);
        cmd.arg("-D")
            .arg(&staging)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ])
            .arg(format!("--lc-ctype={locale}"))
            .arg("--lc-collate=C")
            .arg("--lc-messages=C");
        run(
            cmd,
            run_as,
            "initialising the local PostgreSQL cluster (initdb)",
        )
    };
    // C.UTF-8 lets pg_trgm treat non-ASCII letters as letters; fall back to C
    // where the C.UTF-8 locale is missing.
    if initdb("C.UTF-8").is_err() {
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(io_err("cannot create", &staging))?;
        if let Some((uid, gid)) = run_as {
            chown(&staging, Some(uid), Some(gid))
                .map_err(|e| io_err("cannot hand over", &staging)(e.into()))?;
        }
        initdb("C")?;
    }
    let _ = fs::remove_dir(cluster_dir);
    if cluster_dir.exists() {
        // A folder with leftovers from an interrupted earlier attempt.
        fs::remove_dir_all(cluster_dir).map_err(io_err("cannot clear", cluster_dir))?;
    }
    fs::rename(&staging, cluster_dir)
        .map_err(io_err("cannot move the new cluster into", cluster_dir))?;
    tracing::info!(cluster = %cluster_dir.display(), version = %binaries.version, "initialised a local PostgreSQL cluster");
    Ok(())
}

/// Finds the server binaries: of the given major version when a cluster
/// already exists, else the newest installed.
pub(super) fn find_binaries(version: Option<&str>) -> Option<Binaries> {
    let mut candidates: Vec<Binaries> = Vec::new();
    // An explicit folder replaces the search (unusual installs, and tests).
    if let Some(dir) = std::env::var_os("USHER_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        let (initdb, pg_ctl) = (dir.join("initdb"), dir.join("pg_ctl"));
        if initdb.exists()
            && pg_ctl.exists()
            && let Some(v) = major_version(&pg_ctl)
        {
            candidates.push(Binaries {
                version: v,
                initdb,
                pg_ctl,
            });
        }
        return match version {
            Some(wanted) => candidates.into_iter().find(|b| b.version == wanted),
            None => candidates.into_iter().next(),
        };
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            let bin = entry.path().join("bin");
            if bin.join("initdb").exists() && bin.join("pg_ctl").exists() {
                candidates.push(Binaries {
                    version: entry.file_name().to_string_lossy().into_owned(),
                    initdb: bin.join("initdb"),
                    pg_ctl: bin.join("pg_ctl"),
                });
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let (initdb, pg_ctl) = (dir.join("initdb"), dir.join("pg_ctl"));
            if initdb.exists()
                && pg_ctl.exists()
                && let Some(v) = major_version(&pg_ctl)
            {
                candidates.push(Binaries {
                    version: v,
                    initdb,
                    pg_ctl,
                });
            }
        }
    }
    let numeric = |b: &Binaries| b.version.parse::<u32>().unwrap_or(0);
    match version {
        Some(wanted) => candidates.into_iter().find(|b| b.version == wanted),
        None => candidates.into_iter().max_by_key(numeric),
    }
}

/// "pg_ctl (PostgreSQL) 15.18" → "15" (and "9.6.24" → "9.6").
pub(super) fn major_version(pg_ctl: &Path) -> Option<String> {
    let out = Command::new(pg_ctl).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let full = text.split_whitespace().last()?;
    let mut parts = full.split('.');
    let major = parts.next()?;
    if major.parse::<u32>().ok()? < 10 {
        Some(format!("{major}.{}", parts.next()?))
    } else {
        Some(major.to_string())
    }
}

pub(super) fn run(
    mut cmd: Command,
    run_as: Option<(Uid, Gid)>,
    action: &str,
) -> Result<Output, LocalPgError> {
    cmd.stdin(Stdio::null()).env("LC_ALL", "C");
    if let Some((uid, gid)) = run_as {
        // Dropping to the service user also drops root's supplementary groups.
        cmd.uid(uid.as_raw()).gid(gid.as_raw()).current_dir("/");
    }
    let out = cmd.output().map_err(|e| LocalPgError::Command {
        action: action.to_string(),
        detail: e.to_string(),
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        Err(LocalPgError::Command {
            action: action.to_string(),
            detail,
        })
    }
}

pub(super) fn with_log_tail(err: LocalPgError, log: &Path) -> LocalPgError {
    let tail = fs::read_to_string(log)
        .map(|text| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(10)..].join("\n")
        })
        .unwrap_or_default();
    match err {
        LocalPgError::Command { action, detail } if !tail.is_empty() => LocalPgError::Command {
            action,
            detail: format!("{detail}\nlast lines of {}:\n{tail}", log.display()),
        },
        other => other,
    }
}

pub(super) fn lock_file(path: &Path, how: FlockArg) -> Result<Flock<File>, LocalPgError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err("cannot open the lock file", path))?;
    Flock::lock(file, how).map_err(|(_, errno)| LocalPgError::Io {
        action: "cannot lock",
        path: path.display().to_string(),
        source: std::io::Error::from(errno),
    })
}

pub(super) fn read_pid(file: &Path) -> Option<i32> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().next()?.trim().parse().ok()
}

pub(super) fn is_postgres_process(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.trim().starts_with("postgres") || comm.trim().starts_with("postmaster"))
        // Without /proc (macOS), trust the live pid.
        .unwrap_or(!Path::new("/proc/self").exists())
}

pub(super) fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
}
