//! Prometheus metrics: one process-wide recorder (the `metrics` facade),
//! rendered by `GET /metrics`. Counters and histograms are recorded where
//! things happen (commands, outbox deliveries); gauges about the database
//! (outbox depth, oldest job, pool use) are read at scrape time; hygiene
//! gauges are refreshed by the rounds task.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets for chat commands, in seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the recorder once per process (several servers in one test
/// process share it); returns the handle that renders it.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("static buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder already installed (a library user's): ours then
        // only renders what it was given.
        let _ = metrics::set_global_recorder(recorder);
        metrics::gauge!("usher_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        handle
    })
}

/// The text exposition, after reading the gauges that live in Postgres.
pub async fn render(pool: &PgPool) -> String {
    let handle = install();
    let depth: Result<Vec<(String, i64, Option<f64>)>, sqlx::Error> = sqlx::query_as(
        "SELECT state, count(*), extract(epoch FROM now() - min(created_at))::float8
         FROM outbox WHERE state IN ('pending', 'dead') GROUP BY state",
    )
    .fetch_all(pool)
    .await;
    if let Ok(rows) = depth {
        for state in ["pending", "dead"] {
            let row = rows.iter().find(|(s, _, _)| s == state);
            metrics::gauge!("usher_outbox_jobs", "state" => state)
                .set(row.map(|r| r.1 as f64).unwrap_or(0.0));
            metrics::gauge!("usher_outbox_oldest_seconds", "state" => state)
                .set(row.and_then(|r| r.2).unwrap_or(0.0));
        }
    }
    let dialogs: Result<i64, sqlx::Error> =
        sqlx::query_scalar("SELECT count(*) FROM dialogs WHERE status = 'active'")
            .fetch_one(pool)
            .await;
    if let Ok(n) = dialogs {
        metrics::gauge!("usher_dialogs_active").set(n as f64);
    }
    metrics::gauge!("usher_db_pool_connections", "state" => "open").set(pool.size() as f64);
    metrics::gauge!("usher_db_pool_connections", "state" => "idle").set(pool.num_idle() as f64);
    handle.render()
}

/// Records one answered command.
pub fn command(platform: &'static str, command: &str, outcome: &'static str, seconds: f64) {
    let command = command.to_string();
    metrics::counter!("usher_requests_total", "platform" => platform, "command" => command.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("usher_request_seconds", "platform" => platform, "command" => command)
        .record(seconds);
}

/// Records one outbox delivery attempt.
pub fn delivery(kind: &str, outcome: &'static str) {
    metrics::counter!("usher_outbox_deliveries_total", "kind" => kind.to_string(), "outcome" => outcome)
        .increment(1);
}

/// Sets the hygiene gauges from a fresh evaluation.
pub fn hygiene(by_rule: &[(&'static str, usize)], by_team: &[(String, usize)]) {
    for (rule, n) in by_rule {
        metrics::gauge!("usher_hygiene_findings", "rule" => *rule).set(*n as f64);
    }
    for (team, n) in by_team {
        metrics::gauge!("usher_hygiene_team_findings", "team" => team.clone()).set(*n as f64);
    }
}
