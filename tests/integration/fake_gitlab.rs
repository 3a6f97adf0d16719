//! A fake of GitLab's GraphQL API (`POST /api/graphql`, a bearer token):
//! a group's projects with its subgroups' (`includeSubgroups: true`), a
//! page at a time with opaque cursors; `queryComplexity` on every answer
//! and GitLab's refusal of a query over the limit (the fake's score is its
//! own rule — a page of more than 25 projects is too complex — so the
//! halving is exercised; GitLab's real scores differ); the files a query
//! asks for through `blobs(paths:)` with GitLab's `BigInt` sizes as
//! strings; and, on demand, a 502 or a 429 with `Retry-After` and
//! `RateLimit-*` headers on a given call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{Value, json};

pub const GITLAB_GRAPHQL_TOKEN: &str = "glpat-graphql-secret-321";

/// The most projects a page may ask for before the fake calls the query
/// too complex.
const MOST_A_PAGE: u64 = 25;

/// One project as the fake's group has it.
#[derive(Debug, Clone, Default)]
pub struct FakeProject {
    pub id: u64,
    /// Its full path: `acme/payments/ledger`.
    pub path: String,
    pub archived: bool,
    pub sha: String,
    pub topics: Vec<String>,
    pub languages: Vec<(String, f64)>,
    /// (path, text) at the default branch's head.
    pub files: Vec<(String, String)>,
}

#[derive(Default)]
struct Inner {
    web_base: String,
    projects: Vec<FakeProject>,
    failures: HashMap<usize, u16>,
    calls: usize,
    bodies: Vec<Value>,
}

#[derive(Clone, Default)]
pub struct FakeGitlab {
    inner: Arc<Mutex<Inner>>,
    pub port: u16,
}

impl FakeGitlab {
    /// Project links are `{web_base}/{full path}`.
    pub async fn start(web_base: &str) -> FakeGitlab {
        let mut fake = FakeGitlab::default();
        fake.inner.lock().unwrap().web_base = web_base.to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake.port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    pub fn graphql_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/graphql", self.port)
    }

    pub fn set_projects(&self, projects: Vec<FakeProject>) {
        self.inner.lock().unwrap().projects = projects;
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

fn node(project: &FakeProject, web_base: &str, paths: &[String]) -> Value {
    let group = project.path.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
    let blobs: Vec<Value> = paths
        .iter()
        .filter_map(|p| {
            let (_, text) = project.files.iter().find(|(path, _)| path == p)?;
            Some(json!({ "path": p, "rawTextBlob": text, "size": text.len().to_string() }))
        })
        .collect();
    json!({
        "id": format!("gid://gitlab/Project/{}", project.id),
        "fullPath": project.path,
        "webUrl": format!("{web_base}/{}", project.path),
        "archived": project.archived,
        "visibility": "private",
        "lastActivityAt": "2026-11-30T09:00:00Z",
        "topics": project.topics,
        "group": { "fullPath": group },
        "languages": project.languages.iter().map(|(n, s)| json!({ "name": n, "share": s })).collect::<Vec<_>>(),
        "repository": {
            "rootRef": "main",
            "empty": false,
            "tree": { "lastCommit": { "sha": project.sha } },
            "blobs": { "nodes": blobs },
        },
    })
}

async fn handle(State(fake): State<FakeGitlab>, request: Request) -> Response {
    let authorised = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {GITLAB_GRAPHQL_TOKEN}"));
    let path = request.uri().path().to_string();
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
    if path != "/api/graphql" {
        return respond(404, &[], json!({ "message": "404 Not Found" }));
    }
    if !authorised {
        return respond(401, &[], json!({ "message": "401 Unauthorized" }));
    }
    match inner.failures.remove(&call) {
        Some(502) => {
            return Response::builder()
                .status(502)
                .body(Body::from("<html>502 Bad Gateway</html>"))
                .unwrap();
        }
        Some(429) => {
            let reset = chrono::Utc::now().timestamp() + 1;
            return Response::builder()
                .status(429)
                .header("retry-after", "1")
                .header("ratelimit-limit", "2000")
                .header("ratelimit-remaining", "0")
                .header("ratelimit-reset", reset.to_string())
                .body(Body::from("Retry later"))
                .unwrap();
        }
        Some(other) => return respond(other, &[], json!({ "message": "error" })),
        None => {}
    }
    let request: Value = serde_json::from_slice(&body).unwrap();
    inner.bodies.push(request.clone());
    let query = request["query"].as_str().unwrap_or_default();
    let variables = &request["variables"];
    let first = variables["first"].as_u64().unwrap_or(0);
    let paths: Vec<String> = variables["paths"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let known_shape = query.contains("group(fullPath: $group)")
        && query.contains("projects(includeSubgroups: true, first: $first, after: $cursor)")
        && query.contains("blobs(paths: $paths)")
        && !paths.is_empty()
        && (1..=100).contains(&first);
    if !known_shape {
        return respond(
            200,
            &[],
            json!({ "errors": [{ "message": format!("the fake doesn't know this query: {query}") }] }),
        );
    }
    let score = (first * 10) as i64;
    if first > MOST_A_PAGE {
        return respond(
            200,
            &[],
            json!({ "errors": [{ "message": format!("Query has complexity of {score}, which exceeds max complexity of 250") }] }),
        );
    }
    let group = variables["group"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    let complexity = json!({ "score": score, "limit": 250 });
    let in_group: Vec<&FakeProject> = inner
        .projects
        .iter()
        .filter(|p| p.path.to_lowercase().starts_with(&format!("{group}/")))
        .collect();
    if in_group.is_empty() {
        // GitLab answers an unknown (or unseen) group with null.
        return respond(
            200,
            &[],
            json!({ "data": { "queryComplexity": complexity, "group": null } }),
        );
    }
    let start = variables["cursor"]
        .as_str()
        .and_then(|c| c.strip_prefix("eyJpZCI6"))
        .and_then(|n| n.parse::<usize>().ok())
        .map(|i| i + 1)
        .unwrap_or(0);
    let page: Vec<Value> = in_group
        .iter()
        .skip(start)
        .take(first as usize)
        .map(|p| node(p, &inner.web_base, &paths))
        .collect();
    let end = start + page.len();
    respond(
        200,
        &[("ratelimit-remaining", "1990".to_string())],
        json!({ "data": {
            "queryComplexity": complexity,
            "group": { "projects": {
                "pageInfo": { "hasNextPage": end < in_group.len(), "endCursor": if page.is_empty() { Value::Null } else { json!(format!("eyJpZCI6{}", end - 1)) } },
                "nodes": page,
            }},
        }}),
    )
}
