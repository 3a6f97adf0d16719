//! A GitHub organisation through the GraphQL API: 100 repositories a page,
//! each with — in the same query — its default branch and head commit,
//! archived/fork/visibility, last push, topics, languages by size, whether
//! `catalog-info.yaml` is there, and the CODEOWNERS files' text; then the
//! teams and their permissions (a team with admin access is the owner's
//! evidence when CODEOWNERS names none). A first
//! scan of 6,000 repositories is 60 calls and a few points a page of the
//! 5,000 an hour; the points each call cost are counted and printed.
//!
//! Limits are honoured: a secondary limit (403/429 with `Retry-After`) or
//! an exhausted budget waits as told (at most `MAX_WAIT`, else the scan
//! stops saying when to run it again); a 5xx or a dropped connection
//! retries the same page with backoff, so a scan resumes where it was.
//! What GitHub answers is untrusted: sizes are capped, texts read only as
//! CODEOWNERS, and the token goes only to the configured endpoint.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Scanned, codeowners};
use crate::config::DiscoveryConfig;

/// The query: one page of an organisation's repositories.
pub const QUERY: &str = r#"query($org: String!, $first: Int!, $cursor: String) {
  rateLimit { cost remaining resetAt }
  organization(login: $org) {
    repositories(first: $first, after: $cursor, orderBy: {field: NAME, direction: ASC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        nameWithOwner
        url
        isArchived
        isFork
        visibility
        pushedAt
        defaultBranchRef { name target { oid } }
        repositoryTopics(first: 20) { nodes { topic { name } } }
        languages(first: 10, orderBy: {field: SIZE, direction: DESC}) { edges { size node { name } } }
        descriptor: object(expression: "HEAD:catalog-info.yaml") { ... on Blob { byteSize } }
        ownersGithub: object(expression: "HEAD:.github/CODEOWNERS") { ... on Blob { text byteSize } }
        ownersRoot: object(expression: "HEAD:CODEOWNERS") { ... on Blob { text byteSize } }
        ownersDocs: object(expression: "HEAD:docs/CODEOWNERS") { ... on Blob { text byteSize } }
      }
    }
  }
}"#;

/// The organisation's teams, ten a page, each with its first 100
/// repositories and the permission it has on each (admin or maintain makes
/// a team a likely owner when CODEOWNERS names none).
pub const TEAMS_QUERY: &str = r#"query($org: String!, $cursor: String) {
  rateLimit { cost remaining resetAt }
  organization(login: $org) {
    teams(first: 10, after: $cursor) {
      pageInfo { hasNextPage endCursor }
      nodes {
        slug
        repositories(first: 100) {
          pageInfo { hasNextPage endCursor }
          edges { permission node { id } }
        }
      }
    }
  }
}"#;

/// The rest of one team's repositories, 100 a page.
pub const TEAM_REPOSITORIES_QUERY: &str = r#"query($org: String!, $slug: String!, $cursor: String) {
  rateLimit { cost remaining resetAt }
  organization(login: $org) {
    team(slug: $slug) {
      repositories(first: 100, after: $cursor) {
        pageInfo { hasNextPage endCursor }
        edges { permission node { id } }
      }
    }
  }
}"#;

/// Repositories a page (GitHub's maximum).
const PAGE: u32 = 100;
/// Attempts at one page through 5xx answers and dropped connections.
const ATTEMPTS: u32 = 5;
/// The longest a scan waits for a limit to pass before giving up.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// A CODEOWNERS text larger than this is not read.
const MAX_CODEOWNERS: i64 = 512 * 1024;
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
#[serde(rename_all = "camelCase")]
struct TeamsData {
    rate_limit: Option<RateLimit>,
    organization: Option<TeamsOrganization>,
}

