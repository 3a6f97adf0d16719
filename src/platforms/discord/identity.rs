//! Who a Discord user is in the catalog: the person whose descriptor says
//! `discord.com/user-id: <id>`, else the person the account was linked to
//! with `me link` (Discord doesn't tell bots users' emails). Answers are
//! remembered for a minute, so a busy channel costs no queries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::chat::{Actor, Person};

const MEMORY_TTL: Duration = Duration::from_secs(60);
const MEMORY_MAX: usize = 50_000;

pub struct Identity {
    pool: PgPool,
    health: std::sync::Arc<crate::db::Health>,
    memory: Mutex<HashMap<String, (Option<Person>, Instant)>>,
}

impl Identity {
    pub fn new(pool: PgPool, health: std::sync::Arc<crate::db::Health>) -> Identity {
        Identity {
            pool,
            health,
            memory: Mutex::new(HashMap::new()),
        }
    }

    /// The actor for a Discord user (`name`: their display name).
    pub async fn actor(&self, user_id: &str, name: &str) -> Actor {
        if !self.health.available().await {
            return Actor {
                unresolved: true,
                display: name.to_string(),
                ..Actor::guest(user_id)
            };
        }
        let (person, unresolved) = match self.person(user_id).await {
            Ok(person) => (person, false),
            Err(()) => (None, true),
        };
        Actor {
            display: person
                .as_ref()
                .map(|p| p.display.clone())
                .unwrap_or_else(|| name.to_string()),
            person,
            platform_user: user_id.to_string(),
            external: false,
            unresolved,
        }
    }

    /// The catalog person for a Discord user id; `Err` when the lookup
    /// failed (logged), which is not the same as nobody.
    pub async fn person(&self, user_id: &str) -> Result<Option<Person>, ()> {
        if let Some((person, at)) = self.memory.lock().expect("identity").get(user_id)
            && at.elapsed() < MEMORY_TTL
        {
            return Ok(person.clone());
        }
        let row: Result<Option<(String, String, Option<String>)>, sqlx::Error> = sqlx::query_as(
            // The descriptor's id first, then a link; the oldest entity
            // first if (before claims were checked) two name the same id.
            "SELECT ref, label, email FROM (
                 SELECT e.ref, coalesce(nullif(e.title, ''), e.display_name, e.name) AS label, e.email, 0 AS rank, e.id
                 FROM entities e
                 WHERE e.kind = 'user' AND e.discord_user_id = $1
                 UNION ALL
                 SELECT e.ref, coalesce(nullif(e.title, ''), e.display_name, e.name), e.email, 1, e.id
                 FROM chat_links l JOIN entities e ON e.ref = l.person_ref
                 WHERE l.platform = 'discord' AND l.user_id = $1
             ) found ORDER BY rank, id LIMIT 1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await;
        let person = match row {
            Ok(row) => row.map(|(key, display, email)| Person {
                key,
                display,
                email,
            }),
            Err(e) => {
                tracing::warn!(user = user_id, error = %e, "Discord: looking the person up failed");
                return Err(());
            }
        };
        let mut memory = self.memory.lock().expect("identity");
        if memory.len() >= MEMORY_MAX {
            memory.clear();
        }
        memory.insert(user_id.to_string(), (person.clone(), Instant::now()));
        Ok(person)
    }

    /// Forgets what was remembered about a user (after `me link`).
    pub fn forget(&self, user_id: &str) {
        self.memory.lock().expect("identity").remove(user_id);
    }

    /// The Discord user id of a catalog person, when known.
    pub async fn discord_id_of(&self, person_ref: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT discord_user_id FROM entities WHERE ref = $1 AND discord_user_id IS NOT NULL
             UNION ALL
             SELECT user_id FROM chat_links WHERE platform = 'discord' AND person_ref = $1
             LIMIT 1",
        )
        .bind(person_ref)
        .fetch_optional(&self.pool)
        .await
    }

    /// Marks the person of a Discord user who left a guild as inactive
    /// (GUILD_MEMBERS intent only).
    pub async fn left(&self, user_id: &str) -> Result<u64, sqlx::Error> {
        let Ok(Some(person)) = self.person(user_id).await else {
            return Ok(0);
        };
        crate::catalog::read_model::note_local_write();
        Ok(sqlx::query(
            "UPDATE entities SET deactivated_at = now(), deactivated_by = 'discord'
             WHERE ref = $1 AND deactivated_at IS NULL",
        )
        .bind(&person.key)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
