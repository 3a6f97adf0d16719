//! A GitLab group (gitlab.com or self-managed) through the GraphQL API,
//! subgroups included: a page of projects at a time, each with — in the
//! same query — archived, visibility, last activity, topics, languages,
//! the default branch and its head commit, its group, and the text of the
//! files discovery reads (`catalog-info.yaml`, CODEOWNERS, the manifests
//! and lockfiles at its root) through `blobs(paths:)`. When CODEOWNERS
//! names no owner, the GitLab group a project lives in is its likely
//! owner's evidence (mapped to a catalog team by `gitlab.com/group` or
//! name).
//!
//! GitLab scores each query's complexity (at most 250 for a signed-in
//! user): a page refused for it is asked for again in halves, as is one
//! that times out; rate limits (`Retry-After`, `RateLimit-*`) are waited
//! out ([`super::graphql`]). Each page's complexity score is counted and
//! printed.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::graphql::{self, Endpoint, HostError, HostScan, PageInfo};
use super::manifests::{self, Manifest};
use super::{Scanned, codeowners};
use crate::config::DiscoveryConfig;

/// The query: one page of a group's projects, subgroups included.
pub const QUERY: &str = r#"query($group: ID!, $first: Int!, $cursor: String, $paths: [String!]!) {
  queryComplexity { score limit }
  group(fullPath: $group) {
    projects(includeSubgroups: true, first: $first, after: $cursor) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        fullPath
        webUrl
        archived
        visibility
        lastActivityAt
        topics
        group { fullPath }
        languages { name share }
        repository {
          rootRef
          empty
          tree { lastCommit { sha } }
          blobs(paths: $paths) { nodes { path rawTextBlob size } }
        }
      }
    }
  }
}"#;

/// Projects a page (GitLab's maximum), halved when GitLab refuses the
/// query's complexity.
const PAGE: u32 = 100;

/// The files asked for in each project: descriptors (the configured
/// paths too), CODEOWNERS, the root manifests.
pub fn paths(extra_descriptors: &[String]) -> Vec<&str> {
    let mut paths: Vec<&str> = super::clones::DESCRIPTOR_NAMES.to_vec();
    paths.extend(extra_descriptors.iter().map(String::as_str));
    paths.extend(codeowners::PATHS);
    paths.extend(manifests::AT_ROOT);
    paths
}

