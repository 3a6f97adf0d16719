//! `usher directory sync`: read the LDAP sources now and import the
//! directory — what an admin runs when connecting a directory, to see
//! what each source gives before `usher serve` takes over.

use super::*;
use usher::directory::{self, catalog::Synced};

/// `usher directory sync [--source NAME] [--dry-run]`.
pub(crate) async fn directory_sync(
    env: &Env,
    config: &Config,
    only: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let sources: Vec<_> = config
        .directory
        .ldap
        .iter()
        .filter(|s| only.is_none_or(|name| s.name.eq_ignore_ascii_case(name)))
        .collect();
    if let Some(name) = only
        && sources.is_empty()
    {
        bail!(
            "no [[directory.ldap]] source is named {name:?}; usher.toml names: {}",
            config
                .directory
                .ldap
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !config.directory.connected() {
        bail!(
            "no directory is connected: add a [[directory.ldap]] source to usher.toml, or set USHER_SCIM_TOKEN for SCIM (the README's \"Directory sync\" says how)"
        );
    }
    let db = open(env).await?;
    let mut fresh = Vec::new();
    let mut failed = false;
    for source in sources {
        let read = if dry_run {
            directory::ldap::read(source).await
        } else {
            directory::ldap::pull(&db.pool, source).await
        };
        match read {
            Ok(read) => {
                println!(
                    "{}: {} people ({} inactive), {} groups",
                    source.key(),
                    read.people.len(),
                    read.people.iter().filter(|p| !p.active).count(),
                    read.groups.len()
                );
                fresh.push(read);
            }
            Err(error) => {
                failed = true;
                println!("{}: ✘ {error} (its last good read is used)", source.key());
            }
        }
    }
    let options = loader::LoadOptions::from_config_with(config, Some(db.pool.clone()));
    let actor = format!("cli:{}", os_user());
    let (synced, composed) = directory::catalog::sync_with(
        &db.pool,
        &options,
        &config.directory,
        &fresh,
        &actor,
        dry_run,
    )
    .await?;
    println!(
        "the directory: {} people, {} teams{}",
        composed.people,
        composed.teams,
        if composed.unknown_members > 0 {
            format!(
                "; {} group members not found among the people read (outside the users' base DNs or filter?)",
                composed.unknown_members
            )
        } else {
            String::new()
        }
    );
    let code = match synced {
        Synced::Held(held) => {
            println!(
                "held back: it would remove more than {:.0}% of a team's active members:",
                config.directory.max_removal_share * 100.0
            );
            for (team, removed, of) in &held.teams {
                println!("  {team}: {removed} of {of}");
            }
            if !dry_run {
                directory::tell_admins(&db.pool, config, &held).await?;
                println!(
                    "the admins were asked to confirm it (`directory confirm {}` in chat)",
                    held.fingerprint
                );
            }
            ExitCode::from(1)
        }
        Synced::Imported(imported) => {
            let (loaded, outcome) = *imported;
            for p in &loaded.problems {
                println!("{p}");
            }
            println!(
                "{}: {} added, {} changed, {} removed, {} unchanged; {} errors, {} warnings{}",
                directory::catalog::LOCATION,
                outcome.added,
                outcome.changed,
                outcome.removed,
                outcome.unchanged,
                outcome.errors,
                outcome.warnings,
                if dry_run {
                    " (dry run: nothing written)"
                } else {
                    ""
                }
            );
            if failed || loaded.error_count() > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
    };
    db.close().await;
    Ok(code)
}
