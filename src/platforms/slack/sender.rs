//! The Slack sender: delivers outbox jobs — answers to mentions, late
//! answers to `response_url`, messages to teams and people (pages,
//! vulnerable-package notices), reports to admins, and the `slack_channel`
//! step of a new service.
//!
//! Slack allows about one message a second per channel, so posts to one
//! channel are spaced `channel_interval_ms` apart. A 429 waits its
//! `Retry-After` without counting as a failed attempt (nothing is dropped
//! for being told to slow down). Errors retrying can't fix
//! (`channel_not_found`, `not_in_channel`, `is_archived`,
//! `account_inactive` …) go to the dead letters at once — the outbox then
//! reports them to the admins — and a message meant for a team's channel
//! goes to the team lead's DM instead, where there is a lead.

use std::sync::Arc;
use std::time::Duration;

use super::api::{Api, ApiError};
use super::{SlackApp, render};
use crate::actions::automation::{self, Annotations};
use crate::actions::jobs::{self, AutomationStep, SlackMention, SlackResponse};
use crate::actions::outbox::{Job, SendError, SendFuture, Sender};
use crate::catalog::import::CatalogAnnotations;
use crate::chat::{Platform, Reply, Request, Span};
use crate::commands::grammar;
use crate::platforms::delivery::{self, ChatPlatform, Pending, PostError, TeamInfo};
use slack_morphism::prelude::SlackMessageMetadata;

/// The message metadata event type of usher's own posts (its payload
/// names the outbox job, so a retry can tell whether it was posted).
pub const JOB_METADATA_EVENT: &str = "usher_outbox_job";

/// The kinds this sender delivers (with a bot token; without one, only
/// `response_url` posts, which need no token).
pub fn kinds(with_token: bool) -> Vec<&'static str> {
    if with_token {
        vec![
            jobs::SLACK_RESPOND,
            jobs::SLACK_MENTION,
            jobs::CHAT,
            jobs::CHAT_SLACK,
            jobs::NOTIFY,
            jobs::ADMIN_REPORT,
            jobs::ACTION_SLACK_CHANNEL,
        ]
    } else {
        vec![jobs::SLACK_RESPOND]
    }
}

pub struct SlackSender {
    app: Arc<SlackApp>,
    http: reqwest::Client,
    pacer: crate::platforms::pacing::Pacer<String>,
}

impl SlackSender {
    pub fn new(app: Arc<SlackApp>) -> Self {
        SlackSender {
            app,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .build()
                .expect("the HTTP client builds with static settings"),
            pacer: Default::default(),
        }
    }

    fn api(&self) -> Result<&Api, SendError> {
        self.app
            .api
            .as_ref()
            .ok_or_else(|| SendError::Retry("SLACK_BOT_TOKEN is not set".into()))
    }

    /// Waits until `channel` may have another message, or says when to
    /// come back (a busy channel).
    async fn pace(&self, channel: &str) -> Result<(), ApiError> {
        let interval = Duration::from_millis(self.app.config.channel_interval_ms);
        self.pacer
            .wait(channel.to_string(), interval)
            .await
            .map_err(|wait| ApiError::RateLimited(Some(wait)))
    }

    /// Posts a message for `job` to a channel (or a user id: their DM),
    /// paced. The message carries the job's id as message metadata, and a
    /// retry first looks for it in the channel's (or thread's) latest
    /// messages: an attempt whose answer was lost may have posted it, and
    /// then it is not posted twice.
    async fn post(
        &self,
        job: &Job,
        channel: &str,
        rendered: &render::Rendered,
        thread_ts: Option<&str>,
    ) -> Result<(), ApiError> {
        let api = self
            .app
            .api
            .as_ref()
            .ok_or_else(|| ApiError::Transport("SLACK_BOT_TOKEN is not set".into()))?;
        if job.attempts > 1 && self.posted_before(api, job, channel, thread_ts).await? {
            tracing::info!(
                job = job.id,
                channel,
                "Slack: an earlier attempt posted this already; not posting it again"
            );
            return Ok(());
        }
        crate::platforms::values::store(&self.app.core.pool, &rendered.long_values)
            .await
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let mut content = rendered.content();
        content.metadata = Some(SlackMessageMetadata {
            event_type: JOB_METADATA_EVENT.to_string(),
            event_payload: Some([("job".to_string(), job.id.to_string())].into()),
        });
        self.pace(channel).await?;
        api.post_message(channel, content, thread_ts)
            .await
            .map(|_| ())
    }

