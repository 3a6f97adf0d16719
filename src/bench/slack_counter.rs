//! A stand-in for Slack's Web API for the soak benchmark: just enough of
//! it for `usher serve` to run against (auth, users, posting, history,
//! `response_url`), and a count of every effect that arrives, so the soak
//! can say how many were delivered, and whether any arrived twice.
//!
//! The test suite has a fuller fake (tests/integration/fake_slack.rs) that
//! is checked against Slack's API description; this one lives in the
//! binary because `usher bench soak` runs outside the tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Json};
use axum::routing::post;
use serde_json::{Value, json};

/// The workspace the soak's requests come from.
pub const TEAM: &str = "T0SOAK";

#[derive(Default)]
struct Seen {
    /// Messages posted, by channel (thread replies included), with their
    /// thread and metadata.
    history: HashMap<String, Vec<Value>>,
    /// `response_url` posts, by the URL's id.
    responses: HashMap<String, usize>,
    posts: usize,
}

/// The counting stand-in; clone to share.
#[derive(Clone, Default)]
pub struct SlackCounter {
    seen: Arc<Mutex<Seen>>,
}

impl SlackCounter {
    /// Serves on 127.0.0.1 (a free port); returns its base URL.
    pub async fn start(&self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let app = Router::new()
            .route("/api/{method}", post(api).get(api))
            .route("/respond/{id}", post(respond))
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(base)
    }

    /// Posts to `response_url` ids starting with `prefix`: (distinct ids,
    /// posts beyond the first per id).
    pub fn responses(&self, prefix: &str) -> (usize, usize) {
        let seen = self.seen.lock().expect("counter");
        let mine = seen
            .responses
            .iter()
            .filter(|(id, _)| id.starts_with(prefix));
        mine.fold((0, 0), |(ids, extra), (_, n)| (ids + 1, extra + n - 1))
    }

    /// Thread replies (answers to mentions): (threads answered, posts
    /// beyond the first per thread).
    pub fn thread_answers(&self) -> (usize, usize) {
        self.count(|m| m["thread_ts"].as_str().map(str::to_string))
    }

    /// Top-level posts to team channels (digests): (channels posted to,
    /// posts beyond the first per channel).
    pub fn channel_posts(&self, channel_prefix: &str) -> (usize, usize) {
        let seen = self.seen.lock().expect("counter");
        let mut ids = 0;
        let mut extra = 0;
        for (channel, messages) in &seen.history {
            if !channel.starts_with(channel_prefix) {
                continue;
            }
            let top = messages.iter().filter(|m| m["thread_ts"].is_null()).count();
            if top > 0 {
                ids += 1;
                extra += top - 1;
            }
        }
        (ids, extra)
    }

    pub fn posts(&self) -> usize {
        self.seen.lock().expect("counter").posts
    }

    fn count(&self, key: impl Fn(&Value) -> Option<String>) -> (usize, usize) {
        let seen = self.seen.lock().expect("counter");
        let mut by: HashMap<String, usize> = HashMap::new();
        for message in seen.history.values().flatten() {
            if let Some(k) = key(message) {
                *by.entry(k).or_default() += 1;
            }
        }
        (by.len(), by.values().map(|n| n - 1).sum())
    }
}

async fn respond(State(counter): State<SlackCounter>, Path(id): Path<String>) -> &'static str {
    *counter
        .seen
        .lock()
        .expect("counter")
        .responses
        .entry(id)
        .or_default() += 1;
    "ok"
}

async fn api(
    State(counter): State<SlackCounter>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let p = params(&headers, query.as_deref().unwrap_or_default(), &body);
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    let answer = match method.as_str() {
        "auth.test" => json!({ "ok": true, "team_id": TEAM, "user_id": "UUSHERSOAK",
                               "bot_id": "BSOAK", "team": "Soak", "user": "usher", "url": "https://soak.slack.com/" }),
        "users.info" => json!({ "ok": true, "user": {
            "id": s("user"), "team_id": TEAM, "name": s("user").to_lowercase(), "deleted": false,
            "is_bot": false, "profile": { "email": format!("{}@soak.example", s("user").to_lowercase()) } } }),
        // Everyone in the generated catalog has a Slack account.
        "users.lookupByEmail" => json!({ "ok": true, "user": {
            "id": format!("U{:08X}", s("email").bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))),
            "team_id": TEAM, "name": s("email"), "deleted": false, "is_bot": false,
            "profile": { "email": s("email") } } }),
        "users.list" => {
            json!({ "ok": true, "members": [], "cache_ts": 0, "response_metadata": { "next_cursor": "" } })
        }
        "conversations.open" => {
            let user = match &p["users"] {
                Value::Array(ids) => ids
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                _ => s("users"),
            };
            json!({ "ok": true, "channel": { "id": format!("D{user}") } })
        }
        "chat.postMessage" => {
            let mut seen = counter.seen.lock().expect("counter");
            seen.posts += 1;
            let channel = s("channel");
            let posted = seen.history.entry(channel.clone()).or_default();
            let ts = format!("1764150000.{:06}", posted.len() + 1);
            let mut metadata = p["metadata"].clone();
            if let Value::String(text) = &metadata {
                metadata = serde_json::from_str(text).unwrap_or(Value::Null);
            }
            posted.push(
                json!({ "type": "message", "ts": ts, "thread_ts": p["thread_ts"],
                                "metadata": metadata, "bot_id": "BSOAK" }),
            );
            json!({ "ok": true, "channel": channel, "ts": ts, "message": { "type": "message", "ts": ts } })
        }
        "conversations.history" | "conversations.replies" => {
            let seen = counter.seen.lock().expect("counter");
            let messages: Vec<Value> = seen
                .history
                .get(&s("channel"))
                .into_iter()
                .flatten()
                .filter(|m| method == "conversations.history" || m["thread_ts"] == p["ts"])
                .rev()
                .take(100)
                .cloned()
                .collect();
            json!({ "ok": true, "messages": messages, "has_more": false })
        }
        _ => json!({ "ok": true }),
    };
    Json(answer)
}

fn params(headers: &HeaderMap, query: &str, body: &Bytes) -> Value {
    let mut out = serde_json::Map::new();
    let pairs =
        |text: &str| serde_urlencoded::from_str::<Vec<(String, String)>>(text).unwrap_or_default();
    for (k, v) in pairs(query) {
        out.insert(k, Value::String(v));
    }
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if json_body {
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
            out.extend(m);
        }
    } else {
        for (k, v) in pairs(&String::from_utf8_lossy(body)) {
            out.insert(k, Value::String(v));
        }
    }
    Value::Object(out)
}
