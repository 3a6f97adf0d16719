//! Slack: slash commands, mentions and DMs, Block Kit answers, modals for
//! dialogues, buttons and typeaheads — over HTTP (signed requests) or
//! Socket Mode — and the outbox sender that posts usher's messages.
//!
//! The adapter turns Slack's payloads (slack-morphism's models, the same
//! for both transports) into platform-neutral requests for the core, and
//! the core's replies into Block Kit. Nothing else in usher knows Slack.
//!
//! Files: [`http`] and [`socket`] receive; [`commands`], [`interactions`]
//! and [`events`] handle what was received; [`render`] draws; [`sender`]
//! sends from the outbox; [`identity`] maps Slack users to catalog people;
//! [`manifest`] describes the app to Slack.

pub mod api;
pub mod commands;
pub mod events;
pub mod http;
pub mod identity;
pub mod interactions;
pub mod manifest;
pub mod render;
pub mod sender;
pub mod socket;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::actions::outbox::{self, NewJob};
use crate::commands::Core;
use crate::config::SlackConfig;
use crate::platforms::values;
use api::Api;
use identity::Identity;

/// Slack's secrets and endpoint, from the environment.
#[derive(Debug, Clone, Default)]
pub struct SlackSettings {
    /// `SLACK_SIGNING_SECRET`: HTTP mode.
    pub signing_secret: Option<String>,
    /// `SLACK_BOT_TOKEN` (`xoxb-…`): the Web API.
    pub bot_token: Option<String>,
    /// `SLACK_APP_TOKEN` (`xapp-…`): Socket Mode.
    pub app_token: Option<String>,
    /// `SLACK_API_URL`.
    pub api_url: String,
}

impl SlackSettings {
    pub fn from_env() -> SlackSettings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        SlackSettings {
            signing_secret: var("SLACK_SIGNING_SECRET"),
            bot_token: var("SLACK_BOT_TOKEN"),
            app_token: var("SLACK_APP_TOKEN"),
            api_url: var("SLACK_API_URL").unwrap_or_else(|| api::DEFAULT_API_URL.to_string()),
        }
    }

    /// Whether Slack is on at all, and if not, why (for the start log).
    pub fn off_reason(&self) -> Option<&'static str> {
        if self.signing_secret.is_none() && self.app_token.is_none() {
            Some(
                "neither SLACK_SIGNING_SECRET (HTTP mode) nor SLACK_APP_TOKEN (Socket Mode) is set",
            )
        } else {
            None
        }
    }

    pub fn mode(&self) -> &'static str {
        match (&self.signing_secret, &self.app_token) {
            (Some(_), Some(_)) => "http+socket",
            (None, Some(_)) => "socket",
            _ => "http",
        }
    }
}

/// What `/readyz` says about Slack.
pub type SlackStatus = crate::platforms::Status;

/// The Slack adapter: everything the handlers share.
pub struct SlackApp {
    pub core: Core,
    pub config: SlackConfig,
    pub api: Option<Api>,
    pub identity: Identity,
    /// Wakes this process's outbox worker (answers to mentions go out at
    /// once rather than at the next poll).
    pub waker: Arc<Notify>,
    pub status: Arc<SlackStatus>,
    pub settings: SlackSettings,
}

impl SlackApp {
    pub fn new(
        core: Core,
        settings: SlackSettings,
        waker: Arc<Notify>,
    ) -> anyhow::Result<Arc<SlackApp>> {
        let config = core.config.slack.clone();
        let client = api::client(&settings.api_url)?;
        let api = settings
            .bot_token
            .as_deref()
            .map(|token| Api::new(client.clone(), token));
        let identity = Identity::new(
            core.pool.clone(),
            api.clone(),
            core.snapshot.clone(),
            core.db_health.clone(),
            config.clone(),
        );
        let status = Arc::new(SlackStatus::default());
        status.set(json!({ "ready": false, "mode": settings.mode(), "detail": "starting" }));
        Ok(Arc::new(SlackApp {
            core,
            config,
            api,
            identity,
            waker,
            status,
            settings,
        }))
    }

    /// Whether usher serves this workspace.
    pub fn serves(&self, team: &str) -> bool {
        self.config.workspaces.is_empty() || self.config.workspaces.iter().any(|t| t == team)
    }

