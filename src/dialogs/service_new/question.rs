//! What each step of the creation dialogue asks: its prompt and how it is
//! answered (a choice among options, with a default; free text; the final
//! yes), built from the catalog and the configured choices.

use super::naming;
use super::stage::Stage;
use super::{Dialog, short, teams_for};
use crate::catalog::store;
use crate::chat::Request;
use crate::config::{ActionConfig, ChoicesConfig};
use crate::context::Core;

/// An option of a choice step.
pub(super) struct Opt {
    pub label: String,
    pub value: String,
    pub description: Option<String>,
}

pub(super) fn opt(label: impl Into<String>, value: impl Into<String>) -> Opt {
    Opt {
        label: label.into(),
        value: value.into(),
        description: None,
    }
}

/// How a step is answered.
pub(super) enum Input {
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

/// A step as asked.
pub(super) struct Question {
    pub prompt: String,
    pub input: Input,
}

fn choice(prompt: impl Into<String>, options: Vec<Opt>, default: Option<String>) -> Question {
    Question {
        prompt: prompt.into(),
        input: Input::Choice {
            options,
            default,
            multi: false,
        },
    }
}

/// What `stage` asks in this dialogue.
pub(super) async fn ask(
    core: &Core,
    request: &Request,
    dialog: &Dialog,
    stage: Stage,
) -> Result<Question, sqlx::Error> {
    let answer = |k: &str| dialog.answer(k).unwrap_or_default().to_string();
    let choices = &core.config.choices;
    Ok(match stage {
        Stage::Team => team(core, request).await?,
        Stage::System => system(core, &answer("team")).await?,
        Stage::Purpose => Question {
            prompt: "What does it do, in a few words? (e.g. “processes refunds”)".into(),
            input: Input::Text { default: None },
        },
        Stage::Name => name(core, dialog),
        Stage::NameConfirm => {
            let existing = answer("similar_to");
            choice(
                format!(
                    "{existing} already exists, owned by {} — is {} a new service, or did you mean that one?",
                    answer("similar_owner"),
                    answer("name")
                ),
                vec![
                    opt("A new service", "new"),
                    opt(format!("I meant {existing}"), "existing"),
                    opt("Change the name", "rename"),
                ],
                None,
            )
        }
        Stage::Language => choice(
            "Which language?",
            choices
                .languages
                .iter()
                .map(|l| opt(l.name.clone(), l.name.clone()))
                .collect(),
            choices.default_language.clone(),
        ),
        Stage::Framework => framework(choices, &answer("language")),
        Stage::Databases => {
            let mut options: Vec<Opt> = choices
                .databases
                .iter()
                .map(|d| opt(d.clone(), d.clone()))
                .collect();
            options.push(opt("None", "none"));
            Question {
                prompt: "Which databases does it use? Pick several by typing their numbers or names separated by commas (e.g. 1,3), or none.".into(),
                input: Input::Choice {
                    options,
                    default: Some("none".into()),
                    multi: true,
                },
            }
        }
        Stage::Tier => choice(
            "Its tier (1 is the most critical)?",
            choices
                .tiers
                .iter()
                .map(|t| opt(format!("tier {t}"), t.clone()))
                .collect(),
            choices.default_tier.clone(),
        ),
        Stage::Lifecycle => choice(
            "Its lifecycle?",
            choices
                .lifecycles
                .iter()
                .map(|l| opt(l.clone(), l.clone()))
                .collect(),
            choices.default_lifecycle.clone(),
        ),
        Stage::OnCall => oncall(core, &answer("team")).await?,
        Stage::Confirm => Question {
            prompt: "Create it?".into(),
            input: Input::Confirm,
        },
    })
}

/// The person's teams (every team for admins), theirs first.
async fn team(core: &Core, request: &Request) -> Result<Question, sqlx::Error> {
    let teams = teams_for(core, request).await?;
    Ok(choice(
        "Which team will own the service?",
        teams
            .iter()
            .map(|t| Opt {
                label: t.label(),
                value: t.key.clone(),
                description: Some(t.short()),
            })
            .collect(),
        teams.first().map(|t| t.key.clone()),
    ))
}

/// The systems, the team's own first (and the default), or none.
async fn system(core: &Core, team: &str) -> Result<Question, sqlx::Error> {
    let systems: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT ref, owner_ref FROM entities WHERE kind = 'system'
         ORDER BY (owner_ref = $1) DESC, name LIMIT 24",
    )
    .bind(team)
    .fetch_all(&core.pool)
    .await?;
    let default = systems
        .iter()
        .find(|(_, o)| o.as_deref() == Some(team))
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
    Ok(choice(
        "Which system is it part of? (optional)",
        options,
        default.or(Some("none".into())),
    ))
}

/// A name by the convention, proposed from the answers so far.
fn name(core: &Core, dialog: &Dialog) -> Question {
    let naming_config = &core.config.naming;
    let system = dialog.answer("system").filter(|s| *s != "none").map(short);
    let proposal = naming::propose(
        naming_config,
        &short(dialog.answer("team").unwrap_or_default()),
        system.as_deref(),
        dialog.answer("purpose").unwrap_or_default(),
    );
    Question {
        prompt: format!(
            "Its name? I propose {proposal} (the convention: {}; lower-case letters, digits and dashes, at most {} characters). Press the button to take it, or type another.",
            naming_config.template, naming_config.max_length
        ),
        input: Input::Text {
            default: Some(proposal),
        },
    }
}

fn framework(choices: &ChoicesConfig, language: &str) -> Question {
    let lang = choices.languages.iter().find(|l| l.name == language);
    choice(
        format!("Which {language} framework?"),
        lang.map(|l| {
            l.frameworks
                .iter()
                .map(|f| opt(f.clone(), f.clone()))
                .collect()
        })
        .unwrap_or_default(),
        lang.and_then(|l| l.default_framework.clone()),
    )
}

/// Who pages for it: the team's rotation, its PagerDuty service or
/// Opsgenie team, a new PagerDuty service when that step is configured,
/// or later.
async fn oncall(core: &Core, team: &str) -> Result<Question, sqlx::Error> {
    let rotation: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rotations WHERE team_ref = $1)")
            .bind(team)
            .fetch_one(&core.pool)
            .await?;
    let team_row = store::find_by_ref(&core.pool, team).await?;
    let mut options = Vec::new();
    if rotation {
        options.push(opt(format!("{}'s usher rotation", short(team)), "rotation"));
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
    Ok(choice("Who is on call for it?", options, default))
}
