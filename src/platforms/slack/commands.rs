//! Slash commands: `/usher owner payments-api`, and the commands' own
//! slash commands from `commands/` (`/whoowns payments-api`).
//!
//! Slack waits 3 seconds for the answer. An answer ready within
//! `inline_ms` goes back in the response; a slower one is acknowledged at
//! once with "still looking…" and posted to the command's `response_url`
//! through the outbox when ready. A dialogue opens as a modal with the
//! command's `trigger_id`, which is only good for those 3 seconds.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use slack_morphism::prelude::*;

use super::SlackApp;
use super::render::{self, FormState};
use crate::actions::jobs::SlackResponse;
use crate::chat::{Platform, Reply, Request};
use crate::commands::{self, definitions};

/// The command line a slash command means.
pub fn command_line(root: &str, command: &str, text: &str) -> String {
    let text = text.trim();
    let word = command.trim_start_matches('/');
    if command.eq_ignore_ascii_case(root) || word.eq_ignore_ascii_case(root.trim_start_matches('/'))
    {
        return if text.is_empty() {
            "help".into()
        } else {
            text.to_string()
        };
    }
    match definitions::by_slash(word) {
        Some(def) if text.is_empty() => format!("help {}", def.name),
        Some(def) => format!("{} {text}", def.name),
        // A slash command we don't know (renamed in Slack?): the text alone.
        None if text.is_empty() => "help".into(),
        None => text.to_string(),
    }
}

fn ephemeral(rendered: &render::Rendered) -> SlackCommandEventResponse {
    SlackCommandEventResponse::new(rendered.content())
        .with_response_type(SlackMessageResponseType::Ephemeral)
}

/// Handles one slash command within Slack's deadline.
pub async fn handle(app: &Arc<SlackApp>, event: SlackCommandEvent) -> SlackCommandEventResponse {
    let team = event.team_id.to_string();
    if !app.serves(&team) {
        tracing::info!(team = %team, "Slack: refused a command from a workspace not on the list");
        return ephemeral(&render::notice(&app.refusal(&team)));
    }
    let line = command_line(
        &app.config.command,
        event.command.as_ref(),
        event.text.as_deref().unwrap_or_default(),
    );
    // A question answered twice harms nobody; anything that acts, once.
    if !commands::only_asks(&line)
        && !crate::platforms::replay::first_time(&app.core.pool, "slack", event.trigger_id.as_ref())
            .await
    {
        return ephemeral(&render::notice(crate::platforms::replay::REPLAYED));
    }
    let work = {
        let app = app.clone();
        let user = event.user_id.to_string();
        let channel = event.channel_id.to_string();
        let line = line.clone();
        tokio::spawn(async move {
            let actor = app.identity.actor(&user, None).await;
            let request = Request {
                actor,
                platform: Platform::Slack,
                workspace: Some(team),
                channel: Some(channel),
                text: line,
            };
            let reply = commands::handle(&app.core, &request).await;
            (request, reply)
        })
    };
    let mut work = work;
    let deadline = Duration::from_millis(app.config.inline_ms);
    match tokio::time::timeout(deadline, &mut work).await {
        Ok(Ok((request, reply))) => answer_now(app, &event, &request, reply).await,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Slack: a command panicked");
            ephemeral(&render::notice(
                "Something went wrong answering that. Try again in a moment; if it keeps happening, tell your usher admins.",
            ))
        }
        Err(_) => {
            let app = app.clone();
            let url = event.response_url.0.to_string();
            tokio::spawn(async move {
                let (line, reply) = match work.await {
                    Ok((request, reply)) => (request.text, reply),
                    Err(_) => (
                        String::new(),
                        Reply::text("Something went wrong answering that. Try again in a moment."),
                    ),
                };
                let share = shareable(&reply).then_some(line.as_str());
                let rendered = render::message(&reply, share);
                if let Err(e) = respond(&app, &url, &rendered, response_type(&reply), false).await {
                    tracing::error!(error = %e, "Slack: could not queue a late answer");
                }
            });
            ephemeral(&render::notice(
                "⏳ Still looking… the answer will follow here in a moment.",
            ))
        }
    }
}

