//! `usher console`: the bot in a terminal.

use super::*;

pub(crate) async fn run_console(
    env: &Env,
    config: Arc<Config>,
    args: ConsoleArgs,
) -> anyhow::Result<ExitCode> {
    let db = open(env).await?;
    // The console posts to no chat platform: pages and digests say so.
    let config = {
        let mut config = (*config).clone();
        config.hygiene.deliver_on = Some(Vec::new());
        Arc::new(config)
    };
    let core = Core::new(db.pool.clone(), config.clone());
    let result = async {
        if args.demo {
            let root = usher::demo::write_files(&env.data_dir).context("cannot write the demo catalog")?;
            let result = catalog::import_one(
                &db.pool,
                &Source::File(root),
                LocationKind::Demo,
                &usher::catalog::loader::LoadOptions::from_config(&config),
                "usher:demo",
                false,
            )
            .await?;
            let errors = result.loaded.error_count();
            if errors > 0 {
                for p in result.loaded.problems.iter().filter(|p| p.is_error()) {
                    eprintln!("{p}");
                }
            }
        }
        let actor = match console::resolve_actor(&core, args.as_person.as_deref()).await {
            Ok(actor) => actor,
            Err(message) => bail!("{message}"),
        };
        let interactive = std::io::stdin().is_terminal();
        let style = console::Style {
            color: std::io::stdout().is_terminal(),
        };
        // The console runs the outbox worker too, so automation steps and
        // pages started here go out (chat messages wait for a platform).
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = usher::actions::outbox::Worker::new(
            db.pool.clone(),
            usher::serve::action_senders(&config, &db.pool, &core.oncall),
            config.outbox.clone(),
        );
        let worker_task = tokio::spawn(worker.run(stopped));
        let stdin = tokio::io::BufReader::new(tokio::io::stdin());
        let mut stdout = std::io::stdout();
        tokio::select! {
            r = console::run(&core, actor, stdin, &mut stdout, interactive, style) => r.context("console input/output failed")?,
            _ = usher::serve::shutdown_signal() => {}
        }
        let _ = stop.send(true);
        let _ = worker_task.await;
        Ok(())
    }
    .await;
    db.close().await;
    result.map(|()| ExitCode::SUCCESS)
}
