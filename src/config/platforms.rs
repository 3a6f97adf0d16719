//! `[slack]` and `[discord]`: which workspaces and servers usher serves and
//! how it answers there. The secrets come from the environment.

use super::*;

/// Slack: which workspaces usher serves and how it answers there. The
/// secrets (signing secret, bot and app tokens) come from the environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Team ids (`T…`) usher answers; anyone else gets a polite refusal.
    /// Empty: every workspace the app is installed in (warned at start).
    pub workspaces: Vec<String>,
    /// Whether people from other organisations in shared (Slack Connect)
    /// channels see emails and on-call people.
    pub share_with_external: bool,
    /// The root slash command.
    pub command: String,
    /// An answer ready within this many milliseconds goes back inline;
    /// later ones are acknowledged at once and posted to `response_url`.
    pub inline_ms: u64,
    /// Requests larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// When people are synced from `users.list` (crontab, UTC): accounts
    /// deactivated in Slack mark their catalog person inactive.
    pub people_sync_schedule: String,
    /// How long a Slack user's profile (email, home workspace) is trusted
    /// before `users.info` is asked again.
    pub identity_ttl_secs: u64,
    /// Messages to one channel at most this often (Slack allows about one
    /// a second).
    pub channel_interval_ms: u64,
    /// The people sync's pause between `users.list` pages: the method is
    /// in Slack's rate tier 2 (about 20 calls a minute).
    pub users_list_interval_ms: u64,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            workspaces: Vec::new(),
            share_with_external: false,
            command: "/usher".into(),
            inline_ms: 2000,
            max_body_bytes: 256 * 1024,
            people_sync_schedule: "30 * * * *".into(),
            identity_ttl_secs: 3600,
            channel_interval_ms: 1000,
            users_list_interval_ms: 3000,
        }
    }
}

/// Discord: which servers (guilds) usher serves and how it answers there.
/// The secrets (public key, bot token) come from the environment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Guild ids usher answers; anyone else gets a polite refusal. Empty:
    /// every guild the bot is in (warned at start).
    pub guilds: Vec<String>,
    /// The root application command.
    pub command: String,
    /// An answer ready within this many milliseconds is the response
    /// itself; later ones are deferred and sent as a follow-up.
    pub inline_ms: u64,
    /// Requests larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// Gateway shards in all (0: as many as Discord recommends).
    pub shard_count: u32,
    /// The shards this process runs (empty: all), so replicas can split
    /// a large bot.
    pub shards: Vec<u32>,
    /// Asks for the privileged GUILD_MEMBERS intent (enable it in the
    /// developer portal first): members who leave a guild are marked
    /// inactive. Off by default.
    pub guild_members_intent: bool,
    /// Messages to one channel at most this often.
    pub channel_interval_ms: u64,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            guilds: Vec::new(),
            command: "usher".into(),
            inline_ms: 2000,
            max_body_bytes: 256 * 1024,
            shard_count: 0,
            shards: Vec::new(),
            guild_members_intent: false,
            channel_interval_ms: 1000,
        }
    }
}

impl SlackConfig {
    /// The section's values checked; the error names the key.
    pub(super) fn check(&self) -> Result<(), String> {
        crate::schedule::Schedule::parse(&self.people_sync_schedule, "")
            .map_err(|why| format!("slack.people_sync_schedule: {why}"))?;
        if !self.command.starts_with('/') || self.command.len() < 2 {
            return Err(format!(
                "slack.command: '{}' must start with / (e.g. /usher)",
                self.command
            ));
        }
        if !(100..=2800).contains(&self.inline_ms) {
            return Err("slack.inline_ms: must be 100–2800, inside Slack's 3 seconds".into());
        }
        if self.max_body_bytes < 4096 {
            return Err("slack.max_body_bytes: must be at least 4096".into());
        }
        for (i, team) in self.workspaces.iter().enumerate() {
            if !team.starts_with(['T', 'E']) {
                return Err(format!(
                    "slack.workspaces[{i}]: '{team}' is not a Slack team id (T…)"
                ));
            }
        }
        Ok(())
    }
}

impl DiscordConfig {
    /// The section's values checked; the error names the key.
    pub(super) fn check(&self) -> Result<(), String> {
        let d = self;
        let command_name = |n: &str| {
            !n.is_empty()
                && n.len() <= 32
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        };
        if !command_name(&d.command) {
            return Err(format!(
                "discord.command: '{}' must be 1–32 lower-case letters, digits, - or _ (no slash), e.g. usher",
                d.command
            ));
        }
        if !(100..=2800).contains(&d.inline_ms) {
            return Err("discord.inline_ms: must be 100–2800, inside Discord's 3 seconds".into());
        }
        if d.max_body_bytes < 4096 {
            return Err("discord.max_body_bytes: must be at least 4096".into());
        }
        for (i, guild) in d.guilds.iter().enumerate() {
            if !is_snowflake(guild) {
                return Err(format!(
                    "discord.guilds[{i}]: '{guild}' is not a Discord guild id (digits; Server Settings → Widget, or Copy Server ID)"
                ));
            }
        }
        if let Some(bad) = d
            .shards
            .iter()
            .find(|s| d.shard_count > 0 && **s >= d.shard_count)
        {
            return Err(format!(
                "discord.shards: shard {bad} is not below discord.shard_count ({})",
                d.shard_count
            ));
        }
        if !d.shards.is_empty() && d.shard_count == 0 {
            return Err(
                "discord.shards: set discord.shard_count too, so every replica agrees on the split"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Whether `v` is a Discord id (a snowflake: digits, at most 20) — for
/// the ids in the configuration and the ones put in mentions.
pub fn is_snowflake(v: &str) -> bool {
    !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit())
}
