//! Reading the catalog: lookups by name, title and similarity, teams and
//! their people, links. Every query is indexed for a 100,000-service
//! catalog (see `migrations/`).

use serde_json::Value;
use sqlx::{FromRow, PgPool};

use super::model::{EntityRef, Kind};

/// The columns most answers need. (Serialized compactly — absent fields
/// left out — by the read model, which keeps rows as bytes.)
#[derive(Debug, Clone, FromRow, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EntityRow {
    pub id: i64,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    #[sqlx(rename = "ref")]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub techdocs_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_slug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerduty_service_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerduty_integration_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opsgenie_team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_ref: Option<String>,
    pub active: bool,
    pub annotations: Value,
    pub tags: Vec<String>,
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_line: Option<i32>,
}

/// The select list matching [`EntityRow`], for queries over `entities e`
/// (a macro so queries stay `&'static str` with `concat!`).
#[macro_export]
macro_rules! entity_columns {
    () => {
        "e.id, e.kind, e.namespace, e.name, e.ref, e.title, e.description, e.spec_type, e.lifecycle,
    e.owner_ref, e.system_ref, e.domain_ref, e.tier, e.language, e.framework, e.techdocs_ref, e.source_location,
    e.github_slug, e.pagerduty_service_id, e.pagerduty_integration_key, e.opsgenie_team, e.slack_channel,
    e.discord_channel, e.email, e.display_name, e.slack_user_id, e.discord_user_id, e.lead_ref, e.active,
    e.annotations, e.tags, e.origin, e.source_file, e.source_line"
    };
}

impl EntityRow {
    pub fn eref(&self) -> EntityRef {
        EntityRef::from_key(&self.key)
            .unwrap_or_else(|| EntityRef::new(Kind::Component, &self.namespace, &self.name))
    }

    pub fn kind(&self) -> Option<Kind> {
        Kind::parse(&self.kind)
    }

    /// The name people read: the title when there is one.
    pub fn label(&self) -> String {
        match &self.title {
            Some(t) if !t.trim().is_empty() => t.clone(),
            _ => self
                .display_name
                .clone()
                .unwrap_or_else(|| self.eref().short()),
        }
    }

    /// The short reference: `payments-api`, or `ns/payments-api`.
    pub fn short(&self) -> String {
        self.eref().short()
    }

    /// A reference that finds exactly this entity again in a command.
    pub fn command_ref(&self) -> String {
        format!("{}:{}/{}", self.kind, self.namespace, self.name)
    }

    /// `file:line` of the descriptor, or "created in chat".
    pub fn provenance(&self) -> String {
        match (&self.source_file, self.source_line, self.origin.as_str()) {
            (_, _, "chat") => "created in chat".to_string(),
            (Some(f), Some(l), _) => format!("{f}:{l}"),
            (Some(f), None, _) => f.clone(),
            _ => "unknown source".to_string(),
        }
    }

    /// Where this entity's data is edited, for sentences such as "add it
    /// to …": its descriptor (file:line), or — created in chat — its entry,
    /// with the command that edits it.
    pub fn edited_in(&self) -> String {
        if self.origin == "chat" {
            format!(
                "its catalog entry (it was created in chat: `hygiene fix {}` edits it)",
                self.name
            )
        } else {
            format!("its descriptor ({})", self.provenance())
        }
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).and_then(Value::as_str)
    }
}

/// What a piece of work read from the catalog: the entities, or "the
/// catalog as a whole" (a search by title, a fuzzy match, a count). The
/// answer cache keeps an answer while nothing it read has changed.
#[derive(Debug, Default, Clone)]
pub struct Reads {
    pub ids: std::collections::HashSet<i64>,
    pub whole_catalog: bool,
    /// When what was read stops being true by itself (the next on-call
    /// hand-off, a provider answer's age limit).
    pub valid_until: Option<chrono::DateTime<chrono::Utc>>,
}

tokio::task_local! {
    static READS: std::cell::RefCell<Reads>;
}

/// Runs `work`, noting what it reads through this module.
pub async fn recording<F: std::future::Future>(work: F) -> (F::Output, Reads) {
    READS
        .scope(std::cell::RefCell::new(Reads::default()), async {
            let out = work.await;
            let reads = READS.with(|r| r.take());
            (out, reads)
        })
        .await
}

/// Notes that these entities were read (no-op when nobody records).
pub fn record(ids: impl IntoIterator<Item = i64>) {
    let _ = READS.try_with(|r| r.borrow_mut().ids.extend(ids));
}

/// Notes that what was read stops being true at `at` (time-dependent
/// answers such as who is on call).
pub fn record_expiry(at: chrono::DateTime<chrono::Utc>) {
    let _ = READS.try_with(|r| {
        let mut r = r.borrow_mut();
        r.valid_until = Some(r.valid_until.map_or(at, |t| t.min(at)));
    });
}

/// Notes that the answer depends on the catalog as a whole.
pub fn record_whole_catalog() {
    let _ = READS.try_with(|r| r.borrow_mut().whole_catalog = true);
}

