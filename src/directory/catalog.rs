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

use crate::catalog::import::ImportOutcome;
use crate::catalog::loader::{LoadOptions, Loaded};

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

/// A sync held back: teams it would strip of more than the allowed share
/// of their active members — (team ref, members removed, of) — and the
/// change's fingerprint, which an admin confirms.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub fingerprint: String,
    pub teams: Vec<(String, usize, usize)>,
}

/// What a sync did.
#[derive(Debug)]
pub enum Synced {
    /// Imported: what was read and what changed (boxed: it is large).
    Imported(Box<(Loaded, ImportOutcome)>),
    Held(Held),
}

/// Teams of fewer active members than this are never held back.
const GUARDED_TEAM_SIZE: usize = 4;

/// The active memberships the documents give: (team ref, person ref).
fn memberships(docs: &[Value]) -> HashSet<(String, String)> {
    let mut out = HashSet::new();
    for doc in docs.iter().filter(|d| d["kind"] == "User") {
        if doc.pointer("/metadata/annotations/usher.dev~1active") == Some(&json!("false")) {
            continue;
        }
        let person = format!(
            "user:default/{}",
            doc["metadata"]["name"].as_str().unwrap_or_default()
        );
        for team in doc["spec"]["memberOf"].as_array().into_iter().flatten() {
            if let Some(team) = team.as_str() {
                out.insert((format!("group:default/{team}"), person.clone()));
            }
        }
    }
    out
}

/// The sync would remove too much of some team, unless an admin confirmed
/// exactly this change.
async fn guard(pool: &PgPool, docs: &[Value], share: f64) -> Result<Option<Held>, sqlx::Error> {
    let current: Vec<(String, String)> = sqlx::query_as(
        "SELECT r.target_ref, u.ref FROM entities u
         JOIN locations l ON l.id = u.location_id AND l.target = $1
         JOIN relations r ON r.source_id = u.id AND r.type = 'memberOf'
         WHERE u.kind = 'user' AND u.active",
    )
    .bind(LOCATION)
    .fetch_all(pool)
    .await?;
    let next = memberships(docs);
    let mut by_team: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for (team, person) in current {
        let entry = by_team.entry(team.clone()).or_default();
        entry.0 += 1;
        if !next.contains(&(team, person.clone())) {
            entry.1.push(person);
        }
    }
    let mut teams = Vec::new();
    let mut lines = Vec::new();
    for (team, (of, mut removed)) in by_team {
        if of >= GUARDED_TEAM_SIZE && removed.len() as f64 / of as f64 > share {
            removed.sort();
            lines.extend(removed.iter().map(|p| format!("{team}|{p}")));
            teams.push((team, removed.len(), of));
        }
    }
    if teams.is_empty() {
        return Ok(None);
    }
    use sha2::Digest;
    let fingerprint = hex::encode(&sha2::Sha256::digest(lines.join("\n").as_bytes())[..8]);
    let confirmed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM directory_confirmations WHERE fingerprint = $1)",
    )
    .bind(&fingerprint)
    .fetch_one(pool)
    .await?;
    Ok((!confirmed).then_some(Held { fingerprint, teams }))
}

/// Imports the directory as the location [`LOCATION`] (the documents
/// written to a folder of their own and read like any descriptors) —
/// unless it would remove more than `max_removal_share` of a team, which
/// waits for an admin ([`Held`]).
pub async fn sync(
    pool: &PgPool,
    options: &LoadOptions,
    max_removal_share: f64,
    actor: &str,
) -> Result<Synced, sqlx::Error> {
    let docs = documents(pool).await?;
    if let Some(held) = guard(pool, &docs, max_removal_share).await? {
        return Ok(Synced::Held(held));
    }
    let text: String = docs.iter().map(|d| format!("---\n{d}\n")).collect();
    // The directory is where people and teams come from: it may define them.
    crate::catalog::import::import_generated(
        pool,
        LOCATION,
        &[("directory.yaml".to_string(), text)],
        true,
        options,
        actor,
        false,
    )
    .await
    .map(|imported| Synced::Imported(Box::new(imported)))
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
