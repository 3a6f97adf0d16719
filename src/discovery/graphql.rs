//! One GraphQL call to a code host (GitHub, GitLab), through its limits
//! and transient failures: a rate limit (403/429 with `Retry-After`, or a
//! spent budget — GitHub's `x-ratelimit-*`, GitLab's `RateLimit-*`
//! headers) is waited out, at most [`MAX_WAIT`], else the scan stops
//! saying when to run it again; a 5xx or a dropped connection retries the
//! same page with backoff, so a scan resumes where it was; a page that
//! keeps failing or comes back too large is asked for again in halves
//! (hosts time out on heavy pages: many big lockfiles). What a host
//! answers is untrusted: the body is capped, and the token goes only to
//! the configured endpoint (the client follows no redirects).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Scanned;

/// Attempts at one page through 5xx answers and dropped connections.
const ATTEMPTS: u32 = 5;
/// The longest a scan waits for a limit to pass before giving up.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// A page's answer larger than this is refused.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// The smallest page asked for when pages are halved.
const MIN_PAGE: u64 = 10;

/// Where a scan sends its queries, and the words its messages use.
pub struct Endpoint<'a> {
    /// "GitHub", "GitLab".
    pub host: &'static str,
    pub url: &'a str,
    pub token: &'a str,
    /// The variable the token came from, named when it is refused.
    pub token_env: &'a str,
    /// Whose repositories: the organisation or group.
    pub scope: &'a str,
}

/// What a scan of a host read, and what it cost.
#[derive(Debug, Default)]
pub struct HostScan {
    pub repositories: Vec<Scanned>,
    /// GraphQL calls made (retries included).
    pub calls: usize,
    /// What the host counted: GitHub's rate-limit points, GitLab's
    /// complexity scores, summed over the calls.
    pub points: i64,
    /// GitHub: points left in this hour's budget after the last call.
    pub remaining: Option<i64>,
    /// GitHub: when the budget fills again.
    pub resets_at: Option<DateTime<Utc>>,
    /// GitLab: the most complexity a query may have.
    pub complexity_limit: Option<i64>,
}

/// Why a scan of a host stopped.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The host said no: a token, a name, a query it won't run.
    #[error("{0}")]
    Refused(String),
    /// The host couldn't be reached or kept failing: run it again later.
    #[error("{0}")]
    Unavailable(String),
}

/// Posts `body` and reads the answer as `T`, counting each attempt in
/// `calls`. `body`'s `variables.first` may be halved on the way; the caller
/// keeps it for later pages.
pub async fn call<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    endpoint: &Endpoint<'_>,
    body: &mut Value,
    calls: &mut usize,
) -> Result<T, HostError> {
    let host = endpoint.host;
    let mut attempt = 0;
    loop {
        attempt += 1;
        *calls += 1;
        let sent = client
            .post(endpoint.url)
            .bearer_auth(endpoint.token)
            .header("accept", "application/json")
            .json(&*body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(scope = %endpoint.scope, error = %e, "{host} GraphQL call failed; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            Err(e) => {
                return Err(HostError::Unavailable(format!(
                    "{host} didn't answer ({e}); run usher discover again — it starts over and reads only what moved"
                )));
            }
        };
        let status = response.status();
        if let Some(wait) = limit_wait(&response) {
            if wait > MAX_WAIT {
                return Err(HostError::Unavailable(format!(
                    "{host}'s rate limit for this token is spent for {} more minutes; run usher discover again then",
                    wait.as_secs().div_ceil(60)
                )));
            }
            tracing::info!(scope = %endpoint.scope, seconds = wait.as_secs(), "{host} asked to wait");
            tokio::time::sleep(wait).await;
            attempt = 0;
            continue;
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(HostError::Refused(format!(
                "{host} refused the token in {} (401); give it read access to {}'s repositories",
                endpoint.token_env, endpoint.scope
            )));
        }
        if status.is_server_error() && attempt < ATTEMPTS {
            if attempt >= 2 && smaller(body) {
                tracing::info!(scope = %endpoint.scope, "{host} keeps failing on this page; asking for half as many");
            }
            tracing::warn!(scope = %endpoint.scope, %status, "{host} GraphQL answered an error; retrying the page");
            tokio::time::sleep(backoff(attempt)).await;
            continue;
        }
        if !status.is_success() {
            return Err(HostError::Unavailable(format!(
                "{host} answered {status} for {}'s repositories",
                endpoint.scope
            )));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| HostError::Unavailable(format!("{host}'s answer broke off: {e}")))?;
        if bytes.len() > MAX_BODY {
            if attempt < ATTEMPTS && smaller(body) {
                continue;
            }
            return Err(HostError::Refused(format!(
                "{host}'s answer was larger than a page of repositories can be"
            )));
        }
        return serde_json::from_slice(&bytes).map_err(|e| {
            HostError::Refused(format!(
                "{host}'s answer isn't the shape usher asked for: {e}"
            ))
        });
    }
}

/// How long the host asks to wait: `Retry-After` on a limit, or until the
/// budget's reset when it is spent (GitHub's `x-ratelimit-*`, GitLab's
/// `RateLimit-*` headers).
fn limit_wait(response: &reqwest::Response) -> Option<Duration> {
    let status = response.status().as_u16();
    if status != 403 && status != 429 {
        return None;
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    if let Some(seconds) = header("retry-after") {
        return Some(Duration::from_secs(seconds.clamp(1, 86_400) as u64));
    }
    for (remaining, reset) in [
        ("x-ratelimit-remaining", "x-ratelimit-reset"),
        ("ratelimit-remaining", "ratelimit-reset"),
    ] {
        if header(remaining) == Some(0) {
            let reset = header(reset)?;
            let wait = (reset - Utc::now().timestamp()).clamp(1, 86_400);
            return Some(Duration::from_secs(wait as u64));
        }
    }
    // GitHub's documented default for a secondary limit without a header.
    (status == 429).then(|| Duration::from_secs(60))
}

/// A connection's `pageInfo`, as GitHub and GitLab both send it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// Moves `body`'s `variables.cursor` to the next page; `false` when there
/// is none (or the host sent the same cursor again, which would loop).
pub fn next_page(body: &mut Value, page_info: PageInfo) -> bool {
    let cursor = body.pointer("/variables/cursor").and_then(Value::as_str);
    match (page_info.has_next_page, page_info.end_cursor) {
        (true, Some(next)) if Some(next.as_str()) != cursor => {
            body["variables"]["cursor"] = Value::from(next);
            true
        }
        _ => false,
    }
}

/// Halves a query's page size (`variables.first`, not below [`MIN_PAGE`]);
/// whether it could.
pub fn smaller(body: &mut Value) -> bool {
    let Some(first) = body.pointer_mut("/variables/first") else {
        return false;
    };
    let now = first.as_u64().unwrap_or(0);
    if now <= MIN_PAGE {
        return false;
    }
    *first = Value::from((now / 2).max(MIN_PAGE));
    true
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt.min(6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_halve_down_to_the_smallest() {
        let mut body = serde_json::json!({ "variables": { "first": 100 } });
        let mut sizes = Vec::new();
        while smaller(&mut body) {
            sizes.push(body["variables"]["first"].as_u64().unwrap());
        }
        assert_eq!(sizes, [50, 25, 12, 10]);
        assert!(!smaller(&mut serde_json::json!({ "variables": {} })));
    }
}
