//! Discord: application commands with autocomplete, embeds and components,
//! modals — over HTTP interactions (Ed25519-signed) or the gateway — and
//! the outbox sender that posts usher's messages.
//!
//! The adapter turns serenity's interaction model (the same for both
//! transports) into platform-neutral requests for the core, and the core's
//! replies into Discord messages. Nothing else in usher knows Discord.
//!
//! Files: [`http`] and [`gateway`] receive; [`interactions`] handles;
//! [`render`] draws; [`registration`] describes the commands to Discord;
//! [`identity`] maps Discord users to catalog people; [`sender`] sends
//! from the outbox; [`api`] is the REST client.

pub mod api;
pub mod gateway;
pub mod http;
pub mod identity;
pub mod interactions;
pub mod registration;
pub mod render;
pub mod sender;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::actions::outbox::{self, NewJob};
use crate::commands::Core;
use crate::config::DiscordConfig;
use api::Api;
use identity::Identity;

/// Discord's secrets and endpoint, from the environment.
#[derive(Debug, Clone, Default)]
pub struct DiscordSettings {
    /// `DISCORD_PUBLIC_KEY`: HTTP interactions.
    pub public_key: Option<String>,
    /// `DISCORD_BOT_TOKEN`: REST calls and the gateway.
    pub bot_token: Option<String>,
    /// `DISCORD_APPLICATION_ID`.
    pub application_id: Option<u64>,
    /// `DISCORD_API_URL`.
    pub api_url: String,
}

impl DiscordSettings {
    pub fn from_env() -> DiscordSettings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        DiscordSettings {
            public_key: var("DISCORD_PUBLIC_KEY"),
            bot_token: var("DISCORD_BOT_TOKEN"),
            application_id: var("DISCORD_APPLICATION_ID").and_then(|v| v.trim().parse().ok()),
            api_url: var("DISCORD_API_URL").unwrap_or_else(|| api::DEFAULT_API_URL.to_string()),
        }
    }

    /// Why Discord is off, if it is.
    pub fn off_reason(&self) -> Option<&'static str> {
        if self.public_key.is_none() && self.bot_token.is_none() {
            Some(
                "neither DISCORD_PUBLIC_KEY (HTTP interactions) nor DISCORD_BOT_TOKEN (gateway) is set",
            )
        } else {
            None
        }
    }

    /// HTTP interactions when the public key is set; else the gateway.
    pub fn mode(&self) -> &'static str {
        if self.public_key.is_some() {
            "http"
        } else {
            "gateway"
        }
    }
}

/// What `/readyz` says about Discord.
pub type DiscordStatus = crate::platforms::Status;

/// The Discord adapter: everything the handlers share.
pub struct DiscordApp {
    pub core: Core,
    pub config: DiscordConfig,
    /// The REST client (a token is needed for posting messages, not for
    /// answering interactions).
    pub api: Api,
    pub has_token: bool,
    pub identity: Identity,
    /// Wakes this process's outbox worker (late answers go out at once).
    pub waker: Arc<Notify>,
    pub status: Arc<DiscordStatus>,
    pub settings: DiscordSettings,
}

impl DiscordApp {
    pub fn new(core: Core, settings: DiscordSettings, waker: Arc<Notify>) -> Arc<DiscordApp> {
        let config = core.config.discord.clone();
        let token = settings.bot_token.clone().unwrap_or_default();
        let api = Api::new(&token, &settings.api_url, settings.application_id);
        let status = Arc::new(DiscordStatus::default());
        status.set(json!({ "ready": false, "mode": settings.mode(), "detail": "starting" }));
        Arc::new(DiscordApp {
            identity: Identity::new(core.pool.clone(), core.db_health.clone()),
            core,
            config,
            api,
            has_token: settings.bot_token.is_some(),
            waker,
            status,
            settings,
        })
    }

    /// Whether usher serves this guild.
    pub fn serves(&self, guild: u64) -> bool {
        self.config.guilds.is_empty()
            || self
                .config
                .guilds
                .iter()
                .any(|g| g.trim() == guild.to_string())
    }

    /// What someone in a guild usher doesn't serve is told.
    pub fn refusal(&self, guild: u64) -> String {
        format!(
            "Sorry — usher isn't set up to answer in this server ({guild}). If it should be, ask your usher admins to add \"{guild}\" to `[discord] guilds` in usher.toml."
        )
    }

    /// Queues a job in its own transaction and wakes the worker.
    pub async fn enqueue(&self, job: NewJob) -> Result<(), sqlx::Error> {
        let mut conn = self.core.pool.acquire().await?;
        outbox::enqueue(&mut conn, &job, self.core.config.outbox.max_attempts).await?;
        self.waker.notify_one();
        Ok(())
    }

    /// Checks the bot token (`GET /users/@me`) until it works, backing off
    /// up to five minutes and keeping `/readyz` informed. Serving never
    /// waits for this.
    pub async fn check_token(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if !self.has_token {
            self.status.set(json!({
                "ready": self.settings.public_key.is_some(),
                "mode": self.settings.mode(),
                "detail": "no DISCORD_BOT_TOKEN: interactions are answered, but usher can't post messages or DMs",
            }));
            return;
        }
        let mut delay = Duration::from_secs(2);
        loop {
            match self.api.current_user().await {
                Ok(me) => {
                    tracing::info!(bot = %me["id"], "Discord: connected as {}", me["username"].as_str().unwrap_or("the bot"));
                    self.status.set(json!({
                        "ready": true,
                        "mode": self.settings.mode(),
                        "bot_user": me["id"],
                        "bot_name": me["username"],
                    }));
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_secs = delay.as_secs(), "Discord: the token check failed; usher keeps serving and tries again");
                    self.status.set(json!({
                        "ready": false,
                        "mode": self.settings.mode(),
                        "detail": format!("GET /users/@me failed: {e}; retrying in {} s", delay.as_secs()),
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
}

/// Discord, running.
pub struct Started {
    pub app: Arc<DiscordApp>,
    /// The verifier for HTTP interactions, when `DISCORD_PUBLIC_KEY` is set.
    pub verifier: Option<serenity::interactions_endpoint::Verifier>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts Discord inside `usher serve`: the token check, and the gateway
/// when there is a token and no public key. `None` when Discord is off.
pub fn start(
    core: &Core,
    settings: DiscordSettings,
    waker: Arc<Notify>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<Started>> {
    if let Some(why) = settings.off_reason() {
        tracing::info!("Discord: off ({why})");
        return Ok(None);
    }
    let verifier = match &settings.public_key {
        Some(key) => Some(http::verifier(key).map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    if core.config.discord.guilds.is_empty() {
        tracing::warn!(
            "Discord: no [discord] guilds in usher.toml, so usher answers in every server the bot is in"
        );
    }
    let app = DiscordApp::new(core.clone(), settings.clone(), waker);
    let mut tasks = vec![tokio::spawn(app.clone().check_token(stop.clone()))];
    if verifier.is_none() {
        tasks.push(tokio::spawn(gateway::run(app.clone(), stop)));
    }
    tracing::info!(mode = settings.mode(), "Discord: on");
    Ok(Some(Started {
        app,
        verifier,
        tasks,
    }))
}
