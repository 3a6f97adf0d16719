//! Buttons, selects, typeaheads and modal submissions.
//!
//! A click runs the command line its element carries, as the person who
//! clicked — permissions are checked again by the core on every run, never
//! taken from the button. Slack wants the click acknowledged within 3
//! seconds, so the work runs after the acknowledgement and its result goes
//! to the click's `response_url` (a message) or `views.update` (a modal).
//! A modal's submission is answered in the response itself: the next step
//! (`response_action: update`), or the field's error (`errors`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use slack_morphism::prelude::*;

use super::SlackApp;
use super::commands::{open_form, respond, respond_raw, response_type, shareable};
use super::render::{self, ANSWER, FormState, LINK, NOOP, SHARE, TYPEAHEAD};
use crate::chat::{Platform, Reply, Request};
use crate::commands::{self, complete, definitions::Completion};
use crate::platforms::values;

/// Handles one interaction; what Slack gets back at once.
pub async fn handle(app: &Arc<SlackApp>, event: SlackInteractionEvent) -> SlackInteractionResponse {
    let trigger = match &event {
        SlackInteractionEvent::BlockActions(e) => Some(e.trigger_id.to_string()),
        SlackInteractionEvent::ViewSubmission(e) => e.trigger_id.as_ref().map(|t| t.to_string()),
        _ => None, // suggestions change nothing
    };
    if let Some(trigger) = trigger
        && !crate::platforms::replay::first_time(&app.core.pool, "slack", &trigger).await
    {
        return SlackInteractionResponse::Empty;
    }
    match event {
        SlackInteractionEvent::BlockActions(e) => {
            block_actions(app, e).await;
            SlackInteractionResponse::Empty
        }
        SlackInteractionEvent::BlockSuggestion(e) => {
            SlackInteractionResponse::BlockSuggestion(options(app, &e).await)
        }
        SlackInteractionEvent::ViewSubmission(e) => view_submission(app, e).await,
        _ => SlackInteractionResponse::Empty,
    }
}

/// The actor for the user of an interaction (their own workspace is in
/// the payload, which tells Slack Connect guests apart).
async fn actor_of(app: &SlackApp, user: &SlackBasicUserInfo) -> crate::chat::Actor {
    app.identity
        .actor(
            user.id.as_ref(),
            user.team_id.as_ref().map(|t| t.0.as_str()),
        )
        .await
}

/// What a clicked element asks for.
#[derive(Debug, PartialEq, Eq)]
enum Click {
    Run(String),
    Share(String),
    /// The "… and N more" option of a long list.
    Narrow,
    Nothing,
    /// A value we can't read (a pruned long value): say so.
    Expired,
}

async fn read_click(app: &SlackApp, action: &SlackInteractionActionInfo) -> Click {
    let id = action.action_id.to_string();
    let kind = id.split(':').next().unwrap_or_default();
    if kind == LINK {
        return Click::Nothing;
    }
    let raw = action
        .selected_option
        .as_ref()
        .map(|o| o.value.clone())
        .or_else(|| action.value.clone());
    let Some(raw) = raw else {
        return Click::Nothing;
    };
    if raw == NOOP || kind == NOOP {
        return Click::Narrow;
    }
    let command = match values::decode(&app.core.pool, &raw).await {
        Ok(Some(c)) => c,
        Ok(None) => return Click::Expired,
        Err(e) => {
            tracing::warn!(error = %e, "Slack: reading a stored value failed");
            return Click::Expired;
        }
    };
    if kind == SHARE {
        Click::Share(command)
    } else {
        Click::Run(command)
    }
}

/// A button or select was used.
async fn block_actions(app: &Arc<SlackApp>, event: SlackInteractionBlockActionsEvent) {
    let team = event.team.id.to_string();
    let response_url = event.response_url.as_ref().map(|u| u.0.to_string());
    if !app.serves(&team) {
        if let Some(url) = &response_url {
            let _ = respond(
                app,
                url,
                &render::notice(&app.refusal(&team)),
                SlackMessageResponseType::Ephemeral,
                false,
            )
            .await;
        }
        return;
    }
    let Some(user) = event.user.clone() else {
        return;
    };
    let Some(action) = event.actions.as_ref().and_then(|a| a.first()).cloned() else {
        return;
    };
    let click = read_click(app, &action).await;
    let app = app.clone();
    // Acknowledge now; the work follows.
    tokio::spawn(async move {
        let channel = event
            .channel
            .as_ref()
            .map(|c| c.id.to_string())
            .or_else(|| match &event.container {
                SlackInteractionActionContainer::Message(m) => {
                    m.channel_id.as_ref().map(|c| c.to_string())
                }
                _ => None,
            });
        let actor = actor_of(&app, &user).await;
        let notice = match &click {
            Click::Expired => Some(
                "That button is too old to use. Ask again (run the command once more) and use the new one.",
            ),
            Click::Narrow => Some(
                "There are too many to list them all. Type more of the name, e.g. `owner pay` or `search pay`.",
            ),
            _ => None,
        };
        if let Some(notice) = notice {
            let reply = Reply::text(notice);
            deliver(
                &app,
                &event,
                channel.as_deref(),
                user.id.as_ref(),
                reply,
                None,
            )
            .await;
            return;
        }
        let (line, share) = match click {
            Click::Nothing | Click::Expired | Click::Narrow => return,
            Click::Run(line) => (line, false),
            Click::Share(line) => (line, true),
        };
        let request = Request {
            actor,
            platform: Platform::Slack,
            workspace: Some(team),
            channel: channel.clone(),
            text: line.clone(),
        };
        let mut reply = commands::handle(&app.core, &request).await;
        if share {
            // Posted for everyone, and the private copy removed.
            reply.visibility = crate::chat::Visibility::Public;
            if let Some(url) = &response_url {
                let shared = render::message(&reply, None);
                let _ = respond(
                    &app,
                    url,
                    &shared,
                    SlackMessageResponseType::InChannel,
                    false,
                )
                .await;
                let _ =
                    respond_raw(&app, url, serde_json::json!({ "delete_original": true })).await;
            }
            return;
        }
        deliver(
            &app,
            &event,
            channel.as_deref(),
            user.id.as_ref(),
            reply,
            Some(&line),
        )
        .await;
    });
}

