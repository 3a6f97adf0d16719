//! `usher.toml` plus the environment, validated once at start.
//!
//! Every key has a default, so usher runs with no file at all. A file with
//! an unknown key or a bad value stops usher with the file, the key and
//! what is wrong, rather than running half-configured.

mod creation;
pub mod hosts;
mod platforms;

pub use creation::*;
pub use platforms::*;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub catalog: CatalogConfig,
    pub chat: ChatConfig,
    pub admins: AdminsConfig,
    pub security: SecurityConfig,
    pub oncall: OncallConfig,
    pub naming: NamingConfig,
    pub choices: ChoicesConfig,
    pub actions: Vec<ActionConfig>,
    pub dialogs: DialogsConfig,
    pub outbox: OutboxConfig,
    pub slack: SlackConfig,
    pub discord: DiscordConfig,
    pub hygiene: HygieneConfig,
    pub serve: ServeConfig,
    /// Where the file was read from (not a key).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Largest descriptor file read, in bytes.
    pub max_file_size: u64,
    /// Lifecycle values that are not warned about.
    pub lifecycles: Vec<String>,
    /// Seconds before fetching a URL gives up.
    pub fetch_timeout_secs: u64,
    /// When remembered locations are refreshed, unless they say otherwise
    /// (crontab, UTC).
    pub refresh_schedule: String,
    /// Code hosts whose blob links are read through their API; github.com
    /// and gitlab.com are always known.
    pub hosts: Vec<hosts::HostConfig>,
    /// Locations to keep in sync (refreshed by `usher serve`).
    pub locations: Vec<LocationConfig>,
    /// The only locations (paths or URLs) whose User and Group entities
    /// are accepted — who people are and which teams they're in decides
    /// what they may do, so only the organisation's own location should
    /// say it. Empty: any location (config check and status say so).
    pub org_locations: Vec<String>,
}

/// A location usher remembers and refreshes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationConfig {
    /// A URL or a path.
    pub target: String,
    /// Crontab; `catalog.refresh_schedule` when absent.
    #[serde(default)]
    pub schedule: Option<String>,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            max_file_size: 20 * 1024 * 1024,
            lifecycles: vec![
                "experimental".into(),
                "production".into(),
                "deprecated".into(),
            ],
            fetch_timeout_secs: 30,
            refresh_schedule: "0 * * * *".into(),
            hosts: Vec::new(),
            locations: Vec::new(),
            org_locations: Vec::new(),
        }
    }
}

impl CatalogConfig {
    /// The configured hosts, then github.com and gitlab.com unless
    /// configured otherwise.
    pub fn all_hosts(&self) -> Vec<hosts::HostConfig> {
        let mut hosts = self.hosts.clone();
        for default in hosts::default_hosts() {
            if !hosts
                .iter()
                .any(|h| h.host.eq_ignore_ascii_case(&default.host))
            {
                hosts.push(default);
            }
        }
        hosts
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChatConfig {
    /// Trigram similarity (0–1) above which a name is offered as "did you
    /// mean …?".
    pub fuzzy_threshold: f64,
    /// How many "did you mean" suggestions to offer.
    pub suggestions: usize,
    /// Where TechDocs are served (`https://backstage.example.com/docs`):
    /// `backstage.io/techdocs-ref` becomes `{techdocs_url}/{namespace}/{kind}/{name}`.
    pub techdocs_url: Option<String>,
    /// How long an answer to a read-only question (owner, docs, service …)
    /// may be reused while the catalog doesn't change; 0 turns reuse off.
    pub answer_cache_secs: u64,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            fuzzy_threshold: 0.3,
            suggestions: 3,
            techdocs_url: None,
            answer_cache_secs: 600,
        }
    }
}

/// On-call providers, caching and paging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OncallConfig {
    /// How long a provider's answer is reused for the same service.
    pub cache_secs: u64,
    /// How long to wait for a provider before answering with the last known.
    pub timeout_ms: u64,
    /// How often `usher serve` refreshes the snapshot of every on-call.
    pub snapshot_minutes: u64,
    pub pagerduty_api_url: String,
    pub pagerduty_events_url: String,
    /// The environment variable holding the PagerDuty REST API token.
    pub pagerduty_token_env: String,
    pub opsgenie_api_url: String,
    /// The environment variable holding the Opsgenie API key.
    pub opsgenie_key_env: String,
    pub pages_per_user_per_hour: i64,
    pub pages_per_service_per_hour: i64,
    /// Teams whose members may page; empty: anyone in the catalog.
    pub pagers: Vec<String>,
}