    /// Whether a message carrying `job`'s id is among the latest in the
    /// channel or thread.
    async fn posted_before(
        &self,
        api: &Api,
        job: &Job,
        channel: &str,
        thread_ts: Option<&str>,
    ) -> Result<bool, ApiError> {
        let channel = if channel.starts_with(['U', 'W']) {
            api.dm_channel(channel).await?
        } else {
            channel.to_string()
        };
        let id = job.id.to_string();
        Ok(api
            .recent_metadata(&channel, thread_ts)
            .await?
            .iter()
            .any(|m| {
                m.event_type == JOB_METADATA_EVENT
                    && m.event_payload
                        .as_ref()
                        .and_then(|p| p.get("job"))
                        .is_some_and(|j| *j == id)
            }))
    }

    async fn run(&self, job: &Job) -> Result<(), SendError> {
        match job.kind.as_str() {
            jobs::SLACK_RESPOND => self.respond(job).await,
            jobs::SLACK_MENTION => self.answer_mention(job).await,
            jobs::CHAT | jobs::CHAT_SLACK | jobs::NOTIFY => delivery::deliver(self, job).await,
            jobs::ADMIN_REPORT => delivery::report_to_admins(self, job).await,
            jobs::ACTION_SLACK_CHANNEL => self.make_channel(job).await,
            other => Err(SendError::Permanent(format!(
                "the Slack sender doesn't deliver {other}"
            ))),
        }
    }

