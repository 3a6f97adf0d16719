//! Interactions — application commands, autocomplete, buttons and selects,
//! modal submissions — whichever way they arrive (HTTP or the gateway),
//! answered within Discord's 3 seconds.
//!
//! An answer ready within `inline_ms` is the response itself; a slower one
//! is deferred (type 5, ephemeral when answers are) and follows through the
//! outbox as an edit of the deferred response (`discord.followup`), within
//! the token's 15 minutes. A click runs the command line its component
//! carries, as the person who clicked — permissions are checked again by
//! the core on every run, never taken from the component.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use serenity::model::application::{
    ActionRowComponent, CommandDataOption, CommandDataOptionValue, CommandInteraction,
    ComponentInteraction, ComponentInteractionDataKind, Interaction, ModalInteraction,
};
use serenity::model::user::User;

use super::DiscordApp;
use super::registration::{self, OptionValue};
use super::render::{self, INPUT, NOOP, RUN, SHARE, TYPEAHEAD};
use crate::actions::jobs::{DiscordFollowup, Payload};
use crate::chat::{FormField, Platform, Reply, Request, Visibility};
use crate::commands::{self, complete, definitions};
use crate::platforms::values;

/// Interaction callback types.
const PONG: u8 = 1;
const MESSAGE: u8 = 4;
const DEFERRED_MESSAGE: u8 = 5;
const UPDATE_MESSAGE: u8 = 7;
const AUTOCOMPLETE_RESULT: u8 = 8;
const MODAL: u8 = 9;

/// The response to an interaction (the body of its callback).
pub fn response(kind: u8, data: Option<Value>) -> Value {
    match data {
        Some(data) => json!({ "type": kind, "data": data }),
        None => json!({ "type": kind }),
    }
}

/// Reads an interaction leniently: serenity's model first; if that
/// refuses it (a component type newer than serenity, such as the Label
/// (18) that wraps inputs in newer modals), the components are put in the
/// shape serenity knows — labels unwrapped into action rows, unknown
/// components dropped — and it is read again. Unknown fields are ignored
/// anyway, so what Discord adds tomorrow doesn't break usher.
pub fn parse(body: &[u8]) -> Result<Interaction, String> {
    let first = match serde_json::from_slice::<Interaction>(body) {
        Ok(i) => return Ok(i),
        Err(e) => e.to_string(),
    };
    let mut value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    // `pointer_mut`, not `value["data"]`: indexing a body that isn't an
    // object (a signed `[[…]]`) by key would panic.
    for path in ["/data/components", "/message/components"] {
        if let Some(rows) = value.pointer_mut(path).and_then(Value::as_array_mut) {
            normalize_rows(rows);
        }
    }
    serde_json::from_value(value).map_err(|_| first)
}

/// Components serenity 0.12 reads inside an action row.
const KNOWN_IN_ROW: &[u64] = &[2, 3, 4, 5, 6, 7, 8];

fn normalize_rows(rows: &mut Vec<Value>) {
    let taken = std::mem::take(rows);
    for row in taken {
        let inner: Vec<Value> = match row["type"].as_u64() {
            Some(1) => row["components"].as_array().cloned().unwrap_or_default(),
            // A label (or another wrapper) holding one component.
            _ if row.get("component").is_some() => vec![row["component"].clone()],
            _ => continue,
        };
        let kept: Vec<Value> = inner
            .into_iter()
            .filter(|c| {
                c["type"]
                    .as_u64()
                    .is_some_and(|t| KNOWN_IN_ROW.contains(&t))
            })
            .map(|mut c| {
                // A select submitted in a modal carries values, not options.
                if c["type"] == 3 && c.get("options").is_none() {
                    c["options"] = json!([]);
                }
                c
            })
            .collect();
        if !kept.is_empty() {
            rows.push(json!({ "type": 1, "components": kept }));
        }
    }
}

