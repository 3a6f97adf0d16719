//! `service new`: the guided creation of a service — team, system, purpose,
//! a name by the convention, language, framework, databases, tier,
//! lifecycle, on-call, then a summary with the catalog-info.yaml to be
//! written. On submit the service is in the catalog at once, and one outbox
//! job per configured automation step is written in the same transaction.

mod finish;

use finish::{confirm, submit};
pub use finish::{descriptor, retry, status, yaml};
use serde_json::{Map, Value, json};

use super::naming::{self, NameCheck};
use super::{Dialog, active, create, finish, save};
use crate::actions::outbox::{self, NewJob};
use crate::catalog::model::EntityRef;
use crate::catalog::store::{self, EntityRow};
use crate::chat::{
    Action, ButtonStyle, Element, Field, Form, Reply, Request, SelectOption, Text, TextInput,
};
use crate::config::ActionConfig;
use crate::context::Core;

pub const KIND: &str = "service_new";

/// The steps, in order; `name_confirm` only when the name is close to an
/// existing one, `framework` only when the language has frameworks.
const ORDER: &[&str] = &[
    "team",
    "system",
    "purpose",
    "name",
    "name_confirm",
    "language",
    "framework",
    "databases",
    "tier",
    "lifecycle",
    "oncall",
    "confirm",
];

/// An option of a choice step.
struct Opt {
    label: String,
    value: String,
    description: Option<String>,
}

/// How a step is answered.
enum Input {
    Choice {
        options: Vec<Opt>,
        default: Option<String>,
        multi: bool,
    },
    Text {
        default: Option<String>,
    },
    Confirm,
}

struct Step {
    title: &'static str,
    prompt: String,
    input: Input,
}

fn opt(label: impl Into<String>, value: impl Into<String>) -> Opt {
    Opt {
        label: label.into(),
        value: value.into(),
        description: None,
    }
}

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
                    step_title(&existing.step),
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
    let dialog = create(&core.pool, KIND, request, "team", now).await?;
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

