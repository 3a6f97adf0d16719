//! A local fake of Slack for the tests: the Web API methods usher calls
//! (`https://slack.com/api/<method>`, answering `{"ok": …}` envelopes as
//! Slack documents them), `response_url` endpoints, and a Socket Mode
//! WebSocket speaking the envelope format. It records every call, and can
//! be told to answer a method with 429 + Retry-After or an error code.
//! usher's real client (slack-morphism) is pointed at it with
//! `SLACK_API_URL`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

pub const TEAM: &str = "T0ACME";
pub const BOT_USER: &str = "UUSHERBOT";
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// One Web API call as the fake saw it.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub method: String,
    pub params: Value,
    pub token: Option<String>,
}

/// How to answer a method instead of succeeding.
#[derive(Debug, Clone)]
pub enum Failure {
    /// HTTP 429 with `Retry-After: secs`.
    RateLimited(u64),
    /// `{"ok": false, "error": code}`.
    Error(&'static str),
    /// The call is carried out, but its answer is lost on the way back
    /// (HTTP 502): the caller can't know it worked.
    LostAnswer,
}

#[derive(Default)]
struct State_ {
    calls: Vec<ApiCall>,
    failures: HashMap<String, VecDeque<Failure>>,
    users: HashMap<String, Value>,
    responses: Vec<(String, Value)>,
    views: u64,
    channels: Vec<Value>,
    /// Messages posted, by channel (DMs under the user's `D…` channel),
    /// newest last, with their metadata: what `conversations.history` and
    /// `conversations.replies` read.
    history: HashMap<String, Vec<Value>>,
    /// `users.list` hands out the same cursor for ever (a broken server).
    users_list_loops: bool,
    socket_tx: Option<mpsc::UnboundedSender<String>>,
    socket_frames: Vec<Value>,
    connections: usize,
    /// Sockets the client closed with a WebSocket Close frame.
    closed_by_client: usize,
}

#[derive(Clone)]
pub struct FakeSlack {
    state: Arc<Mutex<State_>>,
    pub port: u16,
    pub ws_port: u16,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeSlack {
            state: Arc::default(),
            port: listener.local_addr().unwrap().port(),
            ws_port: ws.local_addr().unwrap().port(),
        };
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let sockets = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                tokio::spawn(sockets.clone().serve_socket(stream));
            }
        });
        fake
    }

    /// `SLACK_API_URL`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    /// A `response_url` the fake records posts to.
    pub fn response_url(&self, id: &str) -> String {
        format!("http://127.0.0.1:{}/respond/{id}", self.port)
    }

    /// A Slack user with an email, in `team`.
    pub fn add_user(&self, id: &str, email: &str, team: &str) {
        self.put_user(json!({
            "id": id,
            "team_id": team,
            "name": email.split('@').next().unwrap(),
            "real_name": email.split('@').next().unwrap(),
            "deleted": false,
            "is_bot": false,
            "profile": { "email": email, "real_name": email.split('@').next().unwrap() },
        }));
    }

    pub fn put_user(&self, mut user: Value) {
        // Fields Slack always sends (required in its OpenAPI document).
        for (key, default) in [
            ("updated", json!(1764150000)),
            ("is_app_user", json!(false)),
            ("is_bot", json!(false)),
        ] {
            if user.get(key).is_none() {
                user[key] = default;
            }
        }
        let id = user["id"].as_str().unwrap().to_string();
        self.state.lock().unwrap().users.insert(id, user);
    }

    /// Answers the next `n` calls of `method` (or `response_url`) with `failure`.
    pub fn fail(&self, method: &str, failure: Failure, n: usize) {
        let mut s = self.state.lock().unwrap();
        let queue = s.failures.entry(method.to_string()).or_default();
        for _ in 0..n {
            queue.push_back(failure.clone());
        }
    }

    /// From now on `users.list` repeats its cursor for ever.
    pub fn loop_users_list(&self) {
        self.state.lock().unwrap().users_list_loops = true;
    }

    pub fn calls(&self) -> Vec<ApiCall> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn calls_of(&self, method: &str) -> Vec<ApiCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// Successful `response_url` posts: (id, body).
    pub fn responses(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().responses.clone()
    }

    /// Waits until `check` holds (up to 10 s), polling.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        mut check: impl FnMut(&FakeSlack) -> Option<T>,
    ) -> T {
        for _ in 0..200 {
            if let Some(v) = check(self) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "timed out waiting for {what}; calls: {:#?}",
            self.calls().iter().map(|c| &c.method).collect::<Vec<_>>()
        );
    }

    /// Sends a frame to the connected Socket Mode client.
    pub fn socket_send(&self, frame: Value) {
        let s = self.state.lock().unwrap();
        s.socket_tx
            .as_ref()
            .expect("a Socket Mode client is connected")
            .send(frame.to_string())
            .unwrap();
    }

    /// Frames the client sent (acknowledgements).
    pub fn socket_frames(&self) -> Vec<Value> {
        self.state.lock().unwrap().socket_frames.clone()
    }

    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    pub fn closed_by_client(&self) -> usize {
        self.state.lock().unwrap().closed_by_client
    }

    pub fn socket_connected(&self) -> bool {
        self.state.lock().unwrap().socket_tx.is_some()
    }

    /// Drops the current socket (as a network failure would).
    pub fn drop_socket(&self) {
        self.state.lock().unwrap().socket_tx = None;
    }

    async fn serve_socket(self, stream: tokio::net::TcpStream) {
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (mut write, mut read) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        {
            let mut s = self.state.lock().unwrap();
            s.connections += 1;
            s.socket_tx = Some(tx);
        }
        let hello = json!({
            "type": "hello",
            "num_connections": 1,
            "connection_info": { "app_id": "A0USHER" },
            "debug_info": { "host": "fake-slack", "approximate_connection_time": 18060 },
        });
        if write.send(Message::text(hello.to_string())).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(frame) => if write.send(Message::text(frame)).await.is_err() { break },
                    // Dropped by the test: close the socket.
                    None => { let _ = write.send(Message::Close(None)).await; break }
                },
                incoming = read.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Ok(v) = serde_json::from_str::<Value>(&text) {
                            self.state.lock().unwrap().socket_frames.push(v);
                        }
                    }
                    Some(Ok(Message::Ping(p))) => { let _ = write.send(Message::Pong(p)).await; }
                    Some(Ok(Message::Close(_))) => {
                        self.state.lock().unwrap().closed_by_client += 1;
                        break;
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
        }
    }
}

