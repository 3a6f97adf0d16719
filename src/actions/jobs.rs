//! Every outbox job, in one place: its kind (what is written in
//! `outbox.kind`, which picks the sender and the lane) and the payload it
//! carries, as a typed struct.
//!
//! Why typed: a payload is written by one module and read by another,
//! possibly by another version of usher after a deploy. Read as untyped
//! JSON, a renamed field reads as empty and the message goes out wrong;
//! read through these structs, the writer and reader can't disagree at
//! compile time, and a stored payload that doesn't fit fails loudly as a
//! dead letter naming the field (a poison message is told to the admins,
//! never retried forever). Fields added later are `#[serde(default)]`, so
//! jobs queued by an earlier version still read.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::Reply;

/// A chat message to `channel:<team ref>` or `dm:<person ref>`, delivered
/// by whichever platform reaches the destination (Slack, then Discord).
pub const CHAT: &str = "chat.message";
/// A chat message for Slack only (a digest for a team on both platforms
/// goes to each; a `me link` code goes by Slack DM only).
pub const CHAT_SLACK: &str = "chat.message.slack";
/// A chat message for Discord only.
pub const CHAT_DISCORD: &str = "chat.message.discord";
/// A notification to an owning team (`search … --notify`).
pub const NOTIFY: &str = "chat.notify";
/// Tells the admins about a job that went to the dead letters.
pub const ADMIN_REPORT: &str = "admin.report";

/// A PagerDuty incident (Events API v2).
pub const PAGERDUTY_TRIGGER: &str = "pagerduty.trigger";
/// An Opsgenie alert.
pub const OPSGENIE_ALERT: &str = "opsgenie.alert";

/// A late answer to a slash command, posted to its `response_url`.
pub const SLACK_RESPOND: &str = "slack.respond";
/// The answer to a Slack mention or DM, in its thread.
pub const SLACK_MENTION: &str = "slack.mention";
/// A late answer to a Discord interaction (an edit of the deferred reply).
pub const DISCORD_FOLLOWUP: &str = "discord.followup";

/// A pull or merge request with a service's catalog fix.
pub const HYGIENE_PROPOSAL: &str = "hygiene.proposal";
/// A pull or merge request adding a catalog-info.yaml to a repository
/// discovery found without one ("Describe it").
pub const DESCRIPTOR_PROPOSAL: &str = "hygiene.describe";

/// The automation steps of a new service. The Slack and Discord channel
/// steps run in their adapters (they need the platform's client); the
/// rest in `actions::automation`.
pub const ACTION_WEBHOOK: &str = "action.webhook";
pub const ACTION_GITHUB_REPO: &str = "action.github_repo";
pub const ACTION_GITLAB_PROJECT: &str = "action.gitlab_project";
pub const ACTION_PAGERDUTY_SERVICE: &str = "action.pagerduty_service";
pub const ACTION_SLACK_CHANNEL: &str = "action.slack_channel";
pub const ACTION_DISCORD_CHANNEL: &str = "action.discord_channel";
/// What every automation step's kind starts with.
pub const ACTION_PREFIX: &str = "action.";

/// Every automation step's kind.
pub const ACTION_KINDS: &[&str] = &[
    ACTION_WEBHOOK,
    ACTION_GITHUB_REPO,
    ACTION_GITLAB_PROJECT,
    ACTION_PAGERDUTY_SERVICE,
    ACTION_SLACK_CHANNEL,
    ACTION_DISCORD_CHANNEL,
];

/// What an outbox job carries, tied to the kind it travels as.
pub trait Payload: Serialize + DeserializeOwned {
    /// The kind a job with this payload is queued as by default.
    const KIND: &'static str;
    /// Every kind that carries this payload (a chat message travels as
    /// three, one per platform choice; automation steps as six).
    const KINDS: &'static [&'static str] = &[Self::KIND];
}

/// A chat message to `channel:<team ref>` or `dm:<person ref>`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatMessage {
    /// The message as plain text (all of it, when there's no `reply`).
    pub text: String,
    /// A whole reply to render as it is (a hygiene digest); `text` is then
    /// its plain form, for logs and fallbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
    /// The person (entity ref) to mention after the text: a page pings
    /// whoever is on call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention: Option<String>,
    /// The service it is about (a page), for the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The job this one stands in for (a team lead told instead of a dead
    /// channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_for: Option<i64>,
}

