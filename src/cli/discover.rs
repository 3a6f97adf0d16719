//! `usher discover`: every repository accounted for.

use super::*;

/// Repositories listed by name before "and N more".
const LISTED: usize = 25;

/// `usher discover --path DIR [--dry-run]`.
pub(crate) async fn discover(
    env: &Env,
    config: &Config,
    args: DiscoverArgs,
) -> anyhow::Result<ExitCode> {
    let Some(dir) = args.path else {
        return scan_sources(env, config, args.dry_run).await;
    };
    if !dir.is_dir() {
        bail!(
            "{} is not a folder; give the folder your clones are in (`ghorg clone` leaves one per organisation)",
            dir.display()
        );
    }
    let db = open(env).await?;
    let options = loader::LoadOptions::from_config_with(config, Some(db.pool.clone()));
    let result = usher::discovery::scan_folder(
        &db.pool,
        &dir,
        &options,
        &format!("cli:{}", os_user()),
        args.dry_run,
    )
    .await;
    db.close().await;
    let summary = result?;
    print!("{}", report(&summary, args.dry_run));
    Ok(if summary.repositories == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `usher discover`: every `[[discovery]]` source of usher.toml, once.
async fn scan_sources(env: &Env, config: &Config, dry_run: bool) -> anyhow::Result<ExitCode> {
    if config.discovery.is_empty() {
        bail!(
            "usher.toml has no [[discovery]] sources: add a GitHub organisation (type = \"github\", org = \"acme\") or a GitLab group (type = \"gitlab\", group = \"acme\"), or scan a folder of clones with `usher discover --path DIR`"
        );
    }
    let db = open(env).await?;
    let options = loader::LoadOptions::from_config_with(config, Some(db.pool.clone()));
    let mut failed = false;
    for entry in &config.discovery {
        let Some(token) = entry.token() else {
            eprintln!(
                "usher: {}: {} is not set; give it a token that can read {}'s repositories",
                entry.source(),
                entry.token_env,
                entry.scope()
            );
            failed = true;
            continue;
        };
        let actor = format!("cli:{}", os_user());
        match usher::discovery::scan_source(&db.pool, entry, &token, &options, &actor, dry_run)
            .await
        {
            Ok((summary, cost)) => {
                print!("{}", report(&summary, dry_run));
                println!("  {}", cost_line(&cost));
            }
            Err(e) => {
                eprintln!("usher: {}: {e}", entry.source());
                failed = true;
            }
        }
    }
    db.close().await;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// What the scan cost, as the host counts it: GitHub's rate-limit points
/// (and what is left this hour), GitLab's complexity scores.
fn cost_line(cost: &usher::discovery::ApiCost) -> String {
    if let Some(limit) = cost.complexity_limit {
        return format!(
            "{} GraphQL: {} calls, complexity {} in all ({limit} at most a query)",
            cost.host, cost.calls, cost.points
        );
    }
    format!(
        "{} GraphQL: {} calls, {} points{}",
        cost.host,
        cost.calls,
        cost.points,
        match (cost.remaining, cost.resets_at) {
            (Some(left), Some(at)) => format!(" ({left} left until {})", at.format("%H:%M UTC")),
            (Some(left), None) => format!(" ({left} left this hour)"),
            _ => String::new(),
        }
    )
}

/// What `usher discover` prints.
fn report(s: &usher::discovery::ScanSummary, dry_run: bool) -> String {
    let mut out = String::new();
    let unchanged = (s.repositories as usize).saturating_sub(s.read);
    out.push_str(&format!(
        "{}{}: {} repositories ({} read, {} unchanged since the last scan{})\n",
        if dry_run {
            "dry run — nothing written. "
        } else {
            ""
        },
        s.source.trim_start_matches("path:"),
        s.repositories,
        s.read,
        unchanged,
        if s.gone > 0 {
            format!(", {} gone from the folder", s.gone)
        } else {
            String::new()
        }
    ));
    out.push_str(&format!(
        "  {} described, {} without a descriptor ({} with a likely owner), {} archived\n",
        s.described, s.undescribed, s.with_likely_owner, s.archived
    ));
    if s.repositories == 0 {
        out.push_str("  no git repositories here: give the folder that holds the clones (DIR/repo or DIR/org/repo)\n");
    }
    for (location, entities, errors) in &s.imported {
        if dry_run {
            out.push_str(&format!("  would import {location}\n"));
        } else {
            out.push_str(&format!(
                "  imported {location}: {entities} entities{}\n",
                if *errors > 0 {
                    format!(", {errors} errors (`usher catalog validate {location}` lists them)")
                } else {
                    String::new()
                }
            ));
        }
    }
    for (descriptor, why) in &s.not_imported {
        out.push_str(&format!("  not imported {descriptor}: {why}\n"));
    }
    if s.manifests > 0 || !s.unreadable_manifests.is_empty() {
        out.push_str(&format!(
            "  dependencies: {} packages from {} manifests and lockfiles read this time\n",
            s.packages, s.manifests
        ));
    }
    if let Some(g) = &s.dependency_graphs {
        out.push_str(&format!(
            "  GitHub dependency graphs: {} read, {} without one{} ({} REST calls)\n",
            g.read,
            g.unavailable,
            if g.deferred > 0 {
                format!(", {} left for the next scan (REST budget)", g.deferred)
            } else {
                String::new()
            },
            g.calls
        ));
    }
    for (name, why) in &s.unreadable {
        out.push_str(&format!("  could not read {name}: {why}\n"));
    }
    for (name, note) in s.unreadable_manifests.iter().take(LISTED) {
        out.push_str(&format!("  dependencies not read in {name}: {note}\n"));
    }
    if !s.undescribed_list.is_empty() {
        out.push_str("without a descriptor (read this time):\n");
        let width = s
            .undescribed_list
            .iter()
            .take(LISTED)
            .map(|u| u.name.chars().count())
            .max()
            .unwrap_or(0);
        for u in s.undescribed_list.iter().take(LISTED) {
            let line = match (&u.owner, &u.why_no_owner) {
                (Some(owner), _) => format!("likely {} — {}", owner.team, owner.evidence),
                (None, Some(why)) => format!("no likely owner: {why}"),
                (None, None) => "no likely owner".to_string(),
            };
            out.push_str(&format!("  {:width$}  {line}\n", u.name));
        }
        if s.undescribed_list.len() > LISTED {
            out.push_str(&format!(
                "  … and {} more\n",
                s.undescribed_list.len() - LISTED
            ));
        }
    }
    out
}
