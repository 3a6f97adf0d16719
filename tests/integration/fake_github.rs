//! A fake of GitHub's GraphQL API as GitHub Enterprise serves it
//! (`POST /api/graphql`, a bearer token): an organisation's repositories a
//! page at a time in `orderBy: NAME` order with opaque cursors, the
//! `rateLimit` object and the `x-ratelimit-*` headers, GitHub's error
//! shape for an unknown organisation, the teams with their repository
//! permissions (ten teams a page, 100 repositories a team a page), and — on
//! demand — a 502 or a
//! secondary rate limit (403 with `Retry-After`) on a given call. The REST
//! API's `dependency-graph/sbom` answers with a repository's SBOM (SPDX,
//! as GitHub documents it) or 404 when its graph is off. Files
//! (manifests) are served to whatever `object(expression:)` aliases the
//! query asks for, as GitHub's `Blob`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{Value, json};

pub const GRAPHQL_TOKEN: &str = "ghp-graphql-secret-789";

/// One repository as the fake's organisation has it.
#[derive(Debug, Clone, Default)]
pub struct FakeRepo {
    pub id: String,
    pub name: String,
    pub archived: bool,
    pub fork: bool,
    pub oid: String,
    pub topics: Vec<String>,
    pub languages: Vec<(String, i64)>,
    pub descriptor: bool,
    /// (path, text) of a CODEOWNERS file.
    pub codeowners: Option<(String, String)>,
    /// Other files at the default branch's head: (path, text), served to
    /// any `alias: object(expression: "HEAD:path")` the query asks for.
    pub files: Vec<(String, String)>,
    /// Its dependency graph's packages as package URLs, for the REST
    /// API's `dependency-graph/sbom` (`None`: the graph is off, 404).
    pub sbom: Option<Vec<String>>,
}

