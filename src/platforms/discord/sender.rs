//! The Discord sender: delivers outbox jobs — late answers (edits of a
//! deferred response), messages to teams' channels and people's DMs
//! (pages, vulnerable-package notices, link notices), reports to admins,
//! and the `discord_channel` step of a new service.
//!
//! Posts to one channel are spaced `channel_interval_ms` apart. A 429
//! waits its `retry_after` without counting as a failed attempt (nothing is
//! dropped for being told to slow down). Errors retrying can't fix
//! (unknown channel, missing access, cannot DM the user …) go to the dead
//! letters at once — the outbox then reports them to the admins — and a
//! message meant for a team's channel goes to the team lead's DM instead.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::DiscordApp;
use super::api::ApiError;
use super::render::{self, is_snowflake};
use crate::actions::automation::{self, Annotations};
use crate::actions::jobs::{self, AutomationStep, DiscordFollowup};
use crate::actions::outbox::{Job, SendError, SendFuture, Sender};
use crate::catalog::import::CatalogAnnotations;
use crate::chat::{Reply, Span};
use crate::platforms::delivery::{self, ChatPlatform, Pending, PostError, TeamInfo};

/// The kinds this sender delivers: late answers always (the interaction
/// token is the credential); the rest with a bot token.
pub fn kinds(with_token: bool) -> Vec<&'static str> {
    if with_token {
        vec![
            jobs::DISCORD_FOLLOWUP,
            jobs::CHAT,
            jobs::CHAT_DISCORD,
            jobs::NOTIFY,
            jobs::ADMIN_REPORT,
            jobs::ACTION_DISCORD_CHANNEL,
        ]
    } else {
        vec![jobs::DISCORD_FOLLOWUP]
    }
}

pub struct DiscordSender {
    app: Arc<DiscordApp>,
    pacer: crate::platforms::pacing::Pacer<u64>,
}

impl DiscordSender {
    pub fn new(app: Arc<DiscordApp>) -> Self {
        DiscordSender {
            app,
            pacer: Default::default(),
        }
    }

    /// Waits until `channel` may have another message, or says when to
    /// come back (a busy channel).
    async fn pace(&self, channel: u64) -> Result<(), ApiError> {
        let interval = Duration::from_millis(self.app.config.channel_interval_ms);
        self.pacer
            .wait(channel, interval)
            .await
            .map_err(ApiError::RateLimited)
    }

    /// Posts a message for `job` to a channel. It carries a nonce made
    /// from the job and the channel with `enforce_nonce`, so a retry after
    /// a lost answer, within Discord's few minutes, gets the message the
    /// earlier attempt created instead of a second one.
    async fn post(
        &self,
        job: &Job,
        channel: u64,
        rendered: &render::Rendered,
    ) -> Result<(), ApiError> {
        crate::platforms::values::store(&self.app.core.pool, &rendered.long_values)
            .await
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let mut body = rendered.body.clone();
        if let Some(map) = body.as_object_mut() {
            // Channel messages are never ephemeral.
            map.remove("flags");
            map.insert("nonce".into(), json!(nonce(job, channel)));
            map.insert("enforce_nonce".into(), json!(true));
        }
        self.pace(channel).await?;
        self.app.api.post_message(channel, &body).await.map(|_| ())
    }

    async fn run(&self, job: &Job) -> Result<(), SendError> {
        match job.kind.as_str() {
            jobs::DISCORD_FOLLOWUP => self.follow_up(job).await,
            jobs::CHAT | jobs::CHAT_DISCORD | jobs::NOTIFY => delivery::deliver(self, job).await,
            jobs::ADMIN_REPORT => delivery::report_to_admins(self, job).await,
            jobs::ACTION_DISCORD_CHANNEL => self.make_channel(job).await,
            other => Err(SendError::Permanent(format!(
                "the Discord sender doesn't deliver {other}"
            ))),
        }
    }

    /// Edits the deferred response with the answer.
    async fn follow_up(&self, job: &Job) -> Result<(), SendError> {
        let DiscordFollowup {
            application_id,
            token,
            mut body,
        } = job.decode()?;
        let application_id: u64 = application_id.parse().map_err(|_| {
            SendError::Permanent(format!(
                "{application_id:?} is not a Discord application id"
            ))
        })?;
        if let Some(map) = body.as_object_mut() {
            // An edit keeps the deferred response's visibility.
            map.remove("flags");
        }
        self.app
            .api
            .edit_original(application_id, &token, &body)
            .await
            .map_err(|e| e.to_send_error())
    }

    /// A direct message to a catalog person's Discord account.
    async fn dm(
        &self,
        job: &Job,
        person: &str,
        rendered: &render::Rendered,
    ) -> Result<(), SendError> {
        let id = self
            .app
            .identity
            .discord_id_of(person)
            .await
            .map_err(|e| SendError::Retry(e.to_string()))?
            .and_then(|id| id.parse::<u64>().ok())
            .ok_or_else(|| {
                SendError::Permanent(format!(
                    "{person} has no Discord account usher knows (no discord.com/user-id, no `me link`)"
                ))
            })?;
        let channel = self
            .app
            .api
            .dm_channel(id)
            .await
            .map_err(|e| e.to_send_error())?;
        self.post(job, channel, rendered)
            .await
            .map_err(|e| e.to_send_error())
    }

