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
            "[[catalog.hosts]]\ntype = \"github\"\nhost = \"127.0.0.1:{p}\"\napi_url = \"http://127.0.0.1:{p}/api/v3\"\ntoken_env = \"FAKE_GH_TOKEN\"\nallow_private = true\n\n\
             [[catalog.hosts]]\ntype = \"gitlab\"\nhost = \"localhost:{p}\"\napi_url = \"http://127.0.0.1:{p}/api/v4\"\ntoken_env = \"FAKE_GL_TOKEN\"\nallow_private = true\n",
            p = self.port
        )
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
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

/// How the paging fake should answer the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    ServerError,
    RateLimited,
    Slow,
}

#[derive(Default)]
struct PagingInner {
    seen: Vec<Seen>,
    bodies: Vec<serde_json::Value>,
    mode: Option<Mode>,
}

/// A fake of PagerDuty's REST API v2 (`/services`, `/oncalls`) and Events
/// API v2 (`/v2/enqueue`), and Opsgenie's (`/v2/schedules/…/on-calls`,
/// `/v2/schedules`, `/v2/alerts`), on one port.
#[derive(Clone, Default)]
pub struct FakePaging {
    inner: Arc<Mutex<PagingInner>>,
    pub port: u16,
}

pub const PAGERDUTY_TOKEN: &str = "pd-token-789";
pub const OPSGENIE_KEY: &str = "og-key-012";