/// Shows the result of a click where the click happened: the modal it
/// came from, a new modal for a dialogue, or a message below.
async fn deliver(
    app: &Arc<SlackApp>,
    event: &SlackInteractionBlockActionsEvent,
    channel: Option<&str>,
    user: &str,
    reply: Reply,
    line: Option<&str>,
) {
    if let SlackInteractionActionContainer::View(container) = &event.container {
        let state = event
            .view
            .as_ref()
            .and_then(|v| match v {
                SlackView::Modal(m) => m.private_metadata.as_deref(),
                SlackView::Home(h) => h.private_metadata.as_deref(),
            })
            .and_then(|m| serde_json::from_str::<FormState>(m).ok())
            .unwrap_or_default();
        let hash = event.view.as_ref().and_then(|v| match v {
            SlackView::Modal(m) => m.hash.clone(),
            SlackView::Home(_) => None,
        });
        update_form(
            app,
            container.view_id.as_ref(),
            hash.as_deref(),
            &reply,
            &state,
        )
        .await;
        return;
    }
    if reply.form.as_ref().is_some_and(|f| !f.finished) {
        let state = FormState {
            channel: channel.map(str::to_string),
            ..FormState::default()
        };
        match open_form(app, event.trigger_id.as_ref(), &reply, &state).await {
            Ok(()) => return,
            Err(why) => {
                let notice =
                    render::notice(&format!("I couldn't open the form ({why}). Try again."));
                post(
                    app,
                    event,
                    channel,
                    user,
                    &notice,
                    SlackMessageResponseType::Ephemeral,
                )
                .await;
                return;
            }
        }
    }
    let share = line.filter(|_| shareable(&reply));
    let rendered = render::message(&reply, share);
    post(app, event, channel, user, &rendered, response_type(&reply)).await;
}

/// A message below the clicked one: through `response_url`, else as an
/// ephemeral message to the person who clicked.
async fn post(
    app: &Arc<SlackApp>,
    event: &SlackInteractionBlockActionsEvent,
    channel: Option<&str>,
    user: &str,
    rendered: &render::Rendered,
    kind: SlackMessageResponseType,
) {
    if let Some(url) = &event.response_url {
        if let Err(e) = respond(app, url.0.as_str(), rendered, kind, false).await {
            tracing::error!(error = %e, "Slack: could not queue the answer to a click");
        }
        return;
    }
    let (Some(api), Some(channel)) = (&app.api, channel) else {
        return;
    };
    let _ = values::store(&app.core.pool, &rendered.long_values).await;
    if let Err(e) = api.post_ephemeral(channel, user, rendered.content()).await {
        tracing::warn!(error = %e, "Slack: could not answer a click");
    }
}

/// Replaces a modal's content with `reply`.
async fn update_form(
    app: &SlackApp,
    view_id: &str,
    hash: Option<&str>,
    reply: &Reply,
    state: &FormState,
) {
    let Some(api) = &app.api else {
        return;
    };
    let (view, long) = render::modal(reply, state);
    let _ = values::store(&app.core.pool, &long).await;
    match api.views_update(view_id, hash, view.clone()).await {
        Ok(_) => {}
        // Someone (another click) changed it meanwhile: ours is newer.
        Err(e) if e.code() == Some("hash_conflict") => {
            if let Err(e) = api.views_update(view_id, None, view).await {
                tracing::warn!(error = %e, "Slack: could not update a form");
            }
        }
        Err(e) => tracing::warn!(error = %e, "Slack: could not update a form"),
    }
}

