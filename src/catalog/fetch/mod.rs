//! Fetching descriptors over HTTP(S): GitHub and GitLab "blob" links read
//! through their APIs (so a plain repository link works, private ones with
//! a token), anything else as is; with timeouts, a size limit, a bounded
//! number of redirects, and conditional requests (ETag / Last-Modified)
//! whose validators and bodies are kept in `fetch_cache`, so an unchanged
//! file costs a 304 and no parsing.
//!
//! Tokens live in request headers only: they never appear in a URL, a log
//! line or a problem message, and go only to the host they were configured
//! for (redirects are followed by hand, each hop checked, the token dropped
//! when a hop leaves the host).
//!
//! A descriptor is untrusted: the URLs it names are fetched only from hosts
//! in `[[catalog.hosts]]` (and the location's own host), and never from an
//! internal address unless the host's entry allows it — checked on the
//! addresses DNS returns, which are the ones connected to, so there is no
//! window for a name to resolve differently in between.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{
    ACCEPT, AUTHORIZATION, ETAG, HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED,
};
use reqwest::{StatusCode, Url};
use sqlx::PgPool;

use super::source::{ReadError, decode_text};

pub use crate::config::hosts::{HostConfig, HostKind, default_hosts};

mod guard;
mod plan;

pub use guard::is_internal;
use guard::{GuardedResolver, InternalAddress, bare_host};
pub use plan::host_of;
use plan::{plan, plan_owner};

pub use crate::percent::encode_segment;

/// What a fetch remembers about a URL.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Cached {
    etag: Option<String>,
    last_modified: Option<String>,
    body: String,
}

/// How many redirects a fetch follows.
const MAX_REDIRECTS: usize = 5;

