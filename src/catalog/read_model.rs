//! The catalog in memory, for questions: every entity's row, by id, name
//! and ref, with links, team members and which teams have an usher
//! rotation — so `owner`, `service`, `docs` and the rest answer a question
//! nobody asked before without the database.
//!
//! Freshness is the snapshot's ([`super::snapshot::SnapshotCache`]): the
//! model is used only while no change was heard since it was read (a
//! NOTIFY from any replica, or a write made in this process —
//! [`note_local_write`]); otherwise questions go to the database as before
//! while a new model is read in the background. What the model doesn't
//! have (an entity created a moment ago) is looked up in the database too,
//! so the model can make an answer faster, never wrong by omission.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::PgPool;

use super::model::Kind;
use super::store::{EntityRow, LinkRow};

/// Catalog writes this process made (counted before they commit; the
/// NOTIFY that follows the commit covers the rest).
static LOCAL_WRITES: AtomicU64 = AtomicU64::new(0);

/// Notes that this process is changing the catalog: the read model in
/// memory is out of date from now on.
pub fn note_local_write() {
    LOCAL_WRITES.fetch_add(1, Ordering::SeqCst);
}

/// How many catalog writes this process has made.
pub fn local_writes() -> u64 {
    LOCAL_WRITES.load(Ordering::SeqCst)
}

/// The catalog, read at one moment. Services, APIs and the rest — the
/// bulk — are kept serialized (absent fields left out) and decoded when a
/// question needs one, a few microseconds, instead of ~2.8 kB of strings
/// and JSON each; teams and people, read several times in every answer
/// and far fewer, are kept as rows.
#[derive(Default)]
pub struct ReadModel {
    rows: HashMap<i64, Stored>,
    /// Lower-case name → ids, in the database's order (kind, namespace).
    by_name: HashMap<Box<str>, Vec<i64>>,
    by_ref: HashMap<Box<str>, i64>,
    links: HashMap<i64, Vec<LinkRow>>,
    /// Group id → its people, active first, by name.
    members: HashMap<i64, Vec<i64>>,
    rotations: HashMap<Box<str>, RotationRow>,
}

/// Rows as they are read: encoded, indexed, and people's sort keys for
/// the team lists (active first, then by display name).
#[derive(Default)]
struct Rows {
    rows: HashMap<i64, Stored>,
    by_name: HashMap<Box<str>, Vec<i64>>,
    by_ref: HashMap<Box<str>, i64>,
    people: HashMap<i64, (bool, String)>,
}

impl Rows {
    fn add(&mut self, row: EntityRow) {
        let id = row.id;
        let (name, key) = (row.name.to_lowercase(), row.key.clone());
        if row.kind == "user" {
            let shown = row.display_name.as_ref().unwrap_or(&row.name);
            self.people.insert(id, (row.active, shown.clone()));
        }
        let stored = if matches!(row.kind.as_str(), "user" | "group") {
            Stored::Row(Box::new(row))
        } else {
            match serde_json::to_vec(&row) {
                Ok(bytes) => Stored::Encoded(bytes.into_boxed_slice()),
                Err(_) => return,
            }
        };
        self.by_name
            .entry(name.into_boxed_str())
            .or_default()
            .push(id);
        self.by_ref.insert(key.into_boxed_str(), id);
        self.rows.insert(id, stored);
    }
}

/// A row as the model keeps it.
enum Stored {
    Row(Box<EntityRow>),
    Encoded(Box<[u8]>),
}

/// A team's usher rotation as stored, with its overrides that ended less
/// than a day before it was read, or haven't ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRow {
    pub people: Vec<String>,
    pub length_days: i32,
    pub handoff: chrono::NaiveTime,
    pub timezone: String,
    pub start_date: chrono::NaiveDate,
    /// (person, from, to), in the order they were made.
    pub overrides: Vec<(
        String,
        chrono::DateTime<chrono::Utc>,
        chrono::DateTime<chrono::Utc>,
    )>,
}

/// A rotation's columns, with its team.
type RotationOf = (
    String,
    Vec<String>,
    i32,
    chrono::NaiveTime,
    String,
    chrono::NaiveDate,
);
/// An override's columns, with its team.
type OverrideOf = (
    String,
    String,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
);

/// One `links` row with its entity.
type LinkOf = (i64, String, Option<String>, String);