impl FakePaging {
    pub async fn start() -> FakePaging {
        let mut fake = FakePaging::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake.port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(paging).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.inner.lock().unwrap().mode = Some(mode);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    pub fn bodies(&self) -> Vec<serde_json::Value> {
        self.inner.lock().unwrap().bodies.clone()
    }

    /// The `[oncall]` configuration pointing at this fake.
    pub fn config(&self) -> usher::config::OncallConfig {
        usher::config::OncallConfig {
            pagerduty_api_url: self.base(),
            pagerduty_events_url: self.base(),
            opsgenie_api_url: self.base(),
            timeout_ms: 1000,
            ..Default::default()
        }
    }
}

fn json_response(status: u16, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn paging(State(fake): State<FakePaging>, request: Request) -> Response {
    use serde_json::json;
    let path = request.uri().path().to_string();
    let query = decode(request.uri().query().unwrap_or_default());
    let headers = request.headers().clone();
    let method = request.method().clone();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mode = fake.inner.lock().unwrap().mode.unwrap_or(Mode::Normal);
    let response = match mode {
        Mode::ServerError => {
            json_response(503, json!({"error": {"message": "down for maintenance"}}))
        }
        Mode::RateLimited => Response::builder()
            .status(429)
            // PagerDuty says when its limit resets here (no Retry-After).
            .header("ratelimit-reset", "7")
            .body(Body::empty())
            .unwrap(),
        Mode::Slow => {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            json_response(200, json!({}))
        }
        Mode::Normal => {
            // The headers PagerDuty's OpenAPI document requires on every
            // REST call (Content-Type on GETs too).
            let pd_auth = header("authorization") == format!("Token token={PAGERDUTY_TOKEN}")
                && header("accept") == "application/vnd.pagerduty+json;version=2"
                && header("content-type") == "application/json";
            let og_auth = header("authorization") == format!("GenieKey {OPSGENIE_KEY}");
            if method == "POST" && path == "/v2/enqueue" {
                let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                fake.inner.lock().unwrap().bodies.push(parsed.clone());
                json_response(
                    202,
                    json!({"status": "success", "dedup_key": parsed["dedup_key"]}),
                )
            } else if method == "POST" && path == "/v2/alerts" {
                if !og_auth {
                    json_response(401, json!({"message": "Could not authenticate"}))
                } else {
                    let parsed: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    fake.inner.lock().unwrap().bodies.push(parsed);
                    json_response(
                        202,
                        json!({"result": "Request will be processed", "took": 0.107, "requestId": "r1"}),
                    )
                }
            } else if let Some(id) = path.strip_prefix("/services/") {
                if !pd_auth {
                    json_response(401, json!({"error": {"message": "Unauthorized"}}))
                } else {
                    json_response(
                        200,
                        json!({"service": {"id": id, "escalation_policy": {"id": format!("EP-{id}")}}}),
                    )
                }
            } else if path == "/services" {
                let offset: usize = query_param(&query, "offset")
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                let services = if offset == 0 {
                    json!([{"id": "PAY1234", "escalation_policy": {"id": "EP-PAY1234"}}])
                } else {
                    json!([{"id": "PID0001", "escalation_policy": {"id": "EP-PID0001"}}])
                };
                json_response(
                    200,
                    json!({"services": services, "more": offset == 0, "offset": offset, "limit": 100}),
                )
            } else if path == "/oncalls" {
                let offset: usize = query_param(&query, "offset")
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                let policy = query_param(&query, "escalation_policy_ids[]");
                let entry = |policy: &str, level: u32, name: &str, email: &str| {
                    json!({"escalation_level": level, "end": "2026-11-30T08:00:00Z",
                           "escalation_policy": {"id": policy},
                           "user": {"summary": name, "name": name, "email": email}})
                };
                let all = vec![
                    entry(
                        "EP-PAY1234",
                        2,
                        "Jonas Weber",
                        "jonas.weber@acme-shop.example",
                    ),
                    entry(
                        "EP-PAY1234",
                        1,
                        "Amara Okafor",
                        "amara.okafor@acme-shop.example",
                    ),
                    entry(
                        "EP-PID0001",
                        1,
                        "Mei Tanaka",
                        "mei.tanaka@acme-shop.example",
                    ),
                ];
                let (oncalls, more) = match policy {
                    Some(p) => (
                        all.into_iter()
                            .filter(|e| e["escalation_policy"]["id"] == p.as_str())
                            .collect::<Vec<_>>(),
                        false,
                    ),
                    None if offset == 0 => (all[..2].to_vec(), true),
                    None => (all[2..].to_vec(), false),
                };
                json_response(
                    200,
                    json!({"oncalls": oncalls, "more": more, "offset": offset, "limit": 100}),
                )
            } else if path == "/v2/schedules" {
                json_response(
                    200,
                    json!({"data": [{"name": "checkout_schedule", "enabled": true}]}),
                )
            } else if let Some(rest) = path.strip_prefix("/v2/schedules/") {
                if !og_auth {
                    json_response(401, json!({"message": "Could not authenticate"}))
                } else if rest.ends_with("/next-on-calls") {
                    // As Opsgenie's OpenAPI document types them: the
                    // "Recipients" of next-on-calls are participants
                    // (objects), the "Participants" names.
                    json_response(
                        200,
                        json!({"data": {
                            "_parent": {"id": "s1", "name": "checkout_schedule", "enabled": true},
                            "exactNextOnCallRecipients": [
                                {"id": "t1", "name": "checkout", "type": "team"},
                                {"id": "u7", "name": "hannah.schmidt@acme-shop.example", "type": "user"},
                            ],
                        }, "took": 0.01, "requestId": "r-next"}),
                    )
                } else {
                    json_response(
                        200,
                        json!({"data": {
                            "_parent": {"id": "s1", "name": "checkout_schedule", "enabled": true},
                            "onCallRecipients": ["diego.ramirez@acme-shop.example"],
                        }, "took": 0.01, "requestId": "r-now"}),
                    )
                }
            } else {
                json_response(404, json!({"message": "no such endpoint in the fake"}))
            }
        }
    };
    fake.inner.lock().unwrap().seen.push(Seen {
        path,
        query,
        headers,
        status: response.status().as_u16(),
    });
    response
}

pub const FORGE_GITHUB_TOKEN: &str = "ghp-forge-1";
pub const FORGE_GITLAB_TOKEN: &str = "glpat-forge-2";
pub const FORGE_PAGERDUTY_TOKEN: &str = "pd-forge-3";
pub const WEBHOOK_SECRET: &str = "whsec-test-4";

#[derive(Default)]
struct ForgeInner {
    /// GitHub repositories "owner/name" → files.
    github: HashMap<String, HashMap<String, (String, String)>>,
    generate_calls: usize,
    /// Fail the next N commits with 502.
    fail_commits: usize,
    gitlab: HashMap<String, (i64, HashMap<String, String>)>,
    pagerduty: Vec<(String, String)>,
    webhooks: Vec<serde_json::Value>,
    seen: Vec<Seen>,
    /// Branches made (`owner/repo:branch`) and pull requests opened.
    branches: Vec<String>,
    pulls: Vec<serde_json::Value>,
}

/// A fake GitHub (`/gh`), GitLab (`/gl`), PagerDuty (`/pd`) and a webhook
/// receiver (`/hook`) that checks usher's HMAC signature.
#[derive(Clone, Default)]
pub struct FakeForge {
    inner: Arc<Mutex<ForgeInner>>,
    pub port: u16,
}

impl FakeForge {
    pub async fn start() -> FakeForge {
        let mut fake = FakeForge::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        fake.port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(forge).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A GitHub repository with one file.
    pub fn put_github_file(&self, repo: &str, path: &str, content: &str) {
        self.inner
            .lock()
            .unwrap()
            .github
            .entry(repo.to_string())
            .or_default()
            .insert(path.to_string(), (content.to_string(), "sha0".into()));
    }

    /// A GitLab project (by full path) with one file.
    pub fn put_gitlab_file(&self, project: &str, path: &str, content: &str) {
        let mut inner = self.inner.lock().unwrap();
        let id = 100 + inner.gitlab.len() as i64;
        inner
            .gitlab
            .entry(project.to_string())
            .or_insert((id, HashMap::new()))
            .1
            .insert(path.to_string(), content.to_string());
    }

    pub fn branches(&self) -> Vec<String> {
        self.inner.lock().unwrap().branches.clone()
    }

    pub fn pulls(&self) -> Vec<serde_json::Value> {
        self.inner.lock().unwrap().pulls.clone()
    }

    pub fn fail_commits(&self, n: usize) {
        self.inner.lock().unwrap().fail_commits = n;
    }

    pub fn github_repos(&self) -> Vec<String> {
        self.inner.lock().unwrap().github.keys().cloned().collect()
    }

    pub fn github_file(&self, repo: &str, path: &str) -> Option<String> {
        self.inner
            .lock()
            .unwrap()
            .github
            .get(repo)
            .and_then(|f| f.get(path))
            .map(|f| f.0.clone())
    }

    pub fn generate_calls(&self) -> usize {
        self.inner.lock().unwrap().generate_calls
    }

    pub fn gitlab_file(&self, project: &str, path: &str) -> Option<String> {
        self.inner
            .lock()
            .unwrap()
            .gitlab
            .get(project)
            .and_then(|p| p.1.get(path))
            .cloned()
    }

    pub fn pagerduty_services(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().pagerduty.clone()
    }

    pub fn webhooks(&self) -> Vec<serde_json::Value> {
        self.inner.lock().unwrap().webhooks.clone()
    }

    /// `[[actions]]` for all four steps, pointing here.
    pub fn actions_toml(&self) -> String {
        format!(
            "[[actions]]\ntype = \"github_repo\"\napi_url = \"{b}/gh\"\nweb_url = \"https://github.example.com\"\ntoken_env = \"FORGE_GITHUB_TOKEN\"\nowner = \"acme-shop\"\ntemplate = \"acme-shop/service-template\"\n\n\
             [[actions]]\ntype = \"gitlab_project\"\napi_url = \"{b}/gl\"\ntoken_env = \"FORGE_GITLAB_TOKEN\"\nnamespace = \"acme/services\"\nnamespace_id = 42\ntemplate_project_id = 7\n\n\
             [[actions]]\ntype = \"pagerduty_service\"\nescalation_policy = \"PEP123\"\n\n\
             [[actions]]\ntype = \"webhook\"\nname = \"notify-platform\"\nurl = \"{b}/hook\"\nsecret_env = \"FORGE_WEBHOOK_SECRET\"\n\n\
             [oncall]\npagerduty_api_url = \"{b}/pd\"\npagerduty_token_env = \"FORGE_PAGERDUTY_TOKEN\"\n",
            b = self.base()
        )
    }
}

async fn forge(State(fake): State<FakeForge>, request: Request) -> Response {
    use base64::Engine;
    use serde_json::json;
    let path = request.uri().path().to_string();
    let query = decode(request.uri().query().unwrap_or_default());
    let headers = request.headers().clone();
    let method = request.method().as_str().to_string();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut inner = fake.inner.lock().unwrap();
    let response = if let Some(rest) = path.strip_prefix("/gh/repos/") {
        if header("authorization") != format!("Bearer {FORGE_GITHUB_TOKEN}") {
            json_response(401, json!({"message": "Bad credentials"}))
        } else if method == "POST" && rest.ends_with("/generate") {
            inner.generate_calls += 1;
            let repo = format!(
                "{}/{}",
                parsed["owner"].as_str().unwrap_or(""),
                parsed["name"].as_str().unwrap_or("")
            );
            if inner.github.contains_key(&repo) {
                json_response(
                    422,
                    json!({"message": "Repository creation failed: name already exists"}),
                )
            } else {
                inner.github.insert(repo.clone(), HashMap::new());
                json_response(201, json!({"full_name": repo}))
            }
        } else {
            let parts: Vec<&str> = rest.splitn(4, '/').collect();
            let repo = format!("{}/{}", parts[0], parts.get(1).unwrap_or(&""));
            match (method.as_str(), parts.get(2), parts.get(3)) {
                ("GET", None, _) => match inner.github.contains_key(&repo) {
                    true => json_response(200, json!({"full_name": repo})),
                    false => json_response(404, json!({"message": "Not Found"})),
                },
                ("GET", Some(&"git"), Some(r)) if r.starts_with("ref/heads/") => {
                    json_response(200, json!({"object": {"sha": "base-sha"}}))
                }
                ("POST", Some(&"git"), Some(&"refs")) => {
                    let branch = format!("{repo}:{}", parsed["ref"].as_str().unwrap_or(""));
                    if inner.branches.contains(&branch) {
                        json_response(422, json!({"message": "Reference already exists"}))
                    } else {
                        inner.branches.push(branch);
                        json_response(201, json!({}))
                    }
                }
                ("POST", Some(&"pulls"), _)
                    if inner
                        .pulls
                        .iter()
                        .any(|p| p["head"]["ref"] == parsed["head"]) =>
                {
                    // As GitHub: one open pull request per branch.
                    json_response(
                        422,
                        json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                            "message": format!("A pull request already exists for {}:{}.", parts[0], parsed["head"].as_str().unwrap_or(""))}]}),
                    )
                }
                ("GET", Some(&"pulls"), _) => {
                    // ?head=owner:branch&state=open
                    let head = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("head="))
                        .and_then(|h| h.split_once(':'))
                        .map(|(_, branch)| branch.to_string())
                        .unwrap_or_default();
                    let open: Vec<serde_json::Value> = inner
                        .pulls
                        .iter()
                        .filter(|p| p["head"]["ref"] == json!(head))
                        .cloned()
                        .collect();
                    json_response(200, json!(open))
                }
                ("POST", Some(&"pulls"), _) => {
                    let pr = pull_request(&repo, inner.pulls.len() + 1, &parsed);
                    inner.pulls.push(pr.clone());
                    json_response(201, pr)
                }
                ("GET", Some(&"contents"), Some(file)) => {
                    let file = file.split('?').next().unwrap_or(file);
                    match inner.github.get(&repo).and_then(|f| f.get(file)) {
                        Some((content, sha)) => {
                            json_response(200, content_file(&repo, file, content, sha))
                        }
                        None => json_response(404, json!({"message": "Not Found"})),
                    }
                }
                ("PUT", Some(&"contents"), Some(file)) => {
                    if inner.fail_commits > 0 {
                        inner.fail_commits -= 1;
                        json_response(502, json!({"message": "Server Error"}))
                    } else if !inner.github.contains_key(&repo) {
                        json_response(404, json!({"message": "Not Found"}))
                    } else {
                        let content = base64::engine::general_purpose::STANDARD
                            .decode(parsed["content"].as_str().unwrap_or(""))
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default();
                        let files = inner.github.get_mut(&repo).unwrap();
                        let sha = format!("sha{}", files.len() + 1);
                        // As GitHub: 200 for an update, 201 for a new file.
                        let status = if files.contains_key(*file) { 200 } else { 201 };
                        files.insert(file.to_string(), (content, sha));
                        json_response(status, json!({"content": {"path": file}}))
                    }
                }
                _ => json_response(404, json!({"message": "Not Found"})),
            }
        }
    } else if let Some(rest) = path.strip_prefix("/gl/projects") {
        if header("private-token") != FORGE_GITLAB_TOKEN {
            json_response(401, json!({"message": "401 Unauthorized"}))
        } else if method == "POST" && rest.is_empty() {
            let full = format!("acme/services/{}", parsed["path"].as_str().unwrap_or(""));
            let id = 100 + inner.gitlab.len() as i64;
            inner.gitlab.insert(full.clone(), (id, HashMap::new()));
            json_response(
                201,
                json!({"id": id, "web_url": format!("https://gitlab.example.com/{full}"), "default_branch": "main"}),
            )
        } else {
            let rest = rest.trim_start_matches('/');
            let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
            if tail.is_empty() && method == "GET" {
                let full = decode(first);
                match inner.gitlab.get(&full) {
                    Some((id, _)) => json_response(
                        200,
                        json!({"id": id, "web_url": format!("https://gitlab.example.com/{full}"), "default_branch": "main"}),
                    ),
                    None => json_response(404, json!({"message": "404 Project Not Found"})),
                }
            } else if tail.starts_with("repository/branches") {
                let branch = format!("{}:{}", decode(first), query);
                if inner.branches.contains(&branch) {
                    json_response(400, json!({"message": "Branch already exists"}))
                } else {
                    inner.branches.push(branch);
                    json_response(201, json!({}))
                }
            } else if tail == "merge_requests" && method == "POST" {
                let n = inner.pulls.len() + 1;
                let mut mr = parsed.clone();
                mr["web_url"] = json!(format!(
                    "https://gitlab.example.com/{}/-/merge_requests/{n}",
                    decode(first)
                ));
                inner.pulls.push(mr.clone());
                json_response(201, mr)
            } else {
                let id: i64 = first.parse().unwrap_or(-1);
                let by_path = decode(first);
                let file = decode(tail.trim_start_matches("repository/files/"));
                let project = inner
                    .gitlab
                    .iter_mut()
                    .find(|(path, (pid, _))| *pid == id || **path == by_path)
                    .map(|(_, v)| v);
                match (method.as_str(), project) {
                    ("GET", Some((_, files))) => match files.get(&file) {
                        Some(content) => json_response(
                            200,
                            json!({"content": base64::engine::general_purpose::STANDARD.encode(content), "encoding": "base64"}),
                        ),
                        None => json_response(404, json!({"message": "404 File Not Found"})),
                    },
                    ("POST", Some((_, files))) if files.contains_key(&file) => json_response(
                        400,
                        json!({"message": "A file with this name already exists"}),
                    ),
                    ("POST" | "PUT", Some((_, files))) => {
                        files.insert(file, parsed["content"].as_str().unwrap_or("").to_string());
                        json_response(201, json!({"file_path": "catalog-info.yaml"}))
                    }
                    _ => json_response(404, json!({"message": "404 Not Found"})),
                }
            }
        }
    } else if let Some(rest) = path.strip_prefix("/pd/services") {
        let _ = rest;
        if header("authorization") != format!("Token token={FORGE_PAGERDUTY_TOKEN}") {
            json_response(401, json!({"error": {"message": "Unauthorized"}}))
        } else if method == "POST" {
            let name = parsed["service"]["name"].as_str().unwrap_or("").to_string();
            let id = format!("PNEW{}", inner.pagerduty.len() + 1);
            assert_eq!(parsed["service"]["escalation_policy"]["id"], "PEP123");
            inner.pagerduty.push((id.clone(), name));
            json_response(201, json!({"service": {"id": id}}))
        } else {
            let wanted = query_param(&query, "query").unwrap_or_default();
            let found: Vec<serde_json::Value> = inner
                .pagerduty
                .iter()
                .filter(|(_, n)| n.contains(&wanted))
                .map(|(id, n)| json!({"id": id, "name": n}))
                .collect();
            json_response(200, json!({"services": found}))
        }
    } else if path == "/hook" {
        // Verify usher's signature: t=<ts>,v1=hex(HMAC-SHA256(secret, "<ts>.<body>")).
        let signature = header("x-usher-signature");
        let ts = signature
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .unwrap_or("0")
            .to_string();
        let given = signature
            .split(',')
            .find_map(|p| p.strip_prefix("v1="))
            .unwrap_or("")
            .to_string();
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(format!("{ts}.").as_bytes());
        mac.update(&body);
        let ok = hex::decode(&given).is_ok_and(|g| mac.verify_slice(&g).is_ok());
        if ok {
            inner.webhooks.push(parsed);
            Response::builder().status(204).body(Body::empty()).unwrap()
        } else {
            json_response(401, json!({"error": "bad signature"}))
        }
    } else {
        json_response(404, json!({"message": "no such endpoint in the fake"}))
    };
    inner.seen.push(Seen {
        path,
        query,
        headers,
        status: response.status().as_u16(),
    });
    response
}