impl ChatMessage {
    /// A plain-text message.
    pub fn text(text: impl Into<String>) -> ChatMessage {
        ChatMessage {
            text: text.into(),
            ..ChatMessage::default()
        }
    }

    /// A whole reply, rendered as it is (its plain text along).
    pub fn whole(reply: &Reply) -> ChatMessage {
        ChatMessage {
            text: reply.to_plain(),
            reply: Some(reply.clone()),
            ..ChatMessage::default()
        }
    }
}

impl Payload for ChatMessage {
    const KIND: &'static str = CHAT;
    const KINDS: &'static [&'static str] = &[CHAT, CHAT_SLACK, CHAT_DISCORD];
}

/// A notice to an owning team that some of its services use a package
/// (`search … --notify`); the destination is the team's ref.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notice {
    /// Why the team is told (`vulnerable-package`).
    pub reason: String,
    /// The search that found the services, normalised.
    pub query: String,
    /// The package, as the search named it.
    pub package: String,
    pub requested_by: String,
    pub services: Vec<NoticedService>,
    /// Repositories that look like the team's and aren't catalogued.
    #[serde(default)]
    pub repositories: Vec<NoticedRepository>,
}

/// An uncatalogued repository a notice names, with why it is the team's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticedRepository {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub evidence: Option<String>,
    /// "log4j-core 2.14.1 (pom.xml)".
    #[serde(default)]
    pub versions: Vec<String>,
}

/// One of the team's services a notice names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoticedService {
    #[serde(rename = "ref")]
    pub key: String,
    pub name: String,
    /// The package's versions the service uses.
    #[serde(default)]
    pub versions: Vec<String>,
}

impl Payload for Notice {
    const KIND: &'static str = NOTIFY;
}

/// Tells the admins a job went to the dead letters (or, from a hygiene
/// round, that a digest had nowhere to go: then `job` is 0).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminReport {
    /// The dead job's id, for `usher outbox retry`.
    pub job: i64,
    /// What it was (its kind, or a description).
    pub kind: String,
    pub destination: String,
    pub error: String,
    pub attempts: i32,
}

impl Payload for AdminReport {
    const KIND: &'static str = ADMIN_REPORT;
}

/// A PagerDuty Events API v2 trigger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PagerDutyTrigger {
    pub routing_key: String,
    /// The same key for a double click: one incident.
    pub dedup_key: String,
    pub summary: String,
    /// The service's ref.
    pub source: String,
    pub details: PageDetails,
}

/// Why someone was paged, and by whom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageDetails {
    pub reason: String,
    pub paged_by: String,
}

impl Payload for PagerDutyTrigger {
    const KIND: &'static str = PAGERDUTY_TRIGGER;
}

/// An Opsgenie alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpsgenieAlert {
    /// The Opsgenie team to route it to, when the service names one.
    #[serde(default)]
    pub team: Option<String>,
    /// The same alias for a double click: one alert.
    pub alias: String,
    pub message: String,
    pub description: String,
}

impl Payload for OpsgenieAlert {
    const KIND: &'static str = OPSGENIE_ALERT;
}

/// A late answer to a slash command: Slack's own message JSON, posted to
/// the command's `response_url` (the URL is the credential).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlackResponse {
    pub url: String,
    pub body: Value,
}

impl Payload for SlackResponse {
    const KIND: &'static str = SLACK_RESPOND;
}

/// A question asked by mentioning usher (or in a DM), answered in its
/// thread.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlackMention {
    /// The Slack workspace (team id).
    pub team: String,
    pub channel: String,
    pub user: String,
    pub text: String,
    pub thread_ts: String,
    pub event_id: String,
}

impl Payload for SlackMention {
    const KIND: &'static str = SLACK_MENTION;
}

/// The edit of a deferred Discord interaction response: Discord's own
/// message JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscordFollowup {
    /// A snowflake, as a string (JSON numbers lose its low digits).
    pub application_id: String,
    /// The interaction token (valid 15 minutes).
    pub token: String,
    pub body: Value,
}

