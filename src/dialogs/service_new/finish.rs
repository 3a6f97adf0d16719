//! The end of the creation dialogue: the descriptor the answers make, its
//! confirmation, the submission (the catalog entity and the automation's
//! outbox jobs in one transaction), and the status and retry of those jobs.

use super::*;
use crate::actions::jobs::AutomationStep;
use crate::config::ActionConfig;

/// The descriptor the service will have.
pub fn descriptor(core: &Core, dialog: &Dialog) -> Value {
    let a = |k: &str| dialog.answer(k).unwrap_or_default().to_string();
    let name = a("name");
    let mut annotations = Map::new();
    annotations.insert("usher.dev/tier".into(), json!(a("tier")));
    annotations.insert("usher.dev/language".into(), json!(a("language")));
    if let Some(f) = dialog.answer("framework") {
        annotations.insert("usher.dev/framework".into(), json!(f));
    }
    let databases: Vec<String> = dialog
        .answers
        .0
        .get("databases")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .filter_map(Value::as_str)
                .filter(|d| *d != "none")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if !databases.is_empty() {
        annotations.insert("usher.dev/databases".into(), json!(databases.join(",")));
    }
    match dialog.answer("oncall").unwrap_or_default() {
        v if v.starts_with("pagerduty:") => {
            annotations.insert(
                "pagerduty.com/service-id".into(),
                json!(v.trim_start_matches("pagerduty:")),
            );
        }
        v if v.starts_with("opsgenie:") => {
            annotations.insert(
                "opsgenie.com/team".into(),
                json!(v.trim_start_matches("opsgenie:")),
            );
        }
        _ => {}
    }
    for action in &core.config.actions {
        if let ActionConfig::GithubRepo { owner, web_url, .. } = action {
            annotations.insert(
                "github.com/project-slug".into(),
                json!(format!("{owner}/{name}")),
            );
            annotations.insert(
                "backstage.io/source-location".into(),
                json!(format!(
                    "url:{}/{owner}/{name}",
                    web_url.trim_end_matches('/')
                )),
            );
        }
    }
    if let Some(person) = &dialog.actor.0.person {
        annotations.insert("usher.dev/created-by".into(), json!(person.key));
    }
    let mut spec = Map::new();
    spec.insert("type".into(), json!("service"));
    spec.insert("lifecycle".into(), json!(a("lifecycle")));
    spec.insert("owner".into(), json!(a("team")));
    if let Some(system) = dialog.answer("system").filter(|s| *s != "none") {
        spec.insert("system".into(), json!(system));
    }
    json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {
            "name": name,
            "description": a("purpose"),
            "annotations": annotations,
            "tags": [a("language")],
        },
        "spec": spec,
    })
}

/// The YAML of a descriptor.
pub fn yaml(descriptor: &Value) -> String {
    serde_yaml_ng::to_string(descriptor).unwrap_or_default()
}

