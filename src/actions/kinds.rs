//! Every outbox job kind, in one place: what is written in `outbox.kind`,
//! which sender takes it, and so which lane it runs in. Modules name these
//! constants (and keep their historical aliases), never the strings.

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
