//! Slack's HTTP endpoints: `/slack/commands`, `/slack/interactions`,
//! `/slack/events` and `/slack/options`.
//!
//! Every request is verified before anything else is read: `X-Slack-
//! Signature` must be `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{raw
//! body}` with the signing secret (compared in constant time), and the
//! timestamp within five minutes; otherwise 401 and nothing happens. A
//! body over `slack.max_body_bytes` gets 413 before it is read whole.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;

use super::{SlackApp, commands, events, interactions};

#[derive(Clone)]
struct Endpoint {
    app: Arc<SlackApp>,
    verifier: SlackEventSignatureVerifier,
}

/// The routes, verified with `signing_secret`.
pub fn routes(app: Arc<SlackApp>, signing_secret: &str) -> Router {
    let limit = app.config.max_body_bytes;
    let endpoint = Endpoint {
        app,
        verifier: SlackEventSignatureVerifier::new(&SlackSigningSecret::new(
            signing_secret.to_string(),
        )),
    };
    Router::new()
        .route("/slack/commands", post(slash_command))
        .route("/slack/interactions", post(interaction))
        .route("/slack/events", post(event))
        .route("/slack/options", post(options))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(endpoint)
}

/// A request body signed by Slack within the last five minutes (the
/// extractor refuses anything else with 401, or 413 when too big).
struct Signed(String);

impl FromRequest<Endpoint> for Signed {
    type Rejection = Response;

    async fn from_request(request: Request, endpoint: &Endpoint) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, endpoint)
            .await
            .map_err(IntoResponse::into_response)?;
        verify(&endpoint.verifier, &headers, &body)
            .map(|text| Signed(text.to_string()))
            .map_err(|why| *unauthorized(why))
    }
}

/// The body as text, if it carries Slack's signature and a recent
/// timestamp; otherwise why not.
fn verify<'a>(
    verifier: &SlackEventSignatureVerifier,
    headers: &HeaderMap,
    body: &'a Bytes,
) -> Result<&'a str, &'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(signature), Some(timestamp)) = (
        header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
        header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
    ) else {
        tracing::warn!("Slack: refused an unsigned request");
        return Err("missing X-Slack-Signature or X-Slack-Request-Timestamp");
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return Err("the body is not UTF-8, so it can't be verified");
    };
    match verifier.verify(signature, text, timestamp) {
        Ok(()) => Ok(text),
        Err(e) => {
            tracing::warn!(error = %e, "Slack: refused a request whose signature or timestamp is wrong");
            Err("the signature doesn't match or the timestamp is more than 5 minutes off")
        }
    }
}

fn unauthorized(why: &str) -> Box<Response> {
    Box::new((StatusCode::UNAUTHORIZED, Json(json!({ "error": why }))).into_response())
}

fn bad_request(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "Slack: could not read {what}");
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": format!("not a valid {what}: {e}") })),
    )
        .into_response()
}

async fn slash_command(State(endpoint): State<Endpoint>, Signed(text): Signed) -> Response {
    let event: SlackCommandEvent = match serde_urlencoded::from_str(&text) {
        Ok(e) => e,
        Err(e) => return bad_request("slash command", e),
    };
    Json(commands::handle(&endpoint.app, event).await).into_response()
}

#[derive(Deserialize)]
struct PayloadForm {
    payload: String,
}

fn interaction_payload(text: &str) -> Result<SlackInteractionEvent, Box<Response>> {
    let form: PayloadForm = serde_urlencoded::from_str(text)
        .map_err(|e| Box::new(bad_request("interaction form", e)))?;
    serde_json::from_str(&form.payload).map_err(|e| Box::new(bad_request("interaction payload", e)))
}

fn interaction_response(response: SlackInteractionResponse) -> Response {
    match response {
        SlackInteractionResponse::Empty => StatusCode::OK.into_response(),
        other => Json(other).into_response(),
    }
}

async fn interaction(State(endpoint): State<Endpoint>, Signed(text): Signed) -> Response {
    match interaction_payload(&text) {
        Ok(event) => interaction_response(interactions::handle(&endpoint.app, event).await),
        Err(r) => *r,
    }
}

async fn options(State(endpoint): State<Endpoint>, Signed(text): Signed) -> Response {
    match interaction_payload(&text) {
        Ok(SlackInteractionEvent::BlockSuggestion(event)) => {
            Json(interactions::options(&endpoint.app, &event).await).into_response()
        }
        Ok(_) => bad_request("options request", "expected a block_suggestion payload"),
        Err(r) => *r,
    }
}

async fn event(State(endpoint): State<Endpoint>, Signed(text): Signed) -> Response {
    let event: SlackPushEvent = match serde_json::from_str(&text) {
        Ok(e) => e,
        Err(e) => return bad_request("event", e),
    };
    match event {
        SlackPushEvent::UrlVerification(v) => {
            Json(json!({ "challenge": v.challenge })).into_response()
        }
        SlackPushEvent::EventCallback(callback) => {
            match events::handle(&endpoint.app, &callback).await {
                Ok(_) => StatusCode::OK.into_response(),
                Err(e) => {
                    // Not recorded: Slack retries, and the retry is acted on.
                    tracing::error!(error = %e, "Slack: recording an event failed");
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
            }
        }
        SlackPushEvent::AppRateLimited(limited) => {
            tracing::warn!(team = %limited.team_id, "Slack: events are being rate-limited for this workspace");
            StatusCode::OK.into_response()
        }
    }
}
