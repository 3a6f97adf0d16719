//! A replayed interaction acts once. Slack's and Discord's signatures are
//! good for five minutes, so a captured request (a slash command, a click,
//! a form) could be sent again within them; each carries an id of its own
//! (Slack's `trigger_id`, Discord's interaction id), remembered in
//! Postgres so every replica sees it. The second arrival gets a notice and
//! does nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::PgPool;

/// What the second arrival of an interaction is told.
pub const REPLAYED: &str =
    "usher already acted on this request (it arrived twice), so nothing was done again.";

/// How long an id is remembered: twice the signatures' five minutes.
const REMEMBER_MINUTES: i32 = 10;

/// Whether the interaction `id` arrives for the first time (and remembers
/// it). Without a database it is let through: nothing that acts can run
/// then anyway, and questions stay answerable from the kept answers.
pub async fn first_time(pool: &PgPool, platform: &str, id: &str) -> bool {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    if id.is_empty() {
        return true;
    }
    let inserted = sqlx::query(
        "INSERT INTO seen_interactions (platform, id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(platform)
    .bind(id)
    .execute(pool)
    .await;
    if CALLS.fetch_add(1, Ordering::Relaxed).is_multiple_of(500) {
        let _ = sqlx::query(
            "DELETE FROM seen_interactions WHERE seen_at < now() - make_interval(mins => $1)",
        )
        .bind(REMEMBER_MINUTES)
        .execute(pool)
        .await;
    }
    match inserted {
        Ok(done) if done.rows_affected() == 0 => {
            tracing::warn!(platform, id, "a replayed interaction was refused");
            false
        }
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not record an interaction id; letting it through");
            true
        }
    }
}
