//! `service new`: the guided creation of a service — team, system, purpose,
//! a name by the convention, language, framework, databases, tier,
//! lifecycle, on-call, then a summary with the catalog-info.yaml to be
//! written. On submit the service is in the catalog at once, and one outbox
//! job per configured automation step is written in the same transaction.

mod answer;
mod finish;
mod question;
mod stage;

pub use answer::{answer, back};
use finish::confirm;
pub use finish::{descriptor, retry, status, yaml};
use question::{Input, ask};
use serde_json::{Map, Value, json};
use stage::Stage;

use super::naming;
use super::{Dialog, active, create, finish, save};
use crate::actions::outbox::{self, NewJob};
use crate::catalog::model::EntityRef;
use crate::catalog::store::EntityRow;
use crate::chat::{
    Action, ButtonStyle, Element, Field, Form, Reply, Request, SelectOption, Text, TextInput,
};
use crate::context::Core;

pub const KIND: &str = "service_new";

fn short(key: &str) -> String {
    EntityRef::from_key(key)
        .map(|r| r.short())
        .unwrap_or_else(|| key.to_string())
}

/// Starts the dialogue, or offers to resume the one in progress.
/// The pseudo-step of "Carry on, or start over?": a typed answer to it
/// comes back as `dialog answer <id> carry-on <words>`.
pub const CARRY_ON: &str = "carry-on";

/// What a typed answer to "Carry on, or start over?" means: `Some(true)`
/// to carry on, `Some(false)` to start over.
pub fn carry_on(text: &str) -> Option<bool> {
    let text = text.trim().to_lowercase();
    let text = text.trim_matches(|c: char| !c.is_alphanumeric() && c != ' ');
    match text {
        "1" | "resume" | "carry on" | "continue" | "go on" | "yes" | "y" | "keep going" => {
            Some(true)
        }
        "2" | "start over" | "restart" | "new" | "start again" | "over" | "no" | "n" => Some(false),
        _ => None,
    }
}

pub async fn start(core: &Core, request: &Request) -> Result<Reply, sqlx::Error> {
    let now = core.clock.now();
    if let Some(existing) = active(&core.pool, KIND, request).await? {
        if existing.idle_too_long(now, core.config.dialogs.idle_minutes) {
            let mut conn = core.pool.acquire().await?;
            finish(&mut conn, existing.id, "expired", None, now).await?;
        } else {
            return Ok(Reply::new()
                .section(Text::plain(format!(
                    "You have a new service in progress (at “{}”, started {}). Carry on, or start over?",
                    Stage::from_id(&existing.step).title(),
                    existing.started_at.format("%H:%M UTC")
                )))
                .actions(vec![
                    button("Resume", format!("dialog resume {}", existing.id), ButtonStyle::Primary),
                    button("Start over", format!("dialog restart {}", existing.id), ButtonStyle::Default),
                ])
                .hint(Text::plain("Type resume or start over."))
                .expect_text(format!("dialog answer {} {CARRY_ON}", existing.id)));
        }
    }
    if request.actor.person.is_none() {
        return Ok(Reply::text(
            "Creating a service needs to know who you are, and I can't match you to anyone in the catalog. Ask your usher admins to add you (a User entity with your email).",
        ));
    }
    let teams = teams_for(core, request).await?;
    if teams.is_empty() {
        return Ok(Reply::text(
            "You're not a member of any team in the catalog, and a service needs an owning team. Ask your team's lead to add you to its Group, then try again.",
        ));
    }
    let dialog = create(&core.pool, KIND, request, Stage::Team.id(), now).await?;
    render(core, &dialog).await
}

/// The form all steps of one dialogue share.
fn form(dialog_id: i64, text_input: Option<TextInput>, finished: bool) -> Form {
    Form {
        id: format!("dialog:{dialog_id}"),
        title: "New service".into(),
        text_input,
        error: None,
        finished,
        fields: Vec::new(),
        error_field: None,
        submit: None,
    }
}

fn button(label: &str, command: String, style: ButtonStyle) -> Element {
    Element::Button {
        label: label.to_string(),
        action: Action::run(command),
        style,
    }
}

/// The teams the person may create for: their own; every team for admins.
async fn teams_for(core: &Core, request: &Request) -> Result<Vec<EntityRow>, sqlx::Error> {
    let Some(person) = &request.actor.person else {
        return Ok(Vec::new());
    };
    let sql = concat!(
        "SELECT ",
        crate::entity_columns!(),
        " FROM entities e WHERE e.kind = 'group' AND (
             e.ref IN (SELECT r.target_ref FROM relations r JOIN entities u ON u.id = r.source_id
                       WHERE u.ref = $1 AND r.type = 'memberOf')
             OR e.id IN (SELECT source_id FROM relations WHERE type = 'hasMember' AND target_ref = $1)
             OR $2)
         ORDER BY (e.ref IN (SELECT r.target_ref FROM relations r JOIN entities u ON u.id = r.source_id
                             WHERE u.ref = $1 AND r.type = 'memberOf')) DESC,
                  coalesce(e.spec_type = 'team', false) DESC, e.name
         LIMIT 100"
    );
    sqlx::query_as(sql)
        .bind(&person.key)
        .bind(core.is_admin(request))
        .fetch_all(&core.pool)
        .await
}

