//! `usher.toml` plus the environment, validated once at start.
//!
//! Every key has a default, so usher runs with no file at all. A file with
//! an unknown key or a bad value stops usher with the file, the key and
//! what is wrong, rather than running half-configured.

mod catalog;
mod creation;
mod directory;
mod discovery;
pub mod hosts;
mod hygiene;
mod oncall;
mod platforms;

pub use catalog::*;
pub use creation::*;
pub use directory::*;
pub use discovery::*;
pub use hygiene::*;
pub use oncall::*;
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
    /// Sources of repositories (`[[discovery]]`).
    pub discovery: Vec<DiscoveryConfig>,
    /// People and teams from the identity provider.
    pub directory: DirectoryConfig,
    pub serve: ServeConfig,
    /// Where the file was read from (not a key).
    #[serde(skip)]
    pub source: Option<PathBuf>,
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
    /// Keep the catalog in memory for answers (a question nobody asked
    /// before needs no database); off, answers read the database and the
    /// process uses less memory.
    pub catalog_in_memory: bool,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            fuzzy_threshold: 0.3,
            suggestions: 3,
            techdocs_url: None,
            answer_cache_secs: 600,
            catalog_in_memory: true,
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
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim().to_string();
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        })?;
        for entry in &mut config.discovery {
            entry.fill_defaults();
        }
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
        if self.outbox.max_attempts < 1 {
            return Err("outbox.max_attempts: must be at least 1".to_string());
        }
        if let Some(email) = self.admins.people.iter().find(|p| p.contains('@')) {
            return Err(format!(
                "admins.people: '{email}' is an email; name admins by their catalog entity ref (`user:default/jane` or `jane`) — an email is only what some descriptor says, so it can't make someone an admin"
            ));
        }
        self.catalog.check()?;
        self.oncall.check()?;
        self.naming.check()?;
        self.choices.check()?;
        check_actions(&self.actions)?;
        self.slack.check()?;
        self.discord.check()?;
        self.hygiene.check()?;
        check_discovery(&self.discovery)?;
        self.directory.check()?;
        if self.serve.drain_ms > 60_000 || !(1..=600).contains(&self.serve.shutdown_secs) {
            return Err(
                "serve.drain_ms must be at most 60000 and serve.shutdown_secs 1–600".into(),
            );
        }
        if self.dialogs.idle_minutes < 1 {
            return Err("dialogs.idle_minutes: must be at least 1".into());
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