impl Default for OncallConfig {
    fn default() -> Self {
        OncallConfig {
            cache_secs: 60,
            timeout_ms: 1500,
            snapshot_minutes: 10,
            pagerduty_api_url: "https://api.pagerduty.com".into(),
            pagerduty_events_url: "https://events.pagerduty.com".into(),
            pagerduty_token_env: "PAGERDUTY_TOKEN".into(),
            opsgenie_api_url: "https://api.opsgenie.com".into(),
            opsgenie_key_env: "OPSGENIE_API_KEY".into(),
            pages_per_user_per_hour: 5,
            pages_per_service_per_hour: 10,
            pagers: Vec::new(),
        }
    }
}

/// How `usher serve` stops.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// After SIGTERM, `/readyz` says "not ready" for this long before new
    /// connections are refused, so load balancers stop sending traffic.
    pub drain_ms: u64,
    /// In-flight requests and claimed jobs get at most this long to finish.
    pub shutdown_secs: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            drain_ms: 0,
            shutdown_secs: 10,
        }
    }
}

/// Catalog hygiene: which rules apply to which services, and how owners
/// are reminded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HygieneConfig {
    /// Whether `usher serve` runs rounds on the schedule (`usher nag
    /// --once` works either way).
    pub enabled: bool,
    /// When rounds run (crontab), in `timezone` unless a team has its own.
    pub schedule: String,
    /// The organisation's default time zone (IANA name).
    pub timezone: String,
    /// Days without rounds (mon … sun), in the schedule's time zone.
    pub quiet_days: Vec<String>,
    /// Dates without rounds (YYYY-MM-DD), in the schedule's time zone.
    pub holidays: Vec<String>,
    /// Services not changed or confirmed for this many days are "stale".
    pub stale_days: i64,
    /// A finding already reported is not repeated for this many days.
    pub repeat_days: i64,
    /// Without a team channel, the digest goes to the team's `lead` or
    /// to its `members` by DM.
    pub fallback: String,
    /// Services listed in a digest before "and N more".
    pub max_services: usize,
    /// A finding carried by this many digests without being fixed or set
    /// aside is escalated to the team's lead (or its parent team's
    /// channel), once. 0: never.
    pub escalate_after: i32,
    /// Per rule (by id): `enabled`, and the tiers / lifecycles it applies
    /// to (a service matching either; both empty: every service).
    pub rules: std::collections::BTreeMap<String, RuleConfig>,
    /// Not a setting: the platforms this process can post on (`serve` and
    /// `nag` set it from their Slack and Discord tokens). A team with a
    /// channel on each gets its digest only where it can be delivered,
    /// rather than a job no sender here will ever take. None: all.
    #[serde(skip)]
    pub deliver_on: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub tiers: Option<Vec<String>>,
    #[serde(default)]
    pub lifecycles: Option<Vec<String>>,
}

impl HygieneConfig {
    /// Whether this process posts on `platform` (`slack`, `discord`);
    /// unknown (no process set `deliver_on`) counts as yes.
    pub fn posts_on(&self, platform: &str) -> bool {
        self.deliver_on
            .as_ref()
            .is_none_or(|on| on.iter().any(|p| p == platform))
    }
}

impl Default for HygieneConfig {
    fn default() -> Self {
        HygieneConfig {
            enabled: true,
            schedule: "0 10 * * 1-5".into(),
            timezone: "UTC".into(),
            quiet_days: vec!["sat".into(), "sun".into()],
            holidays: Vec::new(),
            stale_days: 180,
            repeat_days: 7,
            fallback: "lead".into(),
            max_services: 8,
            escalate_after: 3,
            rules: Default::default(),
            deliver_on: None,
        }
    }
}

/// Guided conversations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialogsConfig {
    /// A dialogue idle this long expires.
    pub idle_minutes: i64,
}

impl Default for DialogsConfig {
    fn default() -> Self {
        DialogsConfig { idle_minutes: 30 }
    }
}

