//! `usher nag` (a round of hygiene digests, or its dry run) and `usher status`.

use super::*;

/// `usher nag --once [--dry-run] [--team T]`.
pub(crate) async fn nag(env: &Env, config: &Config, args: NagArgs) -> anyhow::Result<ExitCode> {
    use usher::hygiene::digest;
    if !args.once {
        bail!(
            "usher serve runs rounds on hygiene.schedule; `usher nag --once` runs one now (add --dry-run to only print it)"
        );
    }
    let db = open(env).await?;
    let team = match &args.team {
        Some(t) => {
            let key = usher::catalog::model::EntityRef::parse(
                t,
                Some(usher::catalog::model::Kind::Group),
                "default",
            )
            .map(|r| r.key())
            .map_err(|e| anyhow::anyhow!("--team {t}: {e}"))?;
            let known: Option<String> =
                // A team or person in the catalog, or an owner services
                // name that the catalog doesn't describe (it has a digest).
                sqlx::query_scalar(
                    "SELECT ref FROM entities WHERE ref = $1 AND kind IN ('group', 'user')
                     UNION SELECT owner_ref FROM entities WHERE owner_ref = $1 LIMIT 1",
                )
                .bind(&key)
                    .fetch_optional(&db.pool)
                    .await?;
            if known.is_none() {
                db.close().await;
                eprintln!(
                    "usher: --team {t}: no such team or owner in the catalog (`usher console` then `team {t}` suggests names)"
                );
                return Ok(ExitCode::from(2));
            }
            Some(key)
        }
        None => None,
    };
    let mut config = config.clone();
    config.hygiene.deliver_on = Some(usher::serve::posting_platforms(
        &usher::platforms::slack::SlackSettings::from_env(),
        &usher::platforms::discord::DiscordSettings::from_env(),
    ));
    let config = &config;
    let started = std::time::Instant::now();
    let digests = digest::build(&db.pool, config, team.as_deref(), !args.dry_run).await?;
    if args.dry_run {
        for d in &digests {
            println!(
                "=== {} ({} findings) → {}",
                d.team,
                d.findings.len(),
                d.destination.describe()
            );
            println!("{}\n", d.reply.to_plain());
        }
        print!("{}", digest::summary(&digests));
        println!(
            "{} digest(s) built in {:.2} s; nothing sent (--dry-run).",
            digests.len(),
            started.elapsed().as_secs_f64()
        );
    } else {
        let round = format!("once:{}", chrono::Utc::now().format("%Y-%m-%dT%H:%M"));
        let outcome = digest::send_round(&db.pool, config, &round, &digests).await?;
        println!(
            "round {round}: {} digest(s) queued, {} unchanged since the last (not re-sent), {} already sent this round, {} with no destination (reported to the admins). `usher outbox list` shows them.",
            outcome.sent, outcome.unchanged, outcome.already, outcome.undeliverable
        );
    }
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

/// `usher status`: the admins' `status`, at the shell.
pub(crate) async fn status(env: &Env, config: &Config) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    let mut config = config.clone();
    config.hygiene.deliver_on = Some(usher::serve::posting_platforms(
        &usher::platforms::slack::SlackSettings::from_env(),
        &usher::platforms::discord::DiscordSettings::from_env(),
    ));
    let core = Core::new(db.pool.clone(), Arc::new(config));
    let report = usher::commands::status::report(&core).await;
    db.close().await;
    println!("{}", report?.to_plain());
    Ok(ExitCode::SUCCESS)
}