#[derive(Deserialize)]
struct TeamsOrganization {
    #[serde(default)]
    teams: Option<TeamConnection>,
    #[serde(default)]
    team: Option<TeamNode>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TeamConnection {
    page_info: PageInfo,
    nodes: Vec<Option<TeamNode>>,
}

#[derive(Deserialize)]
struct TeamNode {
    #[serde(default)]
    slug: String,
    repositories: TeamRepositories,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TeamRepositories {
    page_info: PageInfo,
    edges: Vec<Option<TeamRepositoryEdge>>,
}

#[derive(Deserialize)]
struct TeamRepositoryEdge {
    permission: String,
    node: NodeId,
}

#[derive(Deserialize)]
struct NodeId {
    id: String,
}

#[derive(Deserialize)]
struct GraphqlError {
    message: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    rate_limit: Option<RateLimit>,
    organization: Option<Organization>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimit {
    cost: i64,
    remaining: i64,
    reset_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Organization {
    repositories: Connection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection {
    page_info: PageInfo,
    nodes: Vec<Option<Node>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    id: String,
    name_with_owner: String,
    url: String,
    is_archived: bool,
    #[serde(default)]
    is_fork: bool,
    visibility: Option<String>,
    pushed_at: Option<DateTime<Utc>>,
    default_branch_ref: Option<BranchRef>,
    repository_topics: Option<Topics>,
    languages: Option<Languages>,
    descriptor: Option<Value>,
    owners_github: Option<Blob>,
    owners_root: Option<Blob>,
    owners_docs: Option<Blob>,
}

#[derive(Deserialize)]
struct BranchRef {
    name: String,
    target: Option<Target>,
}

#[derive(Deserialize)]
struct Target {
    oid: Option<String>,
}

#[derive(Deserialize)]
struct Topics {
    nodes: Vec<Option<TopicNode>>,
}

#[derive(Deserialize)]
struct TopicNode {
    topic: Topic,
}

#[derive(Deserialize)]
struct Topic {
    name: String,
}

#[derive(Deserialize)]
struct Languages {
    edges: Vec<Option<LanguageEdge>>,
}

#[derive(Deserialize)]
struct LanguageEdge {
    size: i64,
    node: LanguageNode,
}

#[derive(Deserialize)]
struct LanguageNode {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Blob {
    text: Option<String>,
    byte_size: Option<i64>,
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
    let mut cursor: Option<String> = None;
    loop {
        let body = json!({
            "query": QUERY,
            "variables": { "org": entry.org, "first": PAGE, "cursor": cursor },
        });
        let answer: Answer<Data> = page(&client, entry, token, &body, &mut scan).await?;
        count(
            &mut scan,
            answer.data.as_ref().and_then(|d| d.rate_limit.as_ref()),
        );
        if let Some(error) = answer.errors.first() {
            return Err(GithubError::Refused(match error.kind.as_deref() {
                Some("NOT_FOUND") => format!(
                    "GitHub has no organisation {} that this token can see ({}); check discovery.org and the token's access",
                    entry.org, error.message
                ),
                _ => format!("GitHub refused the query: {}", error.message),
            }));
        }
        let Some(org) = answer.data.and_then(|d| d.organization) else {
            return Err(GithubError::Refused(format!(
                "GitHub has no organisation {}; check discovery.org",
                entry.org
            )));
        };
        let connection = org.repositories;
        for node in connection.nodes.into_iter().flatten() {
            scan.repositories.push(scanned(node, known));
        }
        match (
            connection.page_info.has_next_page,
            connection.page_info.end_cursor,
        ) {
            (true, Some(next)) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => break,
        }
    }
    let admins = admin_teams(&client, entry, token, &mut scan).await?;
    for repo in &mut scan.repositories {
        if let Some(teams) = repo.remote_id.as_ref().and_then(|id| admins.get(id)) {
            repo.admin_teams = teams.clone();
        }
    }
    Ok(scan)
}

/// The teams with admin or maintain access to each repository (by node
/// id): (`org/slug`, `admin` or `maintain`), admins first.
async fn admin_teams(
    client: &reqwest::Client,
    entry: &DiscoveryConfig,
    token: &str,
    scan: &mut OrgScan,
) -> Result<std::collections::HashMap<String, Vec<(String, String)>>, GithubError> {
    let mut found: std::collections::HashMap<String, Vec<(u8, String)>> = Default::default();
    let mut record = |slug: &str, edges: Vec<Option<TeamRepositoryEdge>>| {
        for edge in edges.into_iter().flatten() {
            let rank = match edge.permission.as_str() {
                "ADMIN" => 0,
                "MAINTAIN" => 1,
                _ => continue,
            };
            found
                .entry(edge.node.id)
                .or_default()
                .push((rank, format!("{}/{slug}", entry.org)));
        }
    };
    let mut cursor: Option<String> = None;
    loop {
        let body =
            json!({ "query": TEAMS_QUERY, "variables": { "org": entry.org, "cursor": cursor } });
        let answer: Answer<TeamsData> = page(client, entry, token, &body, scan).await?;
        let data = answer.data.ok_or_else(|| refused(&answer.errors))?;
        count(scan, data.rate_limit.as_ref());
        let Some(teams) = data.organization.and_then(|o| o.teams) else {
            return Err(refused(&answer.errors));
        };
        for team in teams.nodes.into_iter().flatten() {
            let mut more = team.repositories.page_info.has_next_page;
            let mut after = team.repositories.page_info.end_cursor;
            record(&team.slug, team.repositories.edges);
            while more {
                let body = json!({ "query": TEAM_REPOSITORIES_QUERY,
                    "variables": { "org": entry.org, "slug": team.slug, "cursor": after } });
                let answer: Answer<TeamsData> = page(client, entry, token, &body, scan).await?;
                let data = answer.data.ok_or_else(|| refused(&answer.errors))?;
                count(scan, data.rate_limit.as_ref());
                let Some(repositories) = data
                    .organization
                    .and_then(|o| o.team)
                    .map(|t| t.repositories)
                else {
                    break; // the team went away mid-scan
                };
                more = repositories.page_info.has_next_page
                    && repositories.page_info.end_cursor.is_some()
                    && repositories.page_info.end_cursor != after;
                after = repositories.page_info.end_cursor;
                record(&team.slug, repositories.edges);
            }
        }
        match (teams.page_info.has_next_page, teams.page_info.end_cursor) {
            (true, Some(next)) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => break,
        }
    }
    Ok(found
        .into_iter()
        .map(|(id, mut teams)| {
            teams.sort();
            teams.dedup();
            let teams = teams
                .into_iter()
                .map(|(rank, team)| {
                    (
                        team,
                        if rank == 0 { "admin" } else { "maintain" }.to_string(),
                    )
                })
                .collect();
            (id, teams)
        })
        .collect())
}

fn count(scan: &mut OrgScan, limit: Option<&RateLimit>) {
    if let Some(limit) = limit {
        scan.points += limit.cost;
        scan.remaining = Some(limit.remaining);
        scan.resets_at = limit.reset_at;
    }
}

fn refused(errors: &[GraphqlError]) -> GithubError {
    GithubError::Refused(match errors.first() {
        Some(e) => format!("GitHub refused the teams query: {}", e.message),
        None => "GitHub's answer to the teams query had no data".into(),
    })
}

/// One page, through limits and transient failures.
async fn page<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    entry: &DiscoveryConfig,
    token: &str,
    body: &Value,
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
            .json(body)
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

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt.min(6)))
}

fn scanned(node: Node, known: &std::collections::HashMap<String, String>) -> Scanned {
    let head = node
        .default_branch_ref
        .as_ref()
        .and_then(|b| b.target.as_ref())
        .and_then(|t| t.oid.clone());
    let default_branch = node.default_branch_ref.as_ref().map(|b| b.name.clone());
    let unchanged = head.is_some() && known.get(&node.id) == head.as_ref();
    let languages = super::languages::top(
        node.languages
            .into_iter()
            .flat_map(|l| l.edges.into_iter().flatten())
            .map(|e| {
                let name = crate::catalog::entity::normalise_language(&e.node.name);
                (name, e.size.max(0) as u64)
            }),
    );
    let topics = node
        .repository_topics
        .map(|t| {
            t.nodes
                .into_iter()
                .flatten()
                .map(|n| n.topic.name)
                .take(20)
                .collect()
        })
        .unwrap_or_default();
    let codeowners = [
        (".github/CODEOWNERS", node.owners_github),
        ("CODEOWNERS", node.owners_root),
        ("docs/CODEOWNERS", node.owners_docs),
    ]
    .into_iter()
    .find_map(|(path, blob)| {
        let blob = blob?;
        let text = blob.text?;
        (blob.byte_size.unwrap_or(0) <= MAX_CODEOWNERS)
            .then(|| (path.to_string(), codeowners::parse(&text)))
    });
    let url = super::clones::strip_credentials(&node.url);
    Scanned {
        name: node.name_with_owner,
        remote_id: Some(node.id),
        blob_base: default_branch
            .as_ref()
            .map(|b| format!("{}/blob/{b}", url.trim_end_matches('/'))),
        url,
        default_branch,
        head,
        pushed_at: node.pushed_at,
        archived: node.is_archived,
        fork: node.is_fork,
        visibility: node.visibility.map(|v| v.to_lowercase()),
        languages,
        topics,
        descriptors: if node.descriptor.is_some_and(|d| !d.is_null()) {
            vec!["catalog-info.yaml".to_string()]
        } else {
            Vec::new()
        },
        codeowners,
        admin_teams: Vec::new(),
        checkout: None,
        unchanged,
    }
}
