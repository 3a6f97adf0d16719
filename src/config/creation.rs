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

impl NamingConfig {
    /// The section's values checked; the error names the key.
    pub(super) fn check(&self) -> Result<(), String> {
        if let Err(e) = regex_lite::Regex::new(&self.pattern) {
            return Err(format!(
                "naming.pattern: '{}' is not a regular expression: {e}",
                self.pattern
            ));
        }
        if !(1..=63).contains(&self.max_length) {
            return Err("naming.max_length: must be 1–63 (Backstage's limit)".into());
        }
        if !(0.0..=1.0).contains(&self.similarity) {
            return Err("naming.similarity: must be between 0 and 1".into());
        }
        if !self.template.contains("{purpose}")
            && !self.template.contains("{system}")
            && !self.template.contains("{team}")
        {
            return Err(format!(
                "naming.template: '{}' uses none of {{team}}, {{system}}, {{purpose}}",
                self.template
            ));
        }
        Ok(())
    }
}

impl ChoicesConfig {
    /// The section's values checked; the error names the key.
    pub(super) fn check(&self) -> Result<(), String> {
        let c = self;
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
        Ok(())
    }
}

/// Every `[[actions]]` entry checked: unique names, URLs, templates,
/// channel prefixes and Discord ids; the error names the entry and key.
pub(super) fn check_actions(actions: &[ActionConfig]) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    for (i, action) in actions.iter().enumerate() {
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
    for (i, action) in actions.iter().enumerate() {
        if let ActionConfig::DiscordChannel {
            guild_id,
            category_id,
            ..
        } = action
        {
            if !is_snowflake(guild_id) {
                return Err(format!(
                    "actions[{i}].guild_id: '{guild_id}' is not a Discord guild id"
                ));
            }
            if let Some(c) = category_id.as_deref().filter(|c| !is_snowflake(c)) {
                return Err(format!(
                    "actions[{i}].category_id: '{c}' is not a Discord channel id"
                ));
            }
        }
    }
    Ok(())
}
