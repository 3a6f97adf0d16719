//! Applying a loaded location to the catalog, in one transaction.
//!
//! The rules: valid documents are applied; an invalid document is skipped
//! and its previous good version kept; an entity that disappeared from the
//! location is removed; an entity another location already provides is a
//! problem, not a takeover (but one created in chat is taken over by the
//! descriptor that now describes it). Importing the same location twice
//! changes nothing: entities are written only when their content hash
//! changed, in batches (`UNNEST`), so large catalogs import quickly.

mod claims;
mod from_chat;
mod write;

use claims::{claim_problem, held_identities, settle_claims_within};
pub use from_chat::{CatalogAnnotations, create_from_chat, set_annotation};
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

/// An entity already in the location, as the import found it.
struct Existing {
    id: i64,
    hash: String,
    file: Option<String>,
}

/// Writes entities as the loader reads them, in batches, inside the
/// location's transaction.
struct ImportSink<'t, 'c> {
    tx: &'t mut Transaction<'c, Postgres>,
    location_id: i64,
    existing: HashMap<String, Existing>,
    buffer: Vec<Entity>,
    outcome: ImportOutcome,
    conflicts: Vec<Problem>,
    sample: Vec<String>,
    /// Memos of files read this time, waiting to be stored.
    memos: Vec<(String, Value)>,
}

/// Entities per batch: large enough to amortise round trips, small enough
/// to keep memory flat.
const BATCH: usize = 500;

impl ImportSink<'_, '_> {
    async fn flush_memos(&mut self) -> Result<(), sqlx::Error> {
        if self.memos.is_empty() {
            return Ok(());
        }
        let (files, memos): (Vec<String>, Vec<Value>) =
            std::mem::take(&mut self.memos).into_iter().unzip();
        sqlx::query(
            "INSERT INTO location_files (location_id, file, memo)
             SELECT $1, * FROM UNNEST($2::text[], $3::jsonb[])
             ON CONFLICT (location_id, file) DO UPDATE SET memo = EXCLUDED.memo",
        )
        .bind(self.location_id)
        .bind(&files)
        .bind(&memos)
        .execute(&mut **self.tx)
        .await?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), sqlx::Error> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.buffer);
        // Entities another live location provides are not ours to change.
        let refs: Vec<String> = batch.iter().map(|e| e.eref.key()).collect();
        let foreign: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT e.ref, e.name, l.target FROM entities e JOIN locations l ON l.id = e.location_id
             WHERE e.ref = ANY($1) AND e.location_id <> $2",
        )
        .bind(&refs)
        .bind(self.location_id)
        .fetch_all(&mut **self.tx)
        .await?;
        let foreign: HashMap<String, (String, String)> = foreign
            .into_iter()
            .map(|(r, name, target)| (r, (name, target)))
            .collect();

        let held = held_identities(self.tx, self.location_id, &batch).await?;

        let mut to_write: Vec<&Entity> = Vec::new();
        for (entity, key) in batch.iter().zip(refs) {
            if let Some((name, other)) = foreign.get(&key) {
                self.conflicts.push(conflict(entity, name, other));
                continue;
            }
            if let Some(problem) = claim_problem(entity, &key, &held) {
                self.conflicts.push(problem);
                continue;
            }
            let hash = entity.content_hash();
            let write = match self.existing.get(&key) {
                Some(old) if old.hash == hash => {
                    self.outcome.unchanged += 1;
                    false
                }
                Some(_) => {
                    self.outcome.changed += 1;
                    true
                }
                None => {
                    self.outcome.added += 1;
                    true
                }
            };
            if write {
                if self.sample.len() < 50 {
                    self.sample.push(key);
                }
                to_write.push(entity);
            }
        }
        let written = upsert_entities(self.tx, Some(self.location_id), &to_write).await?;
        replace_relations_and_links(self.tx, &written, &to_write).await?;
        Ok(())
    }
}