fn step_title(step: &str) -> &'static str {
    match step {
        "team" => "Owning team",
        "system" => "System",
        "purpose" => "What it does",
        "name" => "Name",
        "name_confirm" => "A name close to another",
        "language" => "Language",
        "framework" => "Framework",
        "databases" => "Databases",
        "tier" => "Tier",
        "lifecycle" => "Lifecycle",
        "oncall" => "On-call",
        _ => "Confirm",
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

/// Builds the step the dialogue is at.
async fn step(core: &Core, request: &Request, dialog: &Dialog) -> Result<Step, sqlx::Error> {
    let a = |k: &str| dialog.answer(k).map(str::to_string);
    let choices = &core.config.choices;
    Ok(match dialog.step.as_str() {
        "team" => {
            let teams = teams_for(core, request).await?;
            Step {
                title: "Owning team",
                prompt: "Which team will own the service?".into(),
                input: Input::Choice {
                    default: teams.first().map(|t| t.key.clone()),
                    options: teams
                        .iter()
                        .map(|t| Opt {
                            label: t.label(),
                            value: t.key.clone(),
                            description: Some(t.short()),
                        })
                        .collect(),
                    multi: false,
                },
            }
        }
        "system" => {
            let team = a("team").unwrap_or_default();
            let systems: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT ref, owner_ref FROM entities WHERE kind = 'system'
                 ORDER BY (owner_ref = $1) DESC, name LIMIT 24",
            )
            .bind(&team)
            .fetch_all(&core.pool)
            .await?;
            let default = systems
                .iter()
                .find(|(_, o)| o.as_deref() == Some(team.as_str()))
                .map(|s| s.0.clone());
            let mut options: Vec<Opt> = systems
                .iter()
                .map(|(key, owner)| Opt {
                    label: short(key),
                    value: key.clone(),
                    description: owner.as_deref().map(|o| format!("owned by {}", short(o))),
                })
                .collect();
            options.push(opt("No system", "none"));
            Step {
                title: "System",
                prompt: "Which system is it part of? (optional)".into(),
                input: Input::Choice {
                    options,
                    default: default.or(Some("none".into())),
                    multi: false,
                },
            }
        }
        "purpose" => Step {
            title: "What it does",
            prompt: "What does it do, in a few words? (e.g. “processes refunds”)".into(),
            input: Input::Text { default: None },
        },
        "name" => {
            let system = a("system").filter(|s| s != "none").map(|s| short(&s));
            let proposal = naming::propose(
                &core.config.naming,
                &short(&a("team").unwrap_or_default()),
                system.as_deref(),
                &a("purpose").unwrap_or_default(),
            );
            Step {
                title: "Name",
                prompt: format!(
                    "Its name? I propose {proposal} (the convention: {}; lower-case letters, digits and dashes, at most {} characters). Press the button to take it, or type another.",
                    core.config.naming.template, core.config.naming.max_length
                ),
                input: Input::Text {
                    default: Some(proposal),
                },
            }
        }
        "name_confirm" => {
            let existing = a("similar_to").unwrap_or_default();
            let owner = a("similar_owner").unwrap_or_default();
            Step {
                title: "A name close to another",
                prompt: format!(
                    "{existing} already exists, owned by {owner} — is {} a new service, or did you mean that one?",
                    a("name").unwrap_or_default()
                ),
                input: Input::Choice {
                    options: vec![
                        opt("A new service", "new"),
                        opt(format!("I meant {existing}"), "existing"),
                        opt("Change the name", "rename"),
                    ],
                    default: None,
                    multi: false,
                },
            }
        }
        "language" => Step {
            title: "Language",
            prompt: "Which language?".into(),
            input: Input::Choice {
                options: choices
                    .languages
                    .iter()
                    .map(|l| opt(l.name.clone(), l.name.clone()))
                    .collect(),
                default: choices.default_language.clone(),
                multi: false,
            },
        },
        "framework" => {
            let language = a("language").unwrap_or_default();
            let lang = choices.languages.iter().find(|l| l.name == language);
            Step {
                title: "Framework",
                prompt: format!("Which {language} framework?"),
                input: Input::Choice {
                    options: lang
                        .map(|l| {
                            l.frameworks
                                .iter()
                                .map(|f| opt(f.clone(), f.clone()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    default: lang.and_then(|l| l.default_framework.clone()),
                    multi: false,
                },
            }
        }
        "databases" => {
            let mut options: Vec<Opt> = choices
                .databases
                .iter()
                .map(|d| opt(d.clone(), d.clone()))
                .collect();
            options.push(opt("None", "none"));
            Step {
                title: "Databases",
                prompt: "Which databases does it use? Pick several by typing their numbers or names separated by commas (e.g. 1,3), or none.".into(),
                input: Input::Choice {
                    options,
                    default: Some("none".into()),
                    multi: true,
                },
            }
        }
        "tier" => Step {
            title: "Tier",
            prompt: "Its tier (1 is the most critical)?".into(),
            input: Input::Choice {
                options: choices
                    .tiers
                    .iter()
                    .map(|t| opt(format!("tier {t}"), t.clone()))
                    .collect(),
                default: choices.default_tier.clone(),
                multi: false,
            },
        },
        "lifecycle" => Step {
            title: "Lifecycle",
            prompt: "Its lifecycle?".into(),
            input: Input::Choice {
                options: choices
                    .lifecycles
                    .iter()
                    .map(|l| opt(l.clone(), l.clone()))
                    .collect(),
                default: choices.default_lifecycle.clone(),
                multi: false,
            },
        },
        "oncall" => {
            let team = a("team").unwrap_or_default();
            let rotation: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rotations WHERE team_ref = $1)")
                    .bind(&team)
                    .fetch_one(&core.pool)
                    .await?;
            let team_row = store::find_by_ref(&core.pool, &team).await?;
            let mut options = Vec::new();
            if rotation {
                options.push(opt(
                    format!("{}'s usher rotation", short(&team)),
                    "rotation",
                ));
            }
            if let Some(t) = &team_row {
                if let Some(id) = &t.pagerduty_service_id {
                    options.push(opt(
                        format!("the team's PagerDuty service {id}"),
                        format!("pagerduty:{id}"),
                    ));
                }
                if let Some(og) = &t.opsgenie_team {
                    options.push(opt(
                        format!("the team's Opsgenie team {og}"),
                        format!("opsgenie:{og}"),
                    ));
                }
            }
            if core
                .config
                .actions
                .iter()
                .any(|a| matches!(a, ActionConfig::PagerdutyService { .. }))
            {
                options.push(opt("a new PagerDuty service", "new-pagerduty"));
            }
            options.push(opt("set up later", "later"));
            let default = options.first().map(|o| o.value.clone());
            Step {
                title: "On-call",
                prompt: "Who is on call for it?".into(),
                input: Input::Choice {
                    options,
                    default,
                    multi: false,
                },
            }
        }
        _ => Step {
            title: "Confirm",
            prompt: "Create it?".into(),
            input: Input::Confirm,
        },
    })
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
    let step = step(core, &request, dialog).await?;
    let number = visible_steps(dialog)
        .iter()
        .position(|s| *s == dialog.step)
        .map(|i| i + 1)
        .unwrap_or(1);
    let total = visible_steps(dialog).len();
    let id = dialog.id;
    let mut reply = Reply::new().header(format!(
        "New service — {} ({number} of {total})",
        step.title
    ));
    if dialog.step == "confirm" {
        return confirm(core, dialog).await;
    }
    reply = reply.section(Text::plain(step.prompt));
    let text_input = match &step.input {
        Input::Text { default } => Some(TextInput {
            label: step.title.to_string(),
            initial: default.clone(),
        }),
        _ => None,
    };
    reply.form = Some(form(dialog.id, text_input, false));
    let mut actions = Vec::new();
    match step.input {
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
                            dialog.step, o.value
                        )),
                    })
                    .collect(),
            });
        }
        Input::Text { default } => {
            if let Some(d) = default {
                actions.push(button(
                    &format!("Use {d}"),
                    format!("dialog answer {id} {} {d}", dialog.step),
                    ButtonStyle::Primary,
                ));
            }
        }
        Input::Confirm => {}
    }
    if dialog.step != "team" {
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
        .expect_text(format!("dialog answer {id} {}", dialog.step)))
}

