//! Recent answers to read-only questions, kept in memory so the same
//! question asked again (the popular services are asked about all day) is
//! answered without the database.
//!
//! Freshness: an answer is reused only while nothing it read has changed.
//! Every committed change reaches every process through Postgres NOTIFY
//! (see `catalog::snapshot`): "these services were updated in place", or
//! "anything may have changed". `owner` and `docs` answers remember which
//! entities they read, so a refresh that updates other services leaves
//! them standing; every other answer ends with any change. Answers that
//! tell who is on call end at the next hand-off, or when the provider's
//! answer is as old as `oncall.cache_secs`; none lives longer than
//! `chat.answer_cache_secs`. One past
//! three quarters of its life is served once more while a fresh one is
//! made in the background (a few at a time), so popular answers don't
//! expire under load.
//!
//! Answers are kept per viewer: permissions and what a guest from
//! another organisation may see differ by person.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::catalog::snapshot::SnapshotCache;
use crate::catalog::store::Reads;
use crate::chat::{Reply, Request};

/// Whether a command's answers may be kept, as its registration says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// It acts, or depends on who asks and when: never kept.
    Never,
    /// Read-only: kept while the catalog is unchanged as a whole (and
    /// until the time its answer names).
    Kept,
    /// Read-only, and its reads are recorded entity by entity (they go
    /// through `catalog::store` only): kept until one of them changes.
    Tracked,
}

/// Most answers kept; when full, the cache starts over.
const MAX_ANSWERS: usize = 250_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    text: String,
    viewer: String,
}

struct Entry {
    reply: Reply,
    generation: u64,
    /// The entities read; `None`: the whole catalog.
    reads: Option<HashSet<i64>>,
    at: Instant,
    /// When it stops being true by itself (the TTL, an on-call hand-off).
    expires: Instant,
    refreshing: bool,
}

/// What the cache has for a question.
pub enum Lookup {
    /// A current answer.
    Fresh(Reply),
    /// A current answer past three quarters of its life: serve it, and
    /// make a new one with the permit.
    Aging(Reply, tokio::sync::OwnedSemaphorePermit),
    Miss,
}

pub struct AnswerCache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
    /// Bounds the answers made again in the background, so renewing
    /// doesn't crowd out questions asked now.
    renewing: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Answers renewed in the background at once, at most.
const RENEWING_AT_ONCE: usize = 2;

impl AnswerCache {
    pub fn new(ttl: Duration) -> Self {
        AnswerCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
            renewing: std::sync::Arc::new(tokio::sync::Semaphore::new(RENEWING_AT_ONCE)),
        }
    }

    /// Whether answers to this command may be reused.
    /// A command line as parsed: its command's caching, whether a
    /// subcommand was given, and whether it asks to notify anyone (which is
    /// never read-only).
    pub fn cacheable(&self, caching: Caching, with_sub: bool, notify: bool) -> bool {
        !self.ttl.is_zero() && !with_sub && caching != Caching::Never && !notify
    }

    fn key(request: &Request) -> Key {
        let actor = &request.actor;
        Key {
            text: request
                .text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            viewer: format!(
                "{}|{}",
                actor
                    .person
                    .as_ref()
                    .map(|p| p.key.as_str())
                    .unwrap_or("guest"),
                actor.external
            ),
        }
    }

    /// The answer for this question, if one is still current.
    pub fn get(&self, request: &Request, snapshot: &SnapshotCache) -> Lookup {
        let mut entries = self.entries.lock().expect("answer cache");
        let Some(entry) = entries.get_mut(&Self::key(request)) else {
            return Lookup::Miss;
        };
        let now = Instant::now();
        if now >= entry.expires || !snapshot.unchanged_since(entry.generation, entry.reads.as_ref())
        {
            return Lookup::Miss;
        }
        let life = entry.expires.duration_since(entry.at);
        if now.duration_since(entry.at) >= life * 3 / 4
            && !entry.refreshing
            && let Ok(permit) = self.renewing.clone().try_acquire_owned()
        {
            entry.refreshing = true;
            return Lookup::Aging(entry.reply.clone(), permit);
        }
        Lookup::Fresh(entry.reply.clone())
    }

    /// Keeps an answer made from the catalog as of `generation`.
    pub fn put(
        &self,
        request: &Request,
        caching: Caching,
        generation: u64,
        reads: Reads,
        reply: &Reply,
    ) {
        let at = Instant::now();
        let mut expires = at + self.ttl;
        if let Some(until) = reads.valid_until {
            let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
            expires = expires.min(at + left);
        }
        let reads = (caching == Caching::Tracked && !reads.whole_catalog).then_some(reads.ids);
        let mut entries = self.entries.lock().expect("answer cache");
        if entries.len() >= MAX_ANSWERS {
            entries.clear();
        }
        entries.insert(
            Self::key(request),
            Entry {
                reply: reply.clone(),
                generation,
                reads,
                at,
                expires,
                refreshing: false,
            },
        );
    }
}