async fn handle(State(fake): State<FakeSlack>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 10 << 20)
        .await
        .unwrap_or_default();
    if let Some(id) = path.strip_prefix("/respond/") {
        return fake.response(id, &body);
    }
    let Some(method) = path.strip_prefix("/api/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let params = params(&headers, &query, &body);
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").to_string());
    let failure = {
        let mut s = fake.state.lock().unwrap();
        s.calls.push(ApiCall {
            method: method.to_string(),
            params: params.clone(),
            token,
        });
        s.failures.get_mut(method).and_then(|q| q.pop_front())
    };
    match failure {
        Some(Failure::RateLimited(secs)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    ("retry-after", secs.to_string()),
                    ("content-type", "application/json".into()),
                ],
                json!({ "ok": false, "error": "ratelimited" }).to_string(),
            )
                .into_response();
        }
        Some(Failure::Error(code)) => return ok_false(code),
        Some(Failure::LostAnswer) => {
            let _ = fake.answer(method, &params);
            return (StatusCode::BAD_GATEWAY, "upstream connect error").into_response();
        }
        None => {}
    }
    fake.answer(method, &params)
}

fn ok_false(code: &str) -> Response {
    json_response(json!({ "ok": false, "error": code }))
}

fn json_response(v: Value) -> Response {
    (
        [("content-type", "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

fn params(headers: &HeaderMap, query: &str, body: &Bytes) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in url_pairs(query) {
        out.insert(k, Value::String(v));
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
            out.extend(m);
        }
    } else if !body.is_empty() {
        for (k, v) in url_pairs(&String::from_utf8_lossy(body)) {
            out.insert(k, Value::String(v));
        }
    }
    Value::Object(out)
}

fn url_pairs(text: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).unwrap_or_default()
}

impl FakeSlack {
    fn response(&self, id: &str, body: &Bytes) -> Response {
        let failure = self
            .state
            .lock()
            .unwrap()
            .failures
            .get_mut("response_url")
            .and_then(|q| q.pop_front());
        match failure {
            Some(Failure::RateLimited(secs)) => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", secs.to_string())],
                    "rate limited",
                )
                    .into_response();
            }
            Some(Failure::Error(code)) => {
                return (StatusCode::NOT_FOUND, code.to_string()).into_response();
            }
            Some(Failure::LostAnswer) | None => {}
        }
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        self.state
            .lock()
            .unwrap()
            .responses
            .push((id.to_string(), body));
        if failure.is_some() {
            return (StatusCode::BAD_GATEWAY, "upstream connect error").into_response();
        }
        (StatusCode::OK, "ok").into_response()
    }

    fn answer(&self, method: &str, p: &Value) -> Response {
        let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
        match method {
            "auth.test" => json_response(json!({
                "ok": true, "url": "https://acme-shop.slack.com/", "team": "Acme Shop",
                "user": "usher", "team_id": TEAM, "user_id": BOT_USER, "bot_id": "B0USHER",
            })),
            "chat.postMessage" => {
                let channel = dm_channel(&s("channel"));
                let mut st = self.state.lock().unwrap();
                let posted = st.history.entry(channel.clone()).or_default();
                let ts = format!("1764150000.{:06}", 100 + posted.len());
                let mut metadata = p["metadata"].clone();
                if let Value::String(text) = &metadata {
                    metadata = serde_json::from_str(text).unwrap_or(Value::Null);
                }
                let message = json!({ "type": "message", "text": p["text"], "ts": ts, "bot_id": "B0USHER",
                                      "thread_ts": p["thread_ts"], "metadata": metadata });
                posted.push(message.clone());
                json_response(
                    json!({ "ok": true, "channel": channel, "ts": ts, "message": message }),
                )
            }
            "conversations.open" => {
                // A comma-separated string (form bodies) or, as
                // slack-morphism sends it in JSON, an array.
                let users = match &p["users"] {
                    Value::Array(ids) => ids
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => s("users"),
                };
                json_response(json!({ "ok": true, "channel": { "id": dm_channel(&users) } }))
            }
            "conversations.history" | "conversations.replies" => {
                let all = self
                    .state
                    .lock()
                    .unwrap()
                    .history
                    .get(&s("channel"))
                    .cloned()
                    .unwrap_or_default();
                let metadata = s("include_all_metadata") == "true";
                let messages: Vec<Value> = all
                    .into_iter()
                    .filter(|m| method == "conversations.history" || m["thread_ts"] == p["ts"])
                    .rev()
                    .map(|mut m| {
                        if !metadata {
                            m.as_object_mut().unwrap().remove("metadata");
                        }
                        m
                    })
                    .collect();
                json_response(json!({ "ok": true, "messages": messages, "has_more": false }))
            }
            "chat.postEphemeral" => {
                json_response(json!({ "ok": true, "message_ts": "1764150000.000200" }))
            }
            "views.open" | "views.update" => {
                let n = {
                    let mut st = self.state.lock().unwrap();
                    st.views += 1;
                    st.views
                };
                let mut view = p["view"].clone();
                if let Value::String(text) = &view {
                    view = serde_json::from_str(text).unwrap_or(Value::Null);
                }
                let id = if method == "views.update" {
                    s("view_id")
                } else {
                    format!("V{n:08}")
                };
                view["id"] = json!(id);
                view["team_id"] = json!(TEAM);
                view["hash"] = json!(format!("hash-{n}"));
                json_response(json!({ "ok": true, "view": view }))
            }
            "users.info" => match self.state.lock().unwrap().users.get(&s("user")) {
                Some(u) => json_response(json!({ "ok": true, "user": u })),
                None => ok_false("user_not_found"),
            },
            "users.lookupByEmail" => {
                let email = s("email").to_lowercase();
                let found = self
                    .state
                    .lock()
                    .unwrap()
                    .users
                    .values()
                    .find(|u| {
                        u["profile"]["email"].as_str().map(str::to_lowercase) == Some(email.clone())
                    })
                    .cloned();
                match found {
                    Some(u) => json_response(json!({ "ok": true, "user": u })),
                    None => ok_false("users_not_found"),
                }
            }
            "users.list" => {
                let (users, loops) = {
                    let st = self.state.lock().unwrap();
                    (
                        st.users.values().cloned().collect::<Vec<Value>>(),
                        st.users_list_loops,
                    )
                };
                if loops {
                    return json_response(
                        json!({ "ok": true, "members": users, "cache_ts": 1764150000, "response_metadata": { "next_cursor": "same-again" } }),
                    );
                }
                // Two pages, to exercise the cursor.
                let half = users.len() / 2;
                if s("cursor").is_empty() && half > 0 {
                    json_response(
                        json!({ "ok": true, "members": users[..half], "cache_ts": 1764150000, "response_metadata": { "next_cursor": "page2" } }),
                    )
                } else {
                    let rest = if s("cursor") == "page2" {
                        users[half..].to_vec()
                    } else {
                        users
                    };
                    json_response(
                        json!({ "ok": true, "members": rest, "cache_ts": 1764150000, "response_metadata": { "next_cursor": "" } }),
                    )
                }
            }
            "conversations.create" => {
                let name = s("name");
                let mut st = self.state.lock().unwrap();
                if st.channels.iter().any(|c| c["name"] == json!(name)) {
                    return ok_false("name_taken");
                }
                let channel = json!({ "id": format!("C{:08}", st.channels.len() + 1), "name": name, "created": 1764150000, "is_channel": true });
                st.channels.push(channel.clone());
                json_response(json!({ "ok": true, "channel": channel }))
            }
            "conversations.list" => {
                let channels = self.state.lock().unwrap().channels.clone();
                json_response(
                    json!({ "ok": true, "channels": channels, "response_metadata": { "next_cursor": "" } }),
                )
            }
            "conversations.invite" => {
                let channel = self
                    .state
                    .lock()
                    .unwrap()
                    .channels
                    .iter()
                    .find(|c| c["id"] == p["channel"])
                    .cloned();
                match channel {
                    Some(c) => json_response(json!({ "ok": true, "channel": c })),
                    None => ok_false("channel_not_found"),
                }
            }
            "apps.connections.open" => json_response(json!({
                "ok": true, "url": format!("ws://127.0.0.1:{}/link?ticket=fake", self.ws_port),
            })),
            _ => ok_false("unknown_method"),
        }
    }
}

/// The channel a post to `target` lands in: a user id (`U…`) means
/// their DM channel (`D…`), as Slack does.
fn dm_channel(target: &str) -> String {
    match target.strip_prefix('U') {
        Some(rest) => format!("D{rest}"),
        None => target.to_string(),
    }
}

/// `v0=` + hex HMAC-SHA256 of `v0:{ts}:{body}`: Slack's request signature.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}
