//! Directory sync: people and teams from the identity provider. The SCIM
//! 2.0 service provider ([`scim`]) keeps what identity providers push;
//! [`catalog`] turns it into the catalog's people and teams, which `usher
//! serve` does a minute after SCIM changed ([`scheduled`]). The
//! LDAP/Active Directory pull follows (issue 20).

pub mod catalog;
pub mod scim;

use std::sync::{Arc, Mutex};

/// `usher serve`'s task: when SCIM is on, each minute (once across
/// replicas), the directory is imported again if SCIM changed since.
pub fn scheduled(
    pool: &sqlx::PgPool,
    config: &Arc<crate::config::Config>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    std::env::var("USHER_SCIM_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())?;
    let schedule = crate::schedule::Schedule::parse("* * * * *", "").ok()?;
    let last: Arc<Mutex<Option<(i64, i64)>>> = Arc::default();
    let (pool, config) = (pool.clone(), config.clone());
    Some(tokio::spawn(crate::periodic::run(
        pool.clone(),
        "directory:scim",
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
                match catalog::sync(&pool, &options, "scim").await {
                    Ok((loaded, outcome)) => {
                        *last.lock().expect("not poisoned") = Some(now);
                        serde_json::json!({
                            "entities": loaded.entity_count, "added": outcome.added,
                            "changed": outcome.changed, "removed": outcome.removed,
                            "errors": outcome.errors,
                        })
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "directory: importing what SCIM pushed failed");
                        serde_json::json!({ "error": e.to_string() })
                    }
                }
            }
        },
    )))
}
