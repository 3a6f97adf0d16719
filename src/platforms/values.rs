//! The values buttons and select options carry: the command line they run.
//! Platforms cap them (Slack: 2000 characters for a button's value, 150 for
//! an option's; Discord: 100 for a `custom_id` or an option's value); a
//! longer line is stored in Postgres under its hash and the element
//! carries `v:<hash>`. (The table is `slack_values` because Slack came
//! first; Discord shares it.) The hash is of the line itself, so every replica
//! stores the same row for the same line, and storing twice is harmless.

use sha2::{Digest, Sha256};
use sqlx::PgPool;

const PREFIX: &str = "v:";

/// The value for `command` within `limit` characters, and the row to
/// store when it had to be hashed.
pub fn encode(command: &str, limit: usize) -> (String, Option<(String, String)>) {
    if command.chars().count() <= limit && !command.starts_with(PREFIX) {
        return (command.to_string(), None);
    }
    let hash = hex::encode(Sha256::digest(command.as_bytes()));
    let hash = hash[..40].to_string();
    (format!("{PREFIX}{hash}"), Some((hash, command.to_string())))
}

/// Stores hashed lines (before the message that carries them is sent).
pub async fn store(pool: &PgPool, long: &[(String, String)]) -> Result<(), sqlx::Error> {
    if long.is_empty() {
        return Ok(());
    }
    let (hashes, commands): (Vec<String>, Vec<String>) = long.iter().cloned().unzip();
    sqlx::query(
        "INSERT INTO slack_values (hash, command) SELECT * FROM UNNEST($1::text[], $2::text[])
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&hashes)
    .bind(&commands)
    .execute(pool)
    .await?;
    Ok(())
}

/// The command line a value stands for; `None` for a hash nobody stored
/// (or one pruned long ago).
pub async fn decode(pool: &PgPool, value: &str) -> Result<Option<String>, sqlx::Error> {
    match value.strip_prefix(PREFIX) {
        Some(hash) => {
            sqlx::query_scalar("SELECT command FROM slack_values WHERE hash = $1")
                .bind(hash)
                .fetch_optional(pool)
                .await
        }
        None => Ok(Some(value.to_string())),
    }
}

/// Forgets stored lines older than `days`.
pub async fn prune(pool: &PgPool, days: i32) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query(
            "DELETE FROM slack_values WHERE created_at < now() - make_interval(days => $1)",
        )
        .bind(days)
        .execute(pool)
        .await?
        .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_themselves_and_long_ones_hashes() {
        assert_eq!(encode("owner a", 150), ("owner a".to_string(), None));
        let long = "x".repeat(151);
        let (value, stored) = encode(&long, 150);
        assert!(value.starts_with("v:") && value.len() == 42);
        assert_eq!(stored.unwrap().1, long);
        // A line that looks like a hash is hashed too, so it can't be
        // mistaken for one.
        assert!(encode("v:abc", 150).1.is_some());
    }
}
