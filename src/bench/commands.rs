//! Core handling time of the chat commands (router, queries and reply
//! building; no network) on a generated catalog, optionally with library
//! packages for every service (`search dep:…`).

use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;

use super::generate::{Generated, Rng};
use super::{Percentiles, ms};
use crate::chat::{Actor, Platform, Request};
use crate::commands::complete::complete;
use crate::commands::definitions::Completion;
use crate::commands::{Core, handle};
use crate::config::Config;

/// Adds `per_service` packages to every component, in SQL: common
/// libraries of several ecosystems, and log4j-core at a mix of versions
/// in about one service in twenty.
pub async fn add_packages(pool: &PgPool, per_service: i64) -> Result<i64, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO packages (entity_id, source, ecosystem, namespace, name, version)
         SELECT e.id, 'bench',
                (ARRAY['maven','npm','pypi','cargo','golang'])[1 + (e.id + g) % 5],
                CASE WHEN (e.id + g) % 5 = 0 THEN 'org.example.lib' || ((e.id * 7 + g) % 40) END,
                CASE WHEN g = 1 AND e.id % 20 = 0 THEN 'log4j-core'
                     ELSE 'lib-' || ((e.id * 31 + g * 17) % 400) END,
                CASE WHEN g = 1 AND e.id % 20 = 0 THEN (ARRAY['2.14.1','2.16.0','2.17.0','2.17.1','2.19.0'])[1 + (e.id / 20) % 5]
                     ELSE (1 + (e.id + g) % 9) || '.' || ((e.id * g) % 20) || '.' || (g % 7) END
         FROM entities e CROSS JOIN generate_series(1, $1) AS g
         WHERE e.kind = 'component'",
    )
    .bind(per_service)
    .execute(pool)
    .await?
    .rows_affected();
    // Make the first package of log4j users Maven, as in real life.
    sqlx::query("UPDATE packages SET ecosystem = 'maven', namespace = 'org.apache.logging.log4j' WHERE name = 'log4j-core'")
        .execute(pool)
        .await?;
    sqlx::query("ANALYZE packages").execute(pool).await?;
    Ok(inserted as i64)
}

/// Makes the command line of one timed run.
type CommandMaker<'a> = Box<dyn Fn(&mut Rng) -> String + 'a>;

/// Times each command `iterations` times; returns (label, percentiles).
pub async fn run(
    pool: &PgPool,
    generated: &Generated,
    iterations: usize,
) -> Result<Vec<(String, Percentiles)>, sqlx::Error> {
    // The core's own work: no answers kept between runs.
    let mut config = Config::default();
    config.chat.answer_cache_secs = 0;
    let core = Core::new(pool.clone(), Arc::new(config));
    // Warm the snapshot (built once per catalog change).
    core.snapshot.get(pool).await?;
    let mut rng = Rng::new(11);
    let names = &generated.sample_names;
    let hub = generated.hubs.first().cloned().unwrap_or_default();
    let mut results = Vec::new();
    let cases: Vec<(&str, CommandMaker)> = vec![
        (
            "owner <service>",
            Box::new(|r: &mut Rng| format!("owner {}", names[r.below(names.len())])),
        ),
        (
            "service <service>",
            Box::new(|r: &mut Rng| format!("service {}", names[r.below(names.len())])),
        ),
        (
            "search lang:java tier:1",
            Box::new(|_: &mut Rng| "search lang:java tier:1".to_string()),
        ),
        (
            "search dep:log4j-core@<2.17.1",
            Box::new(|_: &mut Rng| "search dep:log4j-core@<2.17.1".to_string()),
        ),
        (
            "deps --reverse <hub>",
            Box::new(move |_: &mut Rng| format!("deps --reverse {hub}")),
        ),
        (
            "stats coverage",
            Box::new(|_: &mut Rng| "stats coverage".to_string()),
        ),
    ];
    for (label, make) in cases {
        let runs = if label.starts_with("stats") {
            iterations.min(20)
        } else {
            iterations
        };
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let request = Request {
                actor: Actor::guest("bench"),
                platform: Platform::Console,
                workspace: None,
                channel: None,
                text: make(&mut rng),
            };
            let t = Instant::now();
            let reply = handle(&core, &request).await;
            samples.push(t.elapsed());
            debug_assert!(!reply.blocks.is_empty());
        }
        results.push((label.to_string(), Percentiles::of(&mut samples)));
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let name = &names[rng.below(names.len())];
        let prefix: String = name.chars().take(1 + rng.below(6)).collect();
        let t = Instant::now();
        complete(&core, Completion::Service, &prefix).await?;
        samples.push(t.elapsed());
    }
    results.push((
        "autocomplete (service)".to_string(),
        Percentiles::of(&mut samples),
    ));
    Ok(results)
}

