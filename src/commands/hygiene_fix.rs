//! `hygiene fix <service> [--field F] [value]`: fill in what a service is
//! missing, from the digest's "Fix" button or by hand.
//!
//! Where the truth lives decides what saving does. A service created in
//! chat lives in usher's catalog: the value is written there (the row, its
//! stored document and its links, in one transaction, audit-logged), and the
//! finding is resolved at once. A service described by a catalog-info.yaml
//! would get the value back from its file at the next import, so usher
//! shows the exact YAML to add to that file instead.

use serde_json::json;

use crate::actions::jobs::{FieldChange, HygieneProposal};
use crate::catalog::store::EntityRow;
use crate::chat::{Action, ButtonStyle, Element, Form, FormField, Reply, Request, Text, TextInput};

use super::parse::Args;
use super::resolve::{self, Resolved};
use super::{CommandResult, Core};
use crate::catalog::model::Kind;

/// A field that can be filled in, and the rule its absence breaks.
struct Fixable {
    field: &'static str,
    rule: &'static str,
    label: &'static str,
    prompt: &'static str,
    choices: &'static [&'static str],
}

const FIXABLE: &[Fixable] = &[
    Fixable {
        field: "description",
        rule: "description-missing",
        label: "Add a description",
        prompt: "One sentence: what it does, for whom",
        choices: &[],
    },
    Fixable {
        field: "tier",
        rule: "tier-missing",
        label: "Set the tier",
        prompt: "How critical is it? 1 = most",
        choices: &["1", "2", "3", "4"],
    },
    Fixable {
        field: "lifecycle",
        rule: "lifecycle-missing",
        label: "Set the lifecycle",
        prompt: "Where is it in its life?",
        choices: &["experimental", "production", "deprecated"],
    },
    Fixable {
        field: "runbook",
        rule: "runbook-missing",
        label: "Link the runbook",
        prompt: "The runbook's URL",
        choices: &[],
    },
    Fixable {
        field: "docs",
        rule: "docs-missing",
        label: "Link the docs",
        prompt: "The docs' URL",
        choices: &[],
    },
    Fixable {
        field: "repo",
        rule: "repo-missing",
        label: "Link the repository",
        prompt: "The repository's URL",
        choices: &[],
    },
];

