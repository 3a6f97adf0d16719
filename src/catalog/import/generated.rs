//! Importing documents usher generated itself — a running Backstage's
//! catalog (`--from-backstage`), what SCIM pushed (`directory`) — rather
//! than read from a location people keep: written to a folder of their
//! own, read like any descriptors as the location `target`, and the
//! folder removed after. Problems name the generated file, not the folder,
//! and the entities say they came from `target`.

use std::path::PathBuf;

use sqlx::PgPool;

use super::{ImportOutcome, LocationKind, import_location};
use crate::catalog::loader::{LoadOptions, Loaded};
use crate::catalog::source::Source;

/// Imports `files` — (file name, text) — as the location `target`. With
/// `defines_people`, the location may define people and teams even when
/// `catalog.org_locations` names others (the directory is where they come
/// from).
pub async fn import_generated(
    pool: &PgPool,
    target: &str,
    files: &[(String, String)],
    defines_people: bool,
    options: &LoadOptions,
    actor: &str,
    dry_run: bool,
) -> Result<(Loaded, ImportOutcome), sqlx::Error> {
    let dir = folder(target);
    // One import of a target at a time on this machine (a CLI sync beside
    // `usher serve`, tests side by side): the folder is shared.
    let _lock = lock(&dir).await?;
    let _ = std::fs::remove_dir_all(&dir);
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        files
            .iter()
            .try_for_each(|(name, text)| std::fs::write(dir.join(name), text))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(sqlx::Error::Io(e));
    }
    let root = Source::File(dir.clone());
    let mut options = options.clone();
    if defines_people && !options.org_locations.is_empty() {
        options.org_locations.push(root.location_key());
    }
    let result = import_location(
        pool,
        &root,
        target,
        LocationKind::Dir,
        &options,
        actor,
        dry_run,
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    let (mut loaded, outcome) = result?;
    let prefix = format!("{}/", dir.display());
    if !dry_run {
        // The folder is gone: what the entities came from is the target.
        sqlx::query(
            "UPDATE entities e SET source_file = $1, source_line = NULL
             FROM locations l
             WHERE l.id = e.location_id AND l.target = $1 AND starts_with(e.source_file, $2)",
        )
        .bind(target)
        .bind(&prefix)
        .execute(pool)
        .await?;
    }
    for problem in &mut loaded.problems {
        if let Some(file) = problem.file.strip_prefix(&prefix) {
            problem.file = file.to_string();
        }
    }
    Ok((loaded, outcome))
}

/// The folder for a target's documents: named after the target (the same
/// each time, so an unchanged set imports as unchanged).
fn folder(target: &str) -> PathBuf {
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(target.as_bytes())[..6]);
    std::env::temp_dir().join(format!("usher-generated-{hash}"))
}

/// An exclusive lock on `{dir}.lock`, held until dropped.
async fn lock(dir: &std::path::Path) -> Result<nix::fcntl::Flock<std::fs::File>, sqlx::Error> {
    let path = dir.with_extension("lock");
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| std::io::Error::from(errno))
    })
    .await
    .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
    .map_err(sqlx::Error::Io)
}
