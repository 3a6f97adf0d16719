//! Guided conversations as state machines whose state lives in Postgres,
//! keyed by platform, person and conversation: a restart or another replica
//! continues one exactly where it was; one idle too long expires.
//!
//! The steps are data (a prompt, a kind of input, choices, a default) that
//! each platform draws its own way — numbered prompts in the console,
//! modals and components in Slack and Discord — and every answer is
//! validated here, the same way for all of them.

pub mod naming;
pub mod service_new;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};
use sqlx::{FromRow, PgPool};

use crate::chat::{Actor, Request};

/// A dialogue as stored.
#[derive(Debug, Clone, FromRow)]
pub struct Dialog {
    pub id: i64,
    pub kind: String,
    pub platform: String,
    pub platform_user: String,
    pub conversation: String,
    pub actor: sqlx::types::Json<Actor>,
    pub step: String,
    pub answers: sqlx::types::Json<Map<String, Value>>,
    pub status: String,
    pub result: Option<String>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Dialog {
    pub fn answer(&self, key: &str) -> Option<&str> {
        self.answers.0.get(key).and_then(Value::as_str)
    }

    /// Whether `request` comes from the person (and conversation) the
    /// dialogue belongs to.
    pub fn belongs_to(&self, request: &Request) -> bool {
        self.platform == request.platform.as_str()
            && self.platform_user == request.actor.platform_user
    }

    pub fn idle_too_long(&self, now: DateTime<Utc>, idle_minutes: i64) -> bool {
        self.status == "active" && now - self.updated_at > Duration::minutes(idle_minutes)
    }
}

/// The conversation a request belongs to.
pub fn conversation(request: &Request) -> String {
    request
        .channel
        .clone()
        .unwrap_or_else(|| "direct".to_string())
}

const COLUMNS: &str = "id, kind, platform, platform_user, conversation, actor, step, answers, status, result, started_at, updated_at";

/// The running dialogue of `kind` for this person and conversation.
pub async fn active(
    pool: &PgPool,
    kind: &str,
    request: &Request,
) -> Result<Option<Dialog>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM dialogs WHERE kind = $1 AND platform = $2 AND platform_user = $3 AND conversation = $4
         AND status = 'active'"
    )))
    .bind(kind)
    .bind(request.platform.as_str())
    .bind(&request.actor.platform_user)
    .bind(conversation(request))
    .fetch_optional(pool)
    .await
}

pub async fn load(pool: &PgPool, id: i64) -> Result<Option<Dialog>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM dialogs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Starts a dialogue (any running one of the same kind must be finished
/// first: the unique index keeps it to one).
pub async fn create(
    pool: &PgPool,
    kind: &str,
    request: &Request,
    step: &str,
    now: DateTime<Utc>,
) -> Result<Dialog, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO dialogs (kind, platform, platform_user, conversation, actor, step, started_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
    )))
    .bind(kind)
    .bind(request.platform.as_str())
    .bind(&request.actor.platform_user)
    .bind(conversation(request))
    .bind(sqlx::types::Json(&request.actor))
    .bind(step)
    .bind(now)
    .fetch_one(pool)
    .await
}

/// Saves the step and answers.
pub async fn save(pool: &PgPool, dialog: &Dialog, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dialogs SET step = $2, answers = $3, updated_at = $4 WHERE id = $1 AND status = 'active'")
        .bind(dialog.id)
        .bind(&dialog.step)
        .bind(&dialog.answers)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(())
}

/// Ends a dialogue: done (with its result), cancelled or expired.
pub async fn finish(
    conn: &mut sqlx::PgConnection,
    id: i64,
    status: &str,
    result: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE dialogs SET status = $2, result = $3, updated_at = $4 WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(result)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}