    /// A post to a `response_url` (no token: the URL is the credential).
    async fn respond(&self, job: &Job) -> Result<(), SendError> {
        let SlackResponse { url, body } = job.decode()?;
        let response = self.http.post(&url).json(&body).send().await.map_err(|e| {
            SendError::Retry(format!(
                "response_url could not be reached: {}",
                if e.is_timeout() {
                    "timed out"
                } else {
                    "no connection"
                }
            ))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.as_u16() == 429 {
            let after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(30);
            return Err(SendError::RetryAfter(
                Duration::from_secs(after.max(1)),
                "response_url rate-limited".into(),
            ));
        }
        let body = response.text().await.unwrap_or_default();
        let why = format!(
            "response_url answered {status}: {}",
            body.chars().take(100).collect::<String>()
        );
        if status.is_server_error() {
            Err(SendError::Retry(why))
        } else {
            // 404 expired_url / used_url: after 30 minutes or 5 uses.
            Err(SendError::Permanent(why))
        }
    }

    /// Answers a mention or DM in its thread.
    async fn answer_mention(&self, job: &Job) -> Result<(), SendError> {
        let SlackMention {
            team,
            channel,
            user,
            text,
            thread_ts,
            ..
        } = job.decode()?;
        let actor = self.app.identity.actor(&user, None).await;
        let line = if text.len() > crate::commands::MAX_LINE_BYTES {
            // Read no further than that: a message can be 40,000 characters.
            Some(text)
        } else {
            grammar::command_for(&text)
        };
        let reply = match line {
            Some(line) => {
                let request = Request {
                    actor,
                    platform: Platform::Slack,
                    workspace: Some(team),
                    channel: Some(channel.clone()),
                    text: line,
                };
                let reply = crate::commands::handle(&self.app.core, &request).await;
                if reply.form.is_some() {
                    Reply::text(format!(
                        "That one is a form: run `{} {}` and it opens in a window.",
                        self.app.config.command, request.text
                    ))
                } else {
                    reply
                }
            }
            None => {
                let help = crate::commands::help::run(&crate::commands::parse::Args::default());
                let mut reply = Reply::text(
                    "I didn't catch that. Ask me “who owns payments-api?”, “who's on call for checkout?”, “docs for search” — or any command:",
                );
                reply.blocks.extend(help.blocks);
                reply
            }
        };
        let rendered = render::message(&reply, None);
        self.post(job, &channel, &rendered, Some(&thread_ts))
            .await
            .map_err(|e| e.to_send_error())
    }

    /// The `slack_channel` step of a new service: make the channel (or
    /// find the one a previous attempt made), record it on the service,
    /// invite the person who asked for the service.
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
        let api = self.api()?;
        let action_name = &step.action;
        let Some(crate::config::ActionConfig::SlackChannel {
            prefix, private, ..
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
        let service = &step.service;
        let name = channel_name(&prefix, &step.name);
        let recorded: Option<String> =
            sqlx::query_scalar("SELECT slack_channel FROM entities WHERE ref = $1")
                .bind(service)
                .fetch_optional(&self.app.core.pool)
                .await
                .map_err(|e| SendError::Retry(e.to_string()))?
                .flatten()
                .filter(|c: &String| crate::commands::render::is_slack_channel_id(c));
        let channel = match recorded {
            Some(id) => id,
            None => {
                let id = match api.create_channel(&name, private).await {
                    Ok(id) => id,
                    // Made by an earlier attempt that crashed before recording it.
                    Err(e) if e.code() == Some("name_taken") => api
                        .find_channel(&name)
                        .await
                        .map_err(|e| e.to_send_error())?
                        .ok_or_else(|| SendError::Permanent(format!("#{name} exists but usher can't see it (a private channel?); pick another prefix or add usher to it")))?,
                    Err(e) => return Err(e.to_send_error()),
                };
                CatalogAnnotations(self.app.core.pool.clone())
                    .set(service, "slack.com/channel-id", &id)
                    .await?;
                id
            }
        };
        if let Ok(Some(user)) = self.app.identity.slack_id_of(&step.requested_by).await {
            api.invite(&channel, &[user])
                .await
                .map_err(|e| e.to_send_error())?;
        }
        Ok(format!("https://slack.com/app_redirect?channel={channel}"))
    }
}

impl Sender for SlackSender {
    fn send<'a>(&'a self, job: &'a Job) -> SendFuture<'a> {
        Box::pin(self.run(job))
    }
}

impl ChatPlatform for SlackSender {
    type Rendered = render::Rendered;
    const NAME: &'static str = "Slack";

    fn core(&self) -> &crate::context::Core {
        &self.app.core
    }

    fn render(&self, reply: &Reply, _pings: bool) -> render::Rendered {
        render::message(reply, None)
    }

    fn summary(rendered: &render::Rendered) -> String {
        rendered.text.clone()
    }

    fn mention<'a>(&'a self, person: &'a str) -> Pending<'a, Span> {
        Box::pin(async move {
            Span::Person {
                name: person.rsplit('/').next().unwrap_or(person).to_string(),
                slack_id: self.app.identity.slack_id_of(person).await.ok().flatten(),
                discord_id: None,
            }
        })
    }

    fn channel_of(team: &TeamInfo) -> Option<String> {
        team.slack_channel
            .clone()
            .or_else(|| team.slack_channel_name.clone())
            .map(|c| c.trim_start_matches('#').to_string())
            .filter(|c| !c.is_empty())
    }

    fn to_person<'a>(
        &'a self,
        job: &'a Job,
        person: &'a str,
        rendered: &'a render::Rendered,
    ) -> Pending<'a, Result<(), SendError>> {
        Box::pin(async move {
            let Some(id) = self
                .app
                .identity
                .slack_id_of(person)
                .await
                .map_err(SendError::Retry)?
            else {
                return Err(SendError::Permanent(format!(
                    "{person} has no Slack account usher can find (no slack user id, and no Slack user with their email)"
                )));
            };
            self.post(job, &id, rendered, None)
                .await
                .map_err(|e| e.to_send_error())
        })
    }

    fn to_channel<'a>(
        &'a self,
        job: &'a Job,
        channel: &'a str,
        rendered: &'a render::Rendered,
    ) -> Pending<'a, Result<(), PostError>> {
        Box::pin(async move {
            self.post(job, channel, rendered, None)
                .await
                .map_err(|e| PostError::sorted(e.is_permanent(), &e, e.to_send_error()))
        })
    }
}

/// A valid Slack channel name: lower case, `-` for anything else, 80 max.
pub fn channel_name(prefix: &str, service: &str) -> String {
    let raw = format!("{prefix}{service}").to_lowercase();
    let mut out = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_matches('-').chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_valid() {
        assert_eq!(channel_name("svc-", "Payments API"), "svc-payments-api");
        assert_eq!(channel_name("", "a..b"), "a-b");
        assert_eq!(channel_name("x-", &"y".repeat(100)).len(), 80);
    }
}