/// Fetches descriptor files over HTTP(S).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    hosts: Vec<HostConfig>,
    /// Hosts (`host[:port]`, lower case) a fetch may reach: each entry's
    /// host and its API's host.
    allowed: Arc<HashSet<String>>,
    /// Bare host names that may resolve to internal addresses.
    private_ok: Arc<HashSet<String>>,
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
        let mut allowed = HashSet::new();
        let mut private_ok = HashSet::new();
        for h in &hosts {
            let mut names = vec![h.host.to_ascii_lowercase()];
            if let Ok(api) = Url::parse(&h.api_url) {
                names.push(host_of(&api).to_ascii_lowercase());
            }
            for name in names {
                if h.allow_private {
                    private_ok.insert(bare_host(&name));
                }
                allowed.insert(name);
            }
        }
        let private_ok = Arc::new(private_ok);
        let client = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names itself, past the address check.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                private_ok: private_ok.clone(),
            }))
            .user_agent(concat!("usher/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Fetcher {
            client,
            hosts,
            allowed: Arc::new(allowed),
            private_ok,
            max_size,
            cache,
        }
    }

    /// Whether a descriptor may make usher fetch `url`: its host is
    /// configured (or is the location's own), and an address written in
    /// the URL isn't internal unless its entry allows that.
    fn admit(&self, url: &Url, own_host: Option<&str>) -> Result<(), ReadError> {
        let own_host = own_host.filter(|h| !h.is_empty());
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ReadError::Refused("is not an http(s) URL".to_string()));
        }
        let host = host_of(url).to_ascii_lowercase();
        let own = own_host.is_some_and(|o| o.eq_ignore_ascii_case(&host));
        if !own && !self.allowed.contains(&host) {
            return Err(ReadError::Refused(format!(
                "is on {host}, which isn't a configured host; add it to [[catalog.hosts]] in usher.toml if descriptors may be read from it"
            )));
        }
        let literal = url
            .host_str()
            .and_then(|h| bare_host(h).parse::<IpAddr>().ok());
        if let Some(ip) = literal
            && is_internal(ip)
            && !self.private_ok.contains(&bare_host(&host))
        {
            return Err(ReadError::Refused(format!(
                "is on an internal address ({ip}); set allow_private = true on its [[catalog.hosts]] entry if usher is meant to reach it"
            )));
        }
        Ok(())
    }

    /// Fetches `url` as text; `own_root` is the URL of the location it was
    /// found in (none for a local one): its host may be fetched from
    /// besides the configured hosts, and the token reads its owner's files.
    pub async fn fetch(&self, url: &str, own_root: Option<&str>) -> Result<String, ReadError> {
        let written =
            Url::parse(url).map_err(|e| ReadError::Remote(format!("is not a valid URL ({e})")))?;
        let own = own_root.and_then(|r| Url::parse(r).ok());
        let own_host_text = own.as_ref().map(host_of);
        let own_host = own_host_text.as_deref();
        self.admit(&written, own_host)?;
        let plan = plan(url, &self.hosts)?;
        // Whose files the token may read: the location's own owner's (on
        // the location's own host), and those its host's entry names.
        let own_owner = own_root
            .and_then(|r| plan_owner(r, &self.hosts))
            .filter(|_| own_host.is_some_and(|h| h.eq_ignore_ascii_case(&host_of(&written))));
        let token_allowed = plan.owner.as_ref().is_some_and(|owner| {
            own_owner.as_ref() == Some(owner) || plan.token_owners.contains(owner)
        });
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
        let token = match plan
            .token_env
            .as_deref()
            .filter(|_| token_allowed)
            .and_then(|v| std::env::var(v).ok())
            .filter(|t| !t.is_empty())
        {
            Some(token) => {
                let (name, value) = match plan.host {
                    Some(HostKind::Gitlab) => (
                        reqwest::header::HeaderName::from_static("private-token"),
                        token,
                    ),
                    _ => (AUTHORIZATION, format!("Bearer {token}")),
                };
                let mut value = HeaderValue::from_str(&value).map_err(|_| {
                    ReadError::Remote(
                        "could not be fetched: the configured token is not a valid header value"
                            .into(),
                    )
                })?;
                value.set_sensitive(true);
                Some((name, value))
            }
            None => None,
        };
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
        let mut target = Url::parse(&plan.url)
            .map_err(|e| ReadError::Remote(format!("is not a valid URL ({e})")))?;
        // The token belongs to the host of the planned request (the API).
        let token_host = format!("{}://{}", target.scheme(), host_of(&target)).to_ascii_lowercase();
        self.admit(&target, own_host)?;
        let mut hops = 0;
        let response = loop {
            let mut request = self.client.get(target.clone()).headers(headers.clone());
            if let Some((name, value)) = &token
                && format!("{}://{}", target.scheme(), host_of(&target))
                    .eq_ignore_ascii_case(&token_host)
            {
                request = request.header(name.clone(), value.clone());
            }
            let response = request
                .send()
                .await
                .map_err(|e| ReadError::Remote(describe_error(&e)))?;
            if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED
            {
                break response;
            }
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(ReadError::Remote(
                    "could not be fetched: too many redirects".to_string(),
                ));
            }
            let next = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| target.join(l).ok())
                .ok_or_else(|| {
                    ReadError::Remote(format!(
                        "could not be fetched: HTTP {} without a usable Location",
                        response.status()
                    ))
                })?;
            self.admit(&next, own_host).map_err(|e| match e {
                ReadError::Refused(why) => {
                    ReadError::Refused(format!("redirects to a URL that {why}"))
                }
                other => other,
            })?;
            target = next;
        };
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

/// The first error of type `T` in `e`'s chain of causes.
fn source_of<T: std::error::Error + 'static>(e: &reqwest::Error) -> Option<&T> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(found) = c.downcast_ref::<T>() {
            return Some(found);
        }
        cause = c.source();
    }
    None
}

/// A reqwest error as a sentence, without the URL (the caller names it).
fn describe_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "could not be fetched: the server took too long (timeout)".to_string()
    } else if e.is_redirect() {
        "could not be fetched: too many redirects".to_string()
    } else if let Some(internal) = source_of::<InternalAddress>(e) {
        format!("could not be fetched: {internal}")
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
            allow_private: false,
            token_owners: Vec::new(),
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

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "64:ff9b::7f00:1",
            "2002:a00:1::",
            "fec0::1",
            "198.18.0.1",
            "240.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "140.82.112.3",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
        assert_eq!(bare_host("git.example.com:8443"), "git.example.com");
        assert_eq!(bare_host("[::1]:80"), "::1");
        assert_eq!(bare_host("GitHub.com"), "github.com");
    }
}
