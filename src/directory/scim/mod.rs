//! SCIM 2.0 (RFC 7643, RFC 7644) at `/scim/v2`: what identity providers
//! (Okta, Microsoft Entra ID, OneLogin, JumpCloud) push to usher about
//! people and groups — Users and Groups created, read, listed with filters
//! and paging, replaced, patched and deleted, with ETags; the service
//! provider's configuration, resource types and schemas; errors in SCIM's
//! error schema.
//!
//! On only when `USHER_SCIM_TOKEN` is set (else these paths are 404), and
//! then only for a request whose bearer token is that one, compared in
//! constant time. Bodies are capped at 1 MiB; what a provider sends is
//! outside input throughout ([`filter`], [`patch`]).

pub mod docs;
pub mod filter;
pub mod patch;
pub mod resource;
pub mod store;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use resource::{Kind, Stored};
use store::StoreError;

/// The most resources one list page holds.
pub const MAX_RESULTS: usize = 200;
/// The largest request body.
const MAX_BODY: usize = 1024 * 1024;

#[derive(Clone)]
struct Scim {
    pool: PgPool,
    token_digest: [u8; 32],
}

/// The `/scim/v2` routes, answering only `token`'s bearer.
pub fn routes(pool: PgPool, token: &str) -> Router {
    let state = Scim {
        pool,
        token_digest: Sha256::digest(token.as_bytes()).into(),
    };
    Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(service_provider_config),
        )
        .route("/scim/v2/ResourceTypes", get(resource_types))
        .route("/scim/v2/ResourceTypes/{name}", get(resource_type))
        .route("/scim/v2/Schemas", get(schemas))
        .route("/scim/v2/Schemas/{id}", get(schema))
        .route("/scim/v2/Users", get(list_users).post(create_user))
        .route(
            "/scim/v2/Users/{id}",
            get(get_user)
                .put(put_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/scim/v2/Groups", get(list_groups).post(create_group))
        .route(
            "/scim/v2/Groups/{id}",
            get(get_group)
                .put(put_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .layer(middleware::from_fn_with_state(state.clone(), authorise))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// A SCIM answer: `application/scim+json`.
fn scim(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    response
}

/// An error in SCIM's error schema.
fn error(status: StatusCode, scim_type: Option<&str>, detail: impl Into<String>) -> Response {
    let mut body = json!({
        "schemas": [resource::ERROR],
        "status": status.as_u16().to_string(),
        "detail": detail.into(),
    });
    if let Some(t) = scim_type {
        body["scimType"] = json!(t);
    }
    scim(status, body)
}

async fn authorise(State(scim_state): State<Scim>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| Sha256::digest(t.trim().as_bytes()));
    // Digests of equal length, compared without stopping early.
    let matches = given.is_some_and(|g| {
        g.iter()
            .zip(scim_state.token_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    });
    if !matches {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            None,
            "a bearer token is required: the one in USHER_SCIM_TOKEN",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    next.run(request).await
}

/// `https://host/scim/v2`, as the client reached it.
fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("http") => "http",
        Some(_) => "https",
        None if host.starts_with("127.")
            || host.starts_with("localhost")
            || host.starts_with("[::1]") =>
        {
            "http"
        }
        None => "https",
    };
    format!("{scheme}://{host}/scim/v2")
}

async fn service_provider_config(headers: HeaderMap) -> Response {
    scim(
        StatusCode::OK,
        docs::service_provider_config(&base(&headers)),
    )
}

fn list_of(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [resource::LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

async fn resource_types(headers: HeaderMap) -> Response {
    scim(
        StatusCode::OK,
        list_of(docs::resource_types(&base(&headers))),
    )
}

async fn resource_type(headers: HeaderMap, Path(name): Path<String>) -> Response {
    match docs::resource_types(&base(&headers))
        .into_iter()
        .find(|t| t["id"] == name.as_str())
    {
        Some(t) => scim(StatusCode::OK, t),
        None => error(
            StatusCode::NOT_FOUND,
            None,
            format!("no resource type {name}; there are User and Group"),
        ),
    }
}

async fn schemas(headers: HeaderMap) -> Response {
    scim(StatusCode::OK, list_of(docs::schemas(&base(&headers))))
}

async fn schema(headers: HeaderMap, Path(id): Path<String>) -> Response {
    match docs::schemas(&base(&headers))
        .into_iter()
        .find(|s| s["id"] == id.as_str())
    {
        Some(s) => scim(StatusCode::OK, s),
        None => error(StatusCode::NOT_FOUND, None, format!("no schema {id}")),
    }
}

/// One resource, with its ETag.
fn one(status: StatusCode, stored: &Stored, headers: &HeaderMap) -> Response {
    let mut response = scim(status, stored.render(&base(headers)));
    if let Ok(etag) = HeaderValue::from_str(&stored.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!(
            "{}/{}/{}",
            base(headers),
            stored.kind.endpoint(),
            stored.id
        ))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn database(e: sqlx::Error) -> Response {
    tracing::warn!(error = %e, "scim: database error");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "the catalog's database is unavailable; try again",
    )
}

fn store_error(kind: Kind, e: StoreError) -> Response {
    match e {
        StoreError::NotFound => error(
            StatusCode::NOT_FOUND,
            None,
            format!("no such {}", kind.as_str()),
        ),
        StoreError::Taken => error(
            StatusCode::CONFLICT,
            Some("uniqueness"),
            format!(
                "another {} has that {}",
                kind.as_str(),
                kind.name_attribute()
            ),
        ),
        StoreError::Changed => error(
            StatusCode::PRECONDITION_FAILED,
            None,
            "the resource changed since that version (If-Match); read it again",
        ),
        StoreError::Database(e) => database(e),
    }
}

/// The version an `If-Match` names (`W/"3"`, `"3"`); `*` is any.
fn if_match(headers: &HeaderMap) -> Option<i32> {
    let text = headers.get(header::IF_MATCH)?.to_str().ok()?;
    text.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .ok()
}

/// A request refused before it touches anything: SCIM's `scimType` and
/// the detail, as a 400.
struct Refusal {
    scim_type: &'static str,
    detail: String,
}

impl Refusal {
    fn response(self) -> Response {
        error(StatusCode::BAD_REQUEST, Some(self.scim_type), self.detail)
    }
}

/// The request body as a resource to store: JSON, an object, with its
/// name, without the server's attributes, booleans as booleans.
fn incoming(kind: Kind, body: &[u8]) -> Result<Value, Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Refusal {
        scim_type: "invalidSyntax",
        detail: format!("the body isn't JSON: {e}"),
    })?;
    if !value.is_object() {
        return Err(Refusal {
            scim_type: "invalidSyntax",
            detail: "the body must be a JSON object".into(),
        });
    }
    let mut value = resource::writable(value);
    patch::normalise(&mut value);
    check_name(kind, &value)?;
    Ok(value)
}

fn check_name(kind: Kind, value: &Value) -> Result<(), Refusal> {
    let name = value
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(kind.name_attribute()))
        })
        .and_then(|(_, v)| v.as_str())
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 256);
    match name {
        Some(_) => Ok(()),
        None => Err(Refusal {
            scim_type: "invalidValue",
            detail: format!(
                "{} is required (a string of up to 256 characters)",
                kind.name_attribute()
            ),
        }),
    }
}