    async fn make_channel(&self, job: &Job) -> Result<(), SendError> {
        let pool = &self.app.core.pool;
        let step: AutomationStep = job.decode()?;
        automation::mark_step(pool, job, &step, "running", None, None).await;
        let result = self.make_channel_steps(&step).await;
        let outcome = result.as_ref().map(|url| Some(url.as_str()));
        automation::mark_outcome(pool, job, &step, outcome).await;
        result.map(|_| ())
    }

    async fn make_channel_steps(&self, step: &AutomationStep) -> Result<String, SendError> {
        let action_name = &step.action;
        let Some(crate::config::ActionConfig::DiscordChannel {
            guild_id,
            category_id,
            prefix,
            ..
        }) = self
            .app
            .core
            .config
            .actions
            .iter()
            .find(|a| &a.name() == action_name)
            .cloned()
        else {
            return Err(SendError::Permanent(format!(
                "the action {action_name} is no longer configured"
            )));
        };
        let guild: u64 = guild_id.parse().map_err(|_| {
            SendError::Permanent(format!("guild_id '{guild_id}' is not a Discord id"))
        })?;
        let service = &step.service;
        let name = channel_name(&prefix, &step.name);
        let recorded: Option<String> =
            sqlx::query_scalar("SELECT discord_channel FROM entities WHERE ref = $1")
                .bind(service)
                .fetch_optional(&self.app.core.pool)
                .await
                .map_err(|e| SendError::Retry(e.to_string()))?
                .flatten()
                .filter(|c: &String| is_snowflake(c));
        let channel = match recorded {
            Some(id) => id,
            None => {
                // Made by an earlier attempt that crashed before recording it?
                let existing = self
                    .app
                    .api
                    .guild_channels(guild)
                    .await
                    .map_err(|e| e.to_send_error())?
                    .as_array()
                    .and_then(|channels| {
                        channels
                            .iter()
                            .find(|c| c["name"] == json!(name) && c["type"] == json!(0))
                            .and_then(|c| c["id"].as_str().map(str::to_string))
                    });
                let id = match existing {
                    Some(id) => id,
                    None => {
                        let mut body = json!({
                            "name": name,
                            "type": 0,
                            "topic": format!("{service} — made by usher for the new service"),
                        });
                        if let Some(category) = &category_id {
                            body["parent_id"] = json!(category);
                        }
                        let made = self
                            .app
                            .api
                            .create_channel(guild, &body)
                            .await
                            .map_err(|e| e.to_send_error())?;
                        made["id"].as_str().map(str::to_string).ok_or_else(|| {
                            SendError::Retry("no channel id in Discord's answer".into())
                        })?
                    }
                };
                CatalogAnnotations(self.app.core.pool.clone())
                    .set(service, "discord.com/channel-id", &id)
                    .await?;
                id
            }
        };
        Ok(format!("https://discord.com/channels/{guild}/{channel}"))
    }
}

impl Sender for DiscordSender {
    fn send<'a>(&'a self, job: &'a Job) -> SendFuture<'a> {
        Box::pin(self.run(job))
    }
}

impl ChatPlatform for DiscordSender {
    type Rendered = render::Rendered;
    const NAME: &'static str = "Discord";

    fn core(&self) -> &crate::context::Core {
        &self.app.core
    }

    fn render(&self, reply: &Reply, pings: bool) -> render::Rendered {
        let mut rendered = render::message(reply, None);
        if pings {
            // A page pings the person mentioned.
            rendered.body["allowed_mentions"] = json!({ "parse": ["users"] });
        }
        rendered
    }

    fn summary(rendered: &render::Rendered) -> String {
        rendered.body["embeds"][0]["description"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn mention<'a>(&'a self, person: &'a str) -> Pending<'a, Span> {
        Box::pin(async move {
            Span::Person {
                name: person.rsplit('/').next().unwrap_or(person).to_string(),
                slack_id: None,
                discord_id: self.app.identity.discord_id_of(person).await.ok().flatten(),
            }
        })
    }

    fn channel_of(team: &TeamInfo) -> Option<String> {
        team.discord_channel
            .clone()
            .filter(|c| c.parse::<u64>().is_ok())
    }

    fn to_person<'a>(
        &'a self,
        job: &'a Job,
        person: &'a str,
        rendered: &'a render::Rendered,
    ) -> Pending<'a, Result<(), SendError>> {
        Box::pin(self.dm(job, person, rendered))
    }

    fn to_channel<'a>(
        &'a self,
        job: &'a Job,
        channel: &'a str,
        rendered: &'a render::Rendered,
    ) -> Pending<'a, Result<(), PostError>> {
        Box::pin(async move {
            let id = channel.parse::<u64>().map_err(|_| {
                PostError::Permanent(format!("'{channel}' is not a Discord channel id"))
            })?;
            self.post(job, id, rendered)
                .await
                .map_err(|e| PostError::sorted(e.is_permanent(), &e, e.to_send_error()))
        })
    }
}

/// A Discord channel name: lower case, letters, digits and dashes.
pub fn channel_name(prefix: &str, service: &str) -> String {
    let raw = format!("{prefix}{service}").to_lowercase();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    name.trim_matches('-').chars().take(100).collect()
}

/// The nonce of `job`'s message to `channel`: the same on every attempt,
/// different per channel, within Discord's 25 characters.
fn nonce(job: &Job, channel: u64) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}:{channel}", job.id));
    format!("u{}", &hex::encode(digest)[..24])
}
