//! Taking an answer to the creation dialogue's current step: matching it
//! to the step's options, checking it (the person's own team, a purpose in
//! words, a name by the convention and not a near-copy), recording it and
//! moving on — or saying what is wrong and asking again.

use serde_json::Value;

use super::finish::submit;
use super::naming::{self, NameCheck};
use super::question::{Input, Opt, ask};
use super::stage::Stage;
use super::{Dialog, PipeInto, button, cancel, finish, render, save, short, teams_for};
use crate::chat::{ButtonStyle, Reply, Request, Text};
use crate::context::Core;

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
    let stage = Stage::of(dialog);
    if step_id != dialog.step {
        // An old button from an earlier step: show where we are instead.
        let reply = render(core, dialog).await?;
        return Ok(Reply::text(format!(
            "That answer was for “{}”, but we're at “{}” now.",
            Stage::from_id(step_id).title(),
            stage.title()
        ))
        .pipe_into(reply));
    }
    let question = ask(core, request, dialog, stage).await?;
    let value: Value = match &question.input {
        Input::Choice {
            options,
            default,
            multi,
        } => match pick(options, default, text, *multi) {
            Ok(mut values) if *multi => Value::Array(values.drain(..).map(Value::String).collect()),
            Ok(values) => Value::String(values.into_iter().next().unwrap_or_default()),
            Err(_) if stage == Stage::Team => {
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
    match stage {
        Stage::Team => {
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
        Stage::Purpose => {
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
        Stage::Name => {
            let name = value.as_str().unwrap_or_default().to_string();
            if let Some(reply) = check_name(core, dialog, name).await? {
                return Ok(reply);
            }
        }
        Stage::NameConfirm => match value.as_str() {
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
                dialog.step = Stage::Name.id().into();
                save(&core.pool, dialog, now).await?;
                return render(core, dialog).await;
            }
            _ => {}
        },
        Stage::Confirm => {
            return match value.as_str() {
                Some("submit" | "yes" | "create") => submit(core, request, dialog).await,
                _ => again(core, dialog, "answer submit, back or cancel".into()).await,
            };
        }
        _ => {}
    }
    if stage.records_answer() {
        dialog.answers.0.insert(stage.id().to_string(), value);
    }
    let next = stage.next(core, dialog);
    advance(dialog, next);
    save(&core.pool, dialog, now).await?;
    render(core, dialog).await
}

/// Checks a proposed name against the convention and the catalog: `None`
/// to go on, or the reply that asks again (refused) or asks whether a
/// near-copy of an existing name is meant (the name check step).
async fn check_name(
    core: &Core,
    dialog: &mut Dialog,
    name: String,
) -> Result<Option<Reply>, sqlx::Error> {
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
        NameCheck::Ok => Ok(None),
        NameCheck::Refused { reason, suggestion } => Ok(Some(
            again(
                core,
                dialog,
                format!("{name} {reason}. How about {suggestion}?"),
            )
            .await?,
        )),
        NameCheck::Similar {
            existing, owner, ..
        } => {
            let answers = &mut dialog.answers.0;
            answers.insert("name".into(), Value::String(name));
            answers.insert("similar_to".into(), Value::String(existing));
            answers.insert("similar_owner".into(), Value::String(owner));
            advance(dialog, Stage::NameConfirm);
            save(&core.pool, dialog, core.clock.now()).await?;
            Ok(Some(render(core, dialog).await?))
        }
    }
}

/// The steps passed through, for Back.
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
fn advance(dialog: &mut Dialog, step: Stage) {
    let from = dialog.step.clone();
    history(dialog).push(Value::String(from));
    dialog.step = step.id().to_string();
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

#[cfg(test)]
mod tests {
    use super::super::question::opt;
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
