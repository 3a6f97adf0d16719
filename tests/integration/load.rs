//! Under load as users would load it: a 10,000-service catalog and a burst
//! of 64 concurrent first-time questions, each about a different service,
//! signed as Slack signs them. usher 0.1 overflowed its stack here (a span
//! guard held across an await nested unrelated requests' spans); the
//! server must answer every one and stay alive.

use std::sync::Arc;
use std::time::Duration;

use usher::bench::generate;
use usher::bench::slack::{LoadKind, LoadSpec, load};
use usher::catalog::{self, import::LocationKind, source::Source};
use usher::config::{Config, Env};
use usher::db::Database;
use usher::platforms::slack::SlackSettings;
use usher::serve::Server;

use crate::support::TestDb;

const SECRET: &str = "load-test-signing-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_first_questions_on_ten_thousand_services() {
    // Spans are only real with a subscriber: install one (writing nowhere),
    // as `usher serve` does, so span handling is what runs in production.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::DEBUG)
        .try_init();
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let generated = generate::generate(
        dir.path(),
        &generate::Spec {
            services: 10_000,
            seed: 7,
        },
    )
    .unwrap();
    let config = Config::from_toml("[hygiene]\nenabled = false\n").unwrap();
    let imported = catalog::import_one(
        &db.pool,
        &Source::File(generated.root.clone()),
        LocationKind::Dir,
        &usher::catalog::loader::LoadOptions::from_config(&config),
        "test",
        false,
    )
    .await
    .unwrap();
    assert_eq!(imported.loaded.error_count(), 0);
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM entities WHERE kind = 'component' ORDER BY id LIMIT 640",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(names.len(), 640);

    let env = Env {
        database_url: None,
        data_dir: std::env::temp_dir(),
        listen: "127.0.0.1:0".into(),
        metrics_listen: None,
    };
    let server = Server::bind(
        &env,
        Database::from_pool(db.new_pool().await),
        Arc::new(config),
    )
    .await
    .unwrap()
    .with_slack(SlackSettings {
        signing_secret: Some(SECRET.into()),
        ..Default::default()
    });
    let base = format!("http://127.0.0.1:{}", server.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));

    // Ten rounds of 64 at once, every question the first about its service.
    let burst = load(&LoadSpec {
        url: base.clone(),
        signing_secret: SECRET.into(),
        kind: LoadKind::Slack,
        concurrency: 64,
        duration: Duration::from_secs(60),
        names,
        team: "T0LOAD".into(),
        each_once: true,
    })
    .await;
    assert_eq!(burst.errors, 0, "{burst}");
    assert_eq!(burst.ok, 640, "{burst}");
    println!("64 concurrent first-time questions: {burst}");

    // Alive and answering afterwards.
    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let again = load(&LoadSpec {
        url: base,
        signing_secret: SECRET.into(),
        kind: LoadKind::Slack,
        concurrency: 1,
        duration: Duration::from_secs(10),
        names: vec![generated.hubs[0].clone()],
        team: "T0LOAD".into(),
        each_once: true,
    })
    .await;
    assert_eq!((again.ok, again.errors), (1, 0), "{again}");
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