/// The steps this dialogue shows (the conditional ones only when they
/// apply), for "step 3 of 10".
fn visible_steps(dialog: &Dialog) -> Vec<&'static str> {
    ORDER
        .iter()
        .copied()
        .filter(|s| *s != "name_confirm" || dialog.step == "name_confirm")
        .collect()
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

/// The next step after `from`, skipping what doesn't apply.
fn next_step(core: &Core, dialog: &Dialog, from: &str) -> String {
    let i = ORDER.iter().position(|s| *s == from).unwrap_or(0);
    for step in &ORDER[i + 1..] {
        let applies = match *step {
            "name_confirm" => false,
            "framework" => core.config.choices.languages.iter().any(|l| {
                Some(l.name.as_str()) == dialog.answer("language") && !l.frameworks.is_empty()
            }),
            _ => true,
        };
        if applies {
            return step.to_string();
        }
    }
    "confirm".to_string()
}

fn history(dialog: &mut Dialog) -> &mut Vec<Value> {
    let entry = dialog
        .answers
        .0
        .entry("_history")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    entry.as_array_mut().expect("an array")
}

/// Moves on to `step`, remembering where we were (for Back).
fn advance(dialog: &mut Dialog, step: String) {
    let from = dialog.step.clone();
    history(dialog).push(Value::String(from));
    dialog.step = step;
}

