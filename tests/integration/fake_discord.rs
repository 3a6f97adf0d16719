//! A local Discord REST API (`/api/v10/…`) that records every call and can
//! answer 429 with `retry_after` or a permanent error, for serenity's routes
//! pointed at it through `DISCORD_API_URL`. Also signs interactions with a
//! test Ed25519 key, as Discord does.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

/// The test application's key pair (a fixed seed).
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

/// `DISCORD_PUBLIC_KEY` for [`signing_key`].
pub fn public_key_hex() -> String {
    hex::encode(signing_key().verifying_key().to_bytes())
}

/// (`X-Signature-Ed25519`, `X-Signature-Timestamp`) for a body.
pub fn sign(timestamp: i64, body: &str) -> (String, String) {
    let ts = timestamp.to_string();
    let message = [ts.as_bytes(), body.as_bytes()].concat();
    (hex::encode(signing_key().sign(&message).to_bytes()), ts)
}

pub const APP_ID: &str = "1100000000000000001";
pub const GUILD: &str = "1200000000000000001";
pub const CHANNEL: &str = "1300000000000000001";

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
    pub auth: Option<String>,
}

/// How to answer instead of succeeding.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 429 with `retry_after` seconds.
    RateLimited(f64),
    /// A JSON error `{code, message}` with this HTTP status.
    Error(u16, i64, &'static str),
    /// The call is carried out but its answer is lost (HTTP 502).
    LostAnswer,
}

#[derive(Default)]
struct State_ {
    calls: Vec<Call>,
    /// The gateway: frames the client sent (identify, heartbeats), the close
    /// codes it closed with, and the way to push events to it.
    gateway_frames: Vec<Value>,
    gateway_closes: Vec<u16>,
    gateway_tx: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    sequence: u64,
    /// By path suffix ("messages", "@original", …).
    failures: HashMap<String, VecDeque<Failure>>,
    next_id: u64,
    /// Messages created, to honour `nonce` + `enforce_nonce`.
    messages: Vec<Value>,
}

#[derive(Clone)]
pub struct FakeDiscord {
    state: Arc<Mutex<State_>>,
    pub port: u16,
    /// The gateway's WebSocket port (`GET /gateway/bot` names it).
    pub gateway_port: u16,
}

