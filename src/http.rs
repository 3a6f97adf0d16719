//! The HTTP surface of `usher serve`: every route in one place.
//!
//! `/healthz` says the process is alive; `/readyz` says it can serve:
//! the database answers, its migrations are the ones this binary expects,
//! and the process is not shutting down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use serde_json::json;
use sqlx::PgPool;

use crate::db::MIGRATOR;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// Set when shutdown begins, so load balancers stop sending traffic.
    pub shutting_down: Arc<AtomicBool>,
    /// Slack's state, when Slack is on.
    pub slack: Option<Arc<crate::platforms::slack::SlackStatus>>,
    /// Discord's state, when Discord is on.
    pub discord: Option<Arc<crate::platforms::discord::DiscordStatus>>,
    /// Settings that leave usher more open than likely meant
    /// ([`crate::config::Config::cautions`]), shown in `/readyz`.
    pub cautions: Arc<Vec<String>>,
}

/// The health endpoints, and `/metrics` unless it has a listener of its
/// own.
pub fn router(state: AppState, with_metrics: bool) -> Router {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if with_metrics {
        router.route("/metrics", get(metrics)).with_state(state)
    } else {
        router.with_state(state)
    }
}

/// `/metrics` alone, for `USHER_METRICS_LISTEN`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// A span around every HTTP request (method and path — never the query or
/// the body, which may carry secrets), so what a request logs, down to the
/// command it runs, is found by it; its status and duration at `debug`.
pub async fn trace_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path()
    );
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered"
        )
    });
    response
}

/// Prometheus text exposition.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        crate::metrics::render(&state.pool).await,
    )
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "alive" })))
}

/// The newest migration this binary carries.
pub fn expected_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let expected = expected_migration();
    // Answered within a second whatever the pool does: a load balancer's
    // probe must not hang on a database that doesn't answer.
    let applied = tokio::time::timeout(
        std::time::Duration::from_millis(800),
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT max(version) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&state.pool),
    )
    .await;
    let shutting_down = state.shutting_down.load(Ordering::SeqCst);
    let (database, migrations_ok, applied) = match applied {
        Ok(Ok(v)) => ("ok".to_string(), v.unwrap_or(0) >= expected, v.unwrap_or(0)),
        Ok(Err(e)) => (format!("unreachable: {e}"), false, 0),
        Err(_) => ("unreachable: no answer within 800 ms".to_string(), false, 0),
    };
    let ready = database == "ok" && migrations_ok && !shutting_down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ready": ready,
            "database": database,
            "migrations": { "expected": expected, "applied": applied },
            "shutting_down": shutting_down,
            // Details only: a platform that is down doesn't make usher
            // unready (it keeps serving the others and retries).
            "slack": state.slack.as_ref().map(|s| s.get()).unwrap_or_else(|| json!({ "ready": false, "detail": "off" })),
            "discord": state.discord.as_ref().map(|s| s.get()).unwrap_or_else(|| json!({ "ready": false, "detail": "off" })),
            "cautions": *state.cautions,
        })),
    )
}