#[derive(Deserialize)]
struct Answer {
    data: Option<Data>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct GraphqlError {
    message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    query_complexity: Option<Complexity>,
    group: Option<Group>,
}

#[derive(Deserialize)]
struct Complexity {
    score: Option<i64>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
struct Group {
    projects: Connection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection {
    page_info: PageInfo,
    nodes: Vec<Option<Project>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Project {
    id: String,
    full_path: String,
    web_url: Option<String>,
    archived: Option<bool>,
    visibility: Option<String>,
    last_activity_at: Option<DateTime<Utc>>,
    topics: Option<Vec<String>>,
    group: Option<GroupRef>,
    languages: Option<Vec<Language>>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupRef {
    full_path: String,
}

#[derive(Deserialize)]
struct Language {
    name: String,
    share: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repository {
    root_ref: Option<String>,
    tree: Option<Tree>,
    blobs: Option<Blobs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tree {
    last_commit: Option<Commit>,
}

#[derive(Deserialize)]
struct Commit {
    sha: String,
}

#[derive(Deserialize)]
struct Blobs {
    nodes: Vec<Option<Blob>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Blob {
    path: String,
    raw_text_blob: Option<String>,
    /// GitLab's BigInt: a number in a string.
    size: Option<Value>,
}

impl Blob {
    fn size(&self) -> u64 {
        match &self.size {
            Some(Value::String(s)) => s.parse().unwrap_or(0),
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Scans one group. `known`: the head commit each project had at the last
/// scan, by GitLab's id — those that haven't moved are marked unchanged.
pub async fn scan(
    entry: &DiscoveryConfig,
    token: &str,
    known: &HashMap<String, String>,
) -> Result<HostScan, HostError> {
    let client = crate::actions::token_client(Duration::from_secs(10), Duration::from_secs(60));
    let endpoint = Endpoint {
        host: "GitLab",
        url: &entry.graphql_url,
        token,
        token_env: &entry.token_env,
        scope: &entry.group,
    };
    let mut scan = HostScan::default();
    // Packages' strings shared across the group's projects.
    let mut pool = manifests::Interner::default();
    let mut body = json!({
        "query": QUERY,
        "variables": { "group": entry.group, "first": PAGE, "cursor": null,
                       "paths": paths(&entry.descriptor_paths) },
    });
    loop {
        let answer: Answer = graphql::call(&client, &endpoint, &mut body, &mut scan.calls).await?;
        if let Some(error) = answer.errors.first() {
            // Too complex for GitLab: the same page, half as many.
            if error.message.contains("complexity") && graphql::smaller(&mut body) {
                tracing::info!(group = %entry.group, message = %error.message, "GitLab refused the page's complexity; asking for half as many");
                continue;
            }
            return Err(HostError::Refused(format!(
                "GitLab refused the query: {}",
                error.message
            )));
        }
        let data = answer.data.ok_or_else(|| {
            HostError::Refused("GitLab's answer had neither data nor errors".into())
        })?;
        if let Some(complexity) = &data.query_complexity {
            scan.points += complexity.score.unwrap_or(0);
            scan.complexity_limit = complexity.limit;
        }
        let Some(group) = data.group else {
            return Err(HostError::Refused(format!(
                "GitLab has no group {} that this token can see; check discovery.group (its full path, e.g. acme/platform) and the token's access",
                entry.group
            )));
        };
        let connection = group.projects;
        for project in connection.nodes.into_iter().flatten() {
            let mut repo = scanned(project, known, &entry.descriptor_paths);
            repo.dependencies.intern(&mut pool);
            scan.repositories.push(repo);
        }
        if !graphql::next_page(&mut body, connection.page_info) {
            return Ok(scan);
        }
    }
}

fn scanned(project: Project, known: &HashMap<String, String>, extra: &[String]) -> Scanned {
    let repository = project.repository;
    let default_branch = repository.as_ref().and_then(|r| r.root_ref.clone());
    let head = repository
        .as_ref()
        .and_then(|r| r.tree.as_ref())
        .and_then(|t| t.last_commit.as_ref())
        .map(|c| c.sha.clone());
    let unchanged = head.is_some() && known.get(&project.id) == head.as_ref();
    let url = super::clones::strip_credentials(project.web_url.as_deref().unwrap_or_default());
    let languages = super::languages::top(project.languages.into_iter().flatten().map(|l| {
        let name = crate::catalog::entity::normalise_language(&l.name);
        // Shares are percentages: bytes in a thousandth of a percent.
        (name, (l.share.unwrap_or(0.0).max(0.0) * 1000.0) as u64)
    }));
    let blobs: Vec<Blob> = repository
        .and_then(|r| r.blobs)
        .map(|b| b.nodes.into_iter().flatten().collect())
        .unwrap_or_default();
    let text_of = |path: &str| {
        blobs
            .iter()
            .find(|b| b.path == path)
            .and_then(|b| b.raw_text_blob.as_deref())
    };
    let descriptors = super::clones::DESCRIPTOR_NAMES
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .filter(|n| blobs.iter().any(|b| b.path == *n))
        .map(str::to_string)
        .collect();
    let codeowners = codeowners::PATHS.iter().find_map(|path| {
        let blob = blobs.iter().find(|b| b.path == *path)?;
        let text = blob.raw_text_blob.as_deref()?;
        (blob.size() <= super::MAX_CODEOWNERS).then(|| (path.to_string(), codeowners::parse(text)))
    });
    let mut dependencies = manifests::Found::default();
    if !unchanged {
        for path in manifests::AT_ROOT {
            let Some(blob) = blobs.iter().find(|b| b.path == *path) else {
                continue;
            };
            if blob.size() > manifests::MAX_BYTES {
                let why = format!("is too large to read ({} bytes)", blob.size());
                dependencies.note(path, &why);
                continue;
            }
            if let (Some(text), Some(kind)) = (text_of(path), Manifest::of(path)) {
                dependencies.read(path, kind, text);
            }
        }
    }
    let host_teams = project
        .group
        .map(|g| vec![(g.full_path, "is the GitLab group it lives in".to_string())])
        .unwrap_or_default();
    Scanned {
        name: project.full_path,
        remote_id: Some(project.id),
        blob_base: default_branch
            .as_ref()
            .map(|b| format!("{}/-/blob/{b}", url.trim_end_matches('/'))),
        url,
        default_branch,
        head,
        pushed_at: project.last_activity_at,
        archived: project.archived.unwrap_or(false),
        fork: false,
        visibility: project.visibility.map(|v| v.to_lowercase()),
        languages,
        topics: project
            .topics
            .unwrap_or_default()
            .into_iter()
            .take(20)
            .collect(),
        descriptors,
        codeowners,
        host_teams,
        dependencies,
        checkout: None,
        unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_discovery_reads_is_asked_for() {
        let paths = paths(&[]);
        for p in [
            "catalog-info.yaml",
            ".gitlab/CODEOWNERS",
            "pom.xml",
            "go.mod",
            "Gemfile.lock",
        ] {
            assert!(paths.contains(&p), "{p}");
        }
        // GitLab refuses a query over 10,000 characters.
        assert!(QUERY.len() < 10_000);
    }
}
