//! `[[catalog.hosts]]`: the code hosts whose "blob" links usher reads
//! through their APIs, and which token goes to each. Plain settings; the
//! fetching is `catalog::fetch`'s.

use serde::{Deserialize, Serialize};

/// A code host whose blob links usher reads through its API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    #[serde(rename = "type")]
    pub kind: HostKind,
    /// The host (and port) in the links people paste: `github.com`,
    /// `github.example.com`, `gitlab.example.com:8443`.
    pub host: String,
    /// The API's base URL: `https://api.github.com`,
    /// `https://github.example.com/api/v3`, `https://gitlab.com/api/v4`.
    pub api_url: String,
    /// The environment variable holding the token (never the token itself).
    /// The token is sent to this host's API and nowhere else; a host
    /// without one gets no token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Whether the host may resolve to a loopback, private, link-local or
    /// unique-local address (an on-premises GitLab on 10.0.0.0/8). Off,
    /// such addresses are refused, so a descriptor can't make usher read
    /// its own network.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private: bool,
    /// Owners (GitHub users or organisations, GitLab top-level groups)
    /// whose files the token may read for any location. Without them the
    /// token reads only files of the owner of the location's own
    /// repository, so a descriptor can't make usher read another
    /// organisation's private repository with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_owners: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    Github,
    Gitlab,
}

/// github.com and gitlab.com, with the usual token variables.
pub fn default_hosts() -> Vec<HostConfig> {
    vec![
        HostConfig {
            kind: HostKind::Github,
            host: "github.com".into(),
            api_url: "https://api.github.com".into(),
            token_env: Some("GITHUB_TOKEN".into()),
            allow_private: false,
            token_owners: Vec::new(),
        },
        HostConfig {
            kind: HostKind::Gitlab,
            host: "gitlab.com".into(),
            api_url: "https://gitlab.com/api/v4".into(),
            token_env: Some("GITLAB_TOKEN".into()),
            allow_private: false,
            token_owners: Vec::new(),
        },
    ]
}
