//! The Events API: `@usher who owns payments-api?` in a channel, and
//! direct messages to the bot.
//!
//! Slack retries an event it thinks went unanswered, and may deliver one
//! to either replica, so every event is recorded by its `event_id` in
//! Postgres; a repeat (with or without `X-Slack-Retry-Num`) is
//! acknowledged and nothing else. The answer is an outbox job written in
//! the same transaction as the record — acknowledged means it will be
//! answered, even across a crash — and this process's worker is woken at
//! once, so the answer lands in the thread within a second or two.

use std::sync::Arc;

use slack_morphism::prelude::*;
use sqlx::PgPool;

use super::SlackApp;
use crate::actions::jobs::SlackMention;
use crate::actions::outbox::{self, NewJob};

/// A message that asks usher something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub channel: String,
    pub user: String,
    pub text: String,
    /// The thread the answer goes to.
    pub thread_ts: String,
}

/// The question in an event, if it is one usher answers: a mention, or a
/// person's (not a bot's) direct message.
pub fn question(event: &SlackEventCallbackBody, bot_user: Option<&str>) -> Option<Question> {
    match event {
        SlackEventCallbackBody::AppMention(m) => Some(Question {
            channel: m.channel.to_string(),
            user: m.user.to_string(),
            text: m.content.text.clone().unwrap_or_default(),
            thread_ts: thread_of(&m.origin),
        }),
        SlackEventCallbackBody::Message(m) => {
            let direct = m.origin.channel_type.as_ref().is_some_and(|t| t.0 == "im");
            let user = m.sender.user.as_ref()?.to_string();
            if !direct
                || m.subtype.is_some()
                || m.sender.bot_id.is_some()
                || bot_user == Some(user.as_str())
            {
                return None;
            }
            Some(Question {
                channel: m.origin.channel.as_ref()?.to_string(),
                user,
                text: m
                    .content
                    .as_ref()
                    .and_then(|c| c.text.clone())
                    .unwrap_or_default(),
                thread_ts: thread_of(&m.origin),
            })
        }
        _ => None,
    }
}

/// The thread a message belongs to (its own, when it starts one).
fn thread_of(origin: &SlackMessageOrigin) -> String {
    origin.thread_ts.as_ref().unwrap_or(&origin.ts).to_string()
}

/// Records the event and queues its answer; returns whether it was new.
pub async fn handle(
    app: &Arc<SlackApp>,
    callback: &SlackPushEventCallback,
) -> Result<bool, sqlx::Error> {
    let team = callback.team_id.to_string();
    if !app.serves(&team) {
        tracing::info!(team = %team, "Slack: ignored an event from a workspace not on the list");
        return Ok(false);
    }
    let bot_user = app.bot_user();
    let question = question(&callback.event, bot_user.as_deref());
    let event_id = callback.event_id.to_string();
    let mut tx = app.core.pool.begin().await?;
    let new = sqlx::query(
        "INSERT INTO slack_events (event_id, team_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(&event_id)
    .bind(&team)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if new && let Some(q) = &question {
        let mention = SlackMention {
            team: team.clone(),
            channel: q.channel.clone(),
            user: q.user.clone(),
            text: q.text.clone(),
            thread_ts: q.thread_ts.clone(),
            event_id: event_id.clone(),
        };
        let job = NewJob::new(
            format!("slack:{}", q.channel),
            &mention,
            format!("slack-event:{event_id}"),
        );
        outbox::enqueue(&mut tx, &job, app.core.config.outbox.max_attempts).await?;
    }
    tx.commit().await?;
    if new && question.is_some() {
        app.waker.notify_one();
    }
    if !new {
        tracing::debug!(event = %event_id, "Slack: a repeated event; acknowledged, nothing done");
    }
    Ok(new)
}

/// Forgets event ids older than `days` (Slack retries within minutes).
pub async fn prune(pool: &PgPool, days: i32) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM slack_events WHERE received_at < now() - make_interval(days => $1)",
    )
    .bind(days)
    .execute(pool)
    .await?
    .rows_affected())
}
