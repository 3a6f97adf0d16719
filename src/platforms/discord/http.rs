//! `POST /discord/interactions`: Discord's HTTP interactions.
//!
//! Every request is verified before anything else is read: `X-Signature-
//! Ed25519` must be the application's Ed25519 signature of `X-Signature-
//! Timestamp` + the raw body (serenity's `interactions_endpoint::Verifier`),
//! and the timestamp within five minutes (a captured request can't be
//! replayed later); otherwise 401 and nothing happens. A body over
//! `discord.max_body_bytes` gets 413. PING is answered with PONG.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde_json::json;
use serenity::interactions_endpoint::Verifier;
use serenity::model::application::Interaction;

use super::{DiscordApp, interactions};

/// Oldest accepted signature timestamp, in seconds.
const MAX_AGE_SECS: i64 = 300;

#[derive(Clone)]
struct Endpoint {
    app: Arc<DiscordApp>,
    verifier: Verifier,
}

/// The route, verified with the application's public key.
pub fn routes(app: Arc<DiscordApp>, verifier: Verifier) -> Router {
    let limit = app.config.max_body_bytes;
    Router::new()
        .route("/discord/interactions", post(interaction))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Endpoint { app, verifier })
}

/// Parses the application's public key (64 hex digits).
pub fn verifier(public_key: &str) -> Result<Verifier, String> {
    let key = public_key.trim();
    let bytes = hex::decode(key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            "DISCORD_PUBLIC_KEY must be the application's public key: 64 hex digits (Developer Portal → General Information)".to_string()
        })?;
    Verifier::try_new(bytes).map_err(|e| format!("DISCORD_PUBLIC_KEY: {e}"))
}

fn unauthorized(why: &str) -> Response {
    (StatusCode::UNAUTHORIZED, Json(json!({ "error": why }))).into_response()
}

/// Checks the signature and age; why not, otherwise.
fn verify(verifier: &Verifier, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
    ) else {
        return Err("missing X-Signature-Ed25519 or X-Signature-Timestamp");
    };
    if verifier.verify(signature, timestamp, body).is_err() {
        return Err("the signature doesn't match");
    }
    let now = chrono::Utc::now().timestamp();
    match timestamp.trim().parse::<i64>() {
        Ok(t) if (now - t).abs() <= MAX_AGE_SECS => Ok(()),
        _ => Err("the timestamp is more than 5 minutes off"),
    }
}

async fn interaction(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = verify(&endpoint.verifier, &headers, &body) {
        tracing::warn!(why, "Discord: refused an interaction");
        return unauthorized(why);
    }
    let interaction: Interaction = match interactions::parse(&body) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "Discord: could not read an interaction");
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": format!("not an interaction usher can read: {e}") })),
            )
                .into_response();
        }
    };
    Json(interactions::handle(&endpoint.app, interaction).await).into_response()
}
