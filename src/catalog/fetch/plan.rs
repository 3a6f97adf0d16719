//! How a URL is fetched: a GitHub or GitLab blob link on a known host
//! becomes an API call (with the host's token, and whose repository it
//! reads), anything else is fetched as it is.

use reqwest::Url;

use super::super::source::ReadError;
use super::{HostConfig, HostKind, encode_segment};

/// A prepared request: the URL to fetch and the headers to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) url: String,
    pub(super) host: Option<HostKind>,
    pub(super) token_env: Option<String>,
    /// The repository's owner (GitHub) or top-level group (GitLab), lower
    /// case, for API calls: whose files the token would read.
    pub(super) owner: Option<String>,
    /// Owners the host's entry lets the token read for any location.
    pub(super) token_owners: Vec<String>,
}

/// `host` or `host:port`, as `[[catalog.hosts]]` entries name hosts.
pub fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// How to fetch a URL: blob links of known hosts become API calls.
pub(super) fn plan(url: &str, hosts: &[HostConfig]) -> Result<Plan, ReadError> {
    let parsed =
        Url::parse(url).map_err(|e| ReadError::Remote(format!("is not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ReadError::Remote("is not an http(s) URL".to_string()));
    }
    let host = host_of(&parsed);
    let Some(config) = hosts.iter().find(|h| h.host.eq_ignore_ascii_case(&host)) else {
        return Ok(Plan {
            url: url.to_string(),
            host: None,
            token_env: None,
            owner: None,
            token_owners: Vec::new(),
        });
    };
    let segments: Vec<&str> = parsed
        .path_segments()
        .map(|s| s.collect())
        .unwrap_or_default();
    let api = config.api_url.trim_end_matches('/');
    let planned = match config.kind {
        // /{owner}/{repo}/blob/{ref}/{path…} (or /raw/)
        HostKind::Github => match segments.as_slice() {
            [owner, repo, "blob" | "raw", git_ref, path @ ..] if !path.is_empty() => Some(format!(
                "{api}/repos/{owner}/{repo}/contents/{}?ref={}",
                path.join("/"),
                encode_segment(git_ref)
            )),
            _ => None,
        },
        // /{group…}/{project}/-/blob/{ref}/{path…} (or /-/raw/)
        HostKind::Gitlab => {
            let dash = segments.iter().position(|s| *s == "-");
            match dash {
                Some(d)
                    if d > 0
                        && matches!(segments.get(d + 1), Some(&"blob" | &"raw"))
                        && segments.len() > d + 3 =>
                {
                    let project = segments[..d].join("/");
                    let git_ref = segments[d + 2];
                    let path = segments[d + 3..].join("/");
                    Some(format!(
                        "{api}/projects/{}/repository/files/{}/raw?ref={}",
                        encode_segment(&project),
                        encode_segment(&path),
                        encode_segment(git_ref)
                    ))
                }
                _ => None,
            }
        }
    };
    // Only API calls carry the host's token and headers; other links on
    // the host are fetched as they are.
    Ok(match planned {
        Some(api_url) => Plan {
            url: api_url,
            host: Some(config.kind),
            token_env: config.token_env.clone(),
            owner: segments.first().map(|o| o.to_ascii_lowercase()),
            token_owners: config
                .token_owners
                .iter()
                .map(|o| o.to_ascii_lowercase())
                .collect(),
        },
        None => Plan {
            url: url.to_string(),
            host: None,
            token_env: None,
            owner: None,
            token_owners: Vec::new(),
        },
    })
}

/// The owner of the repository a blob link on a configured host points
/// into (lower case).
pub(super) fn plan_owner(url: &str, hosts: &[HostConfig]) -> Option<String> {
    plan(url, hosts).ok().and_then(|p| p.owner)
}
