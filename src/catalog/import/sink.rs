//! Where the loader's entities go: through a bounded channel from the
//! reading task (`ChannelSink`) to the writer (`ImportSink`), which writes
//! them 500 at a time inside the location's transaction, with the files'
//! memos, and refuses an entity another location already provides.

use super::*;

/// An entity already in the location, as the import found it.
pub(super) struct Existing {
    pub(super) id: i64,
    pub(super) hash: String,
    pub(super) file: Option<String>,
}

/// Writes entities as the loader reads them, in batches, inside the
/// location's transaction.
pub(super) struct ImportSink<'t, 'c> {
    pub(super) tx: &'t mut Transaction<'c, Postgres>,
    pub(super) location_id: i64,
    pub(super) existing: HashMap<String, Existing>,
    pub(super) buffer: Vec<Entity>,
    pub(super) outcome: ImportOutcome,
    pub(super) conflicts: Vec<Problem>,
    pub(super) sample: Vec<String>,
    /// Memos of files read this time, waiting to be stored.
    pub(super) memos: Vec<(String, Value)>,
    /// Users other locations define are taken over (the directory).
    pub(super) takes_over_people: bool,
}

/// Entities per batch: large enough to amortise round trips, small enough
/// to keep memory flat.
pub(super) const BATCH: usize = 500;

impl ImportSink<'_, '_> {
    pub(super) async fn flush_memos(&mut self) -> Result<(), sqlx::Error> {
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

    pub(super) async fn flush(&mut self) -> Result<(), sqlx::Error> {
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
        let mut taken_over: Vec<String> = Vec::new();
        for (entity, key) in batch.iter().zip(refs) {
            if let Some((name, other)) = foreign.get(&key) {
                if self.takes_over_people
                    && entity.eref.kind == Kind::User
                    && *name == entity.eref.name
                {
                    self.outcome.changed += 1;
                    taken_over.push(key);
                    to_write.push(entity);
                    continue;
                }
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
        if !taken_over.is_empty() {
            sqlx::query(
                "UPDATE entities SET location_id = $2 WHERE ref = ANY($1) AND kind = 'user'",
            )
            .bind(&taken_over)
            .bind(self.location_id)
            .execute(&mut **self.tx)
            .await?;
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
pub(super) enum Item {
    Entity(Box<Entity>),
    Kept(Vec<String>),
    Memo(String, Box<FileMemo>),
}

/// Hands entities from the reading task to the writing one.
pub(super) struct ChannelSink(pub(super) tokio::sync::mpsc::Sender<Item>);

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
    let message = if name == entity.eref.name && other == super::DIRECTORY_LOCATION {
        // The directory is the authority for people (`[directory] people`).
        let mut p = Problem::warning(
            &entity.file,
            Some(entity.line),
            "metadata.name",
            format!(
                "{} {} comes from the directory (the identity provider), which defines people here ([directory] people = \"directory\"), so this definition is not used — remove it, or set people = \"descriptors\" in usher.toml",
                entity.eref.kind.backstage_name(),
                quote(&entity.eref.name),
            ),
        );
        p.entity_ref = Some(entity.eref.key());
        return p;
    } else if name == entity.eref.name {
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