fn recorded(rows: Vec<EntityRow>) -> Vec<EntityRow> {
    record(rows.iter().map(|r| r.id));
    rows
}

fn kind_names(kinds: &[Kind]) -> Vec<String> {
    kinds.iter().map(|k| k.as_str().to_string()).collect()
}

/// Entities whose name is `name`, case-insensitively.
pub async fn find_by_name(
    pool: &PgPool,
    kinds: &[Kind],
    name: &str,
) -> Result<Vec<EntityRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        crate::entity_columns!(),
        " FROM entities e WHERE lower(e.name) = lower($1) AND e.kind = ANY($2)
         ORDER BY e.kind, e.namespace LIMIT 25"
    );
    sqlx::query_as(sql)
        .bind(name)
        .bind(kind_names(kinds))
        .fetch_all(pool)
        .await
        .map(recorded)
}

/// The entity with this canonical ref.
pub async fn find_by_ref(pool: &PgPool, key: &str) -> Result<Option<EntityRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        crate::entity_columns!(),
        " FROM entities e WHERE e.ref = lower($1)"
    );
    let row: Option<EntityRow> = sqlx::query_as(sql).bind(key).fetch_optional(pool).await?;
    if let Some(r) = &row {
        record([r.id]);
    }
    Ok(row)
}

/// Entities whose title is `title`, case-insensitively, or that list it
/// among their aliases (`usher.dev/aliases`, comma-separated).
pub async fn find_by_title(
    pool: &PgPool,
    kinds: &[Kind],
    title: &str,
) -> Result<Vec<EntityRow>, sqlx::Error> {
    let sql = concat!("SELECT ", crate::entity_columns!(), " FROM entities e
         WHERE e.kind = ANY($2) AND (lower(e.title) = lower($1)
            OR (e.annotations ? 'usher.dev/aliases'
                AND lower($1) = ANY(SELECT lower(trim(a)) FROM unnest(string_to_array(e.annotations->>'usher.dev/aliases', ',')) a)))
         ORDER BY e.kind, e.namespace LIMIT 25");
    // Another entity may take this title later, unseen by the rows read.
    record_whole_catalog();
    sqlx::query_as(sql)
        .bind(title)
        .bind(kind_names(kinds))
        .fetch_all(pool)
        .await
        .map(recorded)
}

/// Entities by id, in the order of `ids`.
pub async fn find_by_ids(pool: &PgPool, ids: &[i64]) -> Result<Vec<EntityRow>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        crate::entity_columns!(),
        " FROM entities e WHERE e.id = ANY($1)"
    );
    let mut rows: Vec<EntityRow> = sqlx::query_as(sql).bind(ids).fetch_all(pool).await?;
    rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
    Ok(recorded(rows))
}

/// The people of a team: members declared either way (the user's
/// `memberOf` or the group's `members`), active first, by name.
pub async fn team_members(pool: &PgPool, group: &EntityRow) -> Result<Vec<EntityRow>, sqlx::Error> {
    // Two indexed lookups, unioned: an OR across them would scan the table.
    let sql = concat!(
        "SELECT ",
        crate::entity_columns!(),
        " FROM entities e WHERE e.kind = 'user' AND e.id IN (
             SELECT source_id FROM relations WHERE target_ref = $1 AND type = 'memberOf'
             UNION
             SELECT u.id FROM relations r JOIN entities u ON u.ref = r.target_ref
             WHERE r.source_id = $2 AND r.type = 'hasMember')
         ORDER BY e.active DESC, coalesce(e.display_name, e.name)"
    );
    record([group.id]);
    sqlx::query_as(sql)
        .bind(&group.key)
        .bind(group.id)
        .fetch_all(pool)
        .await
        .map(recorded)
}

/// A link of an entity.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct LinkRow {
    pub category: String,
    pub title: Option<String>,
    pub url: String,
}

pub async fn links(pool: &PgPool, entity_id: i64) -> Result<Vec<LinkRow>, sqlx::Error> {
    record([entity_id]);
    sqlx::query_as("SELECT category, title, url FROM links WHERE entity_id = $1 ORDER BY position")
        .bind(entity_id)
        .fetch_all(pool)
        .await
}

/// Finds the catalog person for a name, email or user reference (the
/// console's `--as`, and later chat identities).
pub async fn find_person(pool: &PgPool, who: &str) -> Result<Option<EntityRow>, sqlx::Error> {
    let who = who.trim();
    let as_ref = EntityRef::parse(who, Some(Kind::User), "default")
        .ok()
        .map(|r| r.key());
    let sql = concat!("SELECT ", crate::entity_columns!(), " FROM entities e
         WHERE e.kind = 'user' AND (e.ref = $2 OR lower(e.email) = lower($1) OR lower(e.name) = lower($1)
                                    OR lower(split_part(e.email, '@', 1)) = lower($1))
         ORDER BY (e.ref = $2) DESC, (lower(e.email) = lower($1)) DESC LIMIT 1");
    sqlx::query_as(sql)
        .bind(who)
        .bind(as_ref)
        .fetch_optional(pool)
        .await
}

/// How many entities of each kind the catalog holds.
pub async fn counts(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT kind, count(*) FROM entities GROUP BY kind ORDER BY kind")
        .fetch_all(pool)
        .await
}

/// Reads the catalog from memory when the read model is current
/// ([`super::read_model`]), else from the database — recording what was
/// read either way. What the model lacks is looked for in the database.
pub struct Reader<'a> {
    pub pool: &'a PgPool,
    pub model: Option<std::sync::Arc<super::read_model::ReadModel>>,
}

