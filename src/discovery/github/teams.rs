//! The organisation's teams and their permissions: a team with admin (then
//! maintain) access is a likely owner when CODEOWNERS names none.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;

use super::{Answer, GithubError, GraphqlError, OrgScan, PageInfo, RateLimit, count, page};
use crate::config::DiscoveryConfig;

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

/// The teams with admin or maintain access to each repository (by node
/// id): (`org/slug`, `admin` or `maintain`), admins first.
pub(super) async fn admin_teams(
    client: &reqwest::Client,
    entry: &DiscoveryConfig,
    token: &str,
    scan: &mut OrgScan,
) -> Result<HashMap<String, Vec<(String, String)>>, GithubError> {
    let mut found: HashMap<String, Vec<(u8, String)>> = Default::default();
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
        let mut body =
            json!({ "query": TEAMS_QUERY, "variables": { "org": entry.org, "cursor": cursor } });
        let answer: Answer<TeamsData> = page(client, entry, token, &mut body, scan).await?;
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
                let mut body = json!({ "query": TEAM_REPOSITORIES_QUERY,
                    "variables": { "org": entry.org, "slug": team.slug, "cursor": after } });
                let answer: Answer<TeamsData> = page(client, entry, token, &mut body, scan).await?;
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
                    let access = if rank == 0 { "admin" } else { "maintain" };
                    (team, format!("has {access} access on GitHub"))
                })
                .collect();
            (id, teams)
        })
        .collect())
}

fn refused(errors: &[GraphqlError]) -> GithubError {
    GithubError::Refused(match errors.first() {
        Some(e) => format!("GitHub refused the teams query: {}", e.message),
        None => "GitHub's answer to the teams query had no data".into(),
    })
}