/// Handles one interaction; returns the callback body.
pub async fn handle(app: &Arc<DiscordApp>, interaction: Interaction) -> Value {
    let id = match &interaction {
        // A question answered twice harms nobody; anything that acts, once.
        Interaction::Command(c)
            if commands::only_asks(&registration::command_line(
                &app.config.command,
                &c.data.name,
                &flatten(&c.data.options),
            )) =>
        {
            None
        }
        Interaction::Command(c) => Some(c.id.get()),
        Interaction::Component(c) => Some(c.id.get()),
        Interaction::Modal(m) => Some(m.id.get()),
        _ => None, // pings and autocomplete change nothing
    };
    if let Some(id) = id
        && !crate::platforms::replay::first_time(&app.core.pool, "discord", &id.to_string()).await
    {
        return response(
            MESSAGE,
            Some(render::notice(crate::platforms::replay::REPLAYED)),
        );
    }
    match interaction {
        Interaction::Ping(_) => response(PONG, None),
        Interaction::Command(c) => command(app, c).await,
        Interaction::Autocomplete(c) => autocomplete(app, &c).await,
        Interaction::Component(c) => component(app, c).await,
        Interaction::Modal(m) => modal_submit(app, m).await,
        _ => response(
            MESSAGE,
            Some(render::notice("usher doesn't handle that yet.")),
        ),
    }
}

fn display_name(user: &User) -> String {
    user.global_name
        .clone()
        .unwrap_or_else(|| user.name.clone())
}

/// Whether the interaction may be answered; the refusal otherwise.
async fn admitted(
    app: &DiscordApp,
    guild: Option<u64>,
    user: &User,
) -> Result<crate::chat::Actor, Value> {
    let actor = app
        .identity
        .actor(&user.id.get().to_string(), &display_name(user))
        .await;
    match guild {
        Some(guild) if !app.serves(guild) => {
            tracing::info!(
                guild,
                "Discord: refused an interaction from a guild not on the list"
            );
            Err(response(MESSAGE, Some(render::notice(&app.refusal(guild)))))
        }
        None if !app.config.guilds.is_empty() && actor.person.is_none() => Err(response(
            MESSAGE,
            Some(render::notice(
                "Sorry — in direct messages usher only answers people in the catalog. Ask in one of your organisation's servers, or link your account there with `/usher me-link`.",
            )),
        )),
        _ => Ok(actor),
    }
}

/// Flattens serenity's options into names and values.
pub fn flatten(options: &[CommandDataOption]) -> Vec<(String, OptionValue)> {
    options
        .iter()
        .filter_map(|o| {
            let value = match &o.value {
                CommandDataOptionValue::String(s) => OptionValue::Text(s.clone()),
                CommandDataOptionValue::Autocomplete { value, .. } => {
                    OptionValue::Text(value.clone())
                }
                CommandDataOptionValue::Integer(n) => OptionValue::Integer(*n),
                CommandDataOptionValue::Number(n) => OptionValue::Integer(*n as i64),
                CommandDataOptionValue::Boolean(b) => OptionValue::Bool(*b),
                CommandDataOptionValue::SubCommand(inner)
                | CommandDataOptionValue::SubCommandGroup(inner) => {
                    OptionValue::Sub(flatten(inner))
                }
                CommandDataOptionValue::User(id) => OptionValue::Text(id.get().to_string()),
                CommandDataOptionValue::Channel(id) => OptionValue::Text(id.get().to_string()),
                _ => return None,
            };
            Some((o.name.clone(), value))
        })
        .collect()
}

/// How an interaction asked for its command line, which decides how the
/// answer is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// A slash command.
    Command,
    /// A button or a select.
    Click,
    /// "Share in channel": the answer again, for everyone.
    Share,
    /// A modal's submission.
    Submit,
}

/// A request from Discord.
fn request_from(
    actor: crate::chat::Actor,
    guild: Option<u64>,
    channel: serenity::all::ChannelId,
    text: String,
) -> Request {
    Request {
        actor,
        platform: Platform::Discord,
        workspace: guild.map(|g| g.to_string()),
        channel: Some(channel.get().to_string()),
        text,
    }
}