/// The body of `GET /repos/{owner}/{repo}/dependency-graph/sbom` as GitHub
/// documents it (`dependency-graph-spdx-sbom`): SPDX 2.3 in `sbom`, the
/// repository itself a package, each dependency's purl in `externalRefs`.
pub fn spdx_sbom(repository: &str, purls: &[String]) -> Value {
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-github", "name": format!("com.github.{repository}"), "versionInfo": "main",
        "downloadLocation": "git+https://github.com/{repository}", "filesAnalyzed": false,
        "externalRefs": [{ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                           "referenceLocator": format!("pkg:github/{repository}@main") }],
    })];
    for (i, purl) in purls.iter().enumerate() {
        let name = purl
            .rsplit('/')
            .next()
            .unwrap_or(purl)
            .split('@')
            .next()
            .unwrap_or(purl);
        let version = purl.rsplit('@').next().unwrap_or("");
        packages.push(json!({
            "SPDXID": format!("SPDXRef-{i}"), "name": name, "versionInfo": version,
            "downloadLocation": "NOASSERTION", "filesAnalyzed": false,
            "externalRefs": [{ "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl }],
        }));
    }
    json!({ "sbom": {
        "SPDXID": "SPDXRef-DOCUMENT", "spdxVersion": "SPDX-2.3", "name": format!("com.github.{repository}"),
        "dataLicense": "CC0-1.0", "documentNamespace": format!("https://spdx.org/spdxdocs/protobom/{repository}"),
        "documentDescribes": ["SPDXRef-github"],
        "creationInfo": { "created": "2026-12-01T09:00:00Z", "creators": ["Tool: protobom-v0.0.0"] },
        "packages": packages,
    }})
}

#[derive(Default)]
struct Inner {
    org: String,
    /// Repository links are `{web_base}/{org}/{name}`.
    web_base: String,
    repos: Vec<FakeRepo>,
    /// Call number (1-based) → the status to answer instead.
    failures: HashMap<usize, u16>,
    /// Teams: slug → (repository id, permission), in order.
    teams: Vec<(String, Vec<(String, String)>)>,
    calls: usize,
    bodies: Vec<Value>,
    remaining: i64,
}

#[derive(Clone, Default)]
pub struct FakeGithub {
    inner: Arc<Mutex<Inner>>,
    pub port: u16,
}

impl FakeGithub {
    pub async fn start(org: &str, web_base: &str) -> FakeGithub {
        let mut fake = FakeGithub::default();
        {
            let mut inner = fake.inner.lock().unwrap();
            inner.org = org.to_string();
            inner.web_base = web_base.to_string();
            inner.remaining = 5000;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake.port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    pub fn graphql_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/graphql", self.port)
    }

    pub fn set_repos(&self, repos: Vec<FakeRepo>) {
        self.inner.lock().unwrap().repos = repos;
    }

    pub fn set_teams(&self, teams: Vec<(String, Vec<(String, String)>)>) {
        self.inner.lock().unwrap().teams = teams;
    }

    pub fn rename(&self, from: &str, to: &str) {
        let mut inner = self.inner.lock().unwrap();
        let repo = inner.repos.iter_mut().find(|r| r.name == from).unwrap();
        repo.name = to.to_string();
    }

    /// Answers call number `call` (counting from now) with `status`.
    pub fn fail_call(&self, call: usize, status: u16) {
        let mut inner = self.inner.lock().unwrap();
        let at = inner.calls + call;
        inner.failures.insert(at, status);
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.inner.lock().unwrap().bodies.clone()
    }
}

/// The `alias: object(expression: "HEAD:path")` pairs a query asks for.
fn objects_asked(query: &str) -> Vec<(String, String)> {
    let mut asked = Vec::new();
    for line in query.lines() {
        let Some((alias, rest)) = line.trim().split_once(": object(expression: \"HEAD:") else {
            continue;
        };
        if let Some((path, _)) = rest.split_once('"') {
            asked.push((alias.to_string(), path.to_string()));
        }
    }
    asked
}

fn node(repo: &FakeRepo, org: &str, web_base: &str, asked: &[(String, String)]) -> Value {
    let blob = |path: &str| match &repo.codeowners {
        Some((p, text)) if p == path => json!({ "text": text, "byteSize": text.len() }),
        _ => Value::Null,
    };
    let total: i64 = repo.languages.iter().map(|l| l.1).sum();
    let mut node = json!({
        "id": repo.id,
        "nameWithOwner": format!("{org}/{}", repo.name),
        "url": format!("{web_base}/{org}/{}", repo.name),
        "isArchived": repo.archived,
        "isFork": repo.fork,
        "visibility": "PRIVATE",
        "pushedAt": "2026-11-30T09:00:00Z",
        "defaultBranchRef": { "name": "main", "target": { "oid": repo.oid } },
        "repositoryTopics": { "nodes": repo.topics.iter().map(|t| json!({ "topic": { "name": t } })).collect::<Vec<_>>() },
        "languages": {
            "totalSize": total,
            "edges": repo.languages.iter().map(|(name, size)| json!({ "size": size, "node": { "name": name } })).collect::<Vec<_>>(),
        },
        "descriptor": if repo.descriptor { json!({ "byteSize": 120 }) } else { Value::Null },
        "ownersGithub": blob(".github/CODEOWNERS"),
        "ownersRoot": blob("CODEOWNERS"),
        "ownersDocs": blob("docs/CODEOWNERS"),
    });
    for (alias, path) in asked {
        if node.get(alias).is_some() {
            continue;
        }
        // GitHub's Blob: text (null for a binary file), byteSize, and
        // isTruncated for a text too large to send whole.
        let blob = match repo.files.iter().find(|(p, _)| p == path) {
            Some((_, text)) => {
                json!({ "text": text, "byteSize": text.len(), "isTruncated": false })
            }
            None => Value::Null,
        };
        node[alias] = blob;
    }
    node
}

fn cursor(index: usize) -> String {
    format!("Y3Vyc29yOnYyOpHO{index:08}")
}

fn index_of(cursor: &str) -> Option<usize> {
    cursor.strip_prefix("Y3Vyc29yOnYyOpHO")?.parse().ok()
}

async fn handle(State(fake): State<FakeGithub>, request: Request) -> Response {
    let authorised = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {GRAPHQL_TOKEN}"));
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let body = to_bytes(request.into_body(), 1 << 20).await.unwrap();
    let mut inner = fake.inner.lock().unwrap();
    inner.calls += 1;
    let call = inner.calls;
    let respond = |status: u16, headers: &[(&str, String)], body: Value| {
        let mut builder = Response::builder()
            .status(status)
            .header("content-type", "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        builder.body(Body::from(body.to_string())).unwrap()
    };
    if let Some(rest) = path.strip_prefix("/api/v3/repos/")
        && let Some(full) = rest.strip_suffix("/dependency-graph/sbom")
        && method == "GET"
    {
        if !authorised {
            return respond(401, &[], json!({ "message": "Bad credentials" }));
        }
        let name = full.split_once('/').map(|(_, n)| n).unwrap_or_default();
        inner.remaining -= 1;
        let headers = [("x-ratelimit-remaining", inner.remaining.to_string())];
        return match inner
            .repos
            .iter()
            .find(|r| r.name == name)
            .and_then(|r| r.sbom.clone())
        {
            Some(purls) => respond(200, &headers, spdx_sbom(full, &purls)),
            None => respond(
                404,
                &headers,
                json!({ "message": "Not Found", "documentation_url": "https://docs.github.com/rest/dependency-graph/sboms#export-a-software-bill-of-materials-sbom-for-a-repository" }),
            ),
        };
    }
    if path != "/api/graphql" || method != "POST" {
        return respond(404, &[], json!({ "message": "Not Found" }));
    }
    if !authorised {
        return respond(401, &[], json!({ "message": "Bad credentials" }));
    }
    match inner.failures.remove(&call) {
        Some(502) => {
            return Response::builder()
                .status(502)
                .body(Body::from("<html>502 Bad Gateway</html>"))
                .unwrap();
        }
        Some(403) => {
            return respond(
                403,
                &[("retry-after", "1".to_string())],
                json!({ "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again." }),
            );
        }
        Some(other) => return respond(other, &[], json!({ "message": "error" })),
        None => {}
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    inner.bodies.push(request.clone());
    let query = request["query"].as_str().unwrap_or_default();
    let variables = &request["variables"];
    // What a real server would refuse: the fake holds usher to the query
    // shape it was written against.
    if query.contains("teams(first: 10, after: $cursor)") || query.contains("team(slug: $slug)") {
        inner.remaining -= 1;
        let rate =
            json!({ "cost": 1, "remaining": inner.remaining, "resetAt": "2026-12-02T12:00:00Z" });
        let edges = |repos: &[(String, String)], from: usize| {
            let page: Vec<Value> = repos
                .iter()
                .skip(from)
                .take(100)
                .map(|(id, permission)| json!({ "permission": permission, "node": { "id": id } }))
                .collect();
            let end = from + page.len();
            json!({
                "pageInfo": { "hasNextPage": end < repos.len(), "endCursor": if page.is_empty() { Value::Null } else { json!(format!("t{}", end - 1)) } },
                "edges": page,
            })
        };
        let after = |name: &str| {
            variables[name]
                .as_str()
                .and_then(|c| c.trim_start_matches(['t', 'T']).parse::<usize>().ok())
                .map(|i| i + 1)
                .unwrap_or(0)
        };
        if let Some(slug) = variables["slug"].as_str() {
            let repos = inner
                .teams
                .iter()
                .find(|t| t.0 == slug)
                .map(|t| t.1.clone());
            let team = repos.map(|r| json!({ "repositories": edges(&r, after("cursor")) }));
            return respond(
                200,
                &[],
                json!({ "data": { "rateLimit": rate, "organization": { "team": team } } }),
            );
        }
        let from = variables["cursor"]
            .as_str()
            .and_then(|c| c.strip_prefix("T"))
            .and_then(|n| n.parse::<usize>().ok())
            .map(|i| i + 1)
            .unwrap_or(0);
        let nodes: Vec<Value> = inner
            .teams
            .iter()
            .skip(from)
            .take(10)
            .map(|(slug, repos)| json!({ "slug": slug, "repositories": edges(repos, 0) }))
            .collect();
        let end = from + nodes.len();
        return respond(
            200,
            &[],
            json!({ "data": { "rateLimit": rate, "organization": { "teams": {
                "pageInfo": { "hasNextPage": end < inner.teams.len(), "endCursor": if nodes.is_empty() { Value::Null } else { json!(format!("T{}", end - 1)) } },
                "nodes": nodes,
            }}}}),
        );
    }
    let first = variables["first"].as_u64().unwrap_or(0) as usize;
    let known_shape = query.contains("organization(login: $org)")
        && query.contains("repositories(first: $first, after: $cursor")
        && (1..=100).contains(&first);
    if !known_shape {
        // GitHub answers a query it can't run with 200 and `errors`.
        return respond(
            200,
            &[],
            json!({ "errors": [{ "message": format!("the fake doesn't know this query (first = {first}): {query}") }] }),
        );
    }
    inner.remaining -= 1;
    let rate =
        json!({ "cost": 1, "remaining": inner.remaining, "resetAt": "2026-12-02T12:00:00Z" });
    let headers = [
        ("x-ratelimit-limit", "5000".to_string()),
        ("x-ratelimit-remaining", inner.remaining.to_string()),
        ("x-ratelimit-used", (5000 - inner.remaining).to_string()),
        ("x-ratelimit-resource", "graphql".to_string()),
    ];
    let org = variables["org"].as_str().unwrap_or_default();
    if !org.eq_ignore_ascii_case(&inner.org) {
        return respond(
            200,
            &headers,
            json!({
                "data": { "rateLimit": rate, "organization": null },
                "errors": [{ "type": "NOT_FOUND", "path": ["organization"],
                             "message": format!("Could not resolve to an Organization with the login of '{org}'.") }],
            }),
        );
    }
    let asked = objects_asked(query);
    let mut repos = inner.repos.clone();
    repos.sort_by_key(|r| r.name.to_lowercase());
    let start = variables["cursor"]
        .as_str()
        .and_then(index_of)
        .map(|i| i + 1)
        .unwrap_or(0);
    let page: Vec<Value> = repos
        .iter()
        .skip(start)
        .take(first)
        .map(|r| node(r, &inner.org, &inner.web_base, &asked))
        .collect();
    let end = start + page.len();
    respond(
        200,
        &headers,
        json!({
            "data": {
                "rateLimit": rate,
                "organization": { "repositories": {
                    "pageInfo": { "hasNextPage": end < repos.len(), "endCursor": if page.is_empty() { Value::Null } else { json!(cursor(end - 1)) } },
                    "nodes": page,
                }},
            }
        }),
    )
}