/// Who may notify owners about vulnerable packages (with the admins).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Teams (Group names or refs) whose members may notify.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminsConfig {
    /// Catalog people by entity ref (`jane`, `user:default/jane`; never an
    /// email) who may do everything, and who hear about undeliverable
    /// messages.
    pub people: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts before a job goes to the dead letters.
    pub max_attempts: i32,
    /// First retry delay in seconds; doubles each attempt.
    pub base_backoff_secs: u64,
    /// Longest retry delay in seconds.
    pub max_backoff_secs: u64,
    /// How often the worker looks for due jobs when not woken.
    pub poll_interval_secs: u64,
    /// Days to keep delivered jobs (their idempotency keys keep working).
    pub keep_done_days: i32,
    /// Seconds a claimed job is held before another process may take it
    /// (its own process is presumed dead); longer than a send may take.
    pub lease_secs: u64,
    /// Worker lanes per process: one for pages and answers, the rest for
    /// anything (at least 2).
    pub workers: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_attempts: 8,
            base_backoff_secs: 5,
            max_backoff_secs: 3600,
            poll_interval_secs: 5,
            keep_done_days: 30,
            lease_secs: 90,
            workers: 4,
        }
    }
}

/// A configuration that cannot be used, with where and why.
#[derive(Debug)]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads `USHER_CONFIG`, else `./usher.toml` when present, else the
    /// defaults.
    pub fn load() -> Result<Config, ConfigError> {
        match std::env::var_os("USHER_CONFIG") {
            Some(path) => Config::from_file(Path::new(&path)),
            None if Path::new("usher.toml").exists() => Config::from_file(Path::new("usher.toml")),
            None => Ok(Config::default()),
        }
    }

    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            message: format!("cannot be read: {e}"),
        })?;
        let mut config =
            Config::from_toml(&text).map_err(|message| ConfigError { file, message })?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates TOML text; the error names the key.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim().to_string();
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.chat.fuzzy_threshold) {
            return Err(format!(
                "chat.fuzzy_threshold: {} is not between 0 and 1",
                self.chat.fuzzy_threshold
            ));
        }
        if self.catalog.max_file_size == 0 {
            return Err("catalog.max_file_size: must be more than 0 bytes".to_string());
        }
        if self.outbox.max_attempts < 1 {
            return Err("outbox.max_attempts: must be at least 1".to_string());
        }
        if let Some(email) = self.admins.people.iter().find(|p| p.contains('@')) {
            return Err(format!(
                "admins.people: '{email}' is an email; name admins by their catalog entity ref (`user:default/jane` or `jane`) — an email is only what some descriptor says, so it can't make someone an admin"
            ));
        }
        if self.catalog.lifecycles.is_empty() {
            return Err("catalog.lifecycles: list at least one lifecycle".to_string());
        }
        crate::schedule::Schedule::parse(&self.catalog.refresh_schedule, "")
            .map_err(|why| format!("catalog.refresh_schedule: {why}"))?;
        for (i, location) in self.catalog.locations.iter().enumerate() {
            if let Some(schedule) = &location.schedule {
                crate::schedule::Schedule::parse(schedule, "")
                    .map_err(|why| format!("catalog.locations[{i}].schedule: {why}"))?;
            }
        }
        for (key, url) in [
            ("oncall.pagerduty_api_url", &self.oncall.pagerduty_api_url),
            (
                "oncall.pagerduty_events_url",
                &self.oncall.pagerduty_events_url,
            ),
            ("oncall.opsgenie_api_url", &self.oncall.opsgenie_api_url),
        ] {
            if reqwest::Url::parse(url).is_err() {
                return Err(format!("{key}: '{url}' is not a URL"));
            }
        }
        if self.oncall.timeout_ms == 0 || self.oncall.timeout_ms > 2500 {
            return Err(
                "oncall.timeout_ms: must be 1–2500, to answer within the chat platforms' 3 seconds"
                    .into(),
            );
        }
        if let Err(e) = regex_lite::Regex::new(&self.naming.pattern) {
            return Err(format!(
                "naming.pattern: '{}' is not a regular expression: {e}",
                self.naming.pattern
            ));
        }
        if !(1..=63).contains(&self.naming.max_length) {
            return Err("naming.max_length: must be 1–63 (Backstage's limit)".into());
        }
        if !(0.0..=1.0).contains(&self.naming.similarity) {
            return Err("naming.similarity: must be between 0 and 1".into());
        }
        if !self.naming.template.contains("{purpose}")
            && !self.naming.template.contains("{system}")
            && !self.naming.template.contains("{team}")
        {
            return Err(format!(
                "naming.template: '{}' uses none of {{team}}, {{system}}, {{purpose}}",
                self.naming.template
            ));
        }
        let c = &self.choices;
        if c.languages.is_empty() || c.tiers.is_empty() || c.lifecycles.is_empty() {
            return Err("choices: list at least one language, tier and lifecycle".into());
        }
        for (key, default, options) in [
            (
                "choices.default_language",
                &c.default_language,
                c.languages
                    .iter()
                    .map(|l| l.name.clone())
                    .collect::<Vec<_>>(),
            ),
            ("choices.default_tier", &c.default_tier, c.tiers.clone()),
            (
                "choices.default_lifecycle",
                &c.default_lifecycle,
                c.lifecycles.clone(),
            ),
        ] {
            if let Some(d) = default
                && !options.contains(d)
            {
                return Err(format!(
                    "{key}: '{d}' is not one of the choices ({})",
                    options.join(", ")
                ));
            }
        }
        for (i, l) in c.languages.iter().enumerate() {
            if let Some(d) = &l.default_framework
                && !l.frameworks.contains(d)
            {
                return Err(format!(
                    "choices.languages[{i}].default_framework: '{d}' is not one of its frameworks"
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, action) in self.actions.iter().enumerate() {
            if !names.insert(action.name()) {
                return Err(format!(
                    "actions[{i}]: a second action named '{}'; give it a name",
                    action.name()
                ));
            }
            let urls: Vec<(&str, &String)> = match action {
                ActionConfig::Webhook { url, .. } => vec![("url", url)],
                ActionConfig::GithubRepo {
                    api_url,
                    web_url,
                    template,
                    ..
                } => {
                    if !template.contains('/') {
                        return Err(format!(
                            "actions[{i}].template: '{template}' must be owner/repository"
                        ));
                    }
                    vec![("api_url", api_url), ("web_url", web_url)]
                }
                ActionConfig::GitlabProject { api_url, .. } => vec![("api_url", api_url)],
                ActionConfig::PagerdutyService { .. } => vec![],
                ActionConfig::SlackChannel { prefix, .. }
                | ActionConfig::DiscordChannel { prefix, .. } => {
                    if prefix.len() > 40
                        || !prefix.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
                        })
                    {
                        return Err(format!(
                            "actions[{i}].prefix: '{prefix}' must be lower-case letters, digits, - or _ (at most 40)"
                        ));
                    }
                    vec![]
                }
            };
            for (key, url) in urls {
                if reqwest::Url::parse(url).is_err() {
                    return Err(format!("actions[{i}].{key}: '{url}' is not a URL"));
                }
            }
        }
        crate::schedule::Schedule::parse(&self.slack.people_sync_schedule, "")
            .map_err(|why| format!("slack.people_sync_schedule: {why}"))?;
        if !self.slack.command.starts_with('/') || self.slack.command.len() < 2 {
            return Err(format!(
                "slack.command: '{}' must start with / (e.g. /usher)",
                self.slack.command
            ));
        }
        if !(100..=2800).contains(&self.slack.inline_ms) {
            return Err("slack.inline_ms: must be 100–2800, inside Slack's 3 seconds".into());
        }
        if self.slack.max_body_bytes < 4096 {
            return Err("slack.max_body_bytes: must be at least 4096".into());
        }
        for (i, team) in self.slack.workspaces.iter().enumerate() {
            if !team.starts_with(['T', 'E']) {
                return Err(format!(
                    "slack.workspaces[{i}]: '{team}' is not a Slack team id (T…)"
                ));
            }
        }
        let d = &self.discord;
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
        let snowflake =
            |v: &str| !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit());
        for (i, guild) in d.guilds.iter().enumerate() {
            if !snowflake(guild) {
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
        for (i, action) in self.actions.iter().enumerate() {
            if let ActionConfig::DiscordChannel {
                guild_id,
                category_id,
                ..
            } = action
            {
                if !snowflake(guild_id) {
                    return Err(format!(
                        "actions[{i}].guild_id: '{guild_id}' is not a Discord guild id"
                    ));
                }
                if let Some(c) = category_id.as_deref().filter(|c| !snowflake(c)) {
                    return Err(format!(
                        "actions[{i}].category_id: '{c}' is not a Discord channel id"
                    ));
                }
            }
        }
        crate::schedule::Schedule::parse(&self.hygiene.schedule, &self.hygiene.timezone)
            .map_err(|why| format!("hygiene.schedule / hygiene.timezone: {why}"))?;
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        for (i, d) in self.hygiene.quiet_days.iter().enumerate() {
            let d = d.trim().to_lowercase();
            if d.len() < 3 || !DAYS.iter().any(|day| d.starts_with(day)) {
                return Err(format!(
                    "hygiene.quiet_days[{i}]: '{d}' is not a day (mon, tue, … sun)"
                ));
            }
        }
        for (i, h) in self.hygiene.holidays.iter().enumerate() {
            if chrono::NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d").is_err() {
                return Err(format!(
                    "hygiene.holidays[{i}]: '{h}' is not a date (YYYY-MM-DD)"
                ));
            }
        }
        if !["lead", "members"].contains(&self.hygiene.fallback.as_str()) {
            return Err(format!(
                "hygiene.fallback: '{}' must be lead or members",
                self.hygiene.fallback
            ));
        }
        if self.hygiene.stale_days < 1 || self.hygiene.repeat_days < 0 {
            return Err(
                "hygiene.stale_days must be at least 1, hygiene.repeat_days at least 0".into(),
            );
        }
        if self.serve.drain_ms > 60_000 || !(1..=600).contains(&self.serve.shutdown_secs) {
            return Err(
                "serve.drain_ms must be at most 60000 and serve.shutdown_secs 1–600".into(),
            );
        }
        if self.dialogs.idle_minutes < 1 {
            return Err("dialogs.idle_minutes: must be at least 1".into());
        }
        for (i, host) in self.catalog.hosts.iter().enumerate() {
            if reqwest::Url::parse(&host.api_url).is_err() {
                return Err(format!(
                    "catalog.hosts[{i}].api_url: '{}' is not a URL",
                    host.api_url
                ));
            }
        }
        Ok(())
    }

    /// Settings that leave usher more open than an organisation likely
    /// means, said plainly by `config check`, `status` and `/readyz`:
    /// chat platforms without an allow-list, people and teams from any
    /// location.
    pub fn cautions(&self, slack_on: bool, discord_on: bool) -> Vec<String> {
        let mut out = Vec::new();
        if slack_on && self.slack.workspaces.is_empty() {
            out.push("Slack: no workspace allow-list ([slack] workspaces), so any workspace that installs the app can use usher".to_string());
        }
        if discord_on && self.discord.guilds.is_empty() {
            out.push("Discord: no server allow-list ([discord] guilds), so any server that adds the bot can use usher".to_string());
        }
        if self.catalog.org_locations.is_empty() {
            out.push("people and teams are accepted from any location (catalog.org_locations unset), so any descriptor's author can declare a User or a team membership; name your organisation's location there".to_string());
        }
        out
    }
}