/// Runs a command line as `actor`, answering inline when quick and
/// deferring otherwise. A dialogue's next step, clicked or submitted,
/// replaces the message it came from; a several-field form asked for by a
/// command or a click opens as a modal at once (a modal can't answer a
/// modal's submission).
async fn run_within_deadline(
    app: &Arc<DiscordApp>,
    request: Request,
    (application_id, token): (u64, String),
    asked: Asked,
) -> Value {
    let share = asked == Asked::Share;
    let update =
        matches!(asked, Asked::Click | Asked::Submit) && request.text.starts_with("dialog ");
    let may_open_form = matches!(asked, Asked::Command | Asked::Click);
    let work = {
        let app = app.clone();
        tokio::spawn(async move {
            let reply = commands::handle(&app.core, &request).await;
            if request.text.starts_with("me link") {
                // A new link: who this is changes now, not in a minute.
                app.identity.forget(&request.actor.platform_user);
            }
            (request, reply)
        })
    };
    let mut work = work;
    let deadline = Duration::from_millis(app.config.inline_ms);
    match tokio::time::timeout(deadline, &mut work).await {
        Ok(Ok((request, mut reply))) => {
            if may_open_form && let Some(modal) = form_modal(app, &reply).await {
                return response(MODAL, Some(modal));
            }
            if share {
                reply.visibility = Visibility::Public;
            }
            answer(app, &request, &reply, update).await
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Discord: a command panicked");
            response(
                MESSAGE,
                Some(render::notice(
                    "Something went wrong answering that. Try again in a moment; if it keeps happening, tell your usher admins.",
                )),
            )
        }
        Err(_) => {
            let app = app.clone();
            tokio::spawn(async move {
                let (line, mut reply) = match work.await {
                    Ok((request, reply)) => (request.text, reply),
                    Err(_) => (
                        String::new(),
                        Reply::text("Something went wrong answering that. Try again in a moment."),
                    ),
                };
                if share {
                    reply.visibility = Visibility::Public;
                }
                let rendered = render::message(&reply, shareable(&reply).then_some(line.as_str()));
                if let Err(e) = follow_up(&app, application_id, &token, rendered).await {
                    tracing::error!(error = %e, "Discord: could not queue a late answer");
                }
            });
            let flags = if share { 0 } else { render::EPHEMERAL };
            response(DEFERRED_MESSAGE, Some(json!({ "flags": flags })))
        }
    }
}

/// A reply that is a several-field form (hygiene's "Fix now"), as the
/// modal itself: the click or command opens it at once. (Discord lets an
/// interaction answer with a modal only as its first answer, and never to
/// a modal's submission — those get the form as a message with a button.)
async fn form_modal(app: &DiscordApp, reply: &Reply) -> Option<Value> {
    // A form with an error goes as a message, which can say what's wrong.
    let form = reply
        .form
        .as_ref()
        .filter(|f| !f.finished && !f.fields.is_empty() && f.error.is_none())?;
    let submit = form.submit.as_ref()?;
    let (value, long) = values::encode(submit, render::MAX_CUSTOM_ID - 2);
    if let Some(long) = long {
        let _ = values::store(&app.core.pool, &[long]).await;
    }
    Some(render::fields_modal(
        &format!("m:{value}"),
        &form.title,
        &form.fields,
    ))
}

/// Whether a reply gets a "Share in channel" button.
fn shareable(reply: &Reply) -> bool {
    reply.expects.is_none() && reply.form.is_none()
}

/// The response carrying a reply.
async fn answer(app: &DiscordApp, request: &Request, reply: &Reply, update: bool) -> Value {
    let share = shareable(reply).then_some(request.text.as_str());
    let rendered = render::message(reply, share);
    if let Err(e) = values::store(&app.core.pool, &rendered.long_values).await {
        tracing::warn!(error = %e, "Discord: storing long component values failed");
    }
    response(
        if update { UPDATE_MESSAGE } else { MESSAGE },
        Some(rendered.body),
    )
}

