//! The directory in the catalog: what SCIM pushed, as the descriptors it
//! amounts to — a User per person (named after their `userName`, inactive
//! when deprovisioned, a member of their groups) and a team per Group
//! (named after its `displayName` in catalog form) — imported as one
//! location, `scim:directory`, through the same checks as any descriptor.
//! `usher serve` does it a minute after SCIM changes (once across
//! replicas); an unchanged directory imports as unchanged.
//!
//! A person or team a descriptor also defines stays the descriptor's (the
//! import reports the clash); which source wins for what is still to be
//! configurable (issue 20).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::catalog::import::{ImportOutcome, LocationKind};
use crate::catalog::loader::{LoadOptions, Loaded};
use crate::catalog::source::Source;

/// The location the directory is imported as.
pub const LOCATION: &str = "scim:directory";

/// A name in catalog form: lower case letters, digits and single `-`, `.`
/// or `_` between them, at most 63 characters.
pub fn catalog_name(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().to_lowercase().chars() {
        let separator = matches!(c, '.' | '_' | '-');
        if c.is_ascii_alphanumeric()
            || (separator && !out.is_empty() && !out.ends_with(['.', '_', '-']))
        {
            out.push(c);
        } else if !separator && !out.is_empty() && !out.ends_with(['.', '_', '-']) {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(63).collect();
    while out.ends_with(['.', '_', '-']) {
        out.pop();
    }
    out
}

/// Unique names, first come first served: `jane`, `jane-2`.
fn unique(base: String, taken: &mut HashSet<String>) -> String {
    let base = if base.is_empty() {
        "unnamed".to_string()
    } else {
        base
    };
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        let suffix = format!("-{n}");
        name = format!("{}{suffix}", &base[..base.len().min(63 - suffix.len())]);
        n += 1;
    }
    name
}

fn field<'a>(data: &'a Value, name: &str) -> Option<&'a Value> {
    data.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The directory as descriptor documents (Groups first, then Users).
pub async fn documents(pool: &PgPool) -> Result<Vec<Value>, sqlx::Error> {
    let rows: Vec<(String, String, Value, bool, bool)> = sqlx::query_as(
        "SELECT id::text, resource_type, data, active, deleted_at IS NOT NULL
         FROM scim_resources ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await?;
    let mut taken = HashSet::new();
    let mut groups: BTreeMap<String, (String, String)> = BTreeMap::new(); // id → (name, title)
    let mut members: HashMap<String, Vec<String>> = HashMap::new(); // user id → group names
    for (id, kind, data, _, deleted) in rows.iter().filter(|r| r.1 == "Group") {
        let _ = kind;
        if *deleted {
            continue;
        }
        let title = field(data, "displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = unique(catalog_name(&title), &mut taken);
        for member in field(data, "members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(user) = member.get("value").and_then(Value::as_str) {
                members
                    .entry(user.to_string())
                    .or_default()
                    .push(name.clone());
            }
        }
        groups.insert(id.clone(), (name, title));
    }
    let mut docs: Vec<Value> = groups
        .iter()
        .map(|(id, (name, title))| {
            json!({
                "apiVersion": "backstage.io/v1alpha1", "kind": "Group",
                "metadata": { "name": name, "title": title,
                              "annotations": { "usher.dev/scim-id": id, "usher.dev/source": "scim" } },
                "spec": { "type": "team", "children": [] },
            })
        })
        .collect();
    let mut user_names = HashSet::new();
    for (id, _, data, active, deleted) in rows.iter().filter(|r| r.1 == "User") {
        let user_name = field(data, "userName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let local = user_name.split('@').next().unwrap_or(user_name);
        let name = unique(catalog_name(local), &mut user_names);
        let email = field(data, "emails")
            .and_then(Value::as_array)
            .and_then(|emails| {
                emails
                    .iter()
                    .find(|e| e.get("primary") == Some(&Value::Bool(true)))
                    .or_else(|| emails.first())
            })
            .and_then(|e| e.get("value"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| user_name.contains('@').then(|| user_name.to_string()));
        let display = field(data, "displayName")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut annotations = json!({ "usher.dev/scim-id": id, "usher.dev/source": "scim" });
        // Deprovisioned: `active: false`, or deleted. The person stays.
        if !*active || *deleted {
            annotations["usher.dev/active"] = json!("false");
        }
        let mut profile = json!({});
        if let Some(email) = email {
            profile["email"] = json!(email);
        }
        if let Some(display) = display {
            profile["displayName"] = json!(display);
        }
        let memberships = if *deleted {
            Vec::new()
        } else {
            members.remove(id).unwrap_or_default()
        };
        docs.push(json!({
            "apiVersion": "backstage.io/v1alpha1", "kind": "User",
            "metadata": { "name": name, "annotations": annotations },
            "spec": { "profile": profile, "memberOf": memberships },
        }));
    }
    Ok(docs)
}

/// Imports the directory as the location [`LOCATION`]: the documents
/// written to a folder of their own and read like any descriptors.
pub async fn sync(
    pool: &PgPool,
    options: &LoadOptions,
    actor: &str,
) -> Result<(Loaded, ImportOutcome), sqlx::Error> {
    let docs = documents(pool).await?;
    let dir = std::env::temp_dir().join(format!("usher-scim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let text: String = docs.iter().map(|d| format!("---\n{d}\n")).collect();
        std::fs::write(dir.join("directory.yaml"), text)
    });
    if let Err(e) = written {
        return Err(sqlx::Error::Io(e));
    }
    // The directory is where people and teams come from: it may define them.
    let root = Source::File(dir.clone());
    let mut options = options.clone();
    if !options.org_locations.is_empty() {
        options.org_locations.push(root.location_key());
    }
    let result = crate::catalog::import::import_location(
        pool,
        &root,
        LOCATION,
        LocationKind::Dir,
        &options,
        actor,
        false,
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// What changes whenever SCIM writes: a sync is due when it moved.
pub async fn fingerprint(pool: &PgPool) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as("SELECT count(*), coalesce(sum(version), 0)::bigint FROM scim_resources")
        .fetch_one(pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_catalog_form() {
        assert_eq!(catalog_name("Payments Team"), "payments-team");
        assert_eq!(catalog_name("  SRE / On-call  "), "sre-on-call");
        assert_eq!(catalog_name("jane.doe"), "jane.doe");
        assert_eq!(catalog_name("__x__"), "x");
        let mut taken = HashSet::new();
        assert_eq!(unique("jane".into(), &mut taken), "jane");
        assert_eq!(unique("jane".into(), &mut taken), "jane-2");
    }
}
