//! One delivery path for chat platforms: a `chat.message` (or a
//! notification) to a team's channel or a person's DM, the team lead's DM
//! when the channel can't take it, and the report to the admins when a job
//! goes to the dead letters. Slack and Discord implement [`ChatPlatform`]
//! — how to render, mention, DM and post there — and share the rest.

use std::future::Future;
use std::pin::Pin;

use crate::actions::jobs::{self, AdminReport, ChatMessage, Notice};
use crate::actions::outbox::{self, Job, NewJob, SendError};
use crate::chat::{Reply, Span, Text};
use crate::context::Core;

/// A boxed future, so the trait stays object-free and simple.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a post to a channel failed.
pub enum PostError {
    /// It will never work (a channel that's gone, no access): the message
    /// goes to the team lead instead.
    Permanent(String),
    /// Worth trying again.
    Retry(SendError),
}

impl PostError {
    /// A platform's API error, sorted: permanent (with its message) or
    /// worth retrying (as the outbox error it becomes).
    pub fn sorted(permanent: bool, message: impl std::fmt::Display, retry: SendError) -> Self {
        if permanent {
            PostError::Permanent(message.to_string())
        } else {
            PostError::Retry(retry)
        }
    }
}

/// A team as delivery needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TeamInfo {
    pub name: String,
    pub slack_channel: Option<String>,
    pub slack_channel_name: Option<String>,
    pub discord_channel: Option<String>,
    pub lead: Option<String>,
}

/// What a platform does its own way.
pub trait ChatPlatform: Sync {
    type Rendered: Sync + Send;
    /// "Slack", "Discord": for the messages that say where a channel is missing.
    const NAME: &'static str;
    fn core(&self) -> &Core;
    /// The message as this platform shows it; `pings` when it mentions
    /// someone who should be notified (a page).
    fn render(&self, reply: &Reply, pings: bool) -> Self::Rendered;
    /// A rendered message's text, for the lead's fallback DM.
    fn summary(rendered: &Self::Rendered) -> String;
    /// How a catalog person is mentioned here.
    fn mention<'a>(&'a self, person: &'a str) -> Pending<'a, Span>;
    /// The team's channel here, if the catalog names one.
    fn channel_of(team: &TeamInfo) -> Option<String>;
    /// A direct message to a catalog person.
    fn to_person<'a>(
        &'a self,
        job: &'a Job,
        person: &'a str,
        rendered: &'a Self::Rendered,
    ) -> Pending<'a, Result<(), SendError>>;
    /// A post to a channel.
    fn to_channel<'a>(
        &'a self,
        job: &'a Job,
        channel: &'a str,
        rendered: &'a Self::Rendered,
    ) -> Pending<'a, Result<(), PostError>>;
}

/// Where a chat job goes.
enum Target {
    Team(String),
    Person(String),
}

/// Delivers a `chat.message` or a notification: to the person, or to the
/// team's channel, or (when the channel can't take it) to the team lead.
pub async fn deliver<P: ChatPlatform>(platform: &P, job: &Job) -> Result<(), SendError> {
    let (target, reply, pings) = if job.kind == jobs::NOTIFY {
        let notice: Notice = job.decode()?;
        (
            Target::Team(job.destination.clone()),
            super::messages::notice_reply(&notice),
            false,
        )
    } else {
        let message: ChatMessage = job.decode()?;
        let target = match job.destination.split_once(':') {
            Some(("channel", team)) => Target::Team(team.to_string()),
            Some(("dm", person)) => Target::Person(person.to_string()),
            _ => {
                return Err(SendError::Permanent(format!(
                    "unknown destination {}",
                    job.destination
                )));
            }
        };
        let pings = message.mention.is_some();
        (target, chat_reply(platform, message).await, pings)
    };
    let rendered = platform.render(&reply, pings);
    match target {
        Target::Person(person) => platform.to_person(job, &person, &rendered).await,
        Target::Team(team) => {
            let info = team_info(&platform.core().pool, &team)
                .await
                .map_err(|e| SendError::Retry(e.to_string()))?;
            let Some(channel) = P::channel_of(&info) else {
                let why = format!("the team has no {} channel in the catalog", P::NAME);
                return to_lead_instead(platform, job, &info, &rendered, &why).await;
            };
            match platform.to_channel(job, &channel, &rendered).await {
                Ok(()) => Ok(()),
                Err(PostError::Permanent(e)) => {
                    let why = format!("posting to {channel} failed: {e}");
                    to_lead_instead(platform, job, &info, &rendered, &why).await
                }
                Err(PostError::Retry(e)) => Err(e),
            }
        }
    }
}