/// Queues the edit of a deferred response and wakes the worker.
pub async fn follow_up(
    app: &DiscordApp,
    application_id: u64,
    token: &str,
    rendered: render::Rendered,
) -> Result<(), sqlx::Error> {
    values::store(&app.core.pool, &rendered.long_values).await?;
    let followup = DiscordFollowup {
        application_id: application_id.to_string(),
        token: token.to_string(),
        body: rendered.body,
    };
    app.enqueue(crate::actions::outbox::NewJob::new(
        "interaction",
        &followup,
        crate::platforms::slack::fresh_key(DiscordFollowup::KIND),
    ))
    .await
}

async fn command(app: &Arc<DiscordApp>, c: CommandInteraction) -> Value {
    let guild = c.guild_id.map(|g| g.get());
    let actor = match admitted(app, guild, &c.user).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal,
    };
    let options = flatten(&c.data.options);
    let line = registration::command_line(&app.config.command, &c.data.name, &options);
    let request = request_from(actor, guild, c.channel_id, line);
    run_within_deadline(
        app,
        request,
        (c.application_id.get(), c.token.clone()),
        Asked::Command,
    )
    .await
}

/// The completion source of the focused option.
fn completion_for(root: &str, c: &CommandInteraction) -> Option<(definitions::Completion, String)> {
    let path = if c.data.name == root {
        match flatten(&c.data.options).into_iter().next() {
            Some((sub, OptionValue::Sub(_))) => sub,
            _ => return None,
        }
    } else {
        c.data.name.clone()
    };
    let focused = c.data.autocomplete()?;
    let (def, sub) = registration::resolve_path(&path);
    let def = def?;
    let defs = match &sub {
        Some(sub) => &def.subcommand(sub)?.options,
        None => &def.options,
    };
    let source = defs.iter().find(|d| d.name == focused.name)?.complete?;
    Some((source, focused.value.to_string()))
}

