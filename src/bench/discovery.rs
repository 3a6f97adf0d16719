//! `usher bench discovery`: a GitHub organisation of N repositories served
//! by a local fake speaking GitHub's GraphQL and REST shapes — two thirds
//! with a `catalog-info.yaml`, the rest with CODEOWNERS on half, one in 50
//! archived, each with realistic manifests (a pom.xml or go.mod, some a
//! package-lock.json of 300 packages) — scanned twice: the first scan (every descriptor imported)
//! and a re-scan with nothing pushed (nothing read again). Prints wall
//! time, GraphQL calls, rate-limit points and peak RSS; asserts nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::catalog::fetch::{HostConfig, HostKind};
use crate::catalog::loader::LoadOptions;
use crate::catalog::source::Source;
use crate::config::{Config, DiscoveryConfig};

const ORG: &str = "bench";

/// What the fake organisation is.
#[derive(Clone)]
struct Org {
    repositories: usize,
    teams: usize,
    base: String,
}

impl Org {
    fn name(i: usize) -> String {
        format!("svc-{i:05}")
    }

    fn described(i: usize) -> bool {
        !i.is_multiple_of(3)
    }

    fn node(&self, i: usize) -> Value {
        let name = Org::name(i);
        let codeowners = (!Org::described(i) && i.is_multiple_of(2)).then(|| {
            let text = format!("* @{ORG}/team-{}\n/docs/ @{ORG}/writers\n", i % self.teams);
            json!({ "text": text, "byteSize": text.len() })
        });
        let mut node = json!({
            "id": format!("R_bench{i:07}"),
            "nameWithOwner": format!("{ORG}/{name}"),
            "url": format!("{}/{ORG}/{name}", self.base),
            "isArchived": i % 50 == 49,
            "isFork": false,
            "visibility": "INTERNAL",
            "pushedAt": "2026-11-30T09:00:00Z",
            "defaultBranchRef": { "name": "main", "target": { "oid": format!("{:040x}", i + 1) } },
            "repositoryTopics": { "nodes": [{ "topic": { "name": "backend" } }] },
            "languages": { "edges": [
                { "size": 12_000 + i, "node": { "name": if i.is_multiple_of(4) { "Java" } else { "Go" } } },
                { "size": 800, "node": { "name": "Shell" } },
                { "size": 40, "node": { "name": "Dockerfile" } },
            ] },
            "descriptor": if Org::described(i) { json!({ "byteSize": 300 }) } else { Value::Null },
            "ownersGithub": codeowners.unwrap_or(Value::Null),
            "ownersRoot": Value::Null,
            "ownersDocs": Value::Null,
        });
        for (alias, _) in crate::discovery::github::MANIFESTS {
            node[*alias] = Value::Null;
        }
        for (alias, text) in Org::manifests(i) {
            node[alias] = json!({ "text": text, "byteSize": text.len(), "isTruncated": false });
        }
        node
    }

