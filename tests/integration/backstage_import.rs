//! Switching from a running Backstage: `usher catalog import
//! --from-backstage URL --token-env NAME` against a fake of Backstage's
//! catalog API (`GET /api/catalog/entities/by-query`, cursor paging, a
//! bearer token), shaped as Backstage's OpenAPI document describes it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::support::{TestDb, stdout, usher};

const TOKEN: &str = "bs-secret-token-42";

fn origin(repo: &str, file: &str) -> Value {
    json!({
        "backstage.io/managed-by-location": format!("url:https://github.com/acme/{repo}/blob/main/{file}"),
        "backstage.io/managed-by-origin-location": format!("url:https://github.com/acme/{repo}/blob/main/{file}"),
    })
}

/// Backstage's catalog as its API returns it: what the descriptors said,
/// plus Backstage's own uid, etag, relations and status, and a Location.
fn entities() -> Vec<Value> {
    vec![
        json!({ "apiVersion": "backstage.io/v1alpha1", "kind": "Group",
            "metadata": { "name": "team-alpha", "uid": "0b1c", "etag": "a1", "namespace": "default", "annotations": origin("org", "org.yaml") },
            "spec": { "type": "team", "children": [] },
            "relations": [{ "type": "hasMember", "targetRef": "user:default/alice" }] }),
        json!({ "apiVersion": "backstage.io/v1alpha1", "kind": "User",
            "metadata": { "name": "alice", "uid": "0b1d", "etag": "a2", "namespace": "default", "annotations": origin("org", "org.yaml") },
            "spec": { "profile": { "email": "alice@acme.example" }, "memberOf": ["team-alpha"] } }),
        json!({ "apiVersion": "backstage.io/v1alpha1", "kind": "Location",
            "metadata": { "name": "generated-1", "uid": "0b1e", "annotations": origin("org", "org.yaml") },
            "spec": { "type": "url", "targets": ["https://github.com/acme/org/blob/main/org.yaml"] } }),
        json!({ "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": { "name": "checkout", "uid": "0b1f", "etag": "a3", "namespace": "default",
                "description": "Takes the money", "annotations": origin("checkout", "catalog-info.yaml") },
            "spec": { "type": "service", "lifecycle": "production", "owner": "team-alpha", "providesApis": ["checkout-api"] },
            "relations": [{ "type": "ownedBy", "targetRef": "group:default/team-alpha" }],
            "status": { "items": [] } }),
        json!({ "apiVersion": "backstage.io/v1alpha1", "kind": "API",
            "metadata": { "name": "checkout-api", "uid": "0b20", "namespace": "default", "annotations": origin("checkout", "catalog-info.yaml") },
            "spec": { "type": "openapi", "lifecycle": "production", "owner": "team-alpha", "definition": "openapi: 3.0.0" } }),
    ]
}

#[derive(Clone, Default)]
struct Fake {
    asked: Arc<Mutex<Vec<String>>>,
}

async fn by_query(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": { "name": "AuthenticationError", "message": "Missing credentials" } }))).into_response();
    }
    let get = |k: &str| {
        query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    fake.asked.lock().unwrap().push(format!(
        "limit={:?} cursor={:?}",
        get("limit"),
        get("cursor")
    ));
    let all = entities();
    // Two a page, whatever the limit asked (Backstage may send fewer).
    let start: usize = get("cursor")
        .and_then(|c| c.strip_prefix("page-")?.parse().ok())
        .unwrap_or(0);
    let items: Vec<Value> = all.iter().skip(start).take(2).cloned().collect();
    let next = (start + 2 < all.len()).then(|| format!("page-{}", start + 2));
    let mut page_info = json!({});
    if let Some(next) = next {
        page_info["nextCursor"] = json!(next);
    }
    if start > 0 {
        page_info["prevCursor"] = json!("back");
    }
    axum::Json(json!({ "items": items, "totalItems": all.len(), "pageInfo": page_info }))
        .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_backstages_catalog_is_imported_page_by_page_keeping_origins() {
    let db = TestDb::new().await;
    let fake = Fake::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let app = Router::new()
        .route(
            "/api/catalog/entities/by-query",
            axum::routing::get(by_query),
        )
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let import = |extra: Vec<String>| {
        let mut cmd = usher();
        cmd.env("DATABASE_URL", db.url())
            .env("BACKSTAGE_TOKEN", TOKEN)
            .args(["catalog", "import"])
            .args(extra);
        async move {
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
                .await
                .unwrap()
        }
    };
    let args = |token_env: &str| {
        vec![
            "--from-backstage".to_string(),
            base.clone(),
            "--token-env".into(),
            token_env.into(),
        ]
    };

    let out = import(args("BACKSTAGE_TOKEN")).await;
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "backstage http://127.0.0.1:",
        "4 entities from 2 origins in 3 pages (1 Location entities left out",
        ": 4 entities: 4 added, 0 changed, 0 removed, 0 unchanged; 0 errors",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert!(!text.contains(TOKEN), "{text}");
    let asked = fake.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 3);
    assert_eq!(asked[0], "limit=Some(\"500\") cursor=None");
    assert_eq!(asked[1], "limit=Some(\"500\") cursor=Some(\"page-2\")");

    // Each entity keeps its origin, which is also its source file now.
    let (source_file, origin, raw): (Option<String>, Option<String>, Value) = sqlx::query_as(
        "SELECT source_file, annotations->>'backstage.io/managed-by-origin-location', raw
         FROM entities WHERE ref = 'component:default/checkout'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        source_file.as_deref(),
        Some("https://github.com/acme/checkout/blob/main/catalog-info.yaml")
    );
    assert_eq!(
        origin.as_deref(),
        Some("url:https://github.com/acme/checkout/blob/main/catalog-info.yaml")
    );
    assert!(
        raw.get("relations").is_none() && raw.pointer("/metadata/uid").is_none(),
        "{raw}"
    );
    let location: String = sqlx::query_scalar(
        "SELECT l.target FROM entities e JOIN locations l ON l.id = e.location_id WHERE e.ref = 'user:default/alice'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(location, format!("backstage:{base}"));
    let locations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM entities WHERE kind = 'location'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(locations, 0);

    // Again: nothing changed.
    let out = import(args("BACKSTAGE_TOKEN")).await;
    assert!(
        stdout(&out).contains("0 added, 0 changed, 0 removed, 4 unchanged"),
        "{}",
        stdout(&out)
    );

    // A wrong token: Backstage's 401, said plainly; nothing changes.
    let out = import(args("NOT_SET_ANYWHERE")).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NOT_SET_ANYWHERE is not set"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = usher();
    cmd.env("DATABASE_URL", db.url())
        .env("WRONG_TOKEN", "nope")
        .args([
            "catalog",
            "import",
            "--from-backstage",
            &base,
            "--token-env",
            "WRONG_TOKEN",
        ]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "refused the request (401 Unauthorized); give a token that can read the catalog"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
