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
//! Limits, retries and halved pages are [`super::graphql`]'s. What GitHub
//! answers is untrusted: sizes are capped, texts read only as CODEOWNERS
//! and manifests, and the token goes only to the configured endpoint.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::graphql::{self, Endpoint};
use crate::config::DiscoveryConfig;

mod repositories;
pub mod sbom;
mod teams;

pub use repositories::{MANIFESTS, QUERY, query};
pub use teams::{TEAM_REPOSITORIES_QUERY, TEAMS_QUERY};

/// Repositories a page (GitHub's maximum).
const PAGE: u32 = 100;

/// What a scan of one organisation read, and what it cost.
pub use super::graphql::HostScan as OrgScan;

/// Why a scan of GitHub stopped.
pub use super::graphql::HostError as GithubError;

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

use super::graphql::PageInfo;

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
            repo.host_teams = teams.clone();
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

/// One page: a GraphQL call to the organisation's endpoint.
async fn page<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    entry: &DiscoveryConfig,
    token: &str,
    body: &mut Value,
    scan: &mut OrgScan,
) -> Result<Answer<T>, GithubError> {
    let endpoint = Endpoint {
        host: "GitHub",
        url: &entry.graphql_url,
        token,
        token_env: &entry.token_env,
        scope: &entry.org,
    };
    graphql::call(client, &endpoint, body, &mut scan.calls).await
}
