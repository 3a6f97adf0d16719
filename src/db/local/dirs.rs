//! Where the cluster lives: the data folder checked, a folder the server's
//! unprivileged user can reach (under `/var/tmp` when the data folder is
//! out of its reach), private permissions, and a short socket folder.

use super::*;

/// As root, the unprivileged user the server runs as; `None` otherwise.
pub(super) fn service_user() -> Result<Option<(Uid, Gid)>, LocalPgError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = std::env::var("USHER_PG_USER").unwrap_or_else(|_| "postgres".to_string());
    match User::from_name(&name) {
        Ok(Some(user)) if !user.uid.is_root() => Ok(Some((user.uid, user.gid))),
        _ => Err(LocalPgError::NoServiceUser { user: name }),
    }
}

/// The cluster lives in `DATA_DIR/postgres` when the server's user can reach
/// it, else in a reachable folder tied to the data folder (module doc).
/// Refuses a data folder a shell would read as more than a name: pg_ctl
/// runs the server through `sh -c` with the folder in double quotes, so a
/// `$(…)`, a backtick or a quote in `USHER_DATA_DIR` would run commands.
/// Checked before anything is created, on the path as given and as the
/// file system resolves it.
pub fn check_data_dir(data_dir: &Path) -> Result<(), LocalPgError> {
    let safe = |c: char| c.is_alphanumeric() || "/._-+,:@= ".contains(c);
    let mut paths = vec![data_dir.to_path_buf()];
    if let Ok(real) = data_dir.canonicalize() {
        paths.push(real);
    }
    for path in paths {
        let text = path.to_string_lossy();
        if let Some(character) = text.chars().find(|c| !safe(*c)) {
            return Err(LocalPgError::UnsafeDataDir {
                data_dir: text.into_owned(),
                character,
            });
        }
    }
    Ok(())
}

pub(super) fn cluster_dir_for(
    data_dir: &Path,
    run_as: Option<(Uid, Gid)>,
) -> Result<PathBuf, LocalPgError> {
    let inside = data_dir.join("postgres");
    let Some((uid, gid)) = run_as else {
        return Ok(inside);
    };
    if can_reach(data_dir, uid, gid) {
        fs::create_dir_all(&inside).map_err(io_err("cannot create", &inside))?;
        chown(&inside, Some(uid), Some(gid))
            .map_err(|e| io_err("cannot hand over", &inside)(e.into()))?;
        return Ok(inside);
    }
    // Relocate. The token ties the relocated cluster to this very data
    // folder: a data folder deleted and re-created gets a fresh cluster
    // rather than an old one left behind under the same path.
    let relocated = Path::new("/var/tmp/usher-postgres").join(short_hash(data_dir, 16));
    let pointer = data_dir.join("postgres.location");
    let token_file = relocated.join("usher-token");
    let token = match fs::read_to_string(&pointer) {
        Ok(text) => text.lines().nth(1).unwrap_or_default().to_string(),
        Err(_) => String::new(),
    };
    let matches =
        !token.is_empty() && fs::read_to_string(&token_file).is_ok_and(|t| t.trim() == token);
    if !matches {
        if relocated.exists() {
            // Only ever a cluster no data folder points at any more. Make
            // sure no server still runs in it before removing it.
            if let Some(pid) = read_pid(&relocated.join("postmaster.pid"))
                && is_postgres_process(pid)
            {
                let _ = kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT);
                wait_until(Duration::from_secs(10), || !is_postgres_process(pid));
            }
            fs::remove_dir_all(&relocated)
                .map_err(io_err("cannot remove an orphaned cluster", &relocated))?;
        }
        let parent = relocated.parent().expect("relocated path has a parent");
        fs::create_dir_all(parent).map_err(io_err("cannot create", parent))?;
        fs::set_permissions(parent, fs::Permissions::from_mode(0o711))
            .map_err(io_err("cannot set permissions on", parent))?;
        fs::create_dir_all(&relocated).map_err(io_err("cannot create", &relocated))?;
        let token = format!(
            "{:x}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        );
        fs::write(&token_file, &token).map_err(io_err("cannot write", &token_file))?;
        fs::write(&pointer, format!("{}\n{token}\n", relocated.display()))
            .map_err(io_err("cannot write", &pointer))?;
    }
    // The cluster itself is a subfolder: initdb wants to own its folder, and
    // the token file must stay outside what PostgreSQL manages.
    let cluster = relocated.join("data");
    fs::create_dir_all(&cluster).map_err(io_err("cannot create", &cluster))?;
    chown(&relocated, Some(uid), Some(gid))
        .map_err(|e| io_err("cannot hand over", &relocated)(e.into()))?;
    chown(&cluster, Some(uid), Some(gid))
        .map_err(|e| io_err("cannot hand over", &cluster)(e.into()))?;
    Ok(cluster)
}

/// Whether a user can traverse every folder down to and including `dir`
/// (owner, group and other execute bits; ACLs are not consulted, which errs
/// on the side of relocating).
pub(super) fn can_reach(dir: &Path, uid: Uid, gid: Gid) -> bool {
    dir.ancestors().all(|folder| match fs::metadata(folder) {
        Ok(meta) => {
            let mode = meta.mode();
            if meta.uid() == uid.as_raw() {
                mode & 0o100 != 0
            } else if meta.gid() == gid.as_raw() {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            }
        }
        Err(_) => false,
    })
}

/// A short, stable socket folder under /tmp for a cluster folder.
pub(super) fn socket_dir_for(cluster_dir: &Path) -> PathBuf {
    PathBuf::from(format!("/tmp/usher-{}", short_hash(cluster_dir, 12)))
}

pub(super) fn short_hash(path: &Path, len: usize) -> String {
    let digest = Sha256::digest(path.as_os_str().as_encoded_bytes());
    hex::encode(digest)[..len].to_string()
}

/// A folder only the server's user may use (the socket folder).
pub(super) fn prepare_private_dir(
    dir: &Path,
    run_as: Option<(Uid, Gid)>,
) -> Result<(), LocalPgError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            fs::remove_file(dir).map_err(io_err("cannot remove", dir))?;
            fs::create_dir(dir).map_err(io_err("cannot create", dir))?;
        }
        Err(_) => fs::create_dir(dir).map_err(io_err("cannot create", dir))?,
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err("cannot set permissions on", dir))?;
    if let Some((uid, gid)) = run_as {
        chown(dir, Some(uid), Some(gid)).map_err(|e| io_err("cannot hand over", dir)(e.into()))?;
    }
    Ok(())
}
