//! Directory sync: people and teams from the identity provider. Sources:
//! the SCIM 2.0 service provider ([`scim`]) keeps what identity providers
//! push, and [`ldap`] reads LDAP / Active Directory servers on a schedule.
//! [`model`] composes them into the catalog's people and teams and
//! [`catalog`] imports that, which `usher serve` does a minute after any
//! source changed ([`scheduled`]).

pub mod catalog;
pub mod ldap;
pub mod model;
pub mod scim;

use std::sync::{Arc, Mutex};

/// `usher serve`'s tasks: each LDAP source read on its schedule, and —
/// when any directory is connected — each minute (once across replicas)
/// the directory imported again if a source changed since.
pub fn scheduled(
    pool: &sqlx::PgPool,
    config: &Arc<crate::config::Config>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = ldap::scheduled(pool, config, stop);
    if !config.directory.connected() {
        return tasks;
    }
    let Ok(schedule) = crate::schedule::Schedule::parse("* * * * *", "") else {
        return tasks;
    };
    let last: Arc<Mutex<Option<(i64, i64)>>> = Arc::default();
    let (pool, config) = (pool.clone(), config.clone());
    tasks.push(tokio::spawn(crate::periodic::run(
        pool.clone(),
        "directory:sync",
        schedule,
        stop.clone(),
        move || {
            let (pool, config, last) = (pool.clone(), config.clone(), last.clone());
            async move {
                let now = match catalog::fingerprint(&pool).await {
                    Ok(f) => f,
                    Err(e) => return serde_json::json!({ "error": e.to_string() }),
                };
                if *last.lock().expect("not poisoned") == Some(now) {
                    return serde_json::json!({ "unchanged": true });
                }
                let options = crate::catalog::loader::LoadOptions::from_config_with(
                    &config,
                    Some(pool.clone()),
                );
                match catalog::sync(&pool, &options, &config.directory, "directory").await {
                    Ok(catalog::Synced::Imported(imported)) => {
                        let (loaded, outcome) = *imported;
                        *last.lock().expect("not poisoned") = Some(now);
                        serde_json::json!({
                            "entities": loaded.entity_count, "added": outcome.added,
                            "changed": outcome.changed, "removed": outcome.removed,
                            "errors": outcome.errors,
                        })
                    }
                    Ok(catalog::Synced::Held(held)) => {
                        if let Err(e) = tell_admins(&pool, &config, &held).await {
                            tracing::warn!(error = %e, "directory: telling the admins failed");
                        }
                        serde_json::json!({ "held": held.fingerprint })
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "directory: importing the directory failed");
                        serde_json::json!({ "error": e.to_string() })
                    }
                }
            }
        },
    )));
    tasks
}

/// Asks the admins, once per change, to confirm a sync that was held back.
pub async fn tell_admins(
    pool: &sqlx::PgPool,
    config: &crate::config::Config,
    held: &catalog::Held,
) -> Result<(), sqlx::Error> {
    use crate::chat::{Action, ButtonStyle, Element, Reply, Text};
    let mut lines = Text::plain(format!(
        "The identity provider's latest changes would remove more than {:.0}% of a team's active members, so usher hasn't applied them:",
        config.directory.max_removal_share * 100.0
    ));
    for (team, removed, of) in held.teams.iter().take(10) {
        lines = lines.add_plain(format!("\n• {team}: {removed} of {of} active members"));
    }
    let reply = Reply::new()
        .header("Directory sync held back")
        .section(lines)
        .actions(vec![Element::Button {
            label: "Apply it".into(),
            action: Action::run(format!("directory confirm {}", held.fingerprint)),
            style: ButtonStyle::Danger,
        }])
        .context(Text::plain(
            "If that's a mistake (a filter or an assignment gone wrong), fix it in the identity provider: usher tries again each minute.",
        ));
    let admins: Vec<String> = config
        .admins
        .people
        .iter()
        .filter_map(|a| {
            crate::catalog::model::EntityRef::parse(
                a.trim(),
                Some(crate::catalog::model::Kind::User),
                "default",
            )
            .ok()
            .map(|r| r.key())
        })
        .collect();
    let mut tx = pool.begin().await?;
    for admin in &admins {
        let job = crate::actions::outbox::NewJob::new(
            format!("dm:{admin}"),
            &crate::actions::jobs::ChatMessage::whole(&reply),
            format!("directory-guard:{}:{admin}", held.fingerprint),
        );
        crate::actions::outbox::enqueue(&mut tx, &job, config.outbox.max_attempts).await?;
    }
    tx.commit().await
}
