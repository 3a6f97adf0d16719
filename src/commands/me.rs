//! `me`: who usher thinks you are, and `me link <email>`: linking a chat
//! account to a catalog person where the platform doesn't tell usher the
//! account's email (Discord).
//!
//! A link gives the account the person's permissions, so it takes proof:
//! a one-time code sent to the person by Slack DM (a channel usher already
//! trusts for them), typed back here; or an usher admin's approval
//! (`me approve <request>`) — the only way for an admin's own person, so
//! nobody becomes an admin by knowing their email. A person already linked
//! to another account of the platform can't be taken over; every link is
//! audit-logged and told to the person, so a wrong one is noticed.

use serde_json::json;

use super::{CommandResult, Core};
use crate::actions::jobs::{self, ChatMessage};
use crate::actions::outbox::{self, NewJob};
use crate::chat::{Platform, Reply, Request, Text};
use crate::commands::parse::Args;

pub const OPTIONS: &[&str] = &["email", "code", "request"];

/// `me`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("me", OPTIONS, Never, |core, request, parsed| Box::pin(
        route(core, request, parsed)
    ));

/// `me`, `me link`, `me approve`.
async fn route(core: &Core, request: &Request, parsed: &super::parse::Parsed) -> CommandResult {
    let args = &parsed.args;
    match parsed.sub.map(|s| s.name.as_str()) {
        Some("link") => link(core, request, args).await,
        Some("approve") => approve(core, request, args).await,
        _ => run(core, request).await,
    }
}

/// `me`.
pub async fn run(core: &Core, request: &Request) -> CommandResult {
    let actor = &request.actor;
    let Some(person) = &actor.person else {
        let how = match request.platform {
            Platform::Discord => {
                "Link your account: `me link <your catalog email>` (usher sends you a one-time code on Slack to prove it's you)."
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
        .section(Text::plain(known_from(core, &person.key).await?))
        .context("`team <your team>` lists your team's services; `oncall <team>` who is on call."))
}

/// Where an entity came from: its location, its file, its origin
/// (`location` or `chat`) and when the location was last imported.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Provenance {
    pub location: Option<String>,
    pub file: Option<String>,
    pub origin: String,
    pub synced: Option<chrono::DateTime<chrono::Utc>>,
    /// The directory's sources that know it (`scim, ldap:corp`).
    pub sources: Option<String>,
}

impl Provenance {
    /// Whether it came from the directory.
    pub fn is_directory(&self) -> bool {
        self.location.as_deref() == Some(crate::directory::catalog::LOCATION)
    }

    /// "the directory (SCIM, LDAP corp)": the directory and its sources
    /// that know the entity.
    pub fn directory(&self) -> String {
        let mut sources: Vec<String> = Vec::new();
        let named = self.sources.as_deref().unwrap_or_default().split(',');
        for source in named.map(str::trim).filter(|s| !s.is_empty()) {
            let source = match source.strip_prefix("ldap:") {
                Some(name) => format!("LDAP {name}"),
                None if source == "scim" => "SCIM".to_string(),
                None => source.to_string(),
            };
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        if sources.is_empty() {
            "the directory".to_string()
        } else {
            format!("the directory ({})", sources.join(", "))
        }
    }

    /// `lead` and when its location was last imported, when known.
    pub fn synced(&self, lead: &str) -> String {
        self.synced
            .map(|t| format!("{lead}{}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default()
    }
}

/// Where the entity `key` (`user:default/jane`) came from.
pub(crate) async fn provenance(core: &Core, key: &str) -> Result<Option<Provenance>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.target AS location, e.source_file AS file, e.origin, l.refreshed_at AS synced,
                e.annotations->>'usher.dev/source' AS sources
         FROM entities e LEFT JOIN locations l ON l.id = e.location_id WHERE e.ref = $1",
    )
    .bind(key)
    .fetch_optional(&core.pool)
    .await
}

/// Which source knows the person: the directory (SCIM), a descriptor
/// (its file), or chat.
async fn known_from(core: &Core, key: &str) -> Result<String, sqlx::Error> {
    Ok(match provenance(core, key).await? {
        Some(p) if p.is_directory() => format!(
            "Known from {} — your identity provider{}.",
            p.directory(),
            p.synced(", last synced ")
        ),
        Some(p) if p.origin == "chat" => "Known from chat (added in usher).".into(),
        Some(Provenance {
            location: Some(target),
            file,
            ..
        }) => {
            format!("Known from {}.", file.unwrap_or(target))
        }
        _ => "Not known from any source usher still reads.".into(),
    })
}

/// How long a link request (and its code) stays valid.
const REQUEST_MINUTES: i64 = 15;
/// Wrong codes before a request is dropped.
const MAX_CODE_ATTEMPTS: i32 = 5;
/// Link requests a person may receive an hour.
const MAX_REQUESTS_PER_HOUR: i64 = 3;

/// A pending link, as stored.
#[derive(Debug, sqlx::FromRow)]
struct LinkRequest {
    id: String,
    platform: String,
    user_id: String,
    user_display: String,
    person_ref: String,
    code_hash: Option<String>,
}

/// `me link <email> [--code <code>]`.
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
    if let Some(reply) = already_taken(core, platform, &person_ref, &display, request).await? {
        return Ok(reply);
    }
    match args.text("code") {
        Some(code) => check_code(core, request, &email, &person_ref, &display, code).await,
        None => ask_for_proof(core, request, &email, &person_ref, &display).await,
    }
}

/// A person already linked to another account of this platform.
async fn already_taken(
    core: &Core,
    platform: &str,
    person_ref: &str,
    display: &str,
    request: &Request,
) -> Result<Option<Reply>, sqlx::Error> {
    let taken: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM chat_links WHERE platform = $1 AND person_ref = $2
         UNION ALL
         SELECT discord_user_id FROM entities WHERE ref = $2 AND discord_user_id IS NOT NULL AND $1 = 'discord'
         LIMIT 1",
    )
    .bind(platform)
    .bind(person_ref)
    .fetch_optional(&core.pool)
    .await?;
    Ok(taken
        .filter(|id| *id != request.actor.platform_user)
        .map(|other| {
            tracing::warn!(person = %person_ref, other = %other, user = %request.actor.platform_user, "me link refused: person already linked");
            Reply::text(format!(
                "{display} is already linked to another {platform} account. If that's wrong, ask your usher admins."
            ))
        }))
}

