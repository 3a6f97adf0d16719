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
