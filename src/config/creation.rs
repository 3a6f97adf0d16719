//! `[naming]`, `[choices]` and `[[actions]]`: how new services are named,
//! what the creation dialogue offers, and the automation that runs once a
//! service is confirmed.

use super::*;

/// How new services are named.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamingConfig {
    /// The proposed name: `{team}`, `{system}` and `{purpose}` are replaced
    /// (an empty part and its dash drop out).
    pub template: String,
    /// A regular expression every name must match (on top of Backstage's
    /// rule and `max_length`).
    pub pattern: String,
    /// Generic names nobody may take.
    pub reserved: Vec<String>,
    pub max_length: usize,
    /// Trigram similarity (0–1) above which an existing name must be
    /// confirmed as really different.
    pub similarity: f64,
}

impl Default for NamingConfig {
    fn default() -> Self {
        NamingConfig {
            template: "{system}-{purpose}".into(),
            pattern: "^[a-z0-9]+(-[a-z0-9]+)*$".into(),
            reserved: [
                "frontend", "backend", "api", "service", "app", "web", "redis", "postgres", "db",
                "worker", "test",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            max_length: 63,
            similarity: 0.5,
        }
    }
}

/// A language teams may choose, with its frameworks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageChoice {
    pub name: String,
    #[serde(default)]
    pub frameworks: Vec<String>,
    #[serde(default)]
    pub default_framework: Option<String>,
}

/// The approved choices of the service-creation dialogue, with defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChoicesConfig {
    pub languages: Vec<LanguageChoice>,
    pub default_language: Option<String>,
    pub databases: Vec<String>,
    pub tiers: Vec<String>,
    pub default_tier: Option<String>,
    pub lifecycles: Vec<String>,
    pub default_lifecycle: Option<String>,
}

impl Default for ChoicesConfig {
    fn default() -> Self {
        let lang = |name: &str, frameworks: &[&str]| LanguageChoice {
            name: name.into(),
            frameworks: frameworks.iter().map(|f| f.to_string()).collect(),
            default_framework: frameworks.first().map(|f| f.to_string()),
        };
        ChoicesConfig {
            languages: vec![
                lang("java", &["spring-boot", "quarkus", "micronaut"]),
                lang("kotlin", &["spring-boot", "ktor"]),
                lang("go", &["gin", "echo", "none"]),
                lang("python", &["fastapi", "django", "flask"]),
                lang("typescript", &["nestjs", "express", "next.js"]),
                lang("rust", &["axum", "actix-web"]),
            ],
            default_language: Some("java".into()),
            databases: vec![
                "postgres".into(),
                "mysql".into(),
                "redis".into(),
                "kafka".into(),
            ],
            tiers: vec!["1".into(), "2".into(), "3".into()],
            default_tier: Some("2".into()),
            lifecycles: vec!["experimental".into(), "production".into()],
            default_lifecycle: Some("experimental".into()),
        }
    }
}

/// An automation step run for every new service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "snake_case")]
pub enum ActionConfig {
    /// POSTs the new service as JSON, signed (X-Usher-Signature).
    Webhook {
        #[serde(default)]
        name: Option<String>,
        url: String,
        /// The environment variable holding the signing secret.
        secret_env: String,
    },
    /// Creates a repository from a template, then commits catalog-info.yaml.
    GithubRepo {
        #[serde(default)]
        name: Option<String>,
        #[serde(default = "default_github_api")]
        api_url: String,
        #[serde(default = "default_github_web")]
        web_url: String,
        #[serde(default = "default_github_token")]
        token_env: String,
        /// The organisation the repository is created in.
        owner: String,
        /// `owner/repo` of the template repository.
        template: String,
        #[serde(default = "yes")]
        private: bool,
    },
    /// Creates a GitLab project (optionally from a template), then commits
    /// catalog-info.yaml.
    GitlabProject {
        #[serde(default)]
        name: Option<String>,
        #[serde(default = "default_gitlab_api")]
        api_url: String,
        #[serde(default = "default_gitlab_token")]
        token_env: String,
        /// The group's path (`acme/services`) and id.
        namespace: String,
        namespace_id: i64,
        #[serde(default)]
        template_project_id: Option<i64>,
    },
    /// Creates a PagerDuty service under an escalation policy (the API URL
    /// and token come from `[oncall]`).
    PagerdutyService {
        #[serde(default)]
        name: Option<String>,
        escalation_policy: String,
    },
    /// Creates the service's Slack channel (`conversations.create`),
    /// records it on the service and invites the person who created it.
    SlackChannel {
        #[serde(default)]
        name: Option<String>,
        /// The channel is `<prefix><service name>`.
        #[serde(default = "default_channel_prefix")]
        prefix: String,
        #[serde(default)]
        private: bool,
    },
    /// Creates the service's Discord text channel in `guild_id` (under
    /// `category_id` when given) and records it on the service.
    DiscordChannel {
        #[serde(default)]
        name: Option<String>,
        guild_id: String,
        #[serde(default)]
        category_id: Option<String>,
        /// The channel is `<prefix><service name>`.
        #[serde(default = "default_channel_prefix")]
        prefix: String,
    },
}

pub(super) fn default_channel_prefix() -> String {
    "svc-".into()
}

pub(super) fn default_github_api() -> String {
    "https://api.github.com".into()
}
pub(super) fn default_github_web() -> String {
    "https://github.com".into()
}
pub(super) fn default_github_token() -> String {
    "GITHUB_TOKEN".into()
}
pub(super) fn default_gitlab_api() -> String {
    "https://gitlab.com/api/v4".into()
}
pub(super) fn default_gitlab_token() -> String {
    "GITLAB_TOKEN".into()
}
pub(super) fn yes() -> bool {
    true
}

impl ActionConfig {
    /// The step's name in the conversation and its idempotency key.
    pub fn name(&self) -> String {
        let (name, default) = match self {
            ActionConfig::Webhook { name, .. } => (name, "webhook"),
            ActionConfig::GithubRepo { name, .. } => (name, "github_repo"),
            ActionConfig::GitlabProject { name, .. } => (name, "gitlab_project"),
            ActionConfig::PagerdutyService { name, .. } => (name, "pagerduty_service"),
            ActionConfig::SlackChannel { name, .. } => (name, "slack_channel"),
            ActionConfig::DiscordChannel { name, .. } => (name, "discord_channel"),
        };
        name.clone().unwrap_or_else(|| default.to_string())
    }
}
