//! Local fakes of servers usher can't reach in tests, speaking their
//! documented wire formats. They record every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub status: u16,
}

#[derive(Default)]
struct Inner {
    /// Files by "owner/repo/ref/path" (GitHub), "project/ref/path" (GitLab)
    /// or "plain/path".
    files: HashMap<String, String>,
    seen: Vec<Seen>,
}

/// A fake code host: GitHub's REST API (`/api/v3/repos/{owner}/{repo}/contents/{path}?ref=`,
/// bearer token), GitLab's (`/api/v4/projects/{id}/repository/files/{path}/raw?ref=`,
/// `PRIVATE-TOKEN`), plain files under `/plain/`, plus `/huge` and `/loop`.
#[derive(Clone, Default)]
pub struct FakeGitHost {
    inner: Arc<Mutex<Inner>>,
    pub port: u16,
}

pub const GITHUB_TOKEN: &str = "gh-secret-token-123";
pub const GITLAB_TOKEN: &str = "glpat-secret-456";

impl FakeGitHost {
    pub async fn start() -> FakeGitHost {
        let mut fake = FakeGitHost::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake.port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn put(&self, key: &str, body: &str) {
        self.inner
            .lock()
            .unwrap()
            .files
            .insert(key.to_string(), body.to_string());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// The `usher.toml` hosts section pointing at this fake.
    pub fn hosts_toml(&self) -> String {
        format!(
            "[[catalog.hosts]]\ntype = \"github\"\nhost = \"127.0.0.1:{p}\"\napi_url = \"http://127.0.0.1:{p}/api/v3\"\ntoken_env = \"FAKE_GH_TOKEN\"\n\n\
             [[catalog.hosts]]\ntype = \"gitlab\"\nhost = \"localhost:{p}\"\napi_url = \"http://127.0.0.1:{p}/api/v4\"\ntoken_env = \"FAKE_GL_TOKEN\"\n",
            p = self.port
        )
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| decode(v))
}

async fn handle(State(fake): State<FakeGitHost>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let headers = request.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let git_ref = query_param(&query, "ref").unwrap_or_default();

    let (key, authorised) = if let Some(rest) = path.strip_prefix("/api/v3/repos/") {
        // {owner}/{repo}/contents/{path}
        let parts: Vec<&str> = rest.splitn(4, '/').collect();
        let ok = header("authorization") == format!("Bearer {GITHUB_TOKEN}")
            && header("accept") == "application/vnd.github.raw";
        (
            format!(
                "{}/{}/{git_ref}/{}",
                parts[0],
                parts[1],
                parts.get(3).copied().unwrap_or_default()
            ),
            ok,
        )
    } else if let Some(rest) = path.strip_prefix("/api/v4/projects/") {
        // {id}/repository/files/{path}/raw — path segments percent-encoded.
        let (project, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let file = tail
            .trim_start_matches("repository/files/")
            .trim_end_matches("/raw");
        (
            format!("{}/{git_ref}/{}", decode(project), decode(file)),
            header("private-token") == GITLAB_TOKEN,
        )
    } else if path == "/loop" {
        return record(
            &fake,
            &path,
            &query,
            &headers,
            Response::builder()
                .status(302)
                .header("location", "/loop")
                .body(Body::empty())
                .unwrap(),
        );
    } else if path == "/huge" {
        let body = "# ".to_string() + &"x".repeat(50_000) + "\n";
        return record(
            &fake,
            &path,
            &query,
            &headers,
            Response::builder()
                .status(200)
                .body(Body::from(body))
                .unwrap(),
        );
    } else {
        (path.trim_start_matches('/').to_string(), true)
    };
    let response = if !authorised {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .body(Body::from("{\"message\":\"Bad credentials\"}"))
            .unwrap()
    } else {
        let file = fake.inner.lock().unwrap().files.get(&key).cloned();
        match file {
            None => Response::builder()
                .status(404)
                .body(Body::from("{\"message\":\"Not Found\"}"))
                .unwrap(),
            Some(body) => {
                let etag = format!(
                    "\"{:x}\"",
                    body.len() * 31 + body.bytes().map(|b| b as usize).sum::<usize>()
                );
                if header("if-none-match") == etag {
                    Response::builder()
                        .status(304)
                        .header("etag", etag)
                        .body(Body::empty())
                        .unwrap()
                } else {
                    Response::builder()
                        .status(200)
                        .header("etag", etag)
                        .body(Body::from(body))
                        .unwrap()
                }
            }
        }
    };
    record(&fake, &path, &query, &headers, response)
}

fn record(
    fake: &FakeGitHost,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    response: Response,
) -> Response {
    fake.inner.lock().unwrap().seen.push(Seen {
        path: path.to_string(),
        query: query.to_string(),
        headers: headers.clone(),
        status: response.status().as_u16(),
    });
    response
}
