//! Applying a loaded location to the catalog, in one transaction.
//!
//! The rules: valid documents are applied; an invalid document is skipped
//! and its previous good version kept; an entity that disappeared from the
//! location is removed; an entity another location already provides is a
//! problem, not a takeover (but one created in chat is taken over by the
//! descriptor that now describes it). Importing the same location twice
//! changes nothing: entities are written only when their content hash
//! changed, in batches (`UNNEST`), so large catalogs import quickly.

mod checks;
mod claims;
mod from_chat;
mod generated;
mod sink;
mod write;

pub use checks::{case_clashes, known_refs};
use checks::{dangling_references, record_problems};
use claims::{claim_problem, held_identities, settle_claims_within};
pub use from_chat::{CatalogAnnotations, create_from_chat, set_annotation};
pub use generated::import_generated;
use sink::{BATCH, ChannelSink, Existing, ImportSink, Item};
use std::collections::{HashMap, HashSet};
use std::time::Instant;
pub(crate) use write::{replace_relations_and_links, upsert_entities};

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, Transaction};

use super::entity::{Entity, PackagesUpdate};
use super::loader::{self, EntitySink, FileMemo, LoadOptions, Loaded, Reuse};
use super::model::{EntityRef, Kind};
use super::problem::{Problem, quote};
use super::source::Source;

/// The location the directory (people and teams from the identity
/// provider) is imported as. Said here, below the directory, because the
/// import treats it specially: it may take people over, and it says who
/// is in the teams it knows.
pub const DIRECTORY_LOCATION: &str = "directory";

/// What kind of thing a location's target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    File,
    Dir,
    Url,
    Demo,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LocationKind::File => "file",
            LocationKind::Dir => "dir",
            LocationKind::Url => "url",
            LocationKind::Demo => "demo",
        }
    }
}

/// The result of applying one location.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportOutcome {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
    pub errors: usize,
    pub warnings: usize,
    pub duration_ms: u64,
}

/// Reads the location rooted at `root` and applies it as the content of
/// the location `target`, in one transaction: problems are recorded
/// against the location (replacing the previous set). With `dry_run`
/// everything is checked the same way and then rolled back.
pub async fn import_location(
    pool: &PgPool,
    root: &Source,
    target: &str,
    kind: LocationKind,
    options: &LoadOptions,
    actor: &str,
    dry_run: bool,
) -> Result<(Loaded, ImportOutcome), sqlx::Error> {
    let started = Instant::now();
    super::read_model::note_local_write();
    let mut tx = pool.begin().await?;
    let location_id: i64 = sqlx::query_scalar(
        "INSERT INTO locations (target, kind) VALUES ($1, $2)
         ON CONFLICT (target) DO UPDATE SET kind = EXCLUDED.kind
         RETURNING id",
    )
    .bind(target)
    .bind(kind.as_str())
    .fetch_one(&mut *tx)
    .await?;

    let existing: Vec<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, ref, content_hash, source_file FROM entities WHERE location_id = $1",
    )
    .bind(location_id)
    .fetch_all(&mut *tx)
    .await?;
    let existing: HashMap<String, Existing> = existing
        .into_iter()
        .map(|(id, r, hash, file)| (r, Existing { id, hash, file }))
        .collect();

    let memos: Vec<(String, sqlx::types::Json<FileMemo>)> =
        sqlx::query_as("SELECT file, memo FROM location_files WHERE location_id = $1")
            .bind(location_id)
            .fetch_all(&mut *tx)
            .await?;
    let reuse = Reuse {
        memos: memos
            .into_iter()
            .map(|(file, memo)| (file, memo.0))
            .collect(),
        existing: existing
            .iter()
            .map(|(r, e)| (r.clone(), e.hash.clone()))
            .collect(),
    };

    let mut sink = ImportSink {
        tx: &mut tx,
        location_id,
        existing,
        buffer: Vec::new(),
        outcome: ImportOutcome::default(),
        conflicts: Vec::new(),
        sample: Vec::new(),
        memos: Vec::new(),
        takes_over_people: options.takes_over_people,
    };
    // Reading and validating (CPU) runs in its own task while this one
    // writes to the database, so the two overlap.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Item>(BATCH / 2);
    let reader = {
        let roots = vec![root.clone()];
        let options = options.clone();
        tokio::spawn(async move {
            loader::load(&roots, &options, &reuse, &mut ChannelSink(sender)).await
        })
    };
    let mut written = Ok(());
    while let Some(item) = receiver.recv().await {
        let step = match item {
            Item::Entity(entity) => sink.accept(*entity).await,
            Item::Kept(keys) => sink.keep(keys).await,
            Item::Memo(file, memo) => sink.memo(file, *memo).await,
        };
        if let Err(e) = step {
            written = Err(e);
            break;
        }
    }
    drop(receiver);
    let loaded = reader
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("the descriptor reader failed: {e}")))?;
    written?;
    let mut loaded = loaded?;
    sink.flush().await?;
    sink.flush_memos().await?;
    let ImportSink {
        existing,
        mut outcome,
        conflicts,
        sample,
        ..
    } = sink;
    loaded.problems.extend(conflicts);

    // Removed: gone from the location, unless its document was invalid or
    // its file unreadable this time (then the previous version is kept).
    let removed: Vec<i64> = existing
        .iter()
        .filter(|(r, e)| {
            !loaded.read_keys.contains(*r)
                && !loaded.invalid_refs.contains(*r)
                && !e
                    .file
                    .as_ref()
                    .is_some_and(|f| loaded.unreadable_files.contains(f))
        })
        .map(|(_, e)| e.id)
        .collect();
    if !removed.is_empty() {
        sqlx::query(
            "DELETE FROM rotations WHERE source = 'catalog'
             AND team_ref IN (SELECT ref FROM entities WHERE id = ANY($1))",
        )
        .bind(&removed)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM entities WHERE id = ANY($1)")
            .bind(&removed)
            .execute(&mut *tx)
            .await?;
    }
    outcome.removed = removed.len();

    let settled = settle_claims_within(&mut tx, location_id).await?;
    // A refused newcomer wasn't added after all; one that was there before
    // is gone now.
    for problem in &settled {
        match problem
            .entity_ref
            .as_ref()
            .map(|k| existing.contains_key(k))
        {
            Some(true) => outcome.removed += 1,
            _ => outcome.added = outcome.added.saturating_sub(1),
        }
    }
    loaded.problems.extend(settled);
    forget_memos(&mut tx, location_id, &loaded).await?;
    if let Some(authority) = &options.membership_authority {
        drop_memberships_the_directory_says(&mut tx, authority).await?;
    }
    let dangling = dangling_references(&mut tx, location_id).await?;
    loaded.problems.extend(dangling);
    outcome.errors = loaded.error_count();
    outcome.warnings = loaded.warning_count();
    record_problems(&mut tx, location_id, &loaded.problems).await?;

    outcome.duration_ms = started.elapsed().as_millis() as u64;
    sqlx::query("UPDATE locations SET refreshed_at = now(), last_outcome = $2 WHERE id = $1")
        .bind(location_id)
        .bind(serde_json::to_value(&outcome).unwrap_or(Value::Null))
        .execute(&mut *tx)
        .await?;
    if outcome.added + outcome.changed + outcome.removed > 0 {
        sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'catalog.import', $2, $3)")
            .bind(actor)
            .bind(target)
            .bind(json!({
                "added": outcome.added,
                "changed": outcome.changed,
                "removed": outcome.removed,
                "entities": sample,
            }))
            .execute(&mut *tx)
            .await?;
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok((loaded, outcome))
}

