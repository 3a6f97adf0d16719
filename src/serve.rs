//! `usher serve`: the HTTP endpoints and the outbox worker side by side,
//! until SIGTERM or Ctrl-C; then readiness turns false, in-flight work
//! finishes, and the database is closed (stopping the local cluster when
//! this was its last user).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use tokio::sync::Notify;

use crate::actions::jobs;
use crate::actions::outbox::{LogSender, Senders, Worker};
use crate::commands::Core;
use crate::config::{Config, Env};
use crate::db::Database;
use crate::http::{self, AppState};
use crate::oncall::{OnCallService, paging};
use crate::platforms::discord::{self, DiscordSettings};
use crate::platforms::slack::{self, SlackSettings};

/// A bound, not yet running server (tests bind port 0 and read the port).
pub struct Server {
    listener: TcpListener,
    /// `/metrics` on an address of its own (`USHER_METRICS_LISTEN`).
    metrics_listener: Option<TcpListener>,
    db: Database,
    config: Arc<Config>,
    slack: SlackSettings,
    discord: DiscordSettings,
}

impl Server {
    pub async fn bind(env: &Env, db: Database, config: Arc<Config>) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(&env.listen)
            .await
            .with_context(|| format!("cannot listen on {} (USHER_LISTEN)", env.listen))?;
        let metrics_listener = match &env.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (USHER_METRICS_LISTEN)"))?,
            ),
            None => None,
        };
        Ok(Server {
            listener,
            metrics_listener,
            db,
            config,
            slack: SlackSettings::from_env(),
            discord: DiscordSettings::from_env(),
        })
    }

    /// Slack's secrets and API URL, instead of the environment's (tests).
    pub fn with_slack(mut self, settings: SlackSettings) -> Self {
        self.slack = settings;
        self
    }

    /// Discord's secrets and API URL, instead of the environment's (tests).
    pub fn with_discord(mut self, settings: DiscordSettings) -> Self {
        self.discord = settings;
        self
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The metrics listener's port, when it has one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// Runs until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        crate::metrics::install();
        let shutting_down = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop_rx) = watch::channel(false);
        let oncall = Arc::new(OnCallService::new(self.config.oncall.clone()));
        // What this process can post on: digests and pages say so.
        let hygiene_config = {
            let mut config = (*self.config).clone();
            config.hygiene.deliver_on = Some(posting_platforms(&self.slack, &self.discord));
            Arc::new(config)
        };
        let mut core = Core::new(self.db.pool.clone(), hygiene_config.clone());
        core.oncall = oncall.clone();
        // Read the catalog into memory now, so the first questions after
        // a start or a deploy are answered from it.
        if core.config.chat.catalog_in_memory {
            let _ = core.snapshot.read_model(&core.pool).await;
        }
        let waker = Arc::new(Notify::new());
        let mut senders =
            action_senders(&self.config, &self.db.pool, &oncall).with("log", Arc::new(LogSender));
        let slack = slack::start(&core, self.slack.clone(), waker.clone(), stop_rx.clone())?;
        let mut platform_tasks = Vec::new();
        let mut app = None;
        if let Some(slack::Started {
            app: slack_app,
            tasks,
        }) = slack
        {
            let sender = Arc::new(slack::sender::SlackSender::new(slack_app.clone()));
            for kind in slack::sender::kinds(slack_app.api.is_some()) {
                senders = senders.with(kind, sender.clone());
            }
            platform_tasks.extend(tasks);
            app = Some(slack_app);
        }
        let discord = discord::start(&core, self.discord.clone(), waker.clone(), stop_rx.clone())?;
        let mut discord_routes = None;
        let mut discord_status = None;
        if let Some(discord::Started {
            app: discord_app,
            verifier,
            tasks,
        }) = discord
        {
            let sender = Arc::new(discord::sender::DiscordSender::new(discord_app.clone()));
            for kind in discord::sender::kinds(discord_app.has_token) {
                // Where both platforms could deliver a message to teams and
                // people, the one already configured (Slack) keeps it.
                if !senders.kinds().iter().any(|k| k == kind) {
                    senders = senders.with(kind, sender.clone());
                }
            }
            platform_tasks.extend(tasks);
            discord_status = Some(discord_app.status.clone());
            discord_routes = verifier.map(|v| discord::http::routes(discord_app.clone(), v));
        }
        let state = AppState {
            pool: self.db.pool.clone(),
            shutting_down: shutting_down.clone(),
            cautions: Arc::new(
                self.config
                    .cautions(app.is_some(), discord_status.is_some()),
            ),
            slack: app.as_ref().map(|a| a.status.clone()),
            discord: discord_status,
        };
        let worker = Worker::new(self.db.pool.clone(), senders, self.config.outbox.clone())
            .with_waker(waker);
        let worker_task = tokio::spawn(worker.run(stop_rx.clone()));
        let snapshot_task = tokio::spawn(crate::oncall::snapshot::run(
            self.db.pool.clone(),
            oncall,
            stop_rx.clone(),
        ));
        let hygiene_task = tokio::spawn(crate::hygiene::rounds::run(
            self.db.pool.clone(),
            hygiene_config,
            core.clock.clone(),
            stop_rx.clone(),
        ));
        let discovery_tasks = crate::discovery::scheduled(&self.db.pool, &self.config, &stop_rx);
        let directory_tasks = crate::directory::scheduled(&self.db.pool, &self.config, &stop_rx);
        let refresh_task = {
            let (pool, config, stop) = (self.db.pool.clone(), self.config.clone(), stop_rx.clone());
            tokio::spawn(async move {
                let mut stop_now = stop.clone();
                tokio::select! {
                    _ = crate::catalog::refresh::run(pool, config, stop) => {}
                    // A refresh in flight is abandoned (rolled back) on shutdown.
                    _ = stop_now.wait_for(|s| *s) => {}
                }
            })
        };

        let addr = self.listener.local_addr()?;
        tracing::info!(%addr, "usher is serving");
        let mut http_stop = stop_rx.clone();
        let metrics_task = self.metrics_listener.map(|listener| {
            let mut stop = stop_rx.clone();
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "metrics are served here (USHER_METRICS_LISTEN)");
            }
            let app = http::metrics_router(state.clone());
            tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    })
                    .await
            })
        });
        let mut router = http::router(state, metrics_task.is_none());
        if let (Some(slack_app), Some(secret)) = (&app, &self.slack.signing_secret) {
            router = router.merge(slack::http::routes(slack_app.clone(), secret));
        }
        if let Some(routes) = discord_routes {
            router = router.merge(routes);
        }
        // SCIM only with its token: without one, /scim/v2 is 404.
        if let Some(token) = std::env::var("USHER_SCIM_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            tracing::info!("SCIM 2.0 is served at /scim/v2 (USHER_SCIM_TOKEN is set)");
            router = router.merge(crate::directory::scim::routes(self.db.pool.clone(), &token));
        }
        let app = router.layer(axum::middleware::from_fn(http::trace_request));
        let server = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|stop| *stop).await;
        });
        let server_task = tokio::spawn(async move { server.await });

        shutdown.await;
        tracing::info!("shutting down: readiness off, finishing in-flight work");
        shutting_down.store(true, Ordering::SeqCst);
        // Load balancers see "not ready" and stop sending before the
        // listener closes.
        let drain = Duration::from_millis(self.config.serve.drain_ms);
        if !drain.is_zero() {
            tokio::time::sleep(drain).await;
        }
        let _ = stop_tx.send(true);
        let limit = Duration::from_secs(self.config.serve.shutdown_secs);
        let bounded = tokio::time::timeout(limit, async {
            let _ = server_task.await;
            if let Some(task) = metrics_task {
                let _ = task.await;
            }
            let _ = worker_task.await;
            let _ = refresh_task.await;
            let _ = snapshot_task.await;
            let _ = hygiene_task.await;
            for task in discovery_tasks {
                let _ = task.await;
            }
            for task in directory_tasks {
                let _ = task.await;
            }
            for task in platform_tasks {
                let _ = task.await;
            }
        })
        .await;
        if bounded.is_err() {
            tracing::warn!(
                limit_secs = limit.as_secs(),
                "shutdown took longer than serve.shutdown_secs; leaving the rest"
            );
        }
        self.db.close().await;
        Ok(())
    }
}