async fn list(
    state: &Scim,
    kind: Kind,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Response {
    let param = |name: &str| resource::query_param(query, name);
    let parsed = match param("filter").filter(|f| !f.trim().is_empty()) {
        Some(text) => match filter::parse(text) {
            Ok(f) => Some(f),
            Err(e) => return error(StatusCode::BAD_REQUEST, Some("invalidFilter"), e.0),
        },
        None => None,
    };
    // The filters providers send most go to an index.
    let (by_name, by_external_id) = match &parsed {
        Some(filter::Filter::Compare(path, filter::Op::Eq, filter::Literal::Str(value)))
            if path.sub.is_none() =>
        {
            if path.name.eq_ignore_ascii_case(kind.name_attribute()) {
                (Some(value.as_str()), None)
            } else if path.name.eq_ignore_ascii_case("externalId") {
                (None, Some(value.as_str()))
            } else {
                (None, None)
            }
        }
        _ => (None, None),
    };
    let all = match store::list(&state.pool, kind, by_name, by_external_id).await {
        Ok(all) => all,
        Err(e) => return database(e),
    };
    let base = base(headers);
    let matching: Vec<Value> = all
        .iter()
        .map(|s| s.render(&base))
        .filter(|r| parsed.as_ref().is_none_or(|f| f.matches(r)))
        .collect();
    let start = param("startIndex")
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1) as usize;
    let count = param("count")
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(100)
        .clamp(0, MAX_RESULTS as i64) as usize;
    let attributes = resource::list_param(param("attributes"));
    let excluded = resource::list_param(param("excludedAttributes"));
    let page: Vec<Value> = matching
        .iter()
        .skip(start - 1)
        .take(count)
        .cloned()
        .map(|r| resource::project(r, &attributes, &excluded))
        .collect();
    scim(
        StatusCode::OK,
        json!({
            "schemas": [resource::LIST_RESPONSE],
            "totalResults": matching.len(),
            "startIndex": start,
            "itemsPerPage": page.len(),
            "Resources": page,
        }),
    )
}

async fn create(state: &Scim, kind: Kind, headers: &HeaderMap, body: &[u8]) -> Response {
    let value = match incoming(kind, body) {
        Ok(v) => v,
        Err(refusal) => return refusal.response(),
    };
    match store::create(&state.pool, kind, value).await {
        Ok(stored) => one(StatusCode::CREATED, &stored, headers),
        Err(e) => store_error(kind, e),
    }
}