impl Payload for DiscordFollowup {
    const KIND: &'static str = DISCORD_FOLLOWUP;
}

/// A pull or merge request setting a service's missing fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HygieneProposal {
    /// The service's name (for the branch and the wording).
    pub service: String,
    pub service_ref: String,
    /// The fields to set, in order.
    #[serde(default)]
    pub changes: Vec<FieldChange>,
    /// The descriptor's address (a GitHub or GitLab file URL).
    #[serde(default)]
    pub source_file: Option<String>,
    /// The line its document starts on.
    #[serde(default)]
    pub source_line: Option<i32>,
    pub requested_by: String,
    /// The single field of a job queued before `changes` existed.
    #[serde(default, skip_serializing)]
    pub field: Option<String>,
    #[serde(default, skip_serializing)]
    pub value: Option<String>,
}

/// A new catalog-info.yaml for a repository discovery found without one,
/// as a pull or merge request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DescriptorProposal {
    /// The repository, as `repositories` keys it.
    pub source: String,
    pub repository: String,
    /// The component the file describes (for the branch and the wording).
    pub component: String,
    /// Where the file goes: its web address on the host
    /// (`…/blob/<branch>/catalog-info.yaml`).
    pub file_url: String,
    /// The file's whole text.
    pub text: String,
    pub requested_by: String,
}

impl Payload for DescriptorProposal {
    const KIND: &'static str = DESCRIPTOR_PROPOSAL;
}

/// One field a proposal sets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub value: String,
}

impl HygieneProposal {
    /// The fields it sets, in order (an earlier version's single field as
    /// a list of one).
    pub fn changes(&self) -> Vec<FieldChange> {
        match (&self.field, &self.value) {
            (Some(field), Some(value)) if self.changes.is_empty() => vec![FieldChange {
                field: field.clone(),
                value: value.clone(),
            }],
            _ => self.changes.clone(),
        }
    }
}

impl Payload for HygieneProposal {
    const KIND: &'static str = HYGIENE_PROPOSAL;
}

/// One automation step of a new service; the kind says which.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AutomationStep {
    /// The service's ref.
    pub service: String,
    /// The configured action's name.
    pub action: String,
    /// The service's name (for repositories and channels).
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    /// The descriptor as YAML, to commit.
    pub catalog_info: String,
    /// The descriptor as JSON, for webhooks.
    pub descriptor: Value,
    pub requested_by: String,
}

impl Payload for AutomationStep {
    const KIND: &'static str = ACTION_WEBHOOK;
    const KINDS: &'static [&'static str] = ACTION_KINDS;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proposal_queued_by_an_earlier_version_still_reads() {
        let old: HygieneProposal = serde_json::from_value(serde_json::json!({
            "service": "x", "service_ref": "component:default/x", "field": "spec.lifecycle",
            "value": "production", "source_file": null, "source_line": 3, "requested_by": "ann"
        }))
        .unwrap();
        let changes = old.changes();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "spec.lifecycle");
    }

    #[test]
    fn kinds_are_unique_and_each_payload_owns_its_default_kind() {
        let all = [
            CHAT,
            CHAT_SLACK,
            CHAT_DISCORD,
            NOTIFY,
            ADMIN_REPORT,
            PAGERDUTY_TRIGGER,
            OPSGENIE_ALERT,
            SLACK_RESPOND,
            SLACK_MENTION,
            DISCORD_FOLLOWUP,
            HYGIENE_PROPOSAL,
            DESCRIPTOR_PROPOSAL,
            ACTION_WEBHOOK,
            ACTION_GITHUB_REPO,
            ACTION_GITLAB_PROJECT,
            ACTION_PAGERDUTY_SERVICE,
            ACTION_SLACK_CHANNEL,
            ACTION_DISCORD_CHANNEL,
        ];
        let unique: std::collections::BTreeSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len());
        assert!(ChatMessage::KINDS.contains(&ChatMessage::KIND));
        assert!(AutomationStep::KINDS.contains(&AutomationStep::KIND));
        assert!(ACTION_KINDS.iter().all(|k| k.starts_with(ACTION_PREFIX)));
    }
}