pub(super) async fn confirm(core: &Core, dialog: &Dialog) -> Result<Reply, sqlx::Error> {
    let id = dialog.id;
    let doc = descriptor(core, dialog);
    let a = |k: &str| dialog.answer(k).unwrap_or("—").to_string();
    let mut fields = vec![
        Field {
            label: "Name".into(),
            value: Text::new().add_bold(a("name")),
        },
        Field {
            label: "Team".into(),
            value: Text::plain(short(&a("team"))),
        },
        Field {
            label: "System".into(),
            value: Text::plain(
                dialog
                    .answer("system")
                    .filter(|s| *s != "none")
                    .map(short)
                    .unwrap_or_else(|| "none".into()),
            ),
        },
        Field {
            label: "Does".into(),
            value: Text::plain(a("purpose")),
        },
        Field {
            label: "Stack".into(),
            value: Text::plain(format!(
                "{} · {}",
                a("language"),
                dialog.answer("framework").unwrap_or("no framework")
            )),
        },
        Field {
            label: "Tier · lifecycle".into(),
            value: Text::plain(format!("{} · {}", a("tier"), a("lifecycle"))),
        },
        Field {
            label: "On call".into(),
            value: Text::plain(a("oncall")),
        },
    ];
    if !core.config.actions.is_empty() {
        fields.push(Field {
            label: "Then".into(),
            value: Text::plain(
                core.config
                    .actions
                    .iter()
                    .map(ActionConfig::name)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        });
    }
    let mut reply = Reply::new()
        .header(format!(
            "New service — Confirm ({} of {})",
            Stage::shown(Stage::Confirm).len(),
            Stage::shown(Stage::Confirm).len()
        ))
        .fields(fields)
        .section(Text::plain("The catalog-info.yaml that will be written:"))
        .section(Text::new().add_pre(yaml(&doc)))
        .actions(vec![
            button(
                "Submit",
                format!("dialog answer {id} confirm submit"),
                ButtonStyle::Primary,
            ),
            button("Back", format!("dialog back {id}"), ButtonStyle::Default),
            button("Cancel", format!("dialog cancel {id}"), ButtonStyle::Danger),
        ])
        .hint(Text::plain("Type submit, back or cancel."))
        .expect_text(format!("dialog answer {id} confirm"));
    reply.form = Some(form(id, None, false));
    Ok(reply)
}

/// Creates the service: the entity, one automation job per configured
/// action, the audit entry and the end of the dialogue, in one transaction.
pub(super) async fn submit(
    core: &Core,
    request: &Request,
    dialog: &mut Dialog,
) -> Result<Reply, sqlx::Error> {
    let now = core.clock.now();
    let doc = descriptor(core, dialog);
    let text = yaml(&doc);
    let stream = crate::catalog::yaml::parse_stream(&text);
    let Some(parsed) = stream.docs.first() else {
        return Ok(Reply::text(
            "Something went wrong writing the descriptor; nothing was created.",
        ));
    };
    let checked = crate::catalog::validate::check_document(
        parsed,
        "created in chat",
        &crate::catalog::validate::Rules::from_config(&core.config),
    );
    let Some(mut entity) = checked.entity else {
        let problems: Vec<String> = checked
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        return Ok(Reply::text(format!(
            "The service can't be created: {}",
            problems.join("; ")
        )));
    };
    entity.file = "created in chat".into();
    let service_ref = entity.eref.key();
    let mut tx = core.pool.begin().await?;
    if !crate::catalog::import::create_from_chat(&mut tx, &entity).await? {
        tx.rollback().await?;
        dialog.step = Stage::Name.id().into();
        save(&core.pool, dialog, now).await?;
        let reply = render(core, dialog).await?;
        return Ok(Reply::text(format!(
            "⚠ {} was taken a moment ago; choose another name.",
            entity.eref.name
        ))
        .pipe_into(reply));
    }
    for (position, action) in core.config.actions.iter().enumerate() {
        let name = action.name();
        sqlx::query(
            "INSERT INTO automation_steps (service_ref, action, position, status, updated_at) VALUES ($1, $2, $3, 'pending', $4)
             ON CONFLICT (service_ref, action) DO UPDATE SET status = 'pending', detail = NULL, url = NULL, updated_at = EXCLUDED.updated_at",
        )
        .bind(&service_ref)
        .bind(&name)
        .bind(position as i32)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let step = AutomationStep {
            service: service_ref.clone(),
            action: name.clone(),
            name: entity.eref.name.clone(),
            description: entity.description.clone(),
            owner: entity.owner.as_ref().map(|o| o.key()),
            system: entity.system.as_ref().map(|s| s.key()),
            catalog_info: text.clone(),
            descriptor: doc.clone(),
            requested_by: request.actor.audit_name(),
        };
        let job = NewJob::as_kind(
            crate::actions::automation::kind_of(action),
            name.clone(),
            &step,
            format!("action:{service_ref}:{name}"),
        );
        outbox::enqueue(&mut tx, &job, core.config.outbox.max_attempts).await?;
    }
    sqlx::query("INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, 'service.create', $3, $4)")
        .bind(now)
        .bind(request.actor.audit_name())
        .bind(&service_ref)
        .bind(json!({ "dialog": dialog.id, "descriptor": doc }))
        .execute(&mut *tx)
        .await?;
    finish(&mut tx, dialog.id, "done", Some(&service_ref), now).await?;
    tx.commit().await?;
    status(core, dialog.id, &service_ref, true).await
}

/// The new service and its automation steps: done (with their links),
/// running, or failed (with the reason and a Retry button).
pub async fn status(
    core: &Core,
    dialog_id: i64,
    service_ref: &str,
    just_created: bool,
) -> Result<Reply, sqlx::Error> {
    let steps: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT action, status, detail, url FROM automation_steps WHERE service_ref = $1 ORDER BY position",
    )
    .bind(service_ref)
    .fetch_all(&core.pool)
    .await?;
    let name = short(service_ref);
    let mut reply = Reply::new().header(if just_created {
        format!("✅ {name} is in the catalog")
    } else {
        format!("{name}: setting it up")
    });
    if just_created {
        reply = reply.section(
            Text::new()
                .add_bold(name.clone())
                .add_plain(" exists now: ")
                .add_code(format!("owner {name}"))
                .add_plain(" and ")
                .add_code(format!("service {name}"))
                .add_plain(" answer for it."),
        );
    }
    let mut actions = Vec::new();
    if steps.is_empty() {
        reply = reply.context(Text::plain(
            "Nothing else is set up automatically for new services here.",
        ));
    } else {
        let mut lines = Text::new();
        for (i, (action, state, detail, url)) in steps.iter().enumerate() {
            if i > 0 {
                lines = lines.add_plain("\n");
            }
            let icon = match state.as_str() {
                "done" => "✅",
                "failed" => "❌",
                "running" => "⏳",
                _ => "•",
            };
            lines = lines
                .add_plain(format!("{icon} "))
                .add_bold(action.clone())
                .add_plain(format!(" — {state}"));
            if let Some(url) = url {
                lines = lines.add_plain(": ").add_link(url.clone(), url.clone());
            }
            if let Some(d) = detail {
                lines = lines.add_plain(format!(" ({d})"));
            }
            if state == "failed" {
                actions.push(button(
                    &format!("Retry {action}"),
                    format!("dialog retry {dialog_id} {action}"),
                    ButtonStyle::Primary,
                ));
            }
        }
        reply = reply.section(lines);
        if steps.iter().any(|s| s.1 == "pending" || s.1 == "running") {
            actions.push(button(
                "Refresh",
                format!("dialog status {dialog_id}"),
                ButtonStyle::Default,
            ));
        }
    }
    actions.push(button(
        "Service card",
        format!("service {service_ref}"),
        ButtonStyle::Default,
    ));
    let mut reply = reply.actions(actions);
    reply.form = Some(form(dialog_id, None, true));
    Ok(reply)
}

/// Retries a failed automation step (the person who created the service,
/// or an admin).
pub async fn retry(core: &Core, service_ref: &str, action: &str) -> Result<String, sqlx::Error> {
    let key = format!("action:{service_ref}:{action}");
    let job: Option<(i64, String)> =
        sqlx::query_as("SELECT id, state FROM outbox WHERE idempotency_key = $1")
            .bind(&key)
            .fetch_optional(&core.pool)
            .await?;
    Ok(match job {
        None => format!("There's no step {action} for this service."),
        Some((_, state)) if state == "done" => format!("{action} is done already."),
        Some((id, state)) => {
            outbox::retry(&core.pool, id).await?;
            sqlx::query("UPDATE automation_steps SET status = 'pending', detail = NULL WHERE service_ref = $1 AND action = $2")
                .bind(service_ref)
                .bind(action)
                .execute(&core.pool)
                .await?;
            if state == "dead" {
                format!("{action} will be tried again now.")
            } else {
                format!("{action} is still being retried; it will run again now.")
            }
        }
    })
}