impl FakeDiscord {
    pub async fn start() -> FakeDiscord {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeDiscord {
            state: Arc::default(),
            port: listener.local_addr().unwrap().port(),
            gateway_port: gateway.local_addr().unwrap().port(),
        };
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let sessions = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = gateway.accept().await {
                tokio::spawn(sessions.clone().serve_gateway(stream));
            }
        });
        fake
    }

    /// Frames the gateway client sent (op 2 identify, op 1 heartbeats).
    pub fn gateway_frames(&self) -> Vec<Value> {
        self.state.lock().unwrap().gateway_frames.clone()
    }

    /// The close codes the client closed its gateway sessions with.
    pub fn gateway_closes(&self) -> Vec<u16> {
        self.state.lock().unwrap().gateway_closes.clone()
    }

    /// Sends a dispatch (op 0) of event `name` to the connected client.
    pub fn dispatch(&self, name: &str, data: Value) {
        let mut s = self.state.lock().unwrap();
        s.sequence += 1;
        let frame = json!({ "op": 0, "t": name, "s": s.sequence, "d": data });
        s.gateway_tx
            .as_ref()
            .expect("a gateway client is connected")
            .send(frame.to_string())
            .unwrap();
    }

    /// One gateway session, as Discord documents it: Hello, then Ready
    /// after Identify, heartbeats acknowledged, dispatches from the test.
    async fn serve_gateway(self, stream: tokio::net::TcpStream) {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (mut write, mut read) = ws.split();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        self.state.lock().unwrap().gateway_tx = Some(tx);
        let hello = json!({ "op": 10, "d": { "heartbeat_interval": 41250 } });
        if write.send(Message::text(hello.to_string())).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(frame) => if write.send(Message::text(frame)).await.is_err() { break },
                    None => break,
                },
                incoming = read.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let frame: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        self.state.lock().unwrap().gateway_frames.push(frame.clone());
                        let answer = match frame["op"].as_u64() {
                            Some(1) => Some(json!({ "op": 11 })),
                            Some(2) => {
                                let mut s = self.state.lock().unwrap();
                                s.sequence += 1;
                                Some(json!({ "op": 0, "t": "READY", "s": s.sequence, "d": {
                                    "v": 10,
                                    "user": { "id": "1400000000000000001", "username": "usher", "discriminator": "0", "avatar": null, "bot": true },
                                    "guilds": [{ "id": GUILD, "unavailable": true }],
                                    "session_id": "fake-session",
                                    "resume_gateway_url": format!("ws://127.0.0.1:{}", self.gateway_port),
                                    "shard": [0, 1],
                                    "application": { "id": APP_ID, "flags": 0 },
                                } }))
                            }
                            _ => None,
                        };
                        if let Some(answer) = answer
                            && write.send(Message::text(answer.to_string())).await.is_err()
                        {
                            break;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                        self.state.lock().unwrap().gateway_closes.push(code);
                        break;
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                },
            }
        }
    }

    /// `DISCORD_API_URL`.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers the next `n` calls whose path ends with `suffix` with `failure`.
    pub fn fail(&self, suffix: &str, failure: Failure, n: usize) {
        let mut s = self.state.lock().unwrap();
        let q = s.failures.entry(suffix.to_string()).or_default();
        for _ in 0..n {
            q.push_back(failure.clone());
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The messages created (a de-duplicated nonce creates none).
    pub fn messages(&self) -> Vec<Value> {
        self.state.lock().unwrap().messages.clone()
    }

    pub fn calls_to(&self, suffix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.ends_with(suffix))
            .collect()
    }

    pub async fn wait_for<T>(
        &self,
        what: &str,
        mut found: impl FnMut(&FakeDiscord) -> Option<T>,
    ) -> T {
        for _ in 0..200 {
            if let Some(t) = found(self) {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the fake Discord never saw {what}: {:#?}", self.calls());
    }
}

async fn handle(State(fake): State<FakeDiscord>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let auth = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(request.into_body(), 10 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let (failure, id) = {
        let mut s = fake.state.lock().unwrap();
        s.calls.push(Call {
            method: method.clone(),
            path: path.clone(),
            body: body.clone(),
            auth,
        });
        s.next_id += 1;
        let id = 1_900_000_000_000_000_000u64 + s.next_id;
        let failure = s
            .failures
            .iter_mut()
            .find(|(suffix, q)| path.ends_with(suffix.as_str()) && !q.is_empty())
            .and_then(|(_, q)| q.pop_front());
        (failure, id)
    };
    match failure {
        Some(Failure::RateLimited(secs)) => {
            // As Discord documents it: the body, and the headers too.
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    ("retry-after", format!("{}", secs.ceil() as u64)),
                    ("x-ratelimit-scope", "user".to_string()),
                ],
                Json(json!({ "message": "You are being rate limited.", "retry_after": secs, "global": false })),
            )
                .into_response();
        }
        Some(Failure::Error(status, code, message)) => {
            return (
                StatusCode::from_u16(status).unwrap(),
                Json(json!({ "code": code, "message": message })),
            )
                .into_response();
        }
        Some(Failure::LostAnswer) | None => {}
    }
    let lost = matches!(failure, Some(Failure::LostAnswer));
    let Some(route) = path.strip_prefix("/api/v10") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let parts: Vec<&str> = route.trim_matches('/').split('/').collect();
    let answer = match (method.as_str(), parts.as_slice()) {
        ("GET", ["gateway", "bot"]) => json!({
            "url": format!("ws://127.0.0.1:{}", fake.gateway_port),
            "shards": 1,
            "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1 },
        }),
        ("GET", ["gateway"]) => json!({ "url": format!("ws://127.0.0.1:{}", fake.gateway_port) }),
        ("GET", ["users", "@me"]) => {
            json!({ "id": "1400000000000000001", "username": "usher", "bot": true })
        }
        ("POST", ["users", "@me", "channels"]) => {
            json!({ "id": format!("15{}", &body["recipient_id"].as_str().unwrap_or("0")[2..]), "type": 1 })
        }
        ("POST", ["channels", channel, "messages"]) => {
            let mut s = fake.state.lock().unwrap();
            // The same nonce from the same author in the same channel within
            // a few minutes, with enforce_nonce: the existing message back,
            // no new one (Discord's documented de-duplication).
            let earlier = s
                .messages
                .iter()
                .find(|m| {
                    body["enforce_nonce"] == json!(true)
                        && !body["nonce"].is_null()
                        && m["nonce"] == body["nonce"]
                        && m["channel_id"] == json!(channel)
                })
                .cloned();
            match earlier {
                Some(message) => message,
                None => {
                    let message = message_response(&id.to_string(), channel, &body);
                    s.messages.push(message.clone());
                    message
                }
            }
        }
        ("PATCH", ["webhooks", _, _, "messages", "@original"]) => json!({ "id": id.to_string() }),
        ("POST", ["webhooks", _, _]) => json!({ "id": id.to_string() }),
        ("POST", ["interactions", _, _, "callback"]) => {
            return StatusCode::NO_CONTENT.into_response();
        }
        ("PUT", ["applications", _, "commands"])
        | ("PUT", ["applications", _, "guilds", _, "commands"]) => {
            // As Discord: the commands back, with ids.
            Value::Array(
                body.as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut c| {
                        c["id"] = json!(id.to_string());
                        c
                    })
                    .collect(),
            )
        }
        ("GET", ["guilds", _, "channels"]) => json!([]),
        ("POST", ["guilds", guild, "channels"]) => {
            json!({ "id": id.to_string(), "guild_id": guild, "name": body["name"], "type": 0 })
        }
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({ "code": 0, "message": "404: Not Found" })),
            )
                .into_response();
        }
    };
    if lost {
        return (StatusCode::BAD_GATEWAY, "upstream connect error").into_response();
    }
    Json(answer).into_response()
}

/// A created message with every field Discord's OpenAPI document marks
/// required in `MessageResponse`.
fn message_response(id: &str, channel: &str, body: &Value) -> Value {
    json!({
        "id": id, "channel_id": channel, "type": 0,
        "content": body["content"].as_str().unwrap_or_default(),
        "author": { "id": "1400000000000000001", "username": "usher", "discriminator": "0",
                    "avatar": null, "bot": true, "global_name": null, "public_flags": 0, "flags": 0 },
        "attachments": [], "embeds": body["embeds"].as_array().cloned().unwrap_or_default(),
        "components": body["components"].as_array().cloned().unwrap_or_default(),
        "mentions": [], "mention_roles": [], "mention_everyone": false, "pinned": false, "tts": false,
        "timestamp": "2026-12-01T09:00:00.000000+00:00", "edited_timestamp": null, "flags": 0,
        "nonce": body["nonce"],
    })
}
