//! Who a Slack user is in the catalog: the person whose `slack_user_id`
//! is theirs, else the person with their email (asked of `users.info`,
//! remembered in `slack_users` for `identity_ttl_secs`, so replicas and
//! restarts share it). Answers are cached in memory until the catalog
//! changes.
//!
//! People from other organisations (Slack Connect guests: `is_stranger`, or
//! a home workspace usher doesn't serve) are never matched to catalog
//! people, and see no people's contacts unless `share_with_external`.
//!
//! The people sync reads `users.list` and marks the people whose Slack
//! accounts are deactivated (`deactivated_at`, kept apart from the
//! descriptor's `active` so a re-import doesn't undo it).

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use slack_morphism::prelude::SlackUser;
use sqlx::{FromRow, PgPool};

use super::api::{Api, ApiError};

/// The people sync reads at most this many `users.list` pages (200
/// accounts each): a server that never stops paging is not followed.
const MAX_USERS_LIST_PAGES: usize = 2_000;
/// 429s in a row before the sync gives up for this round.
const MAX_RATE_LIMITED: usize = 5;
/// The longest Retry-After the sync waits for in one go.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(300);
use crate::catalog::snapshot::SnapshotCache;
use crate::chat::{Actor, Person};
use crate::config::SlackConfig;

/// How long a resolved actor is reused while the catalog doesn't change.
const MEMORY_TTL: Duration = Duration::from_secs(600);
/// How long a failed lookup is remembered (so a Slack outage doesn't make
/// every request wait on `users.info`).
const FAILURE_TTL: Duration = Duration::from_secs(30);
/// Cached actors kept at most.
const MAX_CACHED: usize = 50_000;

/// A Slack account as usher knows it.
#[derive(Debug, Clone, Default, FromRow)]
pub struct Account {
    pub user_id: String,
    pub team_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub deleted: bool,
    pub is_bot: bool,
    pub external: bool,
}

impl Account {
    pub fn from_user(user: &SlackUser) -> Account {
        let profile = user.profile.as_ref();
        Account {
            user_id: user.id.to_string(),
            team_id: user.team_id.as_ref().map(|t| t.to_string()),
            email: profile.and_then(|p| p.email.as_ref()).map(|e| e.0.clone()),
            name: user
                .real_name
                .clone()
                .or_else(|| profile.and_then(|p| p.real_name.clone()))
                .or_else(|| user.name.clone()),
            deleted: user.deleted.unwrap_or(false),
            is_bot: user.flags.is_bot.unwrap_or(false),
            external: user.flags.is_stranger.unwrap_or(false),
        }
    }
}

struct Cached {
    actor: Actor,
    generation: u64,
    at: Instant,
    ttl: Duration,
}

