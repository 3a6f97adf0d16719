//! Catalog writes that come from chat and automation rather than from a
//! descriptor: a service created in the dialogue, an annotation usher
//! itself produced (a channel made for a new service, a repository, a fix
//! made in chat).

use sqlx::{PgPool, Postgres, Transaction};

use super::write::{replace_relations_and_links, upsert_entities};
use crate::actions::automation::Annotations;
use crate::actions::outbox::{SendError, SendFuture};
use crate::catalog::entity::Entity;

/// Sets an annotation on an entity — in the typed column usher keeps for
/// it, where there is one, in `annotations` and in the stored document —
/// in the caller's transaction. For values usher itself produced (a
/// channel made for a new service, a fix made in chat).
pub async fn set_annotation(
    conn: &mut sqlx::PgConnection,
    entity_ref: &str,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    let column = match key {
        "pagerduty.com/service-id" => Some("pagerduty_service_id"),
        "github.com/project-slug" => Some("github_slug"),
        "slack.com/channel-id" => Some("slack_channel"),
        "discord.com/channel-id" => Some("discord_channel"),
        "backstage.io/source-location" => Some("source_location"),
        "usher.dev/tier" => Some("tier"),
        _ => None,
    };
    // `column` is one of the constants above.
    let set_column = column.map(|c| format!("{c} = $3, ")).unwrap_or_default();
    crate::catalog::read_model::note_local_write();
    let sql = format!(
        "UPDATE entities SET {set_column}
            annotations = annotations || jsonb_build_object($2::text, $3::text),
            raw = jsonb_set(raw, '{{metadata,annotations}}', coalesce(raw->'metadata'->'annotations', '{{}}') || jsonb_build_object($2::text, $3::text)),
            updated_at = now()
         WHERE ref = $1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(entity_ref)
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

/// Creates an entity from chat (no location), unless its name is taken —
/// checked under a lock on the name, so two people creating the same name
/// at once can't both succeed. Returns whether it was created.
pub async fn create_from_chat(
    tx: &mut Transaction<'_, Postgres>,
    entity: &Entity,
) -> Result<bool, sqlx::Error> {
    let key = entity.eref.key();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(&key)
        .execute(&mut **tx)
        .await?;
    let taken: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM entities WHERE ref = $1)")
        .bind(&key)
        .fetch_one(&mut **tx)
        .await?;
    if taken {
        return Ok(false);
    }
    let written = upsert_entities(tx, None, &[entity]).await?;
    replace_relations_and_links(tx, &written, &[entity]).await?;
    Ok(true)
}

/// The catalog as the place automation steps record what they made (the
/// outbox sits below the catalog, so its senders are handed this rather
/// than reaching up to write entities themselves).
pub struct CatalogAnnotations(pub PgPool);

impl Annotations for CatalogAnnotations {
    fn set<'a>(&'a self, service: &'a str, key: &'a str, value: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let failed = |e: sqlx::Error| SendError::Retry(format!("recording {key} failed: {e}"));
            let mut conn = self.0.acquire().await.map_err(failed)?;
            set_annotation(&mut conn, service, key, value)
                .await
                .map_err(failed)
        })
    }
}
