//! A GitHub organisation through the GraphQL API: 100 repositories a page,
//! each with — in the same query — its default branch and head commit,
//! archived/fork/visibility, last push, topics, languages by size, whether
//! `catalog-info.yaml` is there, the CODEOWNERS files' text and the
//! manifests and lockfiles at its root ([`repositories`]); then the teams
//! and their permissions (a team with admin access is the owner's evidence
//! when CODEOWNERS names none, [`teams`]). A first scan of 6,000
//! repositories is 60 calls and a few points a page of the 5,000 an hour;
//! the points each call cost are counted and printed.
//!
//! Limits are honoured: a secondary limit (403/429 with `Retry-After`) or
//! an exhausted budget waits as told (at most `MAX_WAIT`, else the scan
//! stops saying when to run it again); a 5xx or a dropped connection
//! retries the same page with backoff, so a scan resumes where it was; a
//! page that keeps failing or comes back too large is asked for again in
//! halves (GitHub times out on heavy pages: many big lockfiles).
//! What GitHub answers is untrusted: sizes are capped, texts read only as
//! CODEOWNERS, and the token goes only to the configured endpoint.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::Scanned;
use crate::config::DiscoveryConfig;

mod repositories;
mod teams;

pub use repositories::{MANIFESTS, QUERY};
pub use teams::{TEAM_REPOSITORIES_QUERY, TEAMS_QUERY};

/// Repositories a page (GitHub's maximum).
const PAGE: u32 = 100;
/// Attempts at one page through 5xx answers and dropped connections.
const ATTEMPTS: u32 = 5;
/// The longest a scan waits for a limit to pass before giving up.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// A page's answer larger than this is refused.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// What a scan of one organisation read, and what it cost.
#[derive(Debug, Default)]
pub struct OrgScan {
    pub repositories: Vec<Scanned>,
    /// GraphQL calls made (retries included).
    pub calls: usize,
    /// Rate-limit points spent, as GitHub counted them.
    pub points: i64,
    /// Points left in this hour's budget after the last call.
    pub remaining: Option<i64>,
    /// When the budget fills again.
    pub resets_at: Option<DateTime<Utc>>,
}

/// Why a scan of GitHub stopped.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct Answer<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct GraphqlError {
    message: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimit {
    cost: i64,
    remaining: i64,
    reset_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

/// Scans one organisation. `known`: the head commit each repository had
/// at the last scan, by node id — those that haven't moved are marked
/// unchanged.
pub async fn scan(
    entry: &DiscoveryConfig,
    token: &str,
    known: &std::collections::HashMap<String, String>,
) -> Result<OrgScan, GithubError> {
    let client = crate::actions::token_client(Duration::from_secs(10), Duration::from_secs(60));
    let mut scan = OrgScan::default();
    repositories::read(&client, entry, token, known, &mut scan).await?;
    let admins = teams::admin_teams(&client, entry, token, &mut scan).await?;
    for repo in &mut scan.repositories {
        if let Some(teams) = repo.remote_id.as_ref().and_then(|id| admins.get(id)) {
            repo.admin_teams = teams.clone();
        }
    }
    Ok(scan)
}

fn count(scan: &mut OrgScan, limit: Option<&RateLimit>) {
    if let Some(limit) = limit {
        scan.points += limit.cost;
        scan.remaining = Some(limit.remaining);
        scan.resets_at = limit.reset_at;
    }
}

/// One page, through limits and transient failures.
async fn page<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    entry: &DiscoveryConfig,
    token: &str,
    body: &mut Value,
    scan: &mut OrgScan,
) -> Result<Answer<T>, GithubError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        scan.calls += 1;
        let sent = client
            .post(&entry.graphql_url)
            .bearer_auth(token)
            .header("accept", "application/json")
            .json(&*body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(org = %entry.org, error = %e, "GitHub GraphQL call failed; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            Err(e) => {
                return Err(GithubError::Unavailable(format!(
                    "GitHub didn't answer ({e}); run usher discover again — it starts over and reads only what moved"
                )));
            }
        };
        let status = response.status();
        if let Some(wait) = limit_wait(&response) {
            if wait > MAX_WAIT {
                return Err(GithubError::Unavailable(format!(
                    "GitHub's rate limit for this token is spent for {} more minutes; run usher discover again then",
                    wait.as_secs().div_ceil(60)
                )));
            }
            tracing::info!(org = %entry.org, seconds = wait.as_secs(), "GitHub asked to wait");
            tokio::time::sleep(wait).await;
            attempt = 0;
            continue;
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(GithubError::Refused(format!(
                "GitHub refused the token in {} (401); give it read access to {}'s repositories",
                entry.token_env, entry.org
            )));
        }
        if status.is_server_error() && attempt < ATTEMPTS {
            if attempt >= 2 && smaller(body) {
                tracing::info!(org = %entry.org, "GitHub keeps failing on this page; asking for half as many");
            }
            tracing::warn!(org = %entry.org, %status, "GitHub GraphQL answered an error; retrying the page");
            tokio::time::sleep(backoff(attempt)).await;
            continue;
        }
        if !status.is_success() {
            return Err(GithubError::Unavailable(format!(
                "GitHub answered {status} for {}'s repositories",
                entry.org
            )));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| GithubError::Unavailable(format!("GitHub's answer broke off: {e}")))?;
        if bytes.len() > MAX_BODY {
            if attempt < ATTEMPTS && smaller(body) {
                continue;
            }
            return Err(GithubError::Refused(
                "GitHub's answer was larger than a page of repositories can be".into(),
            ));
        }
        return serde_json::from_slice(&bytes).map_err(|e| {
            GithubError::Refused(format!(
                "GitHub's answer isn't the shape usher asked for: {e}"
            ))
        });
    }
}

/// How long GitHub asks to wait: `Retry-After` on a secondary limit, or
/// until `x-ratelimit-reset` when the hour's budget is spent.
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
    if header("x-ratelimit-remaining") == Some(0) {
        let reset = header("x-ratelimit-reset")?;
        let wait = (reset - Utc::now().timestamp()).clamp(1, 86_400);
        return Some(Duration::from_secs(wait as u64));
    }
    // GitHub's documented default for a secondary limit without a header.
    (status == 429).then(|| Duration::from_secs(60))
}

/// The smallest page asked for when pages are halved.
const MIN_PAGE: u64 = 10;

/// Halves a query's page size (`variables.first`, not below [`MIN_PAGE`]);
/// whether it could. The caller keeps the smaller size for later pages.
fn smaller(body: &mut Value) -> bool {
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