/// Draws the current step.
pub async fn render(core: &Core, dialog: &Dialog) -> Result<Reply, sqlx::Error> {
    let request = Request {
        actor: dialog.actor.0.clone(),
        platform: crate::chat::Platform::Console,
        workspace: None,
        channel: None,
        text: String::new(),
    };
    let stage = Stage::of(dialog);
    if stage == Stage::Confirm {
        return confirm(core, dialog).await;
    }
    let question = ask(core, &request, dialog, stage).await?;
    let shown = Stage::shown(stage);
    let number = shown.iter().position(|s| *s == stage).unwrap_or(0) + 1;
    let total = shown.len();
    let id = dialog.id;
    let mut reply = Reply::new().header(format!(
        "New service — {} ({number} of {total})",
        stage.title()
    ));
    reply = reply.section(Text::plain(question.prompt));
    let text_input = match &question.input {
        Input::Text { default } => Some(TextInput {
            label: stage.title().to_string(),
            initial: default.clone(),
        }),
        _ => None,
    };
    reply.form = Some(form(dialog.id, text_input, false));
    let mut actions = Vec::new();
    match question.input {
        Input::Choice {
            options,
            default,
            multi,
        } => {
            // In their own order (1, 2, 3 — what a typed number means),
            // the default marked where it stands.
            let mut ordered = options;
            if let Some(d) = &default
                && let Some(o) = ordered.iter_mut().find(|o| &o.value == d)
            {
                o.label = format!("{} (default)", o.label);
            }
            actions.push(Element::Select {
                placeholder: if multi {
                    "Choose (several: type 1,3)".into()
                } else {
                    "Choose".into()
                },
                options: ordered
                    .into_iter()
                    .map(|o| SelectOption {
                        label: o.label,
                        description: o.description,
                        action: Action::run(format!(
                            "dialog answer {id} {} {}",
                            stage.id(),
                            o.value
                        )),
                    })
                    .collect(),
            });
        }
        Input::Text { default } => {
            if let Some(d) = default {
                actions.push(button(
                    &format!("Use {d}"),
                    format!("dialog answer {id} {} {d}", stage.id()),
                    ButtonStyle::Primary,
                ));
            }
        }
        Input::Confirm => {}
    }
    if stage != Stage::Team {
        actions.push(button(
            "Back",
            format!("dialog back {id}"),
            ButtonStyle::Default,
        ));
    }
    actions.push(button(
        "Cancel",
        format!("dialog cancel {id}"),
        ButtonStyle::Danger,
    ));
    reply = reply.actions(actions);
    let so_far = summary_line(dialog);
    if !so_far.is_empty() {
        reply = reply.context(Text::plain(so_far));
    }
    Ok(reply
        .hint(Text::plain(
            "Type the answer (or its number), back, or cancel.",
        ))
        .expect_text(format!("dialog answer {id} {}", stage.id())))
}

fn summary_line(dialog: &Dialog) -> String {
    let mut parts = Vec::new();
    for key in [
        "team",
        "system",
        "name",
        "language",
        "framework",
        "tier",
        "lifecycle",
    ] {
        if let Some(v) = dialog.answer(key).filter(|v| *v != "none") {
            parts.push(if key == "team" || key == "system" {
                short(v)
            } else {
                v.to_string()
            });
        }
    }
    parts.join(" · ")
}

/// Ends the dialogue without creating anything.
pub async fn cancel(core: &Core, dialog: &Dialog) -> Result<Reply, sqlx::Error> {
    let mut conn = core.pool.acquire().await?;
    finish(&mut conn, dialog.id, "cancelled", None, core.clock.now()).await?;
    let mut reply = Reply::text("Cancelled — nothing was created. `service new` starts again.");
    reply.form = Some(form(dialog.id, None, true));
    Ok(reply)
}

trait PipeInto {
    fn pipe_into(self, after: Reply) -> Reply;
}

impl PipeInto for Reply {
    /// This reply's blocks, then `after`'s (keeping `after`'s expectations).
    fn pipe_into(mut self, after: Reply) -> Reply {
        self.blocks.extend(after.blocks);
        self.expects = after.expects;
        self.form = after.form;
        self
    }
}