/// A modal's Next: the typed answer goes to the dialogue; the answer to
/// Slack is the next step, or the field's error.
async fn view_submission(
    app: &Arc<SlackApp>,
    event: SlackInteractionViewSubmissionEvent,
) -> SlackInteractionResponse {
    let team = event.team.id.to_string();
    if !app.serves(&team) {
        return SlackInteractionResponse::Empty;
    }
    let (state, view_id) = match &event.view.view {
        SlackView::Modal(m) => (
            m.private_metadata
                .as_deref()
                .and_then(|m| serde_json::from_str::<FormState>(m).ok())
                .unwrap_or_default(),
            event.view.state_params.id.to_string(),
        ),
        SlackView::Home(_) => return SlackInteractionResponse::Empty,
    };
    let Some(expects) = state.expects.clone() else {
        return clear();
    };
    let values = event.view.state_params.state.as_ref().map(|s| &s.values);
    // A several-field form: each answered field becomes `--name value`.
    let answers: Vec<(String, String)> = values
        .into_iter()
        .flatten()
        .filter_map(|(block, actions)| {
            let name = block.as_ref().strip_prefix(render::FIELD)?;
            let state = actions.get(&SlackActionId::new(block.to_string()))?;
            let value = state
                .selected_option
                .as_ref()
                .map(|o| o.value.clone())
                .or_else(|| state.value.clone())?;
            Some((name.to_string(), value))
        })
        .collect();
    let line = if answers.is_empty() {
        let typed = values
            .and_then(|v| v.get(&SlackBlockId::new(ANSWER.to_string())))
            .and_then(|b| b.get(&SlackActionId::new(ANSWER.to_string())))
            .and_then(|v| v.value.clone())
            .unwrap_or_default();
        format!("{expects} {}", typed.trim())
    } else {
        crate::chat::filled_line(&expects, &answers)
    };
    let work = {
        let app = app.clone();
        let user = event.user.clone();
        let channel = state.channel.clone();
        tokio::spawn(async move {
            let actor = actor_of(&app, &user).await;
            let request = Request {
                actor,
                platform: Platform::Slack,
                workspace: Some(team),
                channel,
                text: line,
            };
            commands::handle(&app.core, &request).await
        })
    };
    let mut work = work;
    match tokio::time::timeout(Duration::from_millis(app.config.inline_ms), &mut work).await {
        Ok(Ok(reply)) => submission_answer(app, &reply, &state).await,
        Ok(Err(_)) => clear(),
        Err(_) => {
            // Slow: show "still working" now, the next step when ready.
            let app = app.clone();
            let state2 = state.clone();
            tokio::spawn(async move {
                if let Ok(reply) = work.await {
                    update_form(&app, &view_id, None, &reply, &state2).await;
                }
            });
            SlackInteractionResponse::ViewSubmission(SlackViewSubmissionResponse::Update(
                SlackViewSubmissionUpdateResponse::new(render::waiting_modal(&state)),
            ))
        }
    }
}

async fn submission_answer(
    app: &SlackApp,
    reply: &Reply,
    state: &FormState,
) -> SlackInteractionResponse {
    if let Some(form) = &reply.form
        && let Some(error) = &form.error
        && (form.text_input.is_some() || form.error_field.is_some())
    {
        let block = match &form.error_field {
            Some(field) => render::field_id(field),
            None => ANSWER.to_string(),
        };
        let mut errors = HashMap::new();
        errors.insert(block, render::plain(error, 150));
        return SlackInteractionResponse::ViewSubmission(SlackViewSubmissionResponse::Errors(
            SlackViewSubmissionErrorsResponse::new(errors),
        ));
    }
    let (view, long) = render::modal(reply, state);
    let _ = values::store(&app.core.pool, &long).await;
    SlackInteractionResponse::ViewSubmission(SlackViewSubmissionResponse::Update(
        SlackViewSubmissionUpdateResponse::new(view),
    ))
}

fn clear() -> SlackInteractionResponse {
    SlackInteractionResponse::ViewSubmission(SlackViewSubmissionResponse::Clear(
        SlackViewSubmissionClearResponse::new(),
    ))
}

/// Options for a typeahead: catalog names matching what was typed, each
/// running `<command> <name>` when picked.
pub async fn options(
    app: &SlackApp,
    event: &SlackInteractionBlockSuggestionEvent,
) -> SlackBlockSuggestionResponse {
    let id = event.action_id.to_string();
    let command = id
        .strip_prefix(TYPEAHEAD)
        .and_then(|r| r.strip_prefix(':'))
        .unwrap_or("owner")
        .to_string();
    let mut items = Vec::new();
    if app.serves(event.team.id.as_ref()) {
        match complete::complete(&app.core, Completion::Service, &event.value).await {
            Ok(choices) => {
                let mut long = Vec::new();
                for choice in choices {
                    let (value, stored) = values::encode(
                        &format!("{command} {}", choice.value),
                        render::MAX_OPTION_VALUE,
                    );
                    long.extend(stored);
                    items.push(SlackBlockChoiceItem::new(
                        render::plain(&choice.label, render::MAX_OPTION_TEXT).into(),
                        value,
                    ));
                }
                let _ = values::store(&app.core.pool, &long).await;
            }
            Err(e) => tracing::warn!(error = %e, "Slack: typeahead lookup failed"),
        }
    }
    SlackBlockSuggestionResponse::Options(SlackBlockSuggestionOptions::new(items))
}
