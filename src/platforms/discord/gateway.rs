//! The Discord gateway (serenity's client): interactions arrive over the
//! WebSocket when usher has a bot token and no public key, and are answered
//! through the callback endpoint. serenity reconnects and resumes by
//! itself; when the client stops (a bad token, Discord unreachable) usher
//! starts it again with backoff, and keeps serving meanwhile.
//!
//! Shards: `discord.shard_count` shards in all (0: Discord's
//! recommendation), of which this process runs `discord.shards` (from the
//! smallest to the largest listed; empty: all), so replicas split a large
//! bot. The GUILD_MEMBERS intent (privileged) is asked for only with
//! `discord.guild_members_intent`: members leaving a server then mark
//! their catalog person inactive.

use std::sync::Arc;
use std::time::Duration;

use serenity::all::{Context, EventHandler, GatewayIntents, GuildId, Interaction, Member, User};
use serenity::async_trait;
use tokio::sync::watch;

use super::{DiscordApp, interactions};

struct Handler {
    app: Arc<DiscordApp>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let (id, token) = match &interaction {
            Interaction::Command(c) | Interaction::Autocomplete(c) => (c.id.get(), c.token.clone()),
            Interaction::Component(c) => (c.id.get(), c.token.clone()),
            Interaction::Modal(m) => (m.id.get(), m.token.clone()),
            _ => return,
        };
        let body = interactions::handle(&self.app, interaction).await;
        if let Err(e) = self.app.api.interaction_callback(id, &token, &body).await {
            tracing::warn!(error = %e, "Discord: answering an interaction failed");
        }
    }

    async fn guild_member_removal(
        &self,
        _ctx: Context,
        _guild: GuildId,
        user: User,
        _member: Option<Member>,
    ) {
        match self.app.identity.left(&user.id.get().to_string()).await {
            Ok(n) if n > 0 => {
                tracing::info!(user = %user.id, "Discord: a member left; their catalog person is marked inactive")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Discord: marking a member who left failed"),
        }
    }
}

/// The intents usher asks for.
pub fn intents(guild_members: bool) -> GatewayIntents {
    // Interactions need no intent; GUILDS keeps the guild list current.
    let mut intents = GatewayIntents::GUILDS;
    if guild_members {
        intents |= GatewayIntents::GUILD_MEMBERS;
    }
    intents
}

/// Runs the gateway until `stop`.
pub async fn run(app: Arc<DiscordApp>, mut stop: watch::Receiver<bool>) {
    let mut delay = Duration::from_secs(5);
    loop {
        let http = app.api.gateway_http();
        let mut client = match serenity::client::ClientBuilder::new_with_http(
            http,
            intents(app.config.guild_members_intent),
        )
        .event_handler(Handler { app: app.clone() })
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "Discord: the gateway client could not be built");
                return;
            }
        };
        let manager = client.shard_manager.clone();
        let config = &app.config;
        let run = async {
            if config.shard_count == 0 {
                client.start_autosharded().await
            } else if config.shards.is_empty() {
                client.start_shards(config.shard_count).await
            } else {
                let first = *config.shards.iter().min().expect("not empty");
                let last = *config.shards.iter().max().expect("not empty");
                client
                    .start_shard_range(first..last + 1, config.shard_count)
                    .await
            }
        };
        let stopped = tokio::select! {
            result = run => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, retry_in_secs = delay.as_secs(), "Discord: the gateway stopped; usher keeps serving and connects again");
                }
                false
            }
            _ = stop.wait_for(|s| *s) => true,
        };
        if stopped {
            manager.shutdown_all().await;
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        delay = (delay * 2).min(Duration::from_secs(300));
    }
}
