//! `usher catalog import --from-backstage URL [--token-env NAME]`: a running
//! Backstage's catalog, read through its API and imported as one location
//! (`backstage:URL`), each entity keeping its origin — which also becomes
//! its source file, so "Fix now" proposes changes to the descriptor in git.

use super::*;

pub(crate) async fn import_from_backstage(
    env: &Env,
    config: &Config,
    url: &str,
    token_env: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let token = match token_env {
        Some(name) => Some(
            std::env::var(name)
                .ok()
                .filter(|t| !t.is_empty())
                .with_context(|| format!("{name} is not set; put Backstage's API token there"))?,
        ),
        None => None,
    };
    let fetched = match catalog::backstage::fetch(url, token.as_deref()).await {
        Ok(f) => f,
        Err(why) => {
            eprintln!("usher: {why}");
            return Ok(ExitCode::from(1));
        }
    };
    let base = url.trim_end_matches('/');
    println!(
        "backstage {base}: {} entities from {} origins in {} pages ({} Location entities left out: usher reads what they point at itself)",
        fetched.entities,
        fetched.by_origin.len(),
        fetched.pages,
        fetched.locations_left_out
    );
    // One file per origin, imported as one location.
    let files: Vec<(String, String)> = fetched
        .by_origin
        .iter()
        .map(|(origin, entities)| {
            (
                catalog::backstage::file_name(origin),
                catalog::backstage::documents(entities),
            )
        })
        .collect();
    let db = open(env).await?;
    let target = format!("backstage:{base}");
    let options = loader::LoadOptions::from_config_with(config, Some(db.pool.clone()));
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let (loaded, outcome) = catalog::import::import_generated(
        &db.pool, &target, &files, false, &options, &actor, dry_run,
    )
    .await?;
    if !dry_run {
        // The entity's origin is where it lives: a descriptor in git
        // (`url:…`) is what proposals edit and what people are pointed to.
        sqlx::query(
            "UPDATE entities e SET source_file = regexp_replace(
                 coalesce(e.annotations->>'backstage.io/managed-by-origin-location',
                          e.annotations->>'backstage.io/managed-by-location'), '^url:', ''),
                 source_line = NULL
             FROM locations l
             WHERE l.id = e.location_id AND l.target = $1
               AND coalesce(e.annotations->>'backstage.io/managed-by-origin-location',
                            e.annotations->>'backstage.io/managed-by-location') IS NOT NULL",
        )
        .bind(&target)
        .execute(&db.pool)
        .await?;
    }
    db.close().await;
    let mut problems = loaded.problems.clone();
    problems.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
    for p in &problems {
        println!("{p}");
    }
    println!(
        "{target}: {} entities{}: {} added, {} changed, {} removed, {} unchanged; {} errors, {} warnings ({} ms)",
        loaded.entity_count,
        if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        },
        outcome.added,
        outcome.changed,
        outcome.removed,
        outcome.unchanged,
        outcome.errors,
        outcome.warnings,
        outcome.duration_ms
    );
    Ok(if loaded.error_count() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
