//! `usher catalog …`: import, validate, add-location, import-sbom, locations,
//! export.

use super::*;

pub(crate) fn sources(paths: &[String]) -> Vec<Source> {
    paths.iter().map(|p| Source::from_arg(p)).collect()
}

pub(crate) async fn import(
    env: &Env,
    config: &Config,
    paths: &[String],
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    );
    let result = catalog::import_roots(
        &db.pool,
        &sources(paths),
        &usher::catalog::loader::LoadOptions::from_config_with(config, Some(db.pool.clone())),
        &actor,
        dry_run,
    )
    .await;
    db.close().await;
    let results = result?;
    let mut errors = 0;
    for location in &results {
        let mut problems = location.loaded.problems.clone();
        problems.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
        for p in &problems {
            println!("{p}");
        }
        errors += location.loaded.error_count();
        let o = &location.outcome;
        let read = format!(
            "{} entities from {} files",
            location.loaded.entity_count, location.loaded.files_read
        );
        let verb = if location.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        };
        println!(
            "{}: {read}{verb}: {} added, {} changed, {} removed, {} unchanged; {} errors, {} warnings ({} ms)",
            location.target,
            o.added,
            o.changed,
            o.removed,
            o.unchanged,
            o.errors,
            o.warnings,
            o.duration_ms
        );
    }
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) async fn validate(
    env: &Env,
    config: &Config,
    paths: &[String],
    strict: bool,
    offline: bool,
) -> anyhow::Result<ExitCode> {
    let mut entities = loader::Collect::default();
    let mut loaded = loader::load(
        &sources(paths),
        &usher::catalog::loader::LoadOptions::from_config(config),
        &loader::Reuse::default(),
        &mut entities,
    )
    .await?;
    let entities = entities.0;
    // References resolve against all files given and, when a database is
    // reachable (DATABASE_URL, or a local cluster already initialised),
    // the catalog.
    let db_reachable =
        !offline && (env.database_url.is_some() || local_cluster_exists(&env.data_dir));
    let mut known = std::collections::HashSet::new();
    if db_reachable {
        match Database::open(&usher::db::DbSettings::from_env(env)).await {
            Ok(db) => {
                known = catalog::import::known_refs(&db.pool, &loader::referenced_keys(&entities))
                    .await?;
                let clashes = catalog::import::case_clashes(&db.pool, &entities).await?;
                loaded.problems.extend(clashes);
                db.close().await;
            }
            Err(e) => eprintln!(
                "usher: the catalog is not reachable, so references resolve against these files only ({e})"
            ),
        }
    }
    let dangling = loader::check_references(&entities, &known);
    loaded.problems.extend(dangling);
    let mut problems = loaded.problems.clone();
    problems.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
    for p in &problems {
        println!("{p}");
    }
    let (errors, warnings) = (loaded.error_count(), loaded.warning_count());
    eprintln!(
        "{} files, {} entities: {errors} errors, {warnings} warnings",
        loaded.files_read,
        entities.len()
    );
    let failed = errors > 0 || (strict && warnings > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) async fn add_location(
    env: &Env,
    config: &Config,
    target: &str,
    schedule: Option<&str>,
    no_import: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(text) = schedule {
        usher::schedule::Schedule::parse(text, "")
            .map_err(|why| anyhow::anyhow!("--schedule: {why}"))?;
    }
    let source = Source::from_arg(target);
    if let Source::File(path) = &source
        && !path.exists()
    {
        bail!("{target} does not exist; give a URL, or the path of a descriptor file or folder");
    }
    let db = open(env).await?;
    let result = async {
        catalog::refresh::remember(&db.pool, &source, schedule, &format!("cli:{}", os_user())).await?;
        println!(
            "remembered {}; usher serve refreshes it {}",
            source.location_key(),
            match schedule {
                Some(s) => format!("on the schedule '{s}'"),
                None => format!("on the default schedule '{}'", config.catalog.refresh_schedule),
            }
        );
        if !no_import {
            let done = catalog::import_one(
                &db.pool,
                &source,
                catalog::refresh::kind_of(&source),
                &usher::catalog::loader::LoadOptions::from_config_with(config, Some(db.pool.clone())),
                &format!("cli:{}", os_user()),
                false,
            )
            .await?;
            for p in &done.loaded.problems {
                println!("{p}");
            }
            let o = &done.outcome;
            println!(
                "imported now: {} added, {} changed, {} removed, {} unchanged; {} errors, {} warnings",
                o.added, o.changed, o.removed, o.unchanged, o.errors, o.warnings
            );
        }
        anyhow::Ok(ExitCode::SUCCESS)
    }
    .await;
    db.close().await;
    result
}

pub(crate) async fn import_sbom(
    env: &Env,
    service: &str,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    use usher::catalog::model::{EntityRef, Kind};
    use usher::catalog::{sbom, store};
    let mut parsed = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let (format, packages) =
            sbom::parse(&text).map_err(|why| anyhow::anyhow!("{}: {why}", file.display()))?;
        parsed.push((file, format, packages));
    }
    let db = open(env).await?;
    let result = async {
        let row = match EntityRef::parse(service, Some(Kind::Component), "default") {
            Ok(r) if service.contains(':') || service.contains('/') => store::find_by_ref(&db.pool, &r.key()).await?,
            _ => {
                let mut rows = store::find_by_name(&db.pool, &Kind::OWNED, service).await?;
                if rows.len() > 1 {
                    let refs: Vec<String> = rows.iter().map(|r| r.command_ref()).collect();
                    bail!("several entities are called {service}: {}; pass the full reference", refs.join(", "));
                }
                rows.pop()
            }
        };
        let Some(row) = row else {
            bail!("there is no service called {service} in the catalog; import its descriptor first");
        };
        let mut tx = db.pool.begin().await?;
        for (file, format, packages) in &parsed {
            let source = format!("sbom:{}", file.display());
            sbom::replace(&mut tx, row.id, &source, packages).await?;
            println!(
                "{}: {} packages ({:?}) for {}",
                file.display(),
                packages.len(),
                format,
                row.short()
            );
        }
        sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'catalog.import-sbom', $2, $3)")
            .bind(format!("cli:{}", os_user()))
            .bind(&row.key)
            .bind(serde_json::json!({ "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>() }))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        anyhow::Ok(ExitCode::SUCCESS)
    }
    .await;
    db.close().await;
    result
}

pub(crate) async fn locations(env: &Env) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    let rows = catalog::refresh::list(&db.pool).await;
    db.close().await;
    let rows = rows?;
    if rows.is_empty() {
        println!(
            "no locations yet: `usher catalog import PATH_OR_URL` or `usher catalog add-location URL`"
        );
    }
    for l in rows {
        let outcome = l
            .last_outcome
            .as_ref()
            .map(|o| {
                format!(
                    "+{} ~{} -{} ={} ({} errors, {} warnings, {} ms)",
                    o["added"],
                    o["changed"],
                    o["removed"],
                    o["unchanged"],
                    o["errors"],
                    o["warnings"],
                    o["duration_ms"]
                )
            })
            .unwrap_or_else(|| "never imported".to_string());
        println!("{}", l.target);
        println!(
            "  {} · {} entities · {} problems · last import {} · {}",
            l.kind,
            l.entities,
            l.problems,
            l.refreshed_at
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_else(|| "—".into()),
            outcome
        );
        if l.remembered {
            println!(
                "  refreshed by usher serve on '{}'; next {}",
                l.schedule.as_deref().unwrap_or("the default schedule"),
                l.next_refresh_at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "now".into())
            );
        }
        if let Some(e) = l.last_error {
            println!("  last refresh failed: {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn export(env: &Env, output: &str) -> anyhow::Result<ExitCode> {
    use usher::catalog::export::{self, Output};
    let db = open(env).await?;
    let target = if output == "-" {
        Output::Stdout
    } else {
        Output::Dir(PathBuf::from(output))
    };
    let result = export::export(&db.pool, &target).await;
    db.close().await;
    let done = result?;
    if let Output::Dir(dir) = &target {
        let files: Vec<String> = done
            .files
            .iter()
            .map(|(f, n)| format!("{f} ({n})"))
            .collect();
        println!(
            "exported {} entities to {}: {}; import or validate {}",
            done.entities,
            dir.display(),
            files.join(", "),
            dir.join("catalog-info.yaml").display()
        );
    } else {
        eprintln!("exported {} entities", done.entities);
    }
    Ok(ExitCode::SUCCESS)
}