async fn read(
    state: &Scim,
    kind: Kind,
    id: &str,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Response {
    let stored = match store::get(&state.pool, kind, id).await {
        Ok(Some(s)) => s,
        Ok(None) => return store_error(kind, StoreError::NotFound),
        Err(e) => return database(e),
    };
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == stored.etag());
    if unchanged {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let param = |name: &str| resource::query_param(query, name);
    let mut response = one(StatusCode::OK, &stored, headers);
    let attributes = resource::list_param(param("attributes"));
    let excluded = resource::list_param(param("excludedAttributes"));
    if !attributes.is_empty() || !excluded.is_empty() {
        let projected = resource::project(stored.render(&base(headers)), &attributes, &excluded);
        let etag = response.headers().get(header::ETAG).cloned();
        response = scim(StatusCode::OK, projected);
        if let Some(etag) = etag {
            response.headers_mut().insert(header::ETAG, etag);
        }
    }
    response
}

async fn put(state: &Scim, kind: Kind, id: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let value = match incoming(kind, body) {
        Ok(v) => v,
        Err(refusal) => return refusal.response(),
    };
    match store::replace(&state.pool, kind, id, value, if_match(headers)).await {
        Ok(stored) => one(StatusCode::OK, &stored, headers),
        Err(e) => store_error(kind, e),
    }
}

async fn patch_resource(
    state: &Scim,
    kind: Kind,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                Some("invalidSyntax"),
                format!("the body isn't JSON: {e}"),
            );
        }
    };
    let Some(operations) = request
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("Operations")))
        .and_then(|(_, v)| v.as_array())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "a PatchOp needs `Operations`, a list",
        );
    };
    // Read, change, write guarded by the version read: a concurrent write
    // makes this one fail rather than vanish.
    for _ in 0..3 {
        let stored = match store::get(&state.pool, kind, id).await {
            Ok(Some(s)) => s,
            Ok(None) => return store_error(kind, StoreError::NotFound),
            Err(e) => return database(e),
        };
        let expected = match if_match(headers) {
            Some(v) if v != stored.version => return store_error(kind, StoreError::Changed),
            _ => stored.version,
        };
        let mut data = stored.data.clone();
        if let Err(e) = patch::apply(&mut data, operations) {
            return error(StatusCode::BAD_REQUEST, Some(e.scim_type), e.detail);
        }
        let data = resource::writable(data);
        if let Err(refusal) = check_name(kind, &data) {
            return refusal.response();
        }
        match store::replace(&state.pool, kind, id, data, Some(expected)).await {
            Ok(stored) => return one(StatusCode::OK, &stored, headers),
            Err(StoreError::Changed) if if_match(headers).is_none() => continue,
            Err(e) => return store_error(kind, e),
        }
    }
    error(
        StatusCode::CONFLICT,
        None,
        "the resource kept changing; try again",
    )
}

async fn remove(state: &Scim, kind: Kind, id: &str, headers: &HeaderMap) -> Response {
    match store::delete(&state.pool, kind, id, if_match(headers)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => store_error(kind, e),
    }
}

type Params = Query<Vec<(String, String)>>;

async fn list_users(State(s): State<Scim>, headers: HeaderMap, Query(q): Params) -> Response {
    list(&s, Kind::User, &headers, &q).await
}
async fn create_user(State(s): State<Scim>, headers: HeaderMap, body: Bytes) -> Response {
    create(&s, Kind::User, &headers, &body).await
}
async fn get_user(
    State(s): State<Scim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    read(&s, Kind::User, &id, &headers, &q).await
}
async fn put_user(
    State(s): State<Scim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    put(&s, Kind::User, &id, &headers, &body).await
}
async fn patch_user(
    State(s): State<Scim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    patch_resource(&s, Kind::User, &id, &headers, &body).await
}
async fn delete_user(
    State(s): State<Scim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    remove(&s, Kind::User, &id, &headers).await
}
async fn list_groups(State(s): State<Scim>, headers: HeaderMap, Query(q): Params) -> Response {
    list(&s, Kind::Group, &headers, &q).await
}
async fn create_group(State(s): State<Scim>, headers: HeaderMap, body: Bytes) -> Response {
    create(&s, Kind::Group, &headers, &body).await
}
async fn get_group(
    State(s): State<Scim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Params,
) -> Response {
    read(&s, Kind::Group, &id, &headers, &q).await
}
async fn put_group(
    State(s): State<Scim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    put(&s, Kind::Group, &id, &headers, &body).await
}
async fn patch_group(
    State(s): State<Scim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    patch_resource(&s, Kind::Group, &id, &headers, &body).await
}
async fn delete_group(
    State(s): State<Scim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    remove(&s, Kind::Group, &id, &headers).await
}