/// Resolves Slack users to actors and catalog people to Slack users.
pub struct Identity {
    pool: PgPool,
    api: Option<Api>,
    snapshot: std::sync::Arc<SnapshotCache>,
    health: std::sync::Arc<crate::db::Health>,
    config: SlackConfig,
    /// The workspaces that are "us": the configured list, else the bot's
    /// own (learnt from `auth.test`).
    home: RwLock<Vec<String>>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Identity {
    pub fn new(
        pool: PgPool,
        api: Option<Api>,
        snapshot: std::sync::Arc<SnapshotCache>,
        health: std::sync::Arc<crate::db::Health>,
        config: SlackConfig,
    ) -> Self {
        Identity {
            home: RwLock::new(config.workspaces.clone()),
            pool,
            api,
            snapshot,
            health,
            config,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Learns the bot's own workspace (when no list is configured).
    pub fn add_home(&self, team: &str) {
        let mut home = self.home.write().expect("home lock");
        if self.config.workspaces.is_empty() && !home.iter().any(|t| t == team) {
            home.push(team.to_string());
        }
    }

    fn is_home(&self, team: &str) -> bool {
        let home = self.home.read().expect("home lock");
        home.is_empty() || home.iter().any(|t| t == team)
    }

    /// The actor for a Slack user. `user_team` is the user's own workspace
    /// when the payload says it.
    pub async fn actor(&self, user_id: &str, user_team: Option<&str>) -> Actor {
        if !self.health.available().await {
            return Actor {
                unresolved: true,
                ..Actor::guest(user_id)
            };
        }
        let generation = self.snapshot.generation(&self.pool).await;
        {
            let cache = self.cache.lock().expect("identity cache");
            if let Some(c) = cache.get(user_id)
                && c.generation == generation
                && c.at.elapsed() < c.ttl
            {
                return c.actor.clone();
            }
        }
        let (actor, complete) = self.resolve(user_id, user_team).await;
        let mut cache = self.cache.lock().expect("identity cache");
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(
            user_id.to_string(),
            Cached {
                actor: actor.clone(),
                generation,
                at: Instant::now(),
                ttl: if complete { MEMORY_TTL } else { FAILURE_TTL },
            },
        );
        actor
    }

    /// Resolves without the memory cache; the flag says whether Slack
    /// answered (a partial answer is cached briefly).
    async fn resolve(&self, user_id: &str, user_team: Option<&str>) -> (Actor, bool) {
        let mut complete = true;
        let account = match self.account(user_id).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(user = user_id, error = %e, "Slack: cannot look the user up; treating them as a guest for now");
                complete = false;
                None
            }
        };
        let team = user_team
            .map(str::to_string)
            .or_else(|| account.as_ref().and_then(|a| a.team_id.clone()));
        let external = account.as_ref().is_some_and(|a| a.external)
            || team.as_deref().is_some_and(|t| !self.is_home(t));
        let display = account
            .as_ref()
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| user_id.to_string());
        if external {
            return (
                Actor {
                    person: None,
                    platform_user: user_id.to_string(),
                    display,
                    external: !self.config.share_with_external,
                    unresolved: false,
                },
                complete,
            );
        }
        let email = account.as_ref().and_then(|a| a.email.clone());
        let (person, unresolved) = match self.person(user_id, email.as_deref()).await {
            Ok(p) => (p, false),
            Err(e) => {
                tracing::warn!(user = user_id, error = %e, "Slack: looking the person up failed");
                complete = false;
                (None, true)
            }
        };
        let display = person
            .as_ref()
            .map(|p| p.display.clone())
            .unwrap_or(display);
        (
            Actor {
                person,
                platform_user: user_id.to_string(),
                display,
                external: false,
                unresolved,
            },
            complete,
        )
    }