impl ReadModel {
    /// Reads the whole catalog in one consistent view.
    pub async fn load(pool: &PgPool) -> Result<ReadModel, sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        // Rows are encoded as they arrive: the whole result is never held.
        let mut rows = Rows::default();
        {
            use futures_util::TryStreamExt;
            let mut stream = sqlx::query_as::<_, EntityRow>(concat!(
                "SELECT ",
                crate::entity_columns!(),
                " FROM entities e ORDER BY e.kind, e.namespace, e.id"
            ))
            .fetch(&mut *tx);
            while let Some(row) = stream.try_next().await? {
                rows.add(row);
            }
        }
        let links: Vec<LinkOf> = sqlx::query_as(
            "SELECT entity_id, category, title, url FROM links ORDER BY entity_id, position",
        )
        .fetch_all(&mut *tx)
        .await?;
        // Members declared either way: the user's memberOf, the group's members.
        let members: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT g.id, r.source_id FROM relations r
             JOIN entities g ON g.ref = r.target_ref AND g.kind = 'group'
             WHERE r.type = 'memberOf'
             UNION
             SELECT r.source_id, u.id FROM relations r
             JOIN entities u ON u.ref = r.target_ref AND u.kind = 'user'
             WHERE r.type = 'hasMember'",
        )
        .fetch_all(&mut *tx)
        .await?;
        let rotations: Vec<RotationOf> = sqlx::query_as(
            "SELECT team_ref, people, length_days, handoff, timezone, start_date FROM rotations",
        )
        .fetch_all(&mut *tx)
        .await?;
        let overrides: Vec<OverrideOf> = sqlx::query_as(
            "SELECT team_ref, person, starts_at, ends_at FROM rotation_overrides
             WHERE ends_at > now() - interval '1 day' ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut rotations: HashMap<Box<str>, RotationRow> = rotations
            .into_iter()
            .map(
                |(team, people, length_days, handoff, timezone, start_date)| {
                    let rotation = RotationRow {
                        people,
                        length_days,
                        handoff,
                        timezone,
                        start_date,
                        overrides: Vec::new(),
                    };
                    (team.into_boxed_str(), rotation)
                },
            )
            .collect();
        for (team, person, from, to) in overrides {
            if let Some(rotation) = rotations.get_mut(team.as_str()) {
                rotation.overrides.push((person, from, to));
            }
        }
        tokio::task::spawn_blocking(move || Self::build(rows, links, members, rotations))
            .await
            .map_err(|e| sqlx::Error::Protocol(format!("building the read model failed: {e}")))
    }

    fn build(
        rows: Rows,
        links: Vec<LinkOf>,
        members: Vec<(i64, i64)>,
        rotations: HashMap<Box<str>, RotationRow>,
    ) -> ReadModel {
        let Rows {
            rows,
            by_name,
            by_ref,
            people,
        } = rows;
        let mut model = ReadModel {
            rows,
            by_name,
            by_ref,
            rotations,
            ..ReadModel::default()
        };
        for (entity, category, title, url) in links {
            model.links.entry(entity).or_default().push(LinkRow {
                category,
                title,
                url,
            });
        }
        for (group, user) in members {
            if people.contains_key(&user) {
                model.members.entry(group).or_default().push(user);
            }
        }
        for members in model.members.values_mut() {
            members.sort_by(|a, b| {
                let (a, b) = (&people[a], &people[b]);
                b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1))
            });
            members.dedup();
        }
        model.rows.shrink_to_fit();
        model
    }

    fn row(&self, id: i64) -> Option<EntityRow> {
        match self.rows.get(&id)? {
            Stored::Row(row) => Some(EntityRow::clone(row)),
            Stored::Encoded(bytes) => match serde_json::from_slice(bytes) {
                Ok(row) => Some(row),
                Err(e) => {
                    tracing::warn!(id, error = %e, "a row of the read model can't be decoded");
                    None
                }
            },
        }
    }

    /// Bytes of the rows kept encoded, and how many are kept as rows; links.
    pub fn footprint(&self) -> (usize, usize, usize) {
        let (mut encoded, mut decoded) = (0, 0);
        for stored in self.rows.values() {
            match stored {
                Stored::Row(_) => decoded += 1,
                Stored::Encoded(bytes) => encoded += bytes.len(),
            }
        }
        (encoded, decoded, self.links.values().map(Vec::len).sum())
    }

    /// How many entities it holds.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Entities of `kinds` named `name` (case-insensitively), as
    /// `store::find_by_name` orders them.
    pub fn find_by_name(&self, kinds: &[Kind], name: &str) -> Vec<EntityRow> {
        let Some(ids) = self.by_name.get(name.to_lowercase().as_str()) else {
            return Vec::new();
        };
        ids.iter()
            .filter_map(|id| self.row(*id))
            .filter(|r| kinds.iter().any(|k| k.as_str() == r.kind))
            .take(25)
            .collect()
    }

    pub fn find_by_id(&self, id: i64) -> Option<EntityRow> {
        self.row(id)
    }

    /// Whether it holds the entity with this ref (any case).
    pub fn has_ref(&self, key: &str) -> bool {
        self.by_ref.contains_key(key.to_lowercase().as_str())
    }

    /// The entity with this ref (any case).
    pub fn find_by_ref(&self, key: &str) -> Option<EntityRow> {
        self.row(*self.by_ref.get(key.to_lowercase().as_str())?)
    }

    /// A team's people, active first, by name.
    pub fn team_members(&self, group_id: i64) -> Vec<EntityRow> {
        self.members
            .get(&group_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.row(*id))
            .collect()
    }

    pub fn links(&self, entity_id: i64) -> Vec<LinkRow> {
        self.links.get(&entity_id).cloned().unwrap_or_default()
    }

    /// Whether the team has an usher rotation.
    pub fn has_rotation(&self, team_ref: &str) -> bool {
        self.rotations.contains_key(team_ref)
    }

    /// The team's usher rotation, with overrides that ended after `since`.
    pub fn rotation(
        &self,
        team_ref: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Option<RotationRow> {
        let mut rotation = self.rotations.get(team_ref)?.clone();
        rotation.overrides.retain(|(_, _, to)| *to > since);
        Some(rotation)
    }
}