/// The channel can't take it: queue the message for the team lead's DM,
/// and fail permanently (the admins hear of it).
async fn to_lead_instead<P: ChatPlatform>(
    platform: &P,
    job: &Job,
    team: &TeamInfo,
    rendered: &P::Rendered,
    why: &str,
) -> Result<(), SendError> {
    let Some(lead) = &team.lead else {
        return Err(SendError::Permanent(format!(
            "{why}, and the team has no lead to tell instead"
        )));
    };
    let text = format!(
        "I couldn't deliver this to your team's channel ({why}), so it comes to you as the lead of {}:\n\n{}",
        team.name,
        P::summary(rendered)
    );
    let fallback = NewJob::new(
        format!("dm:{lead}"),
        &ChatMessage {
            fallback_for: Some(job.id),
            ..ChatMessage::text(text)
        },
        format!("lead-fallback:{}", job.id),
    );
    let core = platform.core();
    let mut conn = core
        .pool
        .acquire()
        .await
        .map_err(|e| SendError::Retry(e.to_string()))?;
    outbox::enqueue(&mut conn, &fallback, core.config.outbox.max_attempts)
        .await
        .map_err(|e| SendError::Retry(e.to_string()))?;
    Err(SendError::Permanent(format!(
        "{why}; sent to the team lead ({lead}) instead"
    )))
}

/// A chat message as a reply: the whole reply when it carries one, else
/// its text and the person to mention.
async fn chat_reply<P: ChatPlatform>(platform: &P, message: ChatMessage) -> Reply {
    if let Some(reply) = message.reply {
        return reply;
    }
    let mut text = Text::plain(message.text);
    if let Some(person) = &message.mention {
        text = text.add_plain(" ").add_span(platform.mention(person).await);
    }
    Reply::new().section(text).public()
}

/// Tells each admin (by DM) that a job went to the dead letters.
pub async fn report_to_admins<P: ChatPlatform>(platform: &P, job: &Job) -> Result<(), SendError> {
    let core = platform.core();
    if core.config.admins.people.is_empty() {
        tracing::warn!(payload = %job.payload, "a message could not be delivered, and no admins are configured to tell");
        return Ok(());
    }
    let report: AdminReport = job.decode()?;
    let reply = super::messages::undelivered_report(&report);
    let rendered = platform.render(&reply, false);
    let mut delivered = 0;
    let mut last_error = None;
    for admin in core.admin_keys() {
        match platform.to_person(job, &admin, &rendered).await {
            Ok(()) => delivered += 1,
            Err(e) => last_error = Some(e),
        }
    }
    match (delivered, last_error) {
        (0, Some(e)) => Err(e),
        (0, None) => Err(SendError::Retry("no admin could be reached".into())),
        _ => Ok(()),
    }
}

/// A team's name, channels and lead.
pub async fn team_info(pool: &sqlx::PgPool, team: &str) -> Result<TeamInfo, sqlx::Error> {
    let row: Option<TeamInfo> = sqlx::query_as(
        "SELECT coalesce(nullif(title, ''), name) AS name, slack_channel,
                annotations->>'slack.com/channel' AS slack_channel_name,
                discord_channel, lead_ref AS lead
         FROM entities WHERE ref = $1",
    )
    .bind(team.to_lowercase())
    .fetch_optional(pool)
    .await?;
    Ok(row.unwrap_or_else(|| TeamInfo {
        name: team.to_string(),
        slack_channel: None,
        slack_channel_name: None,
        discord_channel: None,
        lead: None,
    }))
}