    /// What someone in a workspace usher doesn't serve is told.
    pub fn refusal(&self, team: &str) -> String {
        format!(
            "Sorry — usher isn't set up to answer in this workspace ({team}). If it should be, ask your usher admins to add {team} to `[slack] workspaces` in usher.toml."
        )
    }

    /// Queues a job in its own transaction and wakes the worker.
    pub async fn enqueue(&self, job: NewJob) -> Result<(), sqlx::Error> {
        let mut conn = self.core.pool.acquire().await?;
        outbox::enqueue(&mut conn, &job, self.core.config.outbox.max_attempts).await?;
        self.waker.notify_one();
        Ok(())
    }

    /// Checks the bot token with `auth.test` until it works (backing off
    /// up to five minutes), keeping `/readyz` informed. Serving never
    /// waits for this.
    pub async fn check_auth(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let Some(api) = self.api.clone() else {
            self.status.set(json!({
                "ready": self.settings.signing_secret.is_some(),
                "mode": self.settings.mode(),
                "detail": "no SLACK_BOT_TOKEN: commands are answered, but usher can't post messages, open forms or look people up",
            }));
            return;
        };
        let mut delay = Duration::from_secs(2);
        loop {
            match api.auth_test().await {
                Ok(auth) => {
                    let team = auth.team_id.to_string();
                    self.identity.add_home(&team);
                    tracing::info!(team = %team, bot = %auth.user_id, "Slack: connected as {}", auth.user.as_deref().unwrap_or("the bot"));
                    self.status.set(json!({
                        "ready": true,
                        "mode": self.settings.mode(),
                        "team": team,
                        "team_name": auth.team,
                        "bot_user": auth.user_id.to_string(),
                    }));
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_secs = delay.as_secs(), "Slack: auth.test failed; usher keeps serving and tries again");
                    self.status.set(json!({
                        "ready": false,
                        "mode": self.settings.mode(),
                        "detail": format!("auth.test failed: {e}; retrying in {} s", delay.as_secs()),
                    }));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            delay = (delay * 2).min(Duration::from_secs(300));
        }
    }

    /// The bot's own user id, once `auth.test` answered.
    pub fn bot_user(&self) -> Option<String> {
        self.status.get()["bot_user"].as_str().map(str::to_string)
    }
}

/// Starts Slack inside `usher serve`: the auth check, Socket Mode when
/// `SLACK_APP_TOKEN` is set, and the people sync. Returns the app (for
/// the HTTP routes and the outbox senders), or `None` when Slack is off.
pub fn start(
    core: &Core,
    settings: SlackSettings,
    waker: Arc<Notify>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<Started>> {
    if let Some(why) = settings.off_reason() {
        tracing::info!("Slack: off ({why})");
        return Ok(None);
    }
    if core.config.slack.workspaces.is_empty() {
        tracing::warn!(
            "Slack: no [slack] workspaces in usher.toml, so usher answers every workspace the app is installed in"
        );
    }
    let app = SlackApp::new(core.clone(), settings.clone(), waker)?;
    let mut tasks = vec![tokio::spawn(app.clone().check_auth(stop.clone()))];
    if settings.app_token.is_some() {
        tasks.push(tokio::spawn(socket::run(app.clone(), stop.clone())));
    }
    if app.api.is_some() {
        let schedule =
            crate::schedule::Schedule::parse(&core.config.slack.people_sync_schedule, "")
                .map_err(|e| anyhow::anyhow!("slack.people_sync_schedule: {e}"))?;
        let sync_app = app.clone();
        tasks.push(tokio::spawn(crate::periodic::run(
            core.pool.clone(),
            PEOPLE_SYNC_TASK,
            schedule,
            stop.clone(),
            move || {
                let app = sync_app.clone();
                async move {
                    let outcome = app.identity.sync_people().await;
                    let _ = values::prune(&app.core.pool, 30).await;
                    let _ = events::prune(&app.core.pool, 7).await;
                    outcome
                }
            },
        )));
    }
    tracing::info!(mode = settings.mode(), "Slack: on");
    Ok(Some(Started { app, tasks }))
}

/// Slack, running.
pub struct Started {
    pub app: Arc<SlackApp>,
    /// Its background tasks (they end when `stop` turns true).
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// A key no other job has (for effects that are unique by nature, such as
/// the answer to one click).
pub fn fresh_key(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}:{nanos:x}:{:x}:{n}", std::process::id())
}

/// The periodic task that syncs people from `users.list`.
pub const PEOPLE_SYNC_TASK: &str = "slack.people_sync";