async fn autocomplete(app: &Arc<DiscordApp>, c: &CommandInteraction) -> Value {
    let guild = c.guild_id.map(|g| g.get());
    if guild.is_some_and(|g| !app.serves(g)) {
        return response(AUTOCOMPLETE_RESULT, Some(json!({ "choices": [] })));
    }
    let choices = match completion_for(&app.config.command, c) {
        Some((source, typed)) => complete::complete(&app.core, source, &typed)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let choices: Vec<Value> = choices
        .into_iter()
        .take(complete::MAX_CHOICES)
        .map(|c| json!({ "name": render::cut(&c.label, 100), "value": render::cut(&c.value, 100) }))
        .collect();
    response(AUTOCOMPLETE_RESULT, Some(json!({ "choices": choices })))
}

/// What a component's custom id (or select value) asks for.
async fn read_custom_id(app: &DiscordApp, id: &str) -> Option<(String, String)> {
    let mut parts = id.splitn(3, ':');
    let kind = parts.next()?.to_string();
    let _n = parts.next()?;
    let raw = parts.next()?;
    match values::decode(&app.core.pool, raw).await {
        Ok(Some(line)) => Some((kind, line)),
        _ => Some((kind, String::new())),
    }
}

async fn component(app: &Arc<DiscordApp>, c: ComponentInteraction) -> Value {
    let guild = c.guild_id.map(|g| g.get());
    let actor = match admitted(app, guild, &c.user).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal,
    };
    let (kind, line) = match &c.data.kind {
        ComponentInteractionDataKind::StringSelect { values: picked } => {
            let Some(value) = picked.first() else {
                return response(MESSAGE, Some(render::notice("Nothing was picked.")));
            };
            if value == NOOP || value.starts_with("noop:") {
                return response(
                    MESSAGE,
                    Some(render::notice(
                        "There are too many to list them all. Type more of the name, e.g. `/usher owner pay`.",
                    )),
                );
            }
            match values::decode(&app.core.pool, value).await {
                Ok(Some(line)) => (RUN.to_string(), line),
                _ => (RUN.to_string(), String::new()),
            }
        }
        ComponentInteractionDataKind::Button => {
            match read_custom_id(app, &c.data.custom_id).await {
                Some(found) => found,
                None => {
                    return response(
                        MESSAGE,
                        Some(render::notice("usher doesn't know that button.")),
                    );
                }
            }
        }
        _ => {
            return response(
                MESSAGE,
                Some(render::notice("usher doesn't handle that component.")),
            );
        }
    };
    if line.is_empty() {
        return response(
            MESSAGE,
            Some(render::notice(
                "That button is too old to use. Ask again (run the command once more) and use the new one.",
            )),
        );
    }
    match kind.as_str() {
        INPUT if line.contains(render::FIELDS_SEPARATOR) => {
            let (submit, form) = line
                .split_once(render::FIELDS_SEPARATOR)
                .unwrap_or_default();
            let form: Value = serde_json::from_str(form).unwrap_or_default();
            let fields: Vec<FormField> =
                serde_json::from_value(form["fields"].clone()).unwrap_or_default();
            let title = form["title"].as_str().unwrap_or("usher");
            let (value, long) = values::encode(submit, render::MAX_CUSTOM_ID - 2);
            if let Some(long) = long {
                let _ = values::store(&app.core.pool, &[long]).await;
            }
            response(
                MODAL,
                Some(render::fields_modal(&format!("m:{value}"), title, &fields)),
            )
        }
        TYPEAHEAD | INPUT => {
            let (value, long) = values::encode(&line, render::MAX_CUSTOM_ID - 2);
            if let Some(long) = long {
                let _ = values::store(&app.core.pool, &[long]).await;
            }
            let (title, label) = if kind == TYPEAHEAD {
                ("Which one?", "Name (or part of it)")
            } else {
                ("usher", "Your answer")
            };
            response(
                MODAL,
                Some(render::modal(&format!("m:{value}"), title, label, None)),
            )
        }
        SHARE | RUN => {
            let request = request_from(actor, guild, c.channel_id, line);
            let asked = if kind == SHARE {
                Asked::Share
            } else {
                Asked::Click
            };
            run_within_deadline(
                app,
                request,
                (c.application_id.get(), c.token.clone()),
                asked,
            )
            .await
        }
        _ => response(
            MESSAGE,
            Some(render::notice("usher doesn't know that button.")),
        ),
    }
}

async fn modal_submit(app: &Arc<DiscordApp>, m: ModalInteraction) -> Value {
    let guild = m.guild_id.map(|g| g.get());
    let actor = match admitted(app, guild, &m.user).await {
        Ok(actor) => actor,
        Err(refusal) => return refusal,
    };
    let inputs: Vec<(String, String)> = m
        .data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .filter_map(|c| match c {
            ActionRowComponent::InputText(input) => Some((
                input.custom_id.clone(),
                input.value.clone().unwrap_or_default(),
            )),
            _ => None,
        })
        .collect();
    let Some(raw) = m.data.custom_id.strip_prefix("m:") else {
        return response(
            MESSAGE,
            Some(render::notice("usher doesn't know that form.")),
        );
    };
    let prefix = match values::decode(&app.core.pool, raw).await {
        Ok(Some(line)) => line,
        _ => {
            return response(
                MESSAGE,
                Some(render::notice(
                    "That form is too old to use. Run the command again.",
                )),
            );
        }
    };
    // A several-field form names its inputs after the command's options.
    let line = match inputs.iter().find(|(id, _)| id == "text") {
        Some((_, typed)) => format!("{prefix} {}", typed.trim()),
        None => crate::chat::filled_line(&prefix, &inputs),
    };
    let request = request_from(actor, guild, m.channel_id, line);
    run_within_deadline(
        app,
        request,
        (m.application_id.get(), m.token.clone()),
        Asked::Submit,
    )
    .await
}
