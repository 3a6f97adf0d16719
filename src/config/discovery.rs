//! `[[discovery]]`: the sources whose repositories usher accounts for —
//! for now GitHub organisations (github.com or Enterprise) through the
//! GraphQL API. `usher discover` scans them once; `usher serve` on their
//! schedule, once across replicas.

use super::*;

/// One source of repositories.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// `github` (github.com or GitHub Enterprise).
    #[serde(rename = "type")]
    pub kind: String,
    /// The organisation's login.
    pub org: String,
    /// GitHub's GraphQL endpoint: `https://api.github.com/graphql`, or
    /// `https://HOST/api/graphql` for Enterprise.
    #[serde(default = "default_graphql_url")]
    pub graphql_url: String,
    /// The environment variable holding a token that can read the
    /// organisation's repositories.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// When `usher serve` scans it (crontab, UTC); daily at 04:00 by default.
    #[serde(default = "default_schedule")]
    pub schedule: String,
}

fn default_schedule() -> String {
    "0 4 * * *".into()
}

fn default_graphql_url() -> String {
    "https://api.github.com/graphql".into()
}

fn default_token_env() -> String {
    "GITHUB_TOKEN".into()
}

impl DiscoveryConfig {
    /// The token from the environment (`token_env`), when it is set.
    pub fn token(&self) -> Option<String> {
        std::env::var(&self.token_env)
            .ok()
            .filter(|t| !t.is_empty())
    }

    /// The source's name in `repositories` and in what usher prints.
    pub fn source(&self) -> String {
        format!("{}:{}", self.kind, self.org.to_lowercase())
    }
}

/// Every `[[discovery]]` entry checked; the error names the entry and key.
pub(super) fn check_discovery(entries: &[DiscoveryConfig]) -> Result<(), String> {
    for (i, entry) in entries.iter().enumerate() {
        if entry.kind != "github" {
            return Err(format!(
                "discovery[{i}].type: '{}' is not a source usher scans yet; use github (GitLab groups are coming; a folder of clones is `usher discover --path DIR`)",
                entry.kind
            ));
        }
        let login_ok = !entry.org.is_empty()
            && entry.org.len() <= 39
            && entry
                .org
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !login_ok {
            return Err(format!(
                "discovery[{i}].org: '{}' is not a GitHub organisation login (letters, digits and -)",
                entry.org
            ));
        }
        crate::schedule::Schedule::parse(&entry.schedule, "")
            .map_err(|why| format!("discovery[{i}].schedule: {why}"))?;
        if reqwest::Url::parse(&entry.graphql_url).is_err() {
            return Err(format!(
                "discovery[{i}].graphql_url: '{}' is not a URL",
                entry.graphql_url
            ));
        }
    }
    Ok(())
}