impl EntitySink for ImportSink<'_, '_> {
    async fn accept(&mut self, entity: Entity) -> Result<(), sqlx::Error> {
        self.buffer.push(entity);
        if self.buffer.len() >= BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn keep(&mut self, keys: Vec<String>) -> Result<(), sqlx::Error> {
        self.outcome.unchanged += keys.len();
        Ok(())
    }

    async fn memo(&mut self, file: String, memo: FileMemo) -> Result<(), sqlx::Error> {
        self.memos
            .push((file, serde_json::to_value(&memo).unwrap_or(Value::Null)));
        if self.memos.len() >= 200 {
            self.flush_memos().await?;
        }
        Ok(())
    }
}

/// What the reading task hands the writing one.
enum Item {
    Entity(Box<Entity>),
    Kept(Vec<String>),
    Memo(String, Box<FileMemo>),
}

/// Hands entities from the reading task to the writing one.
struct ChannelSink(tokio::sync::mpsc::Sender<Item>);

impl ChannelSink {
    async fn send(&mut self, item: Item) -> Result<(), sqlx::Error> {
        self.0
            .send(item)
            .await
            .map_err(|_| sqlx::Error::Protocol("the import stopped writing".to_string()))
    }
}

impl EntitySink for ChannelSink {
    async fn accept(&mut self, entity: Entity) -> Result<(), sqlx::Error> {
        self.send(Item::Entity(Box::new(entity))).await
    }

    async fn keep(&mut self, keys: Vec<String>) -> Result<(), sqlx::Error> {
        self.send(Item::Kept(keys)).await
    }

    async fn memo(&mut self, file: String, memo: FileMemo) -> Result<(), sqlx::Error> {
        self.send(Item::Memo(file, Box::new(memo))).await
    }
}

fn conflict(entity: &Entity, name: &str, other: &str) -> Problem {
    let message = if name == entity.eref.name {
        format!(
            "{} {} is already provided by the location {}; an entity can come from one location only — remove it here or there",
            entity.eref.kind.backstage_name(),
            quote(&entity.eref.name),
            quote(other)
        )
    } else {
        format!(
            "{} differs only by case from {}, which the location {} provides; names are case-insensitive — rename one",
            quote(&entity.eref.name),
            quote(name),
            quote(other)
        )
    };
    let mut p = Problem::error(&entity.file, Some(entity.line), "metadata.name", message);
    p.entity_ref = Some(entity.eref.key());
    p.owner_ref = entity.owner.as_ref().map(|o| o.key());
    p
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

/// A relation whose target is missing: file, line, field, target, source
/// entity, its owner.
type DanglingRow = (
    Option<String>,
    Option<i32>,
    Option<String>,
    String,
    String,
    Option<String>,
);

/// References from this location's entities that resolve nowhere in the
/// catalog (after this import's writes): warnings at the line they were
/// written, suggesting the user or group of the same name when one exists.
async fn dangling_references(
    tx: &mut Transaction<'_, Postgres>,
    location_id: i64,
) -> Result<Vec<Problem>, sqlx::Error> {
    let rows: Vec<DanglingRow> = sqlx::query_as(
        "SELECT e.source_file, r.line, r.field, r.target_ref, e.ref, e.owner_ref
         FROM relations r JOIN entities e ON e.id = r.source_id
         WHERE e.location_id = $1 AND NOT EXISTS (SELECT 1 FROM entities t WHERE t.ref = r.target_ref)
         ORDER BY e.source_file, r.line",
    )
    .bind(location_id)
    .fetch_all(&mut **tx)
    .await?;
    let alternatives: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            EntityRef::from_key(&row.3)
                .and_then(|t| loader::other_party(&t))
                .map(|a| a.key())
        })
        .collect();
    let known: HashSet<String> = sqlx::query_scalar("SELECT ref FROM entities WHERE ref = ANY($1)")
        .bind(&alternatives)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(file, line, field, target, source, owner)| {
            let alt = EntityRef::from_key(&target).and_then(|t| loader::other_party(&t));
            let target_text = EntityRef::from_key(&target)
                .map(|t| t.to_string())
                .unwrap_or(target);
            let mut p = Problem::warning(
                file.as_deref().unwrap_or("-"),
                line.map(|l| l as usize),
                field.as_deref().unwrap_or("spec"),
                loader::dangling_message(
                    &target_text,
                    alt.filter(|a| known.contains(&a.key())).as_ref(),
                ),
            );
            p.entity_ref = Some(source);
            p.owner_ref = owner;
            p
        })
        .collect())
}