/// The platforms this process can post messages on (it has their bot
/// tokens), for `hygiene.deliver_on`.
pub fn posting_platforms(slack: &SlackSettings, discord: &DiscordSettings) -> Vec<String> {
    let mut on = Vec::new();
    if slack.bot_token.is_some() {
        on.push("slack".to_string());
    }
    if discord.bot_token.is_some() {
        on.push("discord".to_string());
    }
    on
}

/// The outbox senders for side effects that aren't chat messages: paging
/// and the automation steps of new services.
pub fn action_senders(
    config: &Arc<Config>,
    pool: &sqlx::PgPool,
    oncall: &Arc<OnCallService>,
) -> Senders {
    let automation = Arc::new(crate::actions::automation::AutomationSender::new(
        config.clone(),
        pool.clone(),
        Arc::new(crate::catalog::import::CatalogAnnotations(pool.clone())),
    ));
    let mut senders = Senders::new()
        .with(
            jobs::PAGERDUTY_TRIGGER,
            Arc::new(paging::PagerDutySender(oncall.clone())),
        )
        .with(
            jobs::OPSGENIE_ALERT,
            Arc::new(paging::OpsgenieSender(oncall.clone())),
        );
    for kind in crate::actions::automation::KINDS {
        senders = senders.with(kind, automation.clone());
    }
    let proposals = Arc::new(crate::hygiene::proposal::ProposalSender::new(
        pool.clone(),
        config.clone(),
    ));
    senders
        .with(jobs::HYGIENE_PROPOSAL, proposals.clone())
        .with(jobs::DESCRIPTOR_PROPOSAL, proposals)
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
