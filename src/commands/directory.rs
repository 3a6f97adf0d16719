//! `directory confirm <fingerprint>`: an admin applies a directory sync
//! that was held back because it would remove much of a team (the button
//! in the admins' message). Exactly that change is confirmed — a
//! different one is held again.

use serde_json::json;

use crate::chat::{Reply, Request};

use super::{CommandResult, Core};

pub const OPTIONS: &[&str] = &["fingerprint"];

/// `directory`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("directory", OPTIONS, Never, |core, request, parsed| {
        Box::pin(run(core, request, &parsed.args))
    });

async fn run(core: &Core, request: &Request, args: &super::parse::Args) -> CommandResult {
    if !core.is_admin(request) {
        return Ok(Reply::text(
            "Only usher admins can apply a held-back directory sync. Nothing changed.",
        ));
    }
    let fingerprint = args
        .text("fingerprint")
        .unwrap_or_default()
        .trim()
        .to_string();
    if fingerprint.is_empty()
        || fingerprint.len() > 64
        || !fingerprint.chars().all(|c| c.is_ascii_hexdigit())
    {
        return Ok(Reply::text(
            "That isn't a held-back change: use the button in usher's message about it.",
        ));
    }
    let mut tx = core.pool.begin().await?;
    sqlx::query(
        "INSERT INTO directory_confirmations (fingerprint, confirmed_by) VALUES ($1, $2)
         ON CONFLICT (fingerprint) DO NOTHING",
    )
    .bind(&fingerprint)
    .bind(request.actor.audit_name())
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'directory.confirm', $2, $3)")
        .bind(request.actor.audit_name())
        .bind(&fingerprint)
        .bind(json!({}))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Reply::text(
        "Confirmed: the next directory sync (within a minute) applies that change. A different change is held back again.",
    ))
}