/// Goes back one step.
pub async fn back(core: &Core, dialog: &mut Dialog) -> Result<Reply, sqlx::Error> {
    if let Some(Value::String(previous)) = history(dialog).pop() {
        dialog.step = previous;
    }
    save(&core.pool, dialog, core.clock.now()).await?;
    render(core, dialog).await
}

/// Matches typed text or a button's value to the step's options: a value,
/// a label, a 1-based number; several, comma-separated, for `multi`.
fn pick(
    options: &[Opt],
    default: &Option<String>,
    text: &str,
    multi: bool,
) -> Result<Vec<String>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("default") {
        return default
            .clone()
            .map(|d| vec![d])
            .ok_or_else(|| "choose one of the options".to_string());
    }
    let parts: Vec<&str> = if multi {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    } else {
        vec![text]
    };
    let mut out = Vec::new();
    for part in parts {
        let found = options
            .iter()
            .enumerate()
            .find(|(i, o)| {
                o.value.eq_ignore_ascii_case(part)
                    || o.label.eq_ignore_ascii_case(part)
                    || part.parse::<usize>().is_ok_and(|n| n == i + 1)
            })
            .map(|(_, o)| o.value.clone());
        match found {
            Some(v) => {
                if !out.contains(&v) {
                    out.push(v)
                }
            }
            None => {
                let names: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
                return Err(format!(
                    "'{part}' isn't one of the choices: {}",
                    names.join(", ")
                ));
            }
        }
    }
    if multi && out.len() > 1 {
        out.retain(|v| v != "none");
    }
    Ok(out)
}