    /// Realistic manifests: a Java repository's pom.xml (40 dependencies,
    /// versions in properties, one of them log4j-core), a Go repository's
    /// go.mod (30 modules); every fifth with a package-lock.json of 300
    /// packages, every seventh with a requirements.txt.
    fn manifests(i: usize) -> Vec<(&'static str, String)> {
        let mut files = Vec::new();
        if i.is_multiple_of(4) {
            let mut pom = String::from(
                "<?xml version=\"1.0\"?>\n<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  <groupId>com.bench</groupId><artifactId>svc</artifactId><version>1.0.0</version>\n  <properties>\n",
            );
            let log4j = if i.is_multiple_of(8) {
                "2.14.1"
            } else {
                "2.17.2"
            };
            pom.push_str(&format!(
                "    <log4j.version>{log4j}</log4j.version>\n  </properties>\n  <dependencies>\n"
            ));
            pom.push_str("    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${log4j.version}</version></dependency>\n");
            for d in 0..39 {
                pom.push_str(&format!("    <dependency><groupId>org.bench.lib{d}</groupId><artifactId>lib-{d}</artifactId><version>1.{d}.{}</version></dependency>\n", i % 10));
            }
            pom.push_str("  </dependencies>\n</project>\n");
            files.push(("pomXml", pom));
        } else {
            let mut go = String::from("module example.com/bench/svc\n\ngo 1.22\n\nrequire (\n");
            for d in 0..30 {
                go.push_str(&format!("\tgithub.com/bench/mod{d} v1.{d}.{}\n", i % 10));
            }
            go.push_str(")\n");
            files.push(("goMod", go));
        }
        if i.is_multiple_of(5) {
            let mut lock = String::from(
                "{\"name\":\"web\",\"lockfileVersion\":3,\"packages\":{\"\":{\"name\":\"web\"}",
            );
            for d in 0..300 {
                lock.push_str(&format!(",\"node_modules/pkg-{d}\":{{\"version\":\"{}.{d}.0\",\"resolved\":\"https://registry.npmjs.org/pkg-{d}/-/pkg-{d}-1.0.0.tgz\",\"integrity\":\"sha512-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}}", i % 7));
            }
            lock.push_str("}}");
            files.push(("packageLock", lock));
        }
        if i.is_multiple_of(7) {
            let text: String = (0..20)
                .map(|d| format!("package{d}==2.{d}.{}\n", i % 5))
                .collect();
            files.push(("requirements", text));
        }
        files
    }
}

/// GitHub's cost of one page: 1 for the repositories, plus 100 for each
/// nested connection (topics, languages), over 100 — 2 points.
const POINTS_A_PAGE: i64 = 2;

async fn graphql(State(org): State<Arc<Org>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    if request["query"]
        .as_str()
        .is_some_and(|q| q.contains("teams(first:"))
    {
        // No teams: CODEOWNERS is the owners' evidence here.
        return axum::Json(json!({ "data": {
            "rateLimit": { "cost": 1, "remaining": 4000, "resetAt": "2026-12-02T13:00:00Z" },
            "organization": { "teams": { "pageInfo": { "hasNextPage": false, "endCursor": null }, "nodes": [] } },
        }}))
        .into_response();
    }
    let first = request["variables"]["first"].as_u64().unwrap_or(0) as usize;
    let start = request["variables"]["cursor"]
        .as_str()
        .and_then(|c| c.strip_prefix("c"))
        .and_then(|n| n.parse::<usize>().ok())
        .map(|n| n + 1)
        .unwrap_or(0);
    let end = (start + first.min(100)).min(org.repositories);
    let nodes: Vec<Value> = (start..end).map(|i| org.node(i)).collect();
    axum::Json(json!({ "data": {
        "rateLimit": { "cost": POINTS_A_PAGE, "remaining": 5000 - POINTS_A_PAGE * (end / 100) as i64, "resetAt": "2026-12-02T13:00:00Z" },
        "organization": { "repositories": {
            "pageInfo": { "hasNextPage": end < org.repositories, "endCursor": if end > start { json!(format!("c{}", end - 1)) } else { Value::Null } },
            "nodes": nodes,
        }},
    }}))
    .into_response()
}

async fn contents(
    State(org): State<Arc<Org>>,
    Path((_owner, repo, _path)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(i) = repo
        .strip_prefix("svc-")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if i >= org.repositories || !Org::described(i) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let etag = format!("\"bench-{i}\"");
    if headers
        .get("if-none-match")
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    let yaml = format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {}\n  description: Bench service {i}\n  annotations:\n    github.com/project-slug: {ORG}/{}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-{}\n",
        Org::name(i),
        Org::name(i),
        i % org.teams
    );
    (StatusCode::OK, [("etag", etag)], yaml).into_response()
}