/// Where the directory (`authority`) says who is in a team — a team it
/// defines, or one its people are members of — memberships other
/// locations declare for that team are dropped (`[directory] membership
/// = "directory"`): the directory is kept current by the identity
/// provider, a descriptor's member list isn't. Run after every import, so
/// a descriptor that lists members again loses them again.
async fn drop_memberships_the_directory_says(
    tx: &mut Transaction<'_, Postgres>,
    authority: &str,
) -> Result<u64, sqlx::Error> {
    let dropped = sqlx::query(
        "WITH dir AS (SELECT id FROM locations WHERE target = $1),
         teams AS (
             SELECT e.ref FROM entities e WHERE e.kind = 'group' AND e.location_id IN (SELECT id FROM dir)
             UNION
             SELECT r.target_ref FROM relations r JOIN entities u ON u.id = r.source_id
             WHERE r.type = 'memberOf' AND u.location_id IN (SELECT id FROM dir))
         DELETE FROM relations r USING entities s
         WHERE s.id = r.source_id
           AND s.location_id IS DISTINCT FROM (SELECT id FROM dir)
           AND ((r.type = 'memberOf' AND s.kind = 'user' AND r.target_ref IN (SELECT ref FROM teams))
             OR (r.type = 'hasMember' AND s.kind = 'group' AND s.ref IN (SELECT ref FROM teams)))",
    )
    .bind(authority)
    .execute(&mut **tx)
    .await?;
    if dropped.rows_affected() > 0 {
        // Only relations changed: say so, or answers about the teams stay.
        sqlx::query("SELECT pg_notify('usher_catalog', '*')")
            .execute(&mut **tx)
            .await?;
    }
    Ok(dropped.rows_affected())
}

/// Forgets the memos of files the location no longer has.
async fn forget_memos(
    tx: &mut Transaction<'_, Postgres>,
    location_id: i64,
    loaded: &Loaded,
) -> Result<(), sqlx::Error> {
    let files: Vec<&String> = loaded.memo_files.iter().collect();
    sqlx::query("DELETE FROM location_files WHERE location_id = $1 AND NOT (file = ANY($2))")
        .bind(location_id)
        .bind(&files)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