impl Reader<'_> {
    pub async fn find_by_name(
        &self,
        kinds: &[Kind],
        name: &str,
    ) -> Result<Vec<EntityRow>, sqlx::Error> {
        if let Some(model) = &self.model {
            let rows = model.find_by_name(kinds, name);
            if !rows.is_empty() {
                return Ok(recorded(rows));
            }
        }
        find_by_name(self.pool, kinds, name).await
    }

    pub async fn find_by_ref(&self, key: &str) -> Result<Option<EntityRow>, sqlx::Error> {
        if let Some(row) = self.model.as_ref().and_then(|m| m.find_by_ref(key)) {
            record([row.id]);
            return Ok(Some(row));
        }
        find_by_ref(self.pool, key).await
    }

    pub async fn team_members(&self, group: &EntityRow) -> Result<Vec<EntityRow>, sqlx::Error> {
        match &self.model {
            Some(model) if model.has_ref(&group.key) => {
                record([group.id]);
                Ok(recorded(model.team_members(group.id)))
            }
            _ => team_members(self.pool, group).await,
        }
    }

    pub async fn links(&self, entity: &EntityRow) -> Result<Vec<LinkRow>, sqlx::Error> {
        match &self.model {
            Some(model) if model.has_ref(&entity.key) => {
                record([entity.id]);
                Ok(model.links(entity.id))
            }
            _ => links(self.pool, entity.id).await,
        }
    }

    /// Entities by id, in the order of `ids` (those that exist).
    pub async fn find_by_ids(&self, ids: &[i64]) -> Result<Vec<EntityRow>, sqlx::Error> {
        let Some(model) = &self.model else {
            return find_by_ids(self.pool, ids).await;
        };
        let found: Vec<EntityRow> = ids.iter().filter_map(|id| model.find_by_id(*id)).collect();
        if found.len() < ids.len() {
            return find_by_ids(self.pool, ids).await;
        }
        Ok(recorded(found))
    }

    /// The entities with these refs (those that exist).
    pub async fn find_by_refs(&self, keys: &[String]) -> Result<Vec<EntityRow>, sqlx::Error> {
        let mut found = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for key in keys {
            match self.model.as_ref().and_then(|m| m.find_by_ref(key)) {
                Some(row) => found.push(row),
                None => missing.push(key.to_lowercase()),
            }
        }
        if !missing.is_empty() {
            let sql = concat!(
                "SELECT ",
                crate::entity_columns!(),
                " FROM entities e WHERE e.ref = ANY($1)"
            );
            let rows: Vec<EntityRow> = sqlx::query_as(sql)
                .bind(&missing)
                .fetch_all(self.pool)
                .await?;
            found.extend(rows);
        }
        Ok(recorded(found))
    }

    /// A team's usher rotation, with its overrides that ended after
    /// `since` (or haven't ended).
    pub async fn rotation(
        &self,
        team_ref: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<super::read_model::RotationRow>, sqlx::Error> {
        if let Some(model) = &self.model {
            return Ok(model.rotation(team_ref, since));
        }
        let row: Option<(Vec<String>, i32, chrono::NaiveTime, String, chrono::NaiveDate)> =
            sqlx::query_as(
                "SELECT people, length_days, handoff, timezone, start_date FROM rotations WHERE team_ref = $1",
            )
            .bind(team_ref)
            .fetch_optional(self.pool)
            .await?;
        let Some((people, length_days, handoff, timezone, start_date)) = row else {
            return Ok(None);
        };
        let overrides = sqlx::query_as(
            "SELECT person, starts_at, ends_at FROM rotation_overrides WHERE team_ref = $1 AND ends_at > $2 ORDER BY id",
        )
        .bind(team_ref)
        .bind(since)
        .fetch_all(self.pool)
        .await?;
        Ok(Some(super::read_model::RotationRow {
            people,
            length_days,
            handoff,
            timezone,
            start_date,
            overrides,
        }))
    }

    /// Whether the team has an usher rotation.
    pub async fn has_rotation(&self, team_ref: &str) -> Result<bool, sqlx::Error> {
        match &self.model {
            Some(model) => Ok(model.has_rotation(team_ref)),
            None => {
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rotations WHERE team_ref = $1)")
                    .bind(team_ref)
                    .fetch_one(self.pool)
                    .await
            }
        }
    }
}