/// The figures of one run.
#[derive(Debug, Default)]
pub struct Figures {
    pub repositories: i64,
    pub described: i64,
    pub undescribed: i64,
    pub with_likely_owner: i64,
    pub archived: i64,
    pub first: Duration,
    pub first_calls: usize,
    pub first_points: i64,
    pub imported: usize,
    pub first_peak_mb: f64,
    pub rescan: Duration,
    pub rescan_calls: usize,
    pub rescan_read: usize,
    pub rescan_peak_mb: f64,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "discovery: {} repositories ({} described, {} without a descriptor, {} with a likely owner, {} archived)",
            self.repositories,
            self.described,
            self.undescribed,
            self.with_likely_owner,
            self.archived
        )?;
        writeln!(
            f,
            "  first scan: {:.1} s, {} GraphQL calls, {} points, {} descriptors imported; peak RSS {:.0} MB   (targets: ≤ 60 s, ≤ 100 calls, ≤ 150 MB)",
            self.first.as_secs_f64(),
            self.first_calls,
            self.first_points,
            self.imported,
            self.first_peak_mb
        )?;
        write!(
            f,
            "  re-scan, nothing pushed: {:.2} s, {} GraphQL calls, {} repositories read again; peak RSS {:.0} MB   (target: ≤ 5 s)",
            self.rescan.as_secs_f64(),
            self.rescan_calls,
            self.rescan_read,
            self.rescan_peak_mb
        )
    }
}

/// Runs the benchmark against `pool` (a scratch database).
pub async fn run(
    pool: &PgPool,
    config: &Config,
    repositories: usize,
) -> Result<Figures, Box<dyn std::error::Error + Send + Sync>> {
    let teams = (repositories / 60).max(1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let org = Arc::new(Org {
        repositories,
        teams,
        base: format!("http://127.0.0.1:{port}"),
    });
    let app = Router::new()
        .route("/api/graphql", post(graphql))
        .route(
            "/api/v3/repos/{owner}/{repo}/contents/{*path}",
            get(contents),
        )
        .with_state(org.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The teams CODEOWNERS names, with their GitHub team slugs.
    let dir = std::env::temp_dir().join(format!("usher-bench-discovery-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut yaml = String::new();
    for t in 0..teams {
        yaml.push_str(&format!(
            "---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-{t}\n  annotations:\n    github.com/team-slug: {ORG}/team-{t}\nspec:\n  type: team\n  children: []\n"
        ));
    }
    let teams_file = dir.join("teams.yaml");
    std::fs::write(&teams_file, yaml)?;
    let mut config = config.clone();
    config.catalog.hosts.push(HostConfig {
        kind: HostKind::Github,
        host: format!("127.0.0.1:{port}"),
        api_url: format!("http://127.0.0.1:{port}/api/v3"),
        token_env: None,
        allow_private: true,
        token_owners: Vec::new(),
    });
    let options = LoadOptions::from_config_with(&config, Some(pool.clone()));
    let teams_source = Source::File(teams_file);
    crate::catalog::import_one(
        pool,
        &teams_source,
        crate::catalog::refresh::kind_of(&teams_source),
        &options,
        "bench",
        false,
    )
    .await?;
    let entry = DiscoveryConfig {
        kind: "github".into(),
        org: ORG.into(),
        group: String::new(),
        // The bench measures the GraphQL scan; SBOMs are one REST call a
        // repository on top.
        dependency_graph: false,
        rest_url: String::new(),
        descriptor_paths: Vec::new(),
        graphql_url: format!("http://127.0.0.1:{port}/api/graphql"),
        token_env: "USHER_BENCH_TOKEN".into(),
        schedule: "0 4 * * *".into(),
    };
    let mut figures = Figures::default();
    super::reset_peak_memory();
    let started = Instant::now();
    let (summary, cost) =
        crate::discovery::scan_source(pool, &entry, "bench-token", &options, "bench", false)
            .await?;
    figures.first = started.elapsed();
    figures.first_calls = cost.calls;
    figures.first_points = cost.points;
    figures.imported = summary.imported.len();
    figures.first_peak_mb = super::memory_mb().1;
    figures.repositories = summary.repositories;
    figures.described = summary.described;
    figures.undescribed = summary.undescribed;
    figures.with_likely_owner = summary.with_likely_owner;
    figures.archived = summary.archived;
    super::reset_peak_memory();
    let started = Instant::now();
    let (summary, cost) =
        crate::discovery::scan_source(pool, &entry, "bench-token", &options, "bench", false)
            .await?;
    figures.rescan = started.elapsed();
    figures.rescan_calls = cost.calls;
    figures.rescan_read = summary.read;
    figures.rescan_peak_mb = super::memory_mb().1;
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(figures)
}