/// A pull request as GitHub's REST API returns it: every key its OpenAPI
/// document marks required in `pull-request-simple`, `head` and `base`
/// as objects (checked in `conformance`).
pub fn pull_request(repo: &str, n: usize, created: &serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    let api = format!("https://api.github.example.com/repos/{repo}");
    let owner = repo.split('/').next().unwrap_or_default();
    let user = json!({"login": "usher-bot", "id": 7, "type": "Bot"});
    let side = |branch: &serde_json::Value, sha: &str| {
        json!({"label": format!("{owner}:{}", branch.as_str().unwrap_or_default()), "ref": branch,
               "sha": sha, "user": user, "repo": {"full_name": repo}})
    };
    json!({
        "url": format!("{api}/pulls/{n}"), "id": 1000 + n, "node_id": format!("PR_{n}"),
        "html_url": format!("https://github.example.com/{repo}/pull/{n}"),
        "diff_url": format!("https://github.example.com/{repo}/pull/{n}.diff"),
        "patch_url": format!("https://github.example.com/{repo}/pull/{n}.patch"),
        "issue_url": format!("{api}/issues/{n}"), "commits_url": format!("{api}/pulls/{n}/commits"),
        "review_comments_url": format!("{api}/pulls/{n}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{n}/comments"), "statuses_url": format!("{api}/statuses/head"),
        "number": n, "state": "open", "locked": false, "title": created["title"], "user": user,
        "body": created["body"], "labels": [], "milestone": null, "active_lock_reason": null,
        "created_at": "2026-12-01T09:00:00Z", "updated_at": "2026-12-01T09:00:00Z",
        "closed_at": null, "merged_at": null, "merge_commit_sha": null, "assignee": null,
        "assignees": [], "requested_reviewers": [], "requested_teams": [],
        "head": side(&created["head"], "head-sha"), "base": side(&created["base"], "base-sha"),
        "_links": {}, "author_association": "NONE", "auto_merge": null, "draft": false,
    })
}

/// A file as GitHub's contents API returns it (`content-file`): base64
/// broken into lines, as GitHub sends it.
pub fn content_file(repo: &str, path: &str, content: &str, sha: &str) -> serde_json::Value {
    use base64::Engine;
    use serde_json::json;
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let api = format!("https://api.github.example.com/repos/{repo}/contents/{path}");
    json!({
        "type": "file", "encoding": "base64", "size": content.len(),
        "name": path.rsplit('/').next().unwrap_or(path), "path": path,
        "content": lines.join("\n") + "\n", "sha": sha, "url": api,
        "git_url": format!("https://api.github.example.com/repos/{repo}/git/blobs/{sha}"),
        "html_url": format!("https://github.example.com/{repo}/blob/main/{path}"),
        "download_url": format!("https://raw.github.example.com/{repo}/main/{path}"),
        "_links": {},
    })
}
