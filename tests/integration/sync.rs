//! Catalog sync: URL locations through GitHub and GitLab (fakes speaking
//! their REST APIs), tokens, substitutions, conditional requests, limits,
//! scheduled refresh by `usher serve`, and the export round trip.

use std::collections::BTreeMap;
use std::fs;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::fakes::{FakeGitHost, GITHUB_TOKEN, GITLAB_TOKEN};
use crate::support::{TestDb, fixtures, stderr, stdout, usher};

const SERVICE: &str = "apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: svc-location
spec:
  targets: [./more/api.yaml]
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: team-a
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: svc
spec:
  type: service
  lifecycle: production
  owner: team-a
  providesApis: [svc-api]
";

fn api(missing_url: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: svc-api
  annotations:
    example.com/spec-source:
      $text: {missing_url}
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: ./openapi.yaml
"
    )
}

/// Runs usher without blocking the runtime the fakes live on.
async fn run(mut cmd: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn config(fake: &FakeGitHost, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("usher.toml"),
        format!(
            "[catalog]\nmax_file_size = 10000\nfetch_timeout_secs = 5\n{extra}\n{}",
            fake.hosts_toml()
        ),
    )
    .unwrap();
    dir
}

async fn count(db: &TestDb, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_blob_links_with_a_token_substitutions_and_conditional_requests() {
    let db = TestDb::new().await;
    let fake = FakeGitHost::start().await;
    fake.put("acme/svc/main/catalog-info.yaml", SERVICE);
    fake.put(
        "acme/svc/main/more/api.yaml",
        &api(&format!("{}/plain/gone.yaml", fake.base())),
    );
    fake.put(
        "acme/svc/main/more/openapi.yaml",
        "openapi: 3.0.0\ninfo: {title: svc}\n",
    );
    let dir = config(&fake, "");
    let url = format!("{}/acme/svc/blob/main/catalog-info.yaml", fake.base());
    let import = || {
        let mut cmd = usher();
        cmd.env("DATABASE_URL", db.url())
            .env("USHER_CONFIG", dir.path().join("usher.toml"))
            .env("FAKE_GH_TOKEN", GITHUB_TOKEN)
            .env("RUST_LOG", "debug")
            .args(["catalog", "import", &url]);
        cmd
    };
    let out = run(import()).await;
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}\n{err}");
    assert!(
        text.contains("3 added") || text.contains("4 added"),
        "{text}"
    );
    // The unreachable substitution is a warning naming the URL; the entity
    // is imported with the reference kept as written.
    assert!(
        text.contains(&format!(
            "the substitution $text: '{}/plain/gone.yaml' could not be fetched: HTTP 404",
            fake.base()
        )),
        "{text}"
    );
    let definition: String = sqlx::query_scalar(
        "SELECT raw->'spec'->>'definition' FROM entities WHERE name = 'svc-api'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(definition, "openapi: 3.0.0\ninfo: {title: svc}\n");
    let kept: serde_json::Value = sqlx::query_scalar(
        "SELECT raw->'metadata'->'annotations'->'example.com/spec-source' FROM entities WHERE name = 'svc-api'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        kept["$text"]
            .as_str()
            .unwrap()
            .ends_with("/plain/gone.yaml")
    );
    // Every API call carried the token and asked for the raw file.
    let api_calls: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/api/v3/"))
        .collect();
    assert_eq!(api_calls.len(), 3, "{api_calls:?}");
    assert!(
        api_calls
            .iter()
            .all(|s| s.status == 200 && s.query == "ref=main")
    );
    // The token never reaches output or logs, even at debug level.
    assert!(!text.contains(GITHUB_TOKEN) && !err.contains(GITHUB_TOKEN));

    // Again: conditional requests, 304s, nothing parsed or written.
    let out = run(import()).await;
    let text = stdout(&out);
    assert!(text.contains("0 added, 0 changed, 0 removed"), "{text}");
    let again: Vec<_> = fake
        .seen()
        .into_iter()
        .skip(api_calls.len() + 1)
        .filter(|s| s.path.starts_with("/api/v3/"))
        .collect();
    assert!(
        !again.is_empty()
            && again
                .iter()
                .all(|s| s.status == 304 && s.headers.contains_key("if-none-match")),
        "{again:?}"
    );

    // Without the token: the host says no, and the message says which
    // variable to set — still without a token in sight.
    let mut cmd = import();
    cmd.env_remove("FAKE_GH_TOKEN");
    let out = run(cmd).await;
    assert!(
        stdout(&out).contains("401 Unauthorized; check the token in FAKE_GH_TOKEN"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_blob_links_and_the_limits() {
    let db = TestDb::new().await;
    let fake = FakeGitHost::start().await;
    fake.put(
        "acme/platform/svc/v2/catalog/catalog-info.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-gl\nspec:\n  type: team\n  children: []\n",
    );
    let dir = config(&fake, "");
    let base = format!("http://localhost:{}", fake.port);
    let mut cmd = usher();
    cmd.env("DATABASE_URL", db.url())
        .env("USHER_CONFIG", dir.path().join("usher.toml"))
        .env("FAKE_GL_TOKEN", GITLAB_TOKEN)
        .args(["catalog", "import"])
        .arg(format!(
            "{base}/acme/platform/svc/-/blob/v2/catalog/catalog-info.yaml"
        ))
        .arg(format!("{}/huge", fake.base()))
        .arg(format!("{}/loop", fake.base()))
        .arg("http://127.0.0.1:9/nothing-listens-here.yaml");
    let out = run(cmd).await;
    let text = stdout(&out);
    assert_eq!(
        count(&db, "SELECT count(*) FROM entities WHERE name = 'team-gl'").await,
        1,
        "{text}"
    );
    let call = fake
        .seen()
        .into_iter()
        .find(|s| s.path.starts_with("/api/v4/"))
        .unwrap();
    assert_eq!(
        call.path,
        "/api/v4/projects/acme%2Fplatform%2Fsvc/repository/files/catalog%2Fcatalog-info.yaml/raw"
    );
    assert_eq!(call.headers["private-token"], GITLAB_TOKEN);
    assert!(
        text.contains("/huge' is 50003 bytes, over the 10000-byte limit"),
        "{text}"
    );
    assert!(
        text.contains("/loop' could not be fetched: too many redirects"),
        "{text}"
    );
    assert!(
        text.contains("could not be fetched: no connection to the server"),
        "{text}"
    );
    assert!(!text.contains(GITLAB_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refreshes_remembered_locations_one_failing_without_holding_up_the_other() {
    let db = TestDb::new().await;
    let fake = FakeGitHost::start().await;
    fake.put("acme/svc/main/catalog-info.yaml", SERVICE);
    fake.put(
        "acme/svc/main/more/api.yaml",
        &api(&format!("{}/plain/gone.yaml", fake.base())),
    );
    fake.put("acme/svc/main/more/openapi.yaml", "openapi: 3.0.0\n");
    let good = format!("{}/acme/svc/blob/main/catalog-info.yaml", fake.base());
    let bad = format!("{}/plain/missing.yaml", fake.base());
    let dir = config(
        &fake,
        &format!(
            "\n[[catalog.locations]]\ntarget = \"{bad}\"\n\n[[catalog.locations]]\ntarget = \"{good}\"\nschedule = \"*/5 * * * *\"\n"
        ),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = usher()
        .env("DATABASE_URL", db.url())
        .env("USHER_CONFIG", dir.path().join("usher.toml"))
        .env("FAKE_GH_TOKEN", GITHUB_TOKEN)
        .env("USHER_LISTEN", format!("127.0.0.1:{port}"))
        .arg("serve")
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(
        &db,
        "SELECT count(*) FROM locations WHERE refreshed_at IS NOT NULL AND remembered",
    )
    .await
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the locations were not refreshed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = tokio::task::spawn_blocking(move || serve.wait()).await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM entities WHERE name = 'svc'").await,
        1
    );

    let mut cmd = usher();
    cmd.env("DATABASE_URL", db.url())
        .args(["catalog", "locations"]);
    let text = stdout(&run(cmd).await);
    assert!(text.contains(&good) && text.contains(&bad), "{text}");
    assert!(
        text.contains("refreshed by usher serve on '*/5 * * * *'"),
        "{text}"
    );
    assert!(
        text.contains("refreshed by usher serve on 'the default schedule'"),
        "{text}"
    );
    // The failing location's outcome: its one error.
    let bad_outcome: serde_json::Value =
        sqlx::query_scalar("SELECT last_outcome FROM locations WHERE target = $1")
            .bind(&bad)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(bad_outcome["errors"], 1);

    // add-location remembers and imports at once.
    let mut cmd = usher();
    cmd.env("DATABASE_URL", db.url())
        .args(["catalog", "add-location", "--schedule", "0 3 * * *"])
        .arg(fixtures().join("backstage/examples/acme-corp.yaml"));
    let out = run(cmd).await;
    assert!(
        stdout(&out).contains("remembered") && stdout(&out).contains("imported now"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let mut cmd = usher();
    cmd.env("DATABASE_URL", db.url()).args([
        "catalog",
        "add-location",
        "--schedule",
        "0 3 * *",
        "x",
    ]);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--schedule: the schedule '0 3 * *' has 4 fields"),
        "{}",
        stderr(&out)
    );
}

/// Every stored field of every entity except provenance (ids, locations,
/// files, lines, timestamps), with relations and links.
async fn snapshot(db: &TestDb) -> BTreeMap<String, serde_json::Value> {
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT e.ref, to_jsonb(e) - 'id' - 'location_id' - 'source_file' - 'source_line' - 'created_at' - 'updated_at'
                - 'content_hash' - 'confirmed_at' - 'origin'
                || jsonb_build_object(
                    'relations', (SELECT coalesce(jsonb_agg(jsonb_build_array(r.type, r.target_ref) ORDER BY r.type, r.target_ref), '[]')
                                  FROM relations r WHERE r.source_id = e.id),
                    'links', (SELECT coalesce(jsonb_agg(jsonb_build_array(l.position, l.category, l.title, l.url, l.icon) ORDER BY l.position), '[]')
                              FROM links l WHERE l.entity_id = e.id))
         FROM entities e WHERE e.kind <> 'location'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_round_trip_field_by_field() {
    let first = TestDb::new().await;
    let examples = fixtures().join("backstage/examples");
    for root in ["all.yaml", "acme-corp.yaml"] {
        let mut cmd = usher();
        cmd.env("DATABASE_URL", first.url())
            .args(["catalog", "import"])
            .arg(examples.join(root));
        let out = run(cmd).await;
        // all.yaml's one error: its two `guest` users share an email.
        assert!(
            out.status.success()
                || stdout(&out).contains("'guest@example.com' belongs to user:default/guest"),
            "{}",
            stdout(&out)
        );
    }
    let before = snapshot(&first).await;
    assert!(before.len() > 50);

    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = usher();
    cmd.env("DATABASE_URL", first.url())
        .args(["catalog", "export", "--output"])
        .arg(out_dir.path());
    let out = run(cmd).await;
    assert!(
        stdout(&out).contains(&format!("exported {} entities", before.len())),
        "{}",
        stdout(&out)
    );
    let root = out_dir.path().join("catalog-info.yaml");

    // What export writes, validate accepts.
    let mut cmd = usher();
    cmd.args(["catalog", "validate", "--offline"]).arg(&root);
    let out = run(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    let second = TestDb::new().await;
    let mut cmd = usher();
    cmd.env("DATABASE_URL", second.url())
        .args(["catalog", "import"])
        .arg(&root);
    assert!(run(cmd).await.status.success());
    let after = snapshot(&second).await;
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (key, value) in &before {
        assert_eq!(value, &after[key], "{key} differs after the round trip");
    }

    // `-` writes one YAML stream.
    let mut cmd = usher();
    cmd.env("DATABASE_URL", first.url())
        .args(["catalog", "export"]);
    let text = stdout(&run(cmd).await);
    assert_eq!(text.matches("---\n").count(), before.len());
}