/// Opens a request: a code by Slack DM, or (for an admin's person, or
/// where Slack isn't connected) the admins asked to approve.
async fn ask_for_proof(
    core: &Core,
    request: &Request,
    email: &str,
    person_ref: &str,
    display: &str,
) -> CommandResult {
    let platform = request.platform.as_str();
    let id = random_id();
    // Codes go by Slack DM only, so without Slack an admin approves.
    let by_code = !core.is_admin_person(person_ref) && core.config.hygiene.posts_on("slack");
    let code = by_code.then(random_code);
    let mut tx = core.pool.begin().await?;
    // A new request starts a new code with fresh tries: so that asking
    // again can't buy endless guesses (nor flood the person's DMs), a
    // person gets a few requests an hour, from anyone — counted under a
    // lock on the person, so a burst of requests can't slip past.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('me.link:' || $1))")
        .bind(person_ref)
        .execute(&mut *tx)
        .await?;
    let recent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'me.link.request' AND subject = $1
         AND at > now() - interval '1 hour'",
    )
    .bind(person_ref)
    .fetch_one(&mut *tx)
    .await?;
    if recent >= MAX_REQUESTS_PER_HOUR {
        tracing::warn!(person = %person_ref, user = %request.actor.platform_user, "me link: too many requests for this person");
        return Ok(Reply::text(format!(
            "{display} has had {recent} link requests in the last hour, which is all an hour allows. Try again later, or ask your usher admins."
        )));
    }
    sqlx::query(
        "DELETE FROM link_requests WHERE (platform = $1 AND user_id = $2) OR expires_at < now()",
    )
    .bind(platform)
    .bind(&request.actor.platform_user)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO link_requests (id, platform, user_id, user_display, person_ref, code_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(mins => $7))",
    )
    .bind(&id)
    .bind(platform)
    .bind(&request.actor.platform_user)
    .bind(&request.actor.display)
    .bind(person_ref)
    .bind(code.as_deref().map(|c| code_hash(&id, c)))
    .bind(REQUEST_MINUTES as i32)
    .execute(&mut *tx)
    .await?;
    // The display name is the asker's to choose: only plain characters of
    // it reach the person's and the admins' DMs (no links, no formatting).
    let who = format!(
        "{} ({} account {})",
        plain_name(&request.actor.display),
        platform,
        request.actor.platform_user
    );
    if let Some(code) = &code {
        outbox::enqueue(
            &mut tx,
            &NewJob::as_kind(
                jobs::CHAT_SLACK,
                format!("dm:{person_ref}"),
                &ChatMessage::text(format!(
                    "{who} asked to be linked to you in usher. If that's you, type `me link {email} --code {code}` there within {REQUEST_MINUTES} minutes. If it isn't, ignore this: nothing happens without the code."
                )),
                format!("me.link.code:{id}"),
            ),
            core.config.outbox.max_attempts,
        )
        .await?;
    }
    for admin in core.admin_keys() {
        if by_code {
            break; // the admins hear only of what needs them
        }
        outbox::enqueue(
            &mut tx,
            &NewJob::new(
                format!("dm:{admin}"),
                &ChatMessage::text(format!(
                    "{who} asks to be linked to {display} ({person_ref}). Only if you know it's them: `me approve {id}` (valid {REQUEST_MINUTES} minutes)."
                )),
                format!("me.link.approve:{id}:{admin}"),
            ),
            core.config.outbox.max_attempts,
        )
        .await?;
    }
    sqlx::query(
        "INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'me.link.request', $2, $3)",
    )
    .bind(request.actor.audit_name())
    .bind(person_ref)
    .bind(json!({ "platform": platform, "user_id": request.actor.platform_user, "request": id, "by": if by_code { "code" } else { "admin" } }))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut reply = Reply::new();
    reply = if by_code {
        reply
            .section(
                Text::new()
                    .add_plain("I've sent a one-time code to ")
                    .add_bold(display.to_string())
                    .add_plain(" by Slack DM. If that's you, type it here:"),
            )
            .section(Text::new().add_code(format!("me link {email} --code <the code>")))
            .context(format!(
                "Valid {REQUEST_MINUTES} minutes. No Slack? An usher admin can approve request {id} instead (`me approve {id}`)."
            ))
    } else if core.is_admin_person(person_ref) {
        reply.section(Text::plain(format!(
            "{display} is an usher admin, and an admin's account is linked only with another admin's approval — I've asked them (request {id}, valid {REQUEST_MINUTES} minutes)."
        )))
    } else {
        reply.section(Text::plain(format!(
            "usher can't send {display} a code (Slack isn't connected here), so I've asked the usher admins to approve request {id} (valid {REQUEST_MINUTES} minutes)."
        )))
    };
    Ok(reply)
}