/// Whether a reply gets a "Share in channel" button.
pub fn shareable(reply: &Reply) -> bool {
    reply.expects.is_none() && reply.form.is_none()
}

pub fn response_type(reply: &Reply) -> SlackMessageResponseType {
    match reply.visibility {
        crate::chat::Visibility::Public => SlackMessageResponseType::InChannel,
        crate::chat::Visibility::Ephemeral => SlackMessageResponseType::Ephemeral,
    }
}

/// The inline answer: a modal for a dialogue, else the message.
async fn answer_now(
    app: &Arc<SlackApp>,
    event: &SlackCommandEvent,
    request: &Request,
    reply: Reply,
) -> SlackCommandEventResponse {
    if reply.form.as_ref().is_some_and(|f| !f.finished) {
        let state = FormState {
            channel: request.channel.clone(),
            ..FormState::default()
        };
        return match open_form(app, event.trigger_id.as_ref(), &reply, &state).await {
            Ok(()) => ephemeral(&render::notice(
                "📝 Opened the form — it's in a window on your screen.",
            )),
            Err(why) => ephemeral(&render::notice(&format!(
                "I couldn't open the form ({why}). Run `{} {}` again to retry.",
                app.config.command, request.text
            ))),
        };
    }
    let share = shareable(&reply).then_some(request.text.as_str());
    let rendered = render::message(&reply, share);
    if let Err(e) = crate::platforms::values::store(&app.core.pool, &rendered.long_values).await {
        tracing::warn!(error = %e, "Slack: storing long button values failed");
    }
    SlackCommandEventResponse::new(rendered.content()).with_response_type(response_type(&reply))
}

/// Opens a dialogue step as a modal.
pub async fn open_form(
    app: &SlackApp,
    trigger_id: &str,
    reply: &Reply,
    state: &FormState,
) -> Result<(), String> {
    let Some(api) = &app.api else {
        return Err("usher has no SLACK_BOT_TOKEN to open forms with".into());
    };
    let (view, long) = render::modal(reply, state);
    crate::platforms::values::store(&app.core.pool, &long)
        .await
        .map_err(|e| e.to_string())?;
    api.views_open(trigger_id, view)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// How long an acknowledged request's answer waits for the database to come
/// back before it is given up (logged).
const PROMISED_PATIENCE: Duration = Duration::from_secs(20);

/// Queues a post to a `response_url` (late answers, button results).
pub async fn respond(
    app: &SlackApp,
    response_url: &str,
    rendered: &render::Rendered,
    response_type: SlackMessageResponseType,
    replace_original: bool,
) -> Result<(), sqlx::Error> {
    crate::db::while_unavailable(PROMISED_PATIENCE, || {
        crate::platforms::values::store(&app.core.pool, &rendered.long_values)
    })
    .await?;
    let body = json!({
        "text": rendered.text,
        "blocks": rendered.blocks,
        "response_type": response_type,
        "replace_original": replace_original,
    });
    respond_raw(app, response_url, body).await
}

/// Queues a raw `response_url` body (e.g. `{"delete_original": true}`).
pub async fn respond_raw(
    app: &SlackApp,
    response_url: &str,
    body: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let key = super::fresh_key("respond");
    let response = SlackResponse {
        url: response_url.to_string(),
        body,
    };
    let job = crate::actions::outbox::NewJob::new("response_url", &response, key);
    // Slack was told "got it" already: a database restart mid-way must
    // delay the answer, not lose it.
    crate::db::while_unavailable(PROMISED_PATIENCE, || app.enqueue(job.clone())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash_commands_map_to_command_lines() {
        assert_eq!(command_line("/usher", "/usher", "owner x"), "owner x");
        assert_eq!(command_line("/usher", "/usher", "  "), "help");
        assert_eq!(
            command_line("/usher", "/whoowns", "payments-api"),
            "owner payments-api"
        );
        assert_eq!(
            command_line("/usher", "/oncall", "checkout"),
            "oncall checkout"
        );
        assert_eq!(command_line("/usher", "/oncall", ""), "help oncall");
        assert_eq!(command_line("/catalog", "/catalog", "team x"), "team x");
    }
}
