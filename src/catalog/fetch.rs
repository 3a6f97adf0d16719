//! Fetching descriptors over HTTP(S): GitHub and GitLab "blob" links read
//! through their APIs (so a plain repository link works, private ones with
//! a token), anything else as is; with timeouts, a size limit, a bounded
//! number of redirects, and conditional requests (ETag / Last-Modified)
//! whose validators and bodies are kept in `fetch_cache`, so an unchanged
//! file costs a 304 and no parsing.
//!
//! Tokens live in request headers only: they never appear in a URL, a log
//! line or a problem message.

use std::time::Duration;

use reqwest::header::{
    ACCEPT, AUTHORIZATION, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED,
};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use super::source::{ReadError, decode_text};

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
    #[serde(default)]
    pub token_env: Option<String>,
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
        },
        HostConfig {
            kind: HostKind::Gitlab,
            host: "gitlab.com".into(),
            api_url: "https://gitlab.com/api/v4".into(),
            token_env: Some("GITLAB_TOKEN".into()),
        },
    ]
}

/// A prepared request: the URL to fetch and the headers to send.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    url: String,
    host: Option<HostKind>,
    token_env: Option<String>,
}

/// Percent-encodes everything but unreserved characters (GitLab wants
/// project paths and file paths encoded as one path segment).
/// Percent-encodes one URL path segment (a GitLab project path, a file
/// path) so its slashes don't split it.
pub fn encode_segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// How to fetch a URL: blob links of known hosts become API calls.
fn plan(url: &str, hosts: &[HostConfig]) -> Result<Plan, ReadError> {
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
        },
        None => Plan {
            url: url.to_string(),
            host: None,
            token_env: None,
        },
    })
}

/// What a fetch remembers about a URL.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Cached {
    etag: Option<String>,
    last_modified: Option<String>,
    body: String,
}

/// Fetches descriptor files over HTTP(S).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    hosts: Vec<HostConfig>,
    max_size: u64,
    /// Where the conditional-request cache lives (none: no caching).
    cache: Option<PgPool>,
}

impl Fetcher {
    pub fn new(
        hosts: Vec<HostConfig>,
        max_size: u64,
        timeout: Duration,
        cache: Option<PgPool>,
    ) -> Fetcher {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("usher/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Fetcher {
            client,
            hosts,
            max_size,
            cache,
        }
    }