/// `me link <email> --code <code>`: the code from the DM links the account.
async fn check_code(
    core: &Core,
    request: &Request,
    email: &str,
    person_ref: &str,
    display: &str,
    code: &str,
) -> CommandResult {
    let pending: Option<LinkRequest> = sqlx::query_as(
        "SELECT id, platform, user_id, user_display, person_ref, code_hash FROM link_requests
         WHERE platform = $1 AND user_id = $2 AND person_ref = $3 AND expires_at > now()",
    )
    .bind(request.platform.as_str())
    .bind(&request.actor.platform_user)
    .bind(person_ref)
    .fetch_optional(&core.pool)
    .await?;
    let start_again = format!("Start again with `me link {email}`.");
    let Some(pending) = pending else {
        return Ok(Reply::text(format!(
            "There's no open link request from this account for {display} (they last {REQUEST_MINUTES} minutes). {start_again}"
        )));
    };
    let Some(expected) = &pending.code_hash else {
        return Ok(Reply::text(format!(
            "{display}'s link needs an usher admin's approval (request {}), not a code.",
            pending.id
        )));
    };
    // The try is counted before the code is compared, in one statement, so
    // a burst of guesses sent at once gets no more tries than one at a time.
    let counted: Option<i32> = sqlx::query_scalar(
        "UPDATE link_requests SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2
         RETURNING attempts",
    )
    .bind(&pending.id)
    .bind(MAX_CODE_ATTEMPTS)
    .fetch_optional(&core.pool)
    .await?;
    let Some(attempts) = counted else {
        return Ok(Reply::text(format!(
            "This request has had all its tries and is closed. {start_again}"
        )));
    };
    if code_hash(&pending.id, code.trim()) != *expected {
        if attempts >= MAX_CODE_ATTEMPTS {
            sqlx::query("DELETE FROM link_requests WHERE id = $1")
                .bind(&pending.id)
                .execute(&core.pool)
                .await?;
            tracing::warn!(person = %person_ref, user = %request.actor.platform_user, "me link: too many wrong codes");
            return Ok(Reply::text(format!(
                "That code isn't right, and that was the last try: the request is closed. {start_again}"
            )));
        }
        return Ok(Reply::text(format!(
            "That code isn't right ({} tries left). Copy it from usher's Slack DM to {display}.",
            MAX_CODE_ATTEMPTS - attempts
        )));
    }
    complete(core, &pending, &request.actor.audit_name(), display).await
}