/// Records this import's problems for the location: new ones inserted,
/// repeated ones touched (`last_seen`), fixed ones deleted.
async fn record_problems(
    tx: &mut Transaction<'_, Postgres>,
    location_id: i64,
    problems: &[Problem],
) -> Result<(), sqlx::Error> {
    // One row per identity (location, file, entity, field, message).
    let mut unique: HashMap<(String, String, String, String), &Problem> = HashMap::new();
    for p in problems {
        unique
            .entry((
                p.file.clone(),
                p.entity_ref.clone().unwrap_or_default(),
                p.field.clone(),
                p.message.clone(),
            ))
            .or_insert(p);
    }
    let problems: Vec<&Problem> = unique.into_values().collect();
    let file: Vec<String> = problems.iter().map(|p| p.file.clone()).collect();
    let line: Vec<Option<i32>> = problems.iter().map(|p| p.line.map(|l| l as i32)).collect();
    let entity_ref: Vec<Option<String>> = problems.iter().map(|p| p.entity_ref.clone()).collect();
    let owner_ref: Vec<Option<String>> = problems.iter().map(|p| p.owner_ref.clone()).collect();
    let field: Vec<String> = problems.iter().map(|p| p.field.clone()).collect();
    let message: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    let severity: Vec<String> = problems
        .iter()
        .map(|p| p.severity.as_str().to_string())
        .collect();
    sqlx::query(
        "WITH incoming AS (
             SELECT * FROM UNNEST($2::text[], $3::int4[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                 AS u(file, line, entity_ref, owner_ref, field, message, severity)
         ), upserted AS (
             INSERT INTO import_problems (location_id, file, line, entity_ref, owner_ref, field, message, severity)
             SELECT $1, file, line, entity_ref, owner_ref, field, message, severity FROM incoming
             ON CONFLICT (location_id, file, coalesce(entity_ref, ''), field, message)
             DO UPDATE SET last_seen = now(), line = EXCLUDED.line, owner_ref = EXCLUDED.owner_ref, severity = EXCLUDED.severity
             RETURNING id
         )
         DELETE FROM import_problems WHERE location_id = $1 AND id NOT IN (SELECT id FROM upserted)",
    )
    .bind(location_id)
    .bind(&file)
    .bind(&line)
    .bind(&entity_ref)
    .bind(&owner_ref)
    .bind(&field)
    .bind(&message)
    .bind(&severity)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Which of `keys` the catalog knows (for dangling-reference warnings).
pub async fn known_refs(pool: &PgPool, keys: &[String]) -> Result<HashSet<String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT ref FROM entities WHERE ref = ANY($1)")
        .bind(keys)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Entities whose name differs only by case from one already in the
/// catalog: a warning for `validate` (names are case-insensitive, so the
/// import would treat them as the same entity).
pub async fn case_clashes(pool: &PgPool, entities: &[Entity]) -> Result<Vec<Problem>, sqlx::Error> {
    let refs: Vec<String> = entities.iter().map(|e| e.eref.key()).collect();
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT e.ref, e.name, coalesce(l.target, 'chat') FROM entities e LEFT JOIN locations l ON l.id = e.location_id
         WHERE e.ref = ANY($1)",
    )
    .bind(&refs)
    .fetch_all(pool)
    .await?;
    let existing: HashMap<String, (String, Option<String>)> = rows
        .into_iter()
        .map(|(r, name, from)| (r, (name, from)))
        .collect();
    let mut problems = Vec::new();
    for e in entities {
        if let Some((name, from)) = existing.get(&e.eref.key())
            && *name != e.eref.name
        {
            let mut p = Problem::warning(
                &e.file,
                Some(e.line),
                "metadata.name",
                format!(
                    "{} differs only by case from {} already in the catalog (from {}); names are case-insensitive, so they are the same entity — use one spelling",
                    quote(&e.eref.name),
                    quote(name),
                    from.as_deref().unwrap_or("chat")
                ),
            );
            p.entity_ref = Some(e.eref.key());
            problems.push(p);
        }
    }
    Ok(problems)
}