/// The table printed by `usher bench catalog`.
pub fn table(results: &[(String, Percentiles)]) -> String {
    let mut out = vec![format!(
        "{:<40} {:>9} {:>9} {:>9}",
        "command (core handling)", "p50 ms", "p99 ms", "max ms"
    )];
    for (label, p) in results {
        out.push(format!(
            "{label:<40} {:>9.2} {:>9.2} {:>9.2}",
            ms(p.p50),
            ms(p.p99),
            ms(p.max)
        ));
    }
    out.join("\n")
}

/// A minimal in-process PagerDuty (service → policy → on-calls) for the
/// cold-cache timing; returns its base URL.
async fn fake_pagerduty() -> std::io::Result<String> {
    use axum::Router;
    use axum::extract::Path;
    use axum::routing::get;
    let app = Router::new()
        .route(
            "/services/{id}",
            get(|Path(id): Path<String>| async move {
                axum::Json(
                    serde_json::json!({"service": {"id": id, "escalation_policy": {"id": "EP1"}}}),
                )
            }),
        )
        .route(
            "/oncalls",
            get(|| async {
                axum::Json(serde_json::json!({"oncalls": [
                    {"escalation_level": 1, "end": "2030-01-01T00:00:00Z",
                     "user": {"summary": "Person 1", "email": "p1@example.com"}}], "more": false}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(base)
}

/// `oncall <service>` with a warm cache, and cold (every call asks a local
/// fake PagerDuty).
pub async fn oncall(
    pool: &PgPool,
    generated: &Generated,
    iterations: usize,
) -> Result<Vec<(String, Percentiles)>, sqlx::Error> {
    let base = fake_pagerduty()
        .await
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let mut results = Vec::new();
    for (label, cache_secs) in [
        ("oncall <service> (warm cache)", 3600),
        ("oncall <service> (cold, fake PagerDuty)", 0),
    ] {
        let mut config = Config::default();
        config.oncall.pagerduty_api_url = base.clone();
        config.oncall.cache_secs = cache_secs;
        let mut core = Core::new(pool.clone(), Arc::new(config.clone()));
        core.oncall = Arc::new(crate::oncall::OnCallService::with_credentials(
            config.oncall,
            Some("bench".into()),
            None,
        ));
        core.snapshot.get(pool).await?;
        let names: Vec<&String> = generated.paged.iter().take(50).collect();
        // Warm: ask each once first.
        for name in &names {
            ask(&core, &format!("oncall {name}")).await;
        }
        let mut rng = Rng::new(3);
        let mut samples = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let name = names[rng.below(names.len())];
            let t = Instant::now();
            ask(&core, &format!("oncall {name}")).await;
            samples.push(t.elapsed());
        }
        results.push((label.to_string(), Percentiles::of(&mut samples)));
    }
    Ok(results)
}

async fn ask(core: &Core, text: &str) -> crate::chat::Reply {
    handle(
        core,
        &Request {
            actor: Actor::guest("bench"),
            platform: Platform::Console,
            workspace: None,
            channel: None,
            text: text.to_string(),
        },
    )
    .await
}