    /// The catalog person with this Slack id, else with this email.
    async fn person(
        &self,
        user_id: &str,
        email: Option<&str>,
    ) -> Result<Option<Person>, sqlx::Error> {
        let row: Option<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT ref, coalesce(nullif(title, ''), display_name, name), email FROM entities
             WHERE kind = 'user' AND (slack_user_id = $1 OR ($2::text IS NOT NULL AND lower(email) = lower($2)))
             ORDER BY (slack_user_id = $1) DESC NULLS LAST LIMIT 1",
        )
        .bind(user_id)
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(key, display, email)| Person {
            key,
            display,
            email,
        }))
    }

    /// The account from `slack_users` when fresh, else from `users.info`.
    /// `Ok(None)` when there is no bot token to ask with.
    pub async fn account(&self, user_id: &str) -> Result<Option<Account>, String> {
        let fresh: Option<Account> = sqlx::query_as(
            "SELECT user_id, team_id, email, name, deleted, is_bot, external FROM slack_users
             WHERE user_id = $1 AND fetched_at > now() - make_interval(secs => $2)",
        )
        .bind(user_id)
        .bind(self.config.identity_ttl_secs as f64)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        if fresh.is_some() {
            return Ok(fresh);
        }
        let Some(api) = &self.api else {
            return Ok(None);
        };
        let user = api.users_info(user_id).await.map_err(|e| e.to_string())?;
        let account = Account::from_user(&user);
        store_accounts(&self.pool, std::slice::from_ref(&account))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(account))
    }

    /// The Slack user id of a catalog person (`user:default/mei`): their
    /// `slack_user_id`, else the account with their email (looked up with
    /// `users.lookupByEmail` when not known yet).
    pub async fn slack_id_of(&self, person_ref: &str) -> Result<Option<String>, String> {
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT slack_user_id, email FROM entities WHERE ref = $1 AND kind = 'user'",
        )
        .bind(person_ref.to_lowercase())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        let Some((slack_id, email)) = row else {
            return Ok(None);
        };
        if let Some(id) = slack_id.filter(|i| !i.is_empty()) {
            return Ok(Some(id));
        }
        let Some(email) = email.filter(|e| !e.is_empty()) else {
            return Ok(None);
        };
        self.slack_id_by_email(&email).await
    }

    pub async fn slack_id_by_email(&self, email: &str) -> Result<Option<String>, String> {
        let known: Option<String> = sqlx::query_scalar(
            "SELECT user_id FROM slack_users WHERE lower(email) = lower($1) AND NOT deleted
             AND fetched_at > now() - make_interval(secs => $2) LIMIT 1",
        )
        .bind(email)
        .bind(self.config.identity_ttl_secs as f64)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| e.to_string())?;
        if known.is_some() {
            return Ok(known);
        }
        let Some(api) = &self.api else {
            return Ok(None);
        };
        match api.lookup_by_email(email).await {
            Ok(user) => {
                let account = Account::from_user(&user);
                store_accounts(&self.pool, std::slice::from_ref(&account))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok((!account.deleted).then_some(account.user_id))
            }
            Err(e) if e.code() == Some("users_not_found") => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Reads every account with `users.list` and marks the catalog people
    /// whose accounts are deactivated (and unmarks the reactivated).
    pub async fn sync_people(&self) -> Value {
        let Some(api) = &self.api else {
            return json!({ "skipped": "no SLACK_BOT_TOKEN" });
        };
        let started = Instant::now();
        let pace = Duration::from_millis(self.config.users_list_interval_ms);
        let mut cursor: Option<String> = None;
        let mut seen_cursors: HashSet<String> = HashSet::new();
        let (mut accounts, mut pages, mut limited) = (0usize, 0usize, 0usize);
        // Only a listing read to its end may mark anyone deactivated: a
        // partial one would take the missing for leavers.
        loop {
            if pages >= MAX_USERS_LIST_PAGES {
                tracing::warn!(pages, "Slack people sync: stopped at the page limit");
                return json!({ "error": format!("users.list went on past {MAX_USERS_LIST_PAGES} pages; stopped"), "accounts": accounts });
            }
            if pages > 0 {
                tokio::time::sleep(pace).await;
            }
            let (members, next) = match api.users_page(cursor.clone()).await {
                Ok(page) => page,
                Err(ApiError::RateLimited(wait)) if limited < MAX_RATE_LIMITED => {
                    // Slack's Retry-After, then the same page again.
                    limited += 1;
                    let wait = wait
                        .unwrap_or(Duration::from_secs(30))
                        .min(MAX_RATE_LIMIT_WAIT);
                    tracing::info!(
                        wait_secs = wait.as_secs(),
                        "Slack people sync: rate-limited; waiting as asked"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Slack people sync: users.list failed");
                    return json!({ "error": e.to_string(), "accounts": accounts });
                }
            };
            pages += 1;
            limited = 0;
            let batch: Vec<Account> = members.iter().map(Account::from_user).collect();
            accounts += batch.len();
            if let Err(e) = store_accounts(&self.pool, &batch).await {
                return json!({ "error": e.to_string(), "accounts": accounts });
            }
            match next {
                Some(n) if !seen_cursors.insert(n.clone()) => {
                    tracing::warn!(cursor = %n, pages, "Slack people sync: users.list repeated a cursor; stopped");
                    return json!({ "error": "users.list repeated a page cursor; stopped", "accounts": accounts, "pages": pages });
                }
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        match mark_deactivated(&self.pool).await {
            Ok((deactivated, reactivated)) => {
                tracing::info!(accounts, deactivated, reactivated, "Slack people sync done");
                json!({
                    "accounts": accounts,
                    "deactivated": deactivated,
                    "reactivated": reactivated,
                    "ms": started.elapsed().as_millis() as u64,
                })
            }
            Err(e) => json!({ "error": e.to_string(), "accounts": accounts }),
        }
    }
}

/// Upserts accounts into `slack_users`.
pub async fn store_accounts(pool: &PgPool, accounts: &[Account]) -> Result<(), sqlx::Error> {
    if accounts.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = accounts.iter().map(|a| a.user_id.as_str()).collect();
    let teams: Vec<Option<&str>> = accounts.iter().map(|a| a.team_id.as_deref()).collect();
    let emails: Vec<Option<&str>> = accounts.iter().map(|a| a.email.as_deref()).collect();
    let names: Vec<Option<&str>> = accounts.iter().map(|a| a.name.as_deref()).collect();
    let deleted: Vec<bool> = accounts.iter().map(|a| a.deleted).collect();
    let bots: Vec<bool> = accounts.iter().map(|a| a.is_bot).collect();
    let external: Vec<bool> = accounts.iter().map(|a| a.external).collect();
    sqlx::query(
        "INSERT INTO slack_users (user_id, team_id, email, name, deleted, is_bot, external, fetched_at)
         SELECT u.*, now() FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[], $7::bool[])
              AS u(user_id, team_id, email, name, deleted, is_bot, external)
         ON CONFLICT (user_id) DO UPDATE SET team_id = EXCLUDED.team_id, email = EXCLUDED.email,
              name = EXCLUDED.name, deleted = EXCLUDED.deleted, is_bot = EXCLUDED.is_bot,
              external = EXCLUDED.external, fetched_at = now()",
    )
    .bind(&ids)
    .bind(&teams)
    .bind(&emails)
    .bind(&names)
    .bind(&deleted)
    .bind(&bots)
    .bind(&external)
    .execute(pool)
    .await?;
    Ok(())
}

/// Marks people whose Slack accounts are deactivated; unmarks those whose
/// accounts came back. Returns (marked, unmarked).
pub async fn mark_deactivated(pool: &PgPool) -> Result<(u64, u64), sqlx::Error> {
    crate::catalog::read_model::note_local_write();
    let marked = sqlx::query(
        "UPDATE entities e SET deactivated_at = now(), deactivated_by = 'slack'
         FROM slack_users s
         WHERE e.kind = 'user' AND e.deactivated_at IS NULL AND s.deleted AND NOT s.is_bot
           AND (e.slack_user_id = s.user_id OR (s.email IS NOT NULL AND lower(e.email) = lower(s.email)))",
    )
    .execute(pool)
    .await?
    .rows_affected();
    crate::catalog::read_model::note_local_write();
    let unmarked = sqlx::query(
        "UPDATE entities e SET deactivated_at = NULL, deactivated_by = NULL
         WHERE e.kind = 'user' AND e.deactivated_by = 'slack'
           AND EXISTS (SELECT 1 FROM slack_users s WHERE NOT s.deleted
                       AND (e.slack_user_id = s.user_id OR (s.email IS NOT NULL AND lower(e.email) = lower(s.email))))
           AND NOT EXISTS (SELECT 1 FROM slack_users s WHERE s.deleted
                       AND (e.slack_user_id = s.user_id OR (s.email IS NOT NULL AND lower(e.email) = lower(s.email))))",
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok((marked, unmarked))
}
