//! `page <service> <reason>`: pages whoever is on call (the Page button runs
//! `page <service>` and is asked for the reason first).

use crate::catalog::model::{EntityRef, Kind};
use crate::chat::{Form, Reply, Request, Text, TextInput};
use crate::oncall::paging::{self, Paged};
use crate::oncall::{Lookup, Source};

use super::oncall::lookup_for;
use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core};

pub const OPTIONS: &[&str] = &["service", "reason"];

/// `page`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("page", OPTIONS, Never, |core, request, parsed| Box::pin(
        run(core, request, &parsed.args)
    ));

pub async fn run(core: &Core, request: &Request, args: &Args) -> CommandResult {
    let query = args.text("service").unwrap_or_default();
    let service = match resolve::resolve(core, query, &Kind::OWNED).await? {
        Resolved::One(row) => *row,
        other => return Ok(resolve::unresolved_reply(&other, query, "page", "service")),
    };
    let Some(reason) = args.text("reason").map(str::trim).filter(|r| !r.is_empty()) else {
        // The reason is asked for where it's typed: a modal on Slack, a
        // text field on Discord, the next line at the console.
        let command = format!("page {}", service.command_ref());
        let mut reply = Reply::new().section(
            Text::plain("What's wrong? One line for the person you page, e.g. ")
                .add_code(format!("{command} checkout returns 500s")),
        );
        reply.form = Some(Form {
            id: format!("page:{}", service.id),
            title: format!("Page {}", service.name),
            text_input: Some(TextInput {
                label: "What's wrong?".into(),
                initial: None,
            }),
            error: None,
            finished: false,
            fields: Vec::new(),
            error_field: None,
            submit: None,
        });
        return Ok(reply.expect_text(command));
    };
    if reason.chars().count() > 300 {
        return Ok(Reply::text(
            "Keep the reason to one line (under 300 characters): the details go in the incident.",
        ));
    }
    let Some(person) = &request.actor.person else {
        return Ok(Reply::text(
            "Paging is for people in the catalog, and I can't match you to anyone in it — nothing was paged. Ask your usher admins to add you, or page through your paging tool directly.",
        ));
    };
    if !allowed(core, request).await? {
        return Ok(Reply::text(format!(
            "Only members of {} (and usher admins) may page from usher — nothing was paged.",
            core.config.oncall.pagers.join(", ")
        )));
    }
    let now = core.clock.now();
    let (by_user, by_service) =
        paging::recent_pages(&core.pool, &person.key, &service.key, now).await?;
    if by_user >= core.config.oncall.pages_per_user_per_hour {
        return Ok(Reply::text(format!(
            "You've paged {by_user} times in the last hour, the limit (oncall.pages_per_user_per_hour) — nothing was paged. If this is a real emergency, use your paging tool directly."
        )));
    }
    if by_service >= core.config.oncall.pages_per_service_per_hour {
        return Ok(Reply::text(format!(
            "{} has been paged {by_service} times in the last hour, the limit (oncall.pages_per_service_per_hour) — nothing was paged. The on-call person already knows.",
            service.short()
        )));
    }
    let view = lookup_for(core, &service).await?;
    let on_call = match (&view.paging, &view.lookup) {
        (Source::Native { .. }, Lookup::Answer(a)) => a.primary().and_then(|r| r.person.clone()),
        _ => None,
    };
    // Named only when the page goes where the answer came from.
    let who = match &view.lookup {
        Lookup::Answer(a) | Lookup::Stale { answer: a, .. } if view.paging == view.source => {
            a.primary().map(|r| r.name.clone())
        }
        _ => None,
    }
    .unwrap_or_else(|| "the on-call person".to_string());
    let outcome = paging::page(
        &core.pool,
        core.config.outbox.max_attempts,
        &view.paging,
        &service,
        view.team.as_ref(),
        on_call.as_deref(),
        reason,
        &person.key,
        now,
    )
    .await?;
    // An usher rotation is paged through chat: say so when this process
    // can't post anywhere (the console, or no bot token).
    let undeliverable = matches!(view.paging, Source::Native { .. })
        && core
            .config
            .hygiene
            .deliver_on
            .as_ref()
            .is_some_and(Vec::is_empty);
    Ok(match outcome {
        Paged::Sent { dedup_key, .. } if undeliverable => Reply::new()
            .section(Text::new().add_plain("Queued a page for ").add_bold(who).add_plain(format!(": “{reason}”.")))
            .context(Text::plain(format!(
                "It is delivered by chat (the team's channel and a direct message), which this usher can't post to — it goes out as soon as an `usher serve` with Slack or Discord runs. In an emergency, call them. Incident key {dedup_key}."
            ))),
        Paged::Sent { via, dedup_key } => Reply::new()
            .section(Text::new().add_plain("Paging ").add_bold(who).add_plain(format!(" via {via}: “{reason}”.")))
            .context(Text::plain(format!(
                "Incident key {dedup_key}. Recorded in the audit log; pressing again with the same reason won't page twice."
            ))),
        Paged::AlreadySent { via } => Reply::text(format!(
            "{} was already paged via {via} for this a moment ago — not paged again.",
            service.short()
        )),
        Paged::Refused(why) => Reply::text(format!("{why} Nothing was paged.")),
    })
}

/// Anyone in the catalog, unless `oncall.pagers` names the teams.
async fn allowed(core: &Core, request: &Request) -> Result<bool, sqlx::Error> {
    if core.config.oncall.pagers.is_empty() || core.is_admin(request) {
        return Ok(true);
    }
    let Some(person) = &request.actor.person else {
        return Ok(false);
    };
    let teams: Vec<String> = core
        .config
        .oncall
        .pagers
        .iter()
        .filter_map(|g| {
            EntityRef::parse(g, Some(Kind::Group), "default")
                .ok()
                .map(|r| r.key())
        })
        .collect();
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM entities u WHERE u.ref = $1 AND (
             u.id IN (SELECT source_id FROM relations WHERE type = 'memberOf' AND target_ref = ANY($2))
             OR u.ref IN (SELECT r.target_ref FROM relations r JOIN entities g ON g.id = r.source_id
                          WHERE g.ref = ANY($2) AND r.type = 'hasMember')))",
    )
    .bind(&person.key)
    .bind(&teams)
    .fetch_one(&core.pool)
    .await
}
