//! `me`: who usher thinks you are, and `me link <email>`: linking a chat
//! account to a catalog person where the platform doesn't tell usher the
//! account's email (Discord).
//!
//! A link gives the account the person's permissions, so it is confirmed
//! with a button, refused when the person is already linked to another
//! account of that platform (only an admin can move it), audit-logged, and
//! told to the person through the outbox (on any platform that reaches
//! them), so a wrong link is noticed.

use serde_json::json;

use super::{CommandResult, Core};
use crate::actions::outbox::{self, NewJob};
use crate::chat::{Action, ButtonStyle, Element, Platform, Reply, Request, Text};
use crate::commands::parse::Args;
use crate::oncall::paging::CHAT_KIND;

pub const OPTIONS: &[&str] = &["email", "confirm"];

/// `me`.
pub async fn run(core: &Core, request: &Request) -> CommandResult {
    let _ = core;
    let actor = &request.actor;
    let Some(person) = &actor.person else {
        let how = match request.platform {
            Platform::Discord => {
                "Link your account: `me link <your catalog email>` (you confirm with a button)."
            }
            Platform::Slack => {
                "usher matches Slack accounts by Slack id or the email on your Slack profile; ask your team to add you to the catalog (a User with that email)."
            }
            Platform::Console => {
                "Use `usher console --as <name or email>`, or run it as an OS user whose name matches a catalog person."
            }
        };
        return Ok(Reply::new()
            .header("You're a guest")
            .section(Text::plain(format!(
                "usher doesn't know which catalog person {} is, so you can ask questions but not change things (rotations, pages, new services).",
                actor.display
            )))
            .hint(how));
    };
    Ok(Reply::new()
        .header(person.display.clone())
        .section(
            Text::new()
                .add_plain("You're ")
                .add_bold(person.display.clone())
                .add_plain(" (")
                .add_code(person.key.clone())
                .add_plain(match &person.email {
                    Some(email) => format!(", {email}"),
                    None => String::new(),
                })
                .add_plain(") in the catalog."),
        )
        .context("`team <your team>` lists your team's services; `oncall <team>` who is on call."))
}

/// `me link <email> [--confirm]`.
pub async fn link(core: &Core, request: &Request, args: &Args) -> CommandResult {
    let email = args.text("email").unwrap_or_default().trim().to_string();
    if request.platform != Platform::Discord {
        return Ok(Reply::text(match request.platform {
            Platform::Slack => {
                "No need on Slack: usher matches you by your Slack id or the email on your Slack profile. `me` shows who you are."
            }
            _ => {
                "Linking is for chat accounts (Discord). In the console, use `usher console --as <name or email>`."
            }
        }));
    }
    if let Some(person) = &request.actor.person {
        return Ok(Reply::text(format!(
            "This account is already {} ({}). To move it to someone else, ask your usher admins.",
            person.display, person.key
        )));
    }
    if !email.contains('@') {
        return Ok(Reply::text(format!(
            "'{email}' isn't an email. Use `me link you@example.com` with the email the catalog has for you."
        )));
    }
    let person: Option<(String, String)> = sqlx::query_as(
        "SELECT ref, coalesce(nullif(title, ''), display_name, name) FROM entities
         WHERE kind = 'user' AND lower(email) = lower($1) LIMIT 1",
    )
    .bind(&email)
    .fetch_optional(&core.pool)
    .await?;
    let Some((person_ref, display)) = person else {
        return Ok(Reply::text(format!(
            "No one in the catalog has the email {email}. Check the spelling, or ask your team to add you (a User entity with spec.profile.email)."
        )));
    };
    let platform = request.platform.as_str();
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM chat_links WHERE platform = $1 AND person_ref = $2
         UNION ALL
         SELECT discord_user_id FROM entities WHERE ref = $2 AND discord_user_id IS NOT NULL AND $1 = 'discord'
         LIMIT 1",
    )
    .bind(platform)
    .bind(&person_ref)
    .fetch_optional(&core.pool)
    .await?;
    if let Some(other) = taken.filter(|id| *id != request.actor.platform_user) {
        tracing::warn!(person = %person_ref, other = %other, user = %request.actor.platform_user, "me link refused: person already linked");
        return Ok(Reply::text(format!(
            "{display} is already linked to another {platform} account. If that's wrong, ask your usher admins."
        )));
    }
    if !args.flag("confirm") {
        return Ok(Reply::new()
            .section(
                Text::new()
                    .add_plain("Link this account to ")
                    .add_bold(display.clone())
                    .add_plain(format!(" ({email})?")),
            )
            .context(
                "Only if it's you: usher will act as them (their teams' permissions), and tells them about the link.",
            )
            .actions(vec![
                Element::Button {
                    label: format!("Yes, I'm {display}"),
                    action: Action::run(format!("me link {email} --confirm")),
                    style: ButtonStyle::Primary,
                },
                Element::Button {
                    label: "No".into(),
                    action: Action::run("me"),
                    style: ButtonStyle::Default,
                },
            ]));
    }
    let mut tx = core.pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO chat_links (platform, user_id, person_ref) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(platform)
    .bind(&request.actor.platform_user)
    .bind(&person_ref)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Reply::text(format!(
            "{display} or this account was linked a moment ago by someone else. Run `me` to see who you are; ask your usher admins if it's wrong."
        )));
    }
    sqlx::query(
        "INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'me.link', $2, $3)",
    )
    .bind(request.actor.audit_name())
    .bind(&person_ref)
    .bind(json!({ "platform": platform, "user_id": request.actor.platform_user, "display": request.actor.display }))
    .execute(&mut *tx)
    .await?;
    outbox::enqueue(
        &mut tx,
        &NewJob {
            kind: CHAT_KIND.into(),
            destination: format!("dm:{person_ref}"),
            payload: json!({
                "text": format!(
                    "Your catalog person was linked to the {platform} account {} ({}). If that wasn't you, tell your usher admins.",
                    request.actor.display, request.actor.platform_user
                ),
            }),
            idempotency_key: format!("me.link:{platform}:{}", request.actor.platform_user),
        },
        core.config.outbox.max_attempts,
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::new()
        .section(
            Text::new()
                .add_plain("Linked: you're ")
                .add_bold(display)
                .add_plain(" now."),
        )
        .context("Try `owner <service>` or `oncall <team>`."))
}
