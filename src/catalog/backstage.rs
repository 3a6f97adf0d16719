//! Switching from a running Backstage: its catalog read through the
//! catalog API (`GET /api/catalog/entities/by-query`, page by page with
//! the cursor it returns), each entity written back as the descriptor it
//! came from — grouped by its origin (`backstage.io/managed-by-origin-location`,
//! else `managed-by-location`), which it keeps — and imported as one
//! location, `backstage:<URL>`. What Backstage adds on its side (`uid`,
//! `etag`, `relations`, `status`) is left out, and so are its Location
//! entities: usher would otherwise follow their targets and read every
//! descriptor twice.
//!
//! Backstage is an outside server: answers are capped in size and pages in
//! number, the token (`--token-env`) goes only to the given address (no
//! redirects to another host), and what comes back is imported through the
//! same checks as any descriptor.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// Entities asked for a page.
const PAGE: usize = 500;
/// Pages read at most (5,000,000 entities).
const MAX_PAGES: usize = 10_000;
/// A page's answer larger than this is refused.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// What the catalog API gave.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Descriptor documents by origin: (origin, the entities' JSON).
    pub by_origin: BTreeMap<String, Vec<Value>>,
    pub entities: usize,
    pub pages: usize,
    /// Backstage's Location entities, left out.
    pub locations_left_out: usize,
}

/// Reads every entity of the Backstage at `base` (`https://backstage.example.com`).
pub async fn fetch(base: &str, token: Option<&str>) -> Result<Fetched, String> {
    let base = base.trim_end_matches('/');
    let parsed = reqwest::Url::parse(base).map_err(|_| {
        format!("{base} is not a URL; give Backstage's address, e.g. https://backstage.example.com")
    })?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!("{base}: give an http(s) address"));
    }
    let client = crate::actions::token_client(Duration::from_secs(10), Duration::from_secs(120));
    let mut fetched = Fetched::default();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = reqwest::Url::parse(&format!("{base}/api/catalog/entities/by-query"))
            .map_err(|e| e.to_string())?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("limit", &PAGE.to_string());
            if let Some(c) = &cursor {
                query.append_pair("cursor", c);
            }
        }
        let mut request = client.get(url).header("accept", "application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("Backstage at {base} didn't answer ({e})"))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(format!(
                "Backstage at {base} refused the request ({status}); give a token that can read the catalog with --token-env NAME"
            ));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(format!(
                "{base} has no catalog API at /api/catalog/entities/by-query (404); give Backstage's base address (Backstage 1.16 or later)"
            ));
        }
        if !status.is_success() {
            return Err(format!(
                "Backstage at {base} answered {status}; try again later"
            ));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("Backstage's answer broke off: {e}"))?;
        if bytes.len() > MAX_BODY {
            return Err("a page of Backstage's answer was larger than 64 MiB".into());
        }
        let page: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("Backstage's answer isn't JSON ({e})"))?;
        let Some(items) = page.get("items").and_then(Value::as_array) else {
            return Err("Backstage's answer has no `items`: is this the catalog API?".into());
        };
        fetched.pages += 1;
        for entity in items {
            add(&mut fetched, entity);
        }
        let next = page
            .pointer("/pageInfo/nextCursor")
            .and_then(Value::as_str)
            .map(str::to_string);
        match next {
            Some(next) if !items.is_empty() && Some(&next) != cursor.as_ref() => {
                cursor = Some(next)
            }
            _ => break,
        }
        if fetched.pages >= MAX_PAGES {
            return Err(format!(
                "Backstage kept sending pages ({MAX_PAGES}); stopped"
            ));
        }
    }
    Ok(fetched)
}

/// Keeps one entity under its origin, without what Backstage adds.
fn add(fetched: &mut Fetched, entity: &Value) {
    let Some(object) = entity.as_object() else {
        return;
    };
    if object
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.eq_ignore_ascii_case("location"))
    {
        fetched.locations_left_out += 1;
        return;
    }
    let mut kept = serde_json::Map::new();
    for key in ["apiVersion", "kind", "metadata", "spec"] {
        if let Some(value) = object.get(key) {
            kept.insert(key.to_string(), value.clone());
        }
    }
    if let Some(metadata) = kept.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("uid");
        metadata.remove("etag");
        metadata.remove("generation");
    }
    fetched.entities += 1;
    fetched
        .by_origin
        .entry(origin(entity).unwrap_or_else(|| "unknown".into()))
        .or_default()
        .push(Value::Object(kept));
}

/// Where Backstage says the entity came from.
pub fn origin(entity: &Value) -> Option<String> {
    let annotations = entity.pointer("/metadata/annotations")?;
    [
        "backstage.io/managed-by-origin-location",
        "backstage.io/managed-by-location",
    ]
    .iter()
    .find_map(|key| annotations.get(*key).and_then(Value::as_str))
    .map(str::to_string)
}

/// A file name for an origin's documents: readable, unique, short.
pub fn file_name(origin: &str) -> String {
    use sha2::Digest;
    let readable: String = origin
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let hash = hex::encode(&sha2::Sha256::digest(origin.as_bytes())[..4]);
    format!("{readable}-{hash}.yaml")
}

/// An origin's entities as one YAML stream (JSON documents are YAML).
pub fn documents(entities: &[Value]) -> String {
    let mut text = String::new();
    for entity in entities {
        text.push_str("---\n");
        text.push_str(&entity.to_string());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn entities_keep_their_origin_and_lose_backstages_additions() {
        let mut fetched = Fetched::default();
        add(
            &mut fetched,
            &json!({
                "apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                "metadata": { "name": "x", "uid": "u-1", "etag": "e",
                    "annotations": { "backstage.io/managed-by-origin-location": "url:https://github.com/acme/x/blob/main/catalog-info.yaml" } },
                "spec": { "type": "service", "owner": "t", "lifecycle": "production" },
                "relations": [{ "type": "ownedBy", "targetRef": "group:default/t" }],
                "status": { "items": [] },
            }),
        );
        add(
            &mut fetched,
            &json!({ "apiVersion": "backstage.io/v1alpha1", "kind": "Location", "metadata": { "name": "l" }, "spec": { "targets": ["./x.yaml"] } }),
        );
        assert_eq!((fetched.entities, fetched.locations_left_out), (1, 1));
        let (origin, docs) = fetched.by_origin.iter().next().unwrap();
        assert_eq!(
            origin,
            "url:https://github.com/acme/x/blob/main/catalog-info.yaml"
        );
        let doc = &docs[0];
        assert!(doc.get("relations").is_none() && doc.get("status").is_none());
        assert!(doc.pointer("/metadata/uid").is_none());
        assert!(file_name(origin).ends_with(".yaml") && file_name(origin).len() < 100);
    }
}