/// Records an answer to the current step and moves on (or says what is
/// wrong and asks again).
pub async fn answer(
    core: &Core,
    request: &Request,
    dialog: &mut Dialog,
    step_id: &str,
    text: &str,
) -> Result<Reply, sqlx::Error> {
    let now = core.clock.now();
    let keyword = text.trim().to_lowercase();
    if keyword == "back" {
        return back(core, dialog).await;
    }
    if keyword == "cancel" {
        return cancel(core, dialog).await;
    }
    if step_id != dialog.step {
        // An old button from an earlier step: show where we are instead.
        let reply = render(core, dialog).await?;
        return Ok(Reply::text(format!(
            "That answer was for “{}”, but we're at “{}” now.",
            step_title(step_id),
            step_title(&dialog.step)
        ))
        .pipe_into(reply));
    }
    let current = step(core, request, dialog).await?;
    let value: Value = match &current.input {
        Input::Choice {
            options,
            default,
            multi,
        } => match pick(options, default, text, *multi) {
            Ok(mut values) if *multi => Value::Array(values.drain(..).map(Value::String).collect()),
            Ok(values) => Value::String(values.into_iter().next().unwrap_or_default()),
            Err(_) if dialog.step == "team" => {
                let yours: Vec<String> = options.iter().map(|o| short(&o.value)).collect();
                return again(
                    core,
                    dialog,
                    format!(
                        "you can only create services for teams you're a member of ({})",
                        yours.join(", ")
                    ),
                )
                .await;
            }
            Err(why) => return again(core, dialog, why).await,
        },
        Input::Text { default } => {
            let t = text.trim();
            let t = if t.is_empty() {
                default.clone().unwrap_or_default()
            } else {
                t.to_string()
            };
            Value::String(t)
        }
        Input::Confirm => Value::String(text.trim().to_lowercase()),
    };
    match dialog.step.as_str() {
        "team" => {
            // Checked again: only the person's teams (admins: any).
            let allowed = teams_for(core, request).await?;
            let chosen = value.as_str().unwrap_or_default();
            if !allowed.iter().any(|t| t.key == chosen) {
                return again(
                    core,
                    dialog,
                    "you can only create services for teams you're a member of".into(),
                )
                .await;
            }
        }
        "purpose" => {
            let t = value.as_str().unwrap_or_default();
            if t.chars().count() < 3
                || t.chars().count() > 120
                || !t.chars().any(char::is_alphabetic)
            {
                return again(
                    core,
                    dialog,
                    "say what it does in a few words (3–120 characters), e.g. “processes refunds”"
                        .into(),
                )
                .await;
            }
        }
        "name" => {
            let name = value.as_str().unwrap_or_default().to_string();
            let prefix = dialog
                .answer("system")
                .filter(|s| *s != "none")
                .map(short)
                .unwrap_or_else(|| {
                    short(dialog.answer("team").unwrap_or_default())
                        .trim_start_matches("team-")
                        .to_string()
                });
            match naming::check(&core.pool, &core.config.naming, &name, &prefix).await? {
                NameCheck::Ok => {}
                NameCheck::Refused { reason, suggestion } => {
                    return again(
                        core,
                        dialog,
                        format!("{name} {reason}. How about {suggestion}?"),
                    )
                    .await;
                }
                NameCheck::Similar {
                    existing, owner, ..
                } => {
                    dialog.answers.0.insert("name".into(), Value::String(name));
                    dialog
                        .answers
                        .0
                        .insert("similar_to".into(), Value::String(existing));
                    dialog
                        .answers
                        .0
                        .insert("similar_owner".into(), Value::String(owner));
                    advance(dialog, "name_confirm".into());
                    save(&core.pool, dialog, now).await?;
                    return render(core, dialog).await;
                }
            }
        }
        "name_confirm" => match value.as_str() {
            Some("existing") => {
                let existing = dialog.answer("similar_to").unwrap_or_default().to_string();
                let mut conn = core.pool.acquire().await?;
                finish(&mut conn, dialog.id, "cancelled", None, now).await?;
                return Ok(Reply::new()
                    .section(Text::plain(format!(
                        "Then there's nothing to create: {existing} exists already."
                    )))
                    .actions(vec![button(
                        &format!("Who owns {existing}"),
                        format!("owner {existing}"),
                        ButtonStyle::Primary,
                    )]));
            }
            Some("rename") => {
                dialog.step = "name".into();
                save(&core.pool, dialog, now).await?;
                return render(core, dialog).await;
            }
            _ => {}
        },
        "confirm" => {
            return match value.as_str() {
                Some("submit" | "yes" | "create") => submit(core, request, dialog).await,
                _ => again(core, dialog, "answer submit, back or cancel".into()).await,
            };
        }
        _ => {}
    }
    if dialog.step != "name_confirm" {
        dialog.answers.0.insert(dialog.step.clone(), value);
    }
    let from = if dialog.step == "name_confirm" {
        "name_confirm".to_string()
    } else {
        dialog.step.clone()
    };
    let next = next_step(core, dialog, &from);
    advance(dialog, next);
    save(&core.pool, dialog, now).await?;
    render(core, dialog).await
}

/// Says what is wrong with an answer and asks again.
async fn again(core: &Core, dialog: &Dialog, why: String) -> Result<Reply, sqlx::Error> {
    let mut reply = render(core, dialog).await?;
    if let Some(form) = &mut reply.form {
        form.error = Some(capitalise(&why));
    }
    Ok(Reply::text(format!("⚠ {why}")).pipe_into(reply))
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picking_options() {
        let options = vec![
            opt("postgres", "postgres"),
            opt("redis", "redis"),
            opt("None", "none"),
        ];
        assert_eq!(
            pick(&options, &None, "2", false),
            Ok(vec!["redis".to_string()])
        );
        assert_eq!(
            pick(&options, &None, "Postgres", false),
            Ok(vec!["postgres".to_string()])
        );
        assert_eq!(
            pick(&options, &None, "1, 2", true),
            Ok(vec!["postgres".to_string(), "redis".to_string()])
        );
        assert_eq!(
            pick(&options, &Some("none".into()), "", true),
            Ok(vec!["none".to_string()])
        );
        assert!(
            pick(&options, &None, "oracle", false)
                .unwrap_err()
                .contains("isn't one of the choices")
        );
        assert_eq!(
            pick(&options, &None, "1,3", true),
            Ok(vec!["postgres".to_string()])
        );
    }
}