/// Settings from the environment (documented in the README).
#[derive(Debug, Clone)]
pub struct Env {
    pub database_url: Option<String>,
    pub data_dir: PathBuf,
    pub listen: String,
    /// Where `/metrics` is served instead of `listen` (`USHER_METRICS_LISTEN`),
    /// so it can stay off the address Slack and Discord reach.
    pub metrics_listen: Option<String>,
}

impl Env {
    pub fn from_env() -> Env {
        let non_empty = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
        Env {
            database_url: non_empty("DATABASE_URL"),
            data_dir: non_empty("USHER_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".usher")),
            listen: non_empty("USHER_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_string()),
            metrics_listen: non_empty("USHER_METRICS_LISTEN"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_a_file() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.catalog.max_file_size, 20 * 1024 * 1024);
        assert_eq!(c.chat.suggestions, 3);
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let err = Config::from_toml("[catalog]\nmax_file_size = 10\nlifecycle = []\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("lifecycle"), "{err}");
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/usher.toml");
        let config = Config::from_file(std::path::Path::new(path)).unwrap();
        assert_eq!(config.naming.reserved.len(), 11);
        assert_eq!(config.choices.languages.len(), 6);
        // Uncommented, the example actions are valid too.
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find("# [[actions]]").unwrap();
        let end = text.find("[dialogs]").unwrap();
        let actions: String = text[start..end]
            .lines()
            .map(|l| l.trim_start_matches('#').trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let uncommented = format!("{}{actions}\n{}", &text[..start], &text[end..]);
        let config = Config::from_toml(&uncommented).unwrap();
        assert_eq!(config.actions.len(), 6);
        assert_eq!(config.slack.command, "/usher");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = Config::from_toml("[chat]\nfuzzy_threshold = 3\n").unwrap_err();
        assert!(err.starts_with("chat.fuzzy_threshold"), "{err}");
    }
}
