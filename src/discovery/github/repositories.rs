//! The repositories query and what a repository's node becomes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Answer, GithubError, OrgScan, PAGE, PageInfo, RateLimit, count, page};
use crate::config::DiscoveryConfig;
use crate::discovery::manifests::{self, Manifest};
use crate::discovery::{Scanned, codeowners};

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
        pomXml: object(expression: "HEAD:pom.xml") { ... on Blob { text byteSize isTruncated } }
        gradleCatalog: object(expression: "HEAD:gradle/libs.versions.toml") { ... on Blob { text byteSize isTruncated } }
        gradleLockfile: object(expression: "HEAD:gradle.lockfile") { ... on Blob { text byteSize isTruncated } }
        packageLock: object(expression: "HEAD:package-lock.json") { ... on Blob { text byteSize isTruncated } }
        yarnLock: object(expression: "HEAD:yarn.lock") { ... on Blob { text byteSize isTruncated } }
        pnpmLock: object(expression: "HEAD:pnpm-lock.yaml") { ... on Blob { text byteSize isTruncated } }
        cargoLock: object(expression: "HEAD:Cargo.lock") { ... on Blob { text byteSize isTruncated } }
        goMod: object(expression: "HEAD:go.mod") { ... on Blob { text byteSize isTruncated } }
        requirements: object(expression: "HEAD:requirements.txt") { ... on Blob { text byteSize isTruncated } }
        poetryLock: object(expression: "HEAD:poetry.lock") { ... on Blob { text byteSize isTruncated } }
        pipfileLock: object(expression: "HEAD:Pipfile.lock") { ... on Blob { text byteSize isTruncated } }
        gemfileLock: object(expression: "HEAD:Gemfile.lock") { ... on Blob { text byteSize isTruncated } }
        composerLock: object(expression: "HEAD:composer.lock") { ... on Blob { text byteSize isTruncated } }
      }
    }
  }
}"#;

/// The manifests and lockfiles [`QUERY`] reads at a repository's root:
/// (alias in the query, path). Deeper ones (a monorepo's) are the
/// dependency graph's or a clone's to find.
pub const MANIFESTS: &[(&str, &str)] = &[
    ("pomXml", "pom.xml"),
    ("gradleCatalog", "gradle/libs.versions.toml"),
    ("gradleLockfile", "gradle.lockfile"),
    ("packageLock", "package-lock.json"),
    ("yarnLock", "yarn.lock"),
    ("pnpmLock", "pnpm-lock.yaml"),
    ("cargoLock", "Cargo.lock"),
    ("goMod", "go.mod"),
    ("requirements", "requirements.txt"),
    ("poetryLock", "poetry.lock"),
    ("pipfileLock", "Pipfile.lock"),
    ("gemfileLock", "Gemfile.lock"),
    ("composerLock", "composer.lock"),
];

/// Reads every page of the organisation's repositories into `scan`. The
/// page size starts at GitHub's maximum and stays smaller once a page had
/// to be halved.
pub(super) async fn read(
    client: &reqwest::Client,
    entry: &DiscoveryConfig,
    token: &str,
    known: &HashMap<String, String>,
    scan: &mut OrgScan,
) -> Result<(), GithubError> {
    let mut body = json!({
        "query": query(&entry.descriptor_paths),
        "variables": { "org": entry.org, "first": PAGE, "cursor": null },
    });
    // Packages' strings shared across the organisation's repositories.
    let mut pool = manifests::Interner::default();
    loop {
        let answer: Answer<Data> = page(client, entry, token, &mut body, scan).await?;
        count(
            scan,
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
            let mut repo = scanned(node, known, &entry.descriptor_paths);
            repo.dependencies.intern(&mut pool);
            scan.repositories.push(repo);
        }
        if !crate::discovery::graphql::next_page(&mut body, connection.page_info) {
            return Ok(());
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    rate_limit: Option<RateLimit>,
    organization: Option<Organization>,
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
    /// The manifests, by their alias in [`MANIFESTS`].
    #[serde(flatten)]
    files: HashMap<String, Value>,
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
    #[serde(default)]
    is_truncated: bool,
}

/// [`QUERY`] asking also for the configured descriptor paths, as
/// `descriptor1`, `descriptor2` … (paths checked when the configuration was
/// read: relative, no quotes or `..`).
pub fn query(extra_descriptors: &[String]) -> String {
    let anchor =
        "descriptor: object(expression: \"HEAD:catalog-info.yaml\") { ... on Blob { byteSize } }";
    let mut lines = String::from(anchor);
    for (i, path) in extra_descriptors.iter().enumerate() {
        lines.push_str(&format!(
            "\n        descriptor{}: object(expression: \"HEAD:{path}\") {{ ... on Blob {{ byteSize }} }}",
            i + 1
        ));
    }
    QUERY.replace(anchor, &lines)
}

fn scanned(mut node: Node, known: &HashMap<String, String>, extra: &[String]) -> Scanned {
    let head = node
        .default_branch_ref
        .as_ref()
        .and_then(|b| b.target.as_ref())
        .and_then(|t| t.oid.clone());
    let default_branch = node.default_branch_ref.as_ref().map(|b| b.name.clone());
    let unchanged = head.is_some() && known.get(&node.id) == head.as_ref();
    let languages = crate::discovery::languages::top(
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
        (blob.byte_size.unwrap_or(0).max(0) as u64 <= crate::discovery::MAX_CODEOWNERS)
            .then(|| (path.to_string(), codeowners::parse(&text)))
    });
    let mut descriptors = Vec::new();
    if node.descriptor.as_ref().is_some_and(|d| !d.is_null()) {
        descriptors.push("catalog-info.yaml".to_string());
    }
    for (i, path) in extra.iter().enumerate() {
        let found = node
            .files
            .remove(&format!("descriptor{}", i + 1))
            .is_some_and(|blob| blob.get("byteSize").is_some());
        if found {
            descriptors.push(path.clone());
        }
    }
    let dependencies = if unchanged {
        manifests::Found::default()
    } else {
        dependencies(&mut node.files)
    };
    let url = crate::discovery::clones::strip_credentials(&node.url);
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
        descriptors,
        codeowners,
        host_teams: Vec::new(),
        dependencies,
        checkout: None,
        unchanged,
    }
}

/// The packages the root manifests GitHub sent pin, and a note for each
/// that couldn't be read (too large for the API, not parseable).
fn dependencies(files: &mut HashMap<String, Value>) -> manifests::Found {
    let mut found = manifests::Found::default();
    for (alias, path) in MANIFESTS {
        let Some(Ok(Some(blob))) = files
            .remove(*alias)
            .map(serde_json::from_value::<Option<Blob>>)
        else {
            continue;
        };
        let size = blob.byte_size.unwrap_or(0).max(0) as u64;
        if blob.is_truncated || size > manifests::MAX_BYTES {
            found.note(
                path,
                &format!("is too large to read through GitHub's API ({size} bytes)"),
            );
            continue;
        }
        // A path that is a folder, or a binary file, has no text.
        let (Some(text), Some(kind)) = (blob.text, Manifest::of(path)) else {
            continue;
        };
        found.read(path, kind, &text);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_asks_for_every_root_manifest_by_its_alias() {
        let paths: Vec<&str> = MANIFESTS.iter().map(|(_, p)| *p).collect();
        assert_eq!(paths, manifests::AT_ROOT);
        for (alias, path) in MANIFESTS {
            assert!(
                QUERY.contains(&format!("{alias}: object(expression: \"HEAD:{path}\")")),
                "{alias}"
            );
        }
    }
}