pub async fn run(core: &Core, request: &Request, args: &Args) -> CommandResult {
    let query = args.text("service").unwrap_or_default().trim().to_string();
    let service = match resolve::resolve(core, &query, &[Kind::Component]).await? {
        Resolved::One(row) => *row,
        other => {
            return Ok(resolve::unresolved_reply(
                &other,
                &query,
                "hygiene fix",
                "service",
            ));
        }
    };
    if !may_fix(core, request, &service).await? {
        return Ok(Reply::text(format!(
            "Only members of {} (and usher admins) can change {}. Nothing changed.",
            service.owner_ref.as_deref().unwrap_or("its owning team"),
            service.name
        )));
    }
    // Several fields at once: the form's answers (or typed `--tier 2 …`).
    let given: Vec<(&Fixable, String)> = FIXABLE
        .iter()
        .filter_map(|f| {
            let value = args.text(f.field)?.trim();
            // "Production" is production; free text stays as typed.
            let value = if f.choices.is_empty() {
                value.to_string()
            } else {
                value.to_lowercase()
            };
            Some((f, value))
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if !given.is_empty() {
        if let Some((f, why)) = given
            .iter()
            .find_map(|(f, v)| check(f, v).err().map(|why| (*f, why)))
        {
            let missing = missing_fields(core, &service).await?;
            return Ok(menu(&service, &missing, &given, Some((f, why))));
        }
        return apply(core, request, &service, &given).await;
    }
    let Some(field) = args.text("field") else {
        let missing = missing_fields(core, &service).await?;
        if missing.is_empty() {
            return Ok(Reply::text(format!(
                "{} lacks nothing usher can fill in from chat. `hygiene {}` shows its scorecard.",
                service.name, service.name
            )));
        }
        return Ok(menu(&service, &missing, &[], None));
    };
    let Some(fixable) = FIXABLE.iter().find(|f| f.field == field) else {
        return Ok(Reply::text(
            "Pick one of: description, tier, lifecycle, runbook, docs, repo.",
        ));
    };
    let value = args.text("value").unwrap_or_default().trim().to_string();
    let prefix = format!("hygiene fix {} --field {}", service.name, fixable.field);
    if value.is_empty() {
        return Ok(ask(&service, fixable, &prefix, None));
    }
    if let Err(why) = check(fixable, &value) {
        return Ok(ask(&service, fixable, &prefix, Some(why)));
    }
    apply(core, request, &service, &[(fixable, value)]).await
}

/// The fields the service's scorecard says are missing (set-aside findings
/// too: filling them in is still welcome).
async fn missing_fields(
    core: &Core,
    service: &EntityRow,
) -> Result<Vec<&'static Fixable>, sqlx::Error> {
    let scope = crate::hygiene::Scope {
        team: None,
        service_id: Some(service.id),
    };
    let card = crate::hygiene::scorecards(&core.pool, &core.config.hygiene, &scope)
        .await?
        .into_iter()
        .next();
    let broken: Vec<&str> = card
        .map(|c| {
            c.broken
                .iter()
                .chain(c.set_aside.iter())
                .map(|r| r.id)
                .collect()
        })
        .unwrap_or_default();
    Ok(FIXABLE
        .iter()
        .filter(|f| broken.contains(&f.rule))
        .collect())
}

/// Everything missing at once: a form with exactly those fields where the
/// platform has forms, and one button per field everywhere (the console's
/// way, and a way to do one at a time).
fn menu(
    service: &EntityRow,
    missing: &[&'static Fixable],
    given: &[(&Fixable, String)],
    error: Option<(&Fixable, String)>,
) -> Reply {
    // The fields asked for: what's missing, and whatever was typed (a
    // value that didn't pass is shown again to be corrected).
    let mut fields: Vec<&'static Fixable> = missing.to_vec();
    for (f, _) in given {
        if !fields.iter().any(|m| m.field == f.field)
            && let Some(known) = FIXABLE.iter().find(|x| x.field == f.field)
        {
            fields.push(known);
        }
    }
    let missing = &fields[..];
    let names: Vec<&str> = missing.iter().map(|f| f.field).collect();
    let mut reply = Reply::new().section(Text::plain(match &error {
        Some((_, why)) => format!("Nothing changed on {}. {why}", service.name),
        None => format!(
            "{} is missing: {}. Fill in what you know — empty fields are left as they are.",
            service.name,
            names.join(", ")
        ),
    }));
    let buttons: Vec<Element> = missing
        .iter()
        .map(|f| Element::Button {
            label: f.label.into(),
            action: Action::run(format!("hygiene fix {} --field {}", service.name, f.field)),
            style: ButtonStyle::Primary,
        })
        .collect();
    reply = reply.actions(buttons);
    reply.form = Some(Form {
        id: format!("fix:{}", service.id),
        title: format!("Fix {}", service.name),
        text_input: None,
        error: error.as_ref().map(|(_, why)| why.clone()),
        finished: false,
        fields: missing
            .iter()
            .map(|f| FormField {
                name: f.field.into(),
                label: f.prompt.into(),
                choices: f.choices.iter().map(|c| c.to_string()).collect(),
                initial: given
                    .iter()
                    .find(|(g, _)| g.field == f.field)
                    .map(|(_, v)| v.clone()),
            })
            .collect(),
        error_field: error.map(|(f, _)| f.field.to_string()),
        submit: Some(format!("hygiene fix {}", service.name)),
    });
    reply
}

/// Saves checked values where the service's truth lives: usher's catalog
/// for a chat-made service; a pull/merge request for a git-managed one when
/// the host's token is set; else the exact YAML to add by hand.
async fn apply(
    core: &Core,
    request: &Request,
    service: &EntityRow,
    changes: &[(&Fixable, String)],
) -> CommandResult {
    let fields: Vec<&str> = changes.iter().map(|(f, _)| f.field).collect();
    if service.origin == "chat" {
        save(core, request, service, changes).await?;
        return Ok(Reply::new()
            .section(
                Text::new()
                    .add_plain("Saved: ")
                    .add_bold(service.name.clone())
                    .add_plain(format!(" — {} filled in.", fields.join(", "))),
            )
            .actions(vec![Element::Button {
                label: "What else?".into(),
                action: Action::run(format!("hygiene fix {}", service.name)),
                style: ButtonStyle::Default,
            }]));
    }
    if let Some(target) = service
        .source_file
        .as_deref()
        .and_then(|f| crate::hygiene::proposal::target(f, &core.config.catalog.all_hosts()))
    {
        let token_set = target
            .token_env
            .as_deref()
            .is_some_and(|v| std::env::var(v).is_ok_and(|t| !t.is_empty()));
        if token_set {
            propose(core, request, service, changes).await?;
            return Ok(Reply::new()
                .section(Text::plain(format!(
                    "Opening a {} on {} with this change to {} — the finding shows it until the merge is imported:",
                    match target.kind {
                        crate::catalog::fetch::HostKind::Github => "pull request",
                        crate::catalog::fetch::HostKind::Gitlab => "merge request",
                    },
                    if target.repo.is_empty() {
                        target.owner.clone()
                    } else {
                        format!("{}/{}", target.owner, target.repo)
                    },
                    target.path
                )))
                .section(Text::new().add_pre(yaml_change(changes)))
                .context("`hygiene <service>` shows the link once it's open."));
        }
    }
    let file = match (&service.source_file, service.source_line) {
        (Some(f), Some(l)) => format!("{f} (the document at line {l})"),
        (Some(f), None) => f.clone(),
        _ => "its catalog-info.yaml".into(),
    };
    Ok(Reply::new()
        .section(Text::plain(format!(
            "{} is described in {file}; a change made only in usher would be undone by the next import. Add this to the file:",
            service.name
        )))
        .section(Text::new().add_pre(yaml_change(changes)))
        .context("usher picks it up at the next refresh (`usher catalog locations` shows when)."))
}

async fn may_fix(core: &Core, request: &Request, service: &EntityRow) -> Result<bool, sqlx::Error> {
    super::oncall::may_act_for(core, request, service.owner_ref.as_deref()).await
}

/// Asks for the value: choices as buttons, free text as a form.
fn ask(service: &EntityRow, f: &Fixable, prefix: &str, error: Option<String>) -> Reply {
    let mut reply = Reply::new().section(Text::plain(format!("{} — {}", service.name, f.prompt)));
    if let Some(error) = &error {
        reply = reply.hint(Text::plain(error.clone()));
    }
    if !f.choices.is_empty() {
        return reply.actions(
            f.choices
                .iter()
                .map(|c| Element::Button {
                    label: (*c).into(),
                    action: Action::run(format!("{prefix} {c}")),
                    style: ButtonStyle::Default,
                })
                .collect(),
        );
    }
    reply.form = Some(Form {
        id: format!("fix:{}:{}", service.id, f.field),
        title: format!("Fix {}", service.name),
        text_input: Some(TextInput {
            label: f.prompt.into(),
            initial: None,
        }),
        error,
        finished: false,
        fields: Vec::new(),
        error_field: None,
        submit: None,
    });
    reply.expect_text(prefix.to_string())
}

fn check(f: &Fixable, value: &str) -> Result<(), String> {
    if !f.choices.is_empty() && !f.choices.contains(&value) {
        return Err(format!(
            "`{value}` isn't a {}: pick one of {}.",
            f.field,
            f.choices.join(", ")
        ));
    }
    match f.field {
        "runbook" | "docs" | "repo" => match reqwest::Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
            _ => Err(format!(
                "'{value}' isn't a web address for the {}: paste the https://… URL.",
                f.field
            )),
        },
        "description" if value.chars().count() > 500 => Err(
            "The description is too long: one or two sentences (at most 500 characters).".into(),
        ),
        _ => Ok(()),
    }
}

/// The YAML to add to the descriptor: every change in one snippet, in
/// the places Backstage's format puts them.
fn yaml_change(changes: &[(&Fixable, String)]) -> String {
    let value_of = |field: &str| {
        changes
            .iter()
            .find(|(f, _)| f.field == field)
            .map(|(_, v)| v.as_str())
    };
    let mut metadata = Vec::new();
    if let Some(d) = value_of("description") {
        metadata.push(format!(
            "  description: {}",
            serde_json::to_string(d).unwrap_or_default()
        ));
    }
    let mut annotations = Vec::new();
    if let Some(t) = value_of("tier") {
        annotations.push(format!("    usher.dev/tier: \"{t}\""));
    }
    if let Some(r) = value_of("repo") {
        annotations.push(format!("    backstage.io/source-location: url:{r}"));
    }
    if !annotations.is_empty() {
        metadata.push(format!("  annotations:\n{}", annotations.join("\n")));
    }
    let links: Vec<String> = ["runbook", "docs"]
        .iter()
        .filter_map(|link| {
            let url = value_of(link)?;
            let title = if *link == "runbook" {
                "Runbook"
            } else {
                "Docs"
            };
            Some(format!(
                "    - url: {url}\n      title: {title}\n      type: {link}"
            ))
        })
        .collect();
    if !links.is_empty() {
        metadata.push(format!("  links:\n{}", links.join("\n")));
    }
    let mut out = Vec::new();
    if !metadata.is_empty() {
        out.push(format!("metadata:\n{}", metadata.join("\n")));
    }
    if let Some(l) = value_of("lifecycle") {
        out.push(format!("spec:\n  lifecycle: {l}"));
    }
    out.join("\n")
}

/// Writes the value into usher's catalog (a service created in chat).
async fn save(
    core: &Core,
    request: &Request,
    service: &EntityRow,
    changes: &[(&Fixable, String)],
) -> Result<(), sqlx::Error> {
    let mut tx = core.pool.begin().await?;
    for (f, value) in changes {
        save_one(&mut tx, service, f, value).await?;
    }
    let details: serde_json::Map<String, serde_json::Value> = changes
        .iter()
        .map(|(f, v)| (f.field.to_string(), json!(v)))
        .collect();
    sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'hygiene.fix', $2, $3)")
        .bind(request.actor.audit_name())
        .bind(&service.key)
        .bind(json!(details))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// One field, written in the row, its stored document and its links.
async fn save_one(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    service: &EntityRow,
    f: &Fixable,
    value: &str,
) -> Result<(), sqlx::Error> {
    match f.field {
        "description" | "lifecycle" => {
            // A column, and its place in the stored document (constants).
            let (column, path) = if f.field == "description" {
                ("description", "{metadata,description}")
            } else {
                ("lifecycle", "{spec,lifecycle}")
            };
            crate::catalog::read_model::note_local_write();
            let sql = format!(
                "UPDATE entities SET {column} = $2, raw = jsonb_set(raw, '{path}', to_jsonb($2::text)), updated_at = now() WHERE id = $1"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(service.id)
                .bind(value)
                .execute(&mut **tx)
                .await?;
        }
        "tier" => {
            crate::catalog::import::set_annotation(tx, &service.key, "usher.dev/tier", value)
                .await?;
        }
        "repo" => {
            crate::catalog::import::set_annotation(
                tx,
                &service.key,
                "backstage.io/source-location",
                &format!("url:{value}"),
            )
            .await?;
        }
        link => {
            let title = if link == "runbook" { "Runbook" } else { "Docs" };
            let entry = json!({ "url": value, "title": title, "type": link });
            crate::catalog::read_model::note_local_write();
            sqlx::query(
                "INSERT INTO links (entity_id, position, category, title, url, icon)
                 SELECT $1, coalesce(max(position) + 1, 0), $2, $3, $4, NULL FROM links WHERE entity_id = $1",
            )
            .bind(service.id)
            .bind(link)
            .bind(title)
            .bind(value)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "UPDATE entities SET raw = jsonb_set(raw, '{metadata,links}', coalesce(raw->'metadata'->'links', '[]') || jsonb_build_array($2::jsonb)), updated_at = now() WHERE id = $1",
            )
            .bind(service.id)
            .bind(entry)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Queues the pull request (through the outbox), audit-logged: one for
/// all the fields given together.
async fn propose(
    core: &Core,
    request: &Request,
    service: &EntityRow,
    changes: &[(&Fixable, String)],
) -> Result<(), sqlx::Error> {
    let fields: Vec<&str> = changes.iter().map(|(f, _)| f.field).collect();
    let listed: Vec<FieldChange> = changes
        .iter()
        .map(|(f, v)| FieldChange {
            field: f.field.to_string(),
            value: v.clone(),
        })
        .collect();
    let values: Vec<&str> = changes.iter().map(|(_, v)| v.as_str()).collect();
    let mut tx = core.pool.begin().await?;
    crate::actions::outbox::enqueue(
        &mut tx,
        &crate::actions::outbox::NewJob::new(
            service.source_file.clone().unwrap_or_default(),
            &HygieneProposal {
                service: service.name.clone(),
                service_ref: service.key.clone(),
                changes: listed.clone(),
                source_file: service.source_file.clone(),
                source_line: service.source_line,
                requested_by: request.actor.display.clone(),
                field: None,
                value: None,
            },
            // The values hashed: a description can be long, and the key is
            // a unique index entry.
            format!(
                "hygiene-proposal:{}:{}:{}",
                service.key,
                fields.join(","),
                {
                    use sha2::Digest;
                    let digest =
                        sha2::Sha256::digest(serde_json::to_vec(&values).unwrap_or_default());
                    digest
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                }
            ),
        ),
        core.config.outbox.max_attempts,
    )
    .await?;
    sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'hygiene.propose', $2, $3)")
        .bind(request.actor.audit_name())
        .bind(&service.key)
        .bind(json!({ "changes": listed }))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