/// `me approve <request>` (admins): links the account a request names.
pub async fn approve(core: &Core, request: &Request, args: &Args) -> CommandResult {
    let id = args
        .text("request")
        .unwrap_or_default()
        .trim()
        .to_uppercase();
    let pending: Option<LinkRequest> = sqlx::query_as(
        "SELECT id, platform, user_id, user_display, person_ref, code_hash FROM link_requests
         WHERE id = $1 AND expires_at > now()",
    )
    .bind(&id)
    .fetch_optional(&core.pool)
    .await?;
    let Some(pending) = pending else {
        return Ok(Reply::text(format!(
            "There's no open link request {id} (they last {REQUEST_MINUTES} minutes). Ask them to run `me link <their email>` again."
        )));
    };
    let display: String = sqlx::query_scalar(
        "SELECT coalesce(nullif(title, ''), display_name, name) FROM entities WHERE ref = $1",
    )
    .bind(&pending.person_ref)
    .fetch_optional(&core.pool)
    .await?
    .unwrap_or_else(|| pending.person_ref.clone());
    complete(core, &pending, &request.actor.audit_name(), &display).await
}

/// Makes the link a request asked for, in one transaction with its audit
/// entry and the message telling the person.
async fn complete(core: &Core, pending: &LinkRequest, actor: &str, display: &str) -> CommandResult {
    let mut tx = core.pool.begin().await?;
    let closed = sqlx::query("DELETE FROM link_requests WHERE id = $1")
        .bind(&pending.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let inserted = sqlx::query(
        "INSERT INTO chat_links (platform, user_id, person_ref) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(&pending.platform)
    .bind(&pending.user_id)
    .bind(&pending.person_ref)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if closed == 0 || inserted == 0 {
        return Ok(Reply::text(format!(
            "{display} or that account was linked a moment ago by someone else. `me` shows who you are; ask your usher admins if it's wrong."
        )));
    }
    sqlx::query(
        "INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'me.link', $2, $3)",
    )
    .bind(actor)
    .bind(&pending.person_ref)
    .bind(json!({ "platform": pending.platform, "user_id": pending.user_id, "display": pending.user_display, "request": pending.id }))
    .execute(&mut *tx)
    .await?;
    outbox::enqueue(
        &mut tx,
        &NewJob::new(
            format!("dm:{}", pending.person_ref),
            &ChatMessage::text(format!(
                "Your catalog person was linked to the {} account {} ({}). If that wasn't you, tell your usher admins.",
                pending.platform,
                plain_name(&pending.user_display),
                pending.user_id
            )),
            format!("me.link:{}:{}", pending.platform, pending.user_id),
        ),
        core.config.outbox.max_attempts,
    )
    .await?;
    tx.commit().await?;
    Ok(Reply::new()
        .section(
            Text::new()
                .add_plain(format!("Linked: {} is ", pending.user_display))
                .add_bold(display.to_string())
                .add_plain(" now."),
        )
        .context("Try `owner <service>` or `oncall <team>`."))
}

/// A display name reduced to letters, digits, spaces and `.-_'`, at most
/// 40 of them: what someone else chose can't carry a link or markup.
fn plain_name(name: &str) -> String {
    let kept: String = name
        .chars()
        .filter(|c| c.is_alphanumeric() || " .-_'".contains(*c))
        .take(40)
        .collect();
    let kept = kept.trim();
    if kept.is_empty() {
        "someone".to_string()
    } else {
        kept.to_string()
    }
}

/// Random bytes from the OS.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random generator is available");
    bytes
}

/// A request id people can read out: six letters and digits, no 0/O/1/I.
fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    random_bytes::<6>()
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// A six-digit one-time code.
fn random_code() -> String {
    let n = u32::from_le_bytes(random_bytes::<4>()) % 1_000_000;
    format!("{n:06}")
}

/// Codes are kept hashed with their request's id.
fn code_hash(id: &str, code: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("{id}:{code}").as_bytes()))
}
