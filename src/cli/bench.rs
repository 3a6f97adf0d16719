//! `usher bench …`: the benchmarks that print figures.

use super::*;

pub(crate) async fn bench(
    env: &Env,
    config: &Config,
    cmd: BenchCommand,
) -> anyhow::Result<ExitCode> {
    use usher::bench::{catalog as catalog_bench, generate};
    match cmd {
        BenchCommand::Generate {
            services,
            out,
            seed,
        } => {
            let g = generate::generate(&out, &generate::Spec { services, seed })?;
            println!(
                "wrote {} files to {}: {} services, {} teams, {} people, {} systems ({} entities); import {}",
                g.files,
                out.display(),
                g.services,
                g.teams,
                g.people,
                g.systems,
                g.entities,
                g.root.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Catalog {
            services,
            lookups,
            packages,
            iterations,
        } => {
            let dir = std::env::temp_dir().join(format!("usher-bench-{}", std::process::id()));
            let started = std::time::Instant::now();
            use usher::bench::generate;
            let generated = generate::generate(&dir, &generate::Spec { services, seed: 42 })?;
            println!(
                "generated {} entities ({} services, {} teams, {} people) in {:.1} s",
                generated.entities,
                generated.services,
                generated.teams,
                generated.people,
                started.elapsed().as_secs_f64()
            );
            let scratch =
                usher::db::Scratch::create(&usher::db::DbSettings::from_env(env), "usher_bench")
                    .await?;
            let result = async {
                let figures = catalog_bench::run(
                    &scratch.db.pool,
                    &generated,
                    &usher::catalog::loader::LoadOptions::from_config(config),
                    lookups,
                )
                .await?;
                println!("{figures}");
                // Hygiene: every rule over the whole catalog, then the digests.
                let started = std::time::Instant::now();
                let findings = usher::hygiene::evaluate(
                    &scratch.db.pool,
                    &config.hygiene,
                    &usher::hygiene::Scope::default(),
                )
                .await?;
                let evaluated = started.elapsed();
                let digests =
                    usher::hygiene::digest::build(&scratch.db.pool, config, None, false).await?;
                let built = started.elapsed() - evaluated;
                let (_, peak) = usher::bench::memory_mb();
                println!(
                    "hygiene: {} rules over {} services in {:.2} s ({} findings); {} team digests built (rules evaluated again inside) in {:.2} s ({:.0}/s); peak RSS so far {peak:.0} MB",
                    usher::hygiene::rules::all().len(),
                    generated.services,
                    evaluated.as_secs_f64(),
                    findings.len(),
                    digests.len(),
                    built.as_secs_f64(),
                    digests.len() as f64 / built.as_secs_f64().max(1e-9),
                );
                if packages > 0 {
                    let started = std::time::Instant::now();
                    let rows =
                        usher::bench::commands::add_packages(&scratch.db.pool, packages).await?;
                    println!(
                        "added {rows} package rows in {:.1} s",
                        started.elapsed().as_secs_f64()
                    );
                }
                let mut timings =
                    usher::bench::commands::run(&scratch.db.pool, &generated, iterations).await?;
                timings.extend(
                    usher::bench::commands::oncall(&scratch.db.pool, &generated, iterations)
                        .await?,
                );
                println!("{}", usher::bench::commands::table(&timings));
                anyhow::Ok(())
            }
            .await;
            scratch.drop_now().await?;
            let _ = std::fs::remove_dir_all(&dir);
            result?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Discovery { repositories } => {
            let scratch =
                usher::db::Scratch::create(&usher::db::DbSettings::from_env(env), "usher_bench")
                    .await?;
            let result = usher::bench::discovery::run(&scratch.db.pool, config, repositories).await;
            scratch.drop_now().await?;
            println!("{}", result.map_err(|e| anyhow::anyhow!(e))?);
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Soak {
            minutes,
            services,
            concurrency,
            rate,
        } => {
            let spec = usher::bench::soak::SoakSpec {
                binary: std::env::current_exe().context("finding the usher binary")?,
                dir: env.data_dir.join("soak"),
                duration: std::time::Duration::from_secs_f64(minutes.max(0.5) * 60.0),
                services,
                concurrency: concurrency.max(1),
                rate,
            };
            let report = usher::bench::soak::run(&spec)
                .await
                .map_err(anyhow::Error::msg)?;
            print!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Slack(args) => bench_slack(env, config, args, false).await,
        BenchCommand::Discord(args) => bench_slack(env, config, args, true).await,
    }
}

/// `usher bench slack`: against --url, or a scene of its own.
pub(crate) async fn bench_slack(
    env: &Env,
    config: &Config,
    args: SlackBenchArgs,
    discord: bool,
) -> anyhow::Result<ExitCode> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use usher::bench::slack::{LoadKind, LoadSpec, load, refresh_while};
    let kind = if discord {
        LoadKind::DiscordOwner
    } else {
        LoadKind::Slack
    };
    let SlackBenchArgs {
        url,
        secret,
        services,
        concurrency,
        duration,
        refresh,
        team,
    } = args;
    let duration = std::time::Duration::from_secs(duration.max(1));
    let concurrency = concurrency.max(1);
    if let Some(url) = url {
        let Some(secret) = secret else {
            bail!("--url needs the server's signing secret: --secret or SLACK_SIGNING_SECRET");
        };
        let names = vec!["payments-api".to_string(), "checkout-api".to_string()];
        let spec = LoadSpec {
            url,
            signing_secret: secret,
            kind,
            concurrency,
            duration,
            names,
            team,
            each_once: false,
        };
        println!("{}", load(&spec).await);
        return Ok(ExitCode::SUCCESS);
    }
    let dir = std::env::temp_dir().join(format!("usher-bench-slack-{}", std::process::id()));
    use usher::bench::generate;
    let generated = generate::generate(&dir, &generate::Spec { services, seed: 42 })?;
    let scratch =
        usher::db::Scratch::create(&usher::db::DbSettings::from_env(env), "usher_bench").await?;
    let result = async {
        let started = std::time::Instant::now();
        catalog::import_one(
            &scratch.db.pool,
            &Source::File(generated.root.clone()),
            LocationKind::Dir,
            &usher::catalog::loader::LoadOptions::from_config(config),
            "bench",
            false,
        )
        .await?;
        println!(
            "catalog: {} entities ({} services) imported in {:.1} s",
            generated.entities,
            generated.services,
            started.elapsed().as_secs_f64()
        );
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM entities WHERE kind = 'component'")
                .fetch_all(&scratch.db.pool)
                .await?;
        let secret = "bench-signing-secret".to_string();
        let serve_env = Env {
            listen: "127.0.0.1:0".into(),
            metrics_listen: None,
            ..env.clone()
        };
        let server = usher::serve::Server::bind(
            &serve_env,
            Database::from_pool(scratch.db.pool.clone()),
            Arc::new(config.clone()),
        )
        .await?
        .with_slack(usher::platforms::slack::SlackSettings {
            signing_secret: (!discord).then(|| secret.clone()),
            ..Default::default()
        })
        .with_discord(usher::platforms::discord::DiscordSettings {
            public_key: discord.then(|| usher::bench::discord::public_key_hex(&secret)),
            api_url: "http://127.0.0.1:9".into(),
            ..Default::default()
        });
        let base = format!("http://127.0.0.1:{}", server.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        let spec = LoadSpec {
            url: base,
            signing_secret: secret,
            kind,
            concurrency,
            duration,
            names,
            team,
            each_once: false,
        };
        // serve reads the catalog into memory as it starts: give it time.
        tokio::time::sleep(std::time::Duration::from_millis(
            1_000 + services as u64 / 10,
        ))
        .await;
        println!("/usher owner <service>, {concurrency} connections:");
        // First answers: every service once (nothing remembered yet).
        let first = load(&LoadSpec {
            each_once: true,
            ..spec.clone()
        })
        .await;
        println!("  first answer for each service: {first}");
        let repeated = load(&spec).await;
        println!("  then at random, {} s: {repeated}", duration.as_secs());
        println!(
            "  first-time / repeated: {:.0}/s vs {:.0}/s ({:.2}×); p99 {:.1} ms vs {:.1} ms",
            first.rate(),
            repeated.rate(),
            first.rate() / repeated.rate().max(1e-9),
            usher::bench::ms(first.latency.p99),
            usher::bench::ms(repeated.latency.p99)
        );
        if discord {
            let complete = LoadSpec {
                kind: LoadKind::DiscordAutocomplete,
                ..spec.clone()
            };
            println!(
                "  autocomplete of a service name (its first 4 letters), {} s: {}",
                duration.as_secs(),
                load(&complete).await
            );
        }
        if refresh {
            let stop_refresh = Arc::new(AtomicBool::new(false));
            let refresher = tokio::spawn(refresh_while(
                scratch.db.pool.clone(),
                generated.root.clone(),
                usher::catalog::loader::LoadOptions::from_config(config),
                std::time::Duration::from_secs(2),
                stop_refresh.clone(),
            ));
            let during = load(&spec).await;
            stop_refresh.store(true, Ordering::SeqCst);
            let took = refresher.await.unwrap_or_default();
            let mut took = took;
            println!(
                "  during {} catalog refreshes ({}): {during}",
                took.len(),
                usher::bench::Percentiles::of(&mut took)
            );
        }
        let (rss, peak) = usher::bench::memory_mb();
        println!("memory (this process: server and load generator): {rss:.0} MB now, {peak:.0} MB at peak");
        let _ = stop.send(());
        let _ = serving.await;
        anyhow::Ok(())
    }
    .await;
    scratch.drop_now().await?;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    Ok(ExitCode::SUCCESS)
}
