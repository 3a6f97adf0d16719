//! What every command and dialogue runs with: the catalog's pool, the
//! configuration, the in-memory snapshot, on-call lookups, the clock and
//! the kept answers. Below both `commands` and `dialogs`, so a dialogue
//! step can use it without reaching up into the router.

pub mod answers;

use std::sync::Arc;

use sqlx::PgPool;

use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::snapshot::SnapshotCache;
use crate::chat::Request;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::oncall::OnCallService;

/// What commands need: the catalog, its in-memory snapshot and the
/// configuration.
#[derive(Clone)]
pub struct Core {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub snapshot: Arc<SnapshotCache>,
    pub oncall: Arc<OnCallService>,
    pub clock: Arc<dyn Clock>,
    pub answers: Arc<answers::AnswerCache>,
    /// Whether the database answers (checked before answering anything
    /// that isn't a kept answer).
    pub db_health: Arc<crate::db::Health>,
}

impl Core {
    /// Reads the catalog: from memory when the read model is current,
    /// else from the database.
    pub async fn reader(&self) -> crate::catalog::store::Reader<'_> {
        crate::catalog::store::Reader {
            pool: &self.pool,
            model: if self.config.chat.catalog_in_memory {
                self.snapshot.read_model(&self.pool).await
            } else {
                None
            },
        }
    }

    pub fn new(pool: PgPool, config: Arc<Config>) -> Self {
        Core {
            db_health: Arc::new(crate::db::Health::new(pool.clone())),
            pool,
            oncall: Arc::new(OnCallService::new(config.oncall.clone())),
            answers: Arc::new(answers::AnswerCache::new(std::time::Duration::from_secs(
                config.chat.answer_cache_secs,
            ))),
            config,
            snapshot: Arc::new(SnapshotCache::default()),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same core, on another clock (tests). Answers are not reused
    /// on a clock that isn't the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self.answers = Arc::new(answers::AnswerCache::new(std::time::Duration::ZERO));
        self
    }

    /// Whether the actor is an admin from `usher.toml`.
    pub fn is_admin(&self, request: &Request) -> bool {
        request
            .actor
            .person
            .as_ref()
            .is_some_and(|person| self.is_admin_person(&person.key))
    }

    /// Whether the catalog person `key` (`user:default/jane`) is an admin.
    /// Admins are named by entity ref only, never matched by email: an
    /// email is just what some descriptor says.
    pub fn is_admin_person(&self, key: &str) -> bool {
        self.admin_keys().any(|admin| admin == key)
    }

    /// The admins' entity keys (`user:default/jane`), as `[admins] people`
    /// names them.
    pub fn admin_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.config.admins.people.iter().filter_map(|admin| {
            EntityRef::parse(admin.trim(), Some(Kind::User), "default")
                .ok()
                .map(|r| r.key())
        })
    }
}