    /// Fetches `url` as text.
    pub async fn fetch(&self, url: &str) -> Result<String, ReadError> {
        let plan = plan(url, &self.hosts)?;
        let cached = self.cached(url).await;
        let mut headers = HeaderMap::new();
        match plan.host {
            Some(HostKind::Github) => {
                headers.insert(
                    ACCEPT,
                    HeaderValue::from_static("application/vnd.github.raw"),
                );
                headers.insert(
                    "X-GitHub-Api-Version",
                    HeaderValue::from_static("2022-11-28"),
                );
            }
            Some(HostKind::Gitlab) | None => {}
        }
        if let Some(token) = plan
            .token_env
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .filter(|t| !t.is_empty())
        {
            let (name, value) = match plan.host {
                Some(HostKind::Gitlab) => ("PRIVATE-TOKEN", token),
                _ => ("authorization", format!("Bearer {token}")),
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                ReadError::Remote(
                    "could not be fetched: the configured token is not a valid header value".into(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(
                if name == "authorization" {
                    AUTHORIZATION
                } else {
                    reqwest::header::HeaderName::from_static("private-token")
                },
                value,
            );
        }
        if let Some(c) = &cached {
            if let Some(etag) = c
                .etag
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                headers.insert(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = c
                .last_modified
                .as_deref()
                .and_then(|e| HeaderValue::from_str(e).ok())
            {
                headers.insert(IF_MODIFIED_SINCE, lm);
            }
        }
        let response = self
            .client
            .get(&plan.url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| ReadError::Remote(describe_error(&e)))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED
            && let Some(c) = cached
        {
            return Ok(c.body);
        }
        if !status.is_success() {
            let hint = match status {
                StatusCode::NOT_FOUND if plan.token_env.is_some() => format!(
                    "; check the link, or set {} if the repository is private",
                    plan.token_env.as_deref().unwrap_or_default()
                ),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => match &plan.token_env {
                    Some(v) => {
                        format!("; check the token in {v} and its access to this repository")
                    }
                    None => String::new(),
                },
                _ => String::new(),
            };
            return Err(ReadError::Remote(format!(
                "could not be fetched: HTTP {status}{hint}"
            )));
        }
        if response.content_length().is_some_and(|l| l > self.max_size) {
            return Err(ReadError::TooLarge {
                size: response.content_length().unwrap_or_default(),
                limit: self.max_size,
            });
        }
        let etag = header_text(response.headers(), ETAG);
        let last_modified = header_text(response.headers(), LAST_MODIFIED);
        let mut response = response;
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ReadError::Remote(describe_error(&e)))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > self.max_size {
                return Err(ReadError::TooLarge {
                    size: body.len() as u64,
                    limit: self.max_size,
                });
            }
        }
        let text = decode_text(body, self.max_size)?;
        if etag.is_some() || last_modified.is_some() {
            self.remember(url, etag, last_modified, &text).await;
        }
        Ok(text)
    }

    async fn cached(&self, url: &str) -> Option<Cached> {
        let pool = self.cache.as_ref()?;
        sqlx::query_as("SELECT etag, last_modified, body FROM fetch_cache WHERE url = $1")
            .bind(url)
            .fetch_optional(pool)
            .await
            .ok()
            .flatten()
    }

    async fn remember(
        &self,
        url: &str,
        etag: Option<String>,
        last_modified: Option<String>,
        body: &str,
    ) {
        let Some(pool) = &self.cache else { return };
        let result = sqlx::query(
            "INSERT INTO fetch_cache (url, etag, last_modified, body) VALUES ($1, $2, $3, $4)
             ON CONFLICT (url) DO UPDATE SET etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
                 body = EXCLUDED.body, fetched_at = now()",
        )
        .bind(url)
        .bind(etag)
        .bind(last_modified)
        .bind(body)
        .execute(pool)
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not remember a fetched file's validators");
        }
    }
}

fn header_text(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A reqwest error as a sentence, without the URL (the caller names it).
fn describe_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "could not be fetched: the server took too long (timeout)".to_string()
    } else if e.is_redirect() {
        "could not be fetched: too many redirects".to_string()
    } else if e.is_connect() {
        "could not be fetched: no connection to the server (offline, or a wrong host?)".to_string()
    } else {
        "could not be fetched: the transfer failed".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<HostConfig> {
        let mut h = default_hosts();
        h.push(HostConfig {
            kind: HostKind::Gitlab,
            host: "git.example.com:8443".into(),
            api_url: "https://git.example.com:8443/api/v4/".into(),
            token_env: None,
        });
        h
    }

    #[test]
    fn github_blob_links_read_through_the_api() {
        let p = plan(
            "https://github.com/acme/payments/blob/main/catalog/catalog-info.yaml",
            &hosts(),
        )
        .unwrap();
        assert_eq!(
            p.url,
            "https://api.github.com/repos/acme/payments/contents/catalog/catalog-info.yaml?ref=main"
        );
        assert_eq!(p.token_env.as_deref(), Some("GITHUB_TOKEN"));
        // Not a blob link: fetched as is, without the token.
        let p = plan("https://github.com/acme/payments", &hosts()).unwrap();
        assert_eq!(p.url, "https://github.com/acme/payments");
        assert_eq!(p.token_env, None);
    }

    #[test]
    fn gitlab_blob_links_read_through_the_api() {
        let p = plan(
            "https://gitlab.com/acme/platform/payments/-/blob/v1.2/catalog-info.yaml",
            &hosts(),
        )
        .unwrap();
        assert_eq!(
            p.url,
            "https://gitlab.com/api/v4/projects/acme%2Fplatform%2Fpayments/repository/files/catalog-info.yaml/raw?ref=v1.2"
        );
        let p = plan(
            "https://git.example.com:8443/a/b/-/raw/main/dir/x.yaml",
            &hosts(),
        )
        .unwrap();
        assert_eq!(
            p.url,
            "https://git.example.com:8443/api/v4/projects/a%2Fb/repository/files/dir%2Fx.yaml/raw?ref=main"
        );
    }

    #[test]
    fn other_urls_and_bad_ones() {
        assert_eq!(
            plan("https://example.com/x.yaml", &hosts()).unwrap().url,
            "https://example.com/x.yaml"
        );
        assert!(plan("ftp://example.com/x.yaml", &hosts()).is_err());
        assert!(plan("https://", &hosts()).is_err());
    }
}
