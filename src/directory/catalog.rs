//! The directory in the catalog: what SCIM pushed and what the LDAP
//! sources gave when last read, composed ([`model::compose`]) into the
//! descriptors it amounts to and imported as one location, `directory`,
//! through the same checks as any descriptor. `usher serve` does it a
//! minute after any source changed (once across replicas); an unchanged
//! directory imports as unchanged.
//!
//! Where a descriptor describes the same person or team, `[directory]
//! people` and `membership` say who wins: by default the directory
//! defines the person (taking them over from the descriptor) and says who
//! is in the team, while the descriptor keeps the team itself — its
//! channel, on-call and ownership.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};
use sqlx::PgPool;

use super::model::{self, Group, Known, Person, Source};
use super::scim::resource::attribute as field;
use crate::catalog::import::ImportOutcome;
use crate::catalog::loader::{LoadOptions, Loaded};
use crate::config::{Authority, DirectoryConfig};

/// The location the directory is imported as.
pub const LOCATION: &str = crate::catalog::import::DIRECTORY_LOCATION;

/// What SCIM pushed, as a directory source: deleted groups are gone,
/// deleted or deactivated people stay inactive.
pub async fn scim_source(pool: &PgPool) -> Result<Source, sqlx::Error> {
    let rows: Vec<(String, String, Value, bool, bool)> = sqlx::query_as(
        "SELECT id::text, resource_type, data, active, deleted_at IS NOT NULL
         FROM scim_resources ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await?;
    let mut source = Source {
        name: "scim".into(),
        ..Source::default()
    };
    let mut gone: HashSet<String> = HashSet::new();
    for (id, kind, data, active, deleted) in rows {
        let text = |name: &str| {
            field(&data, name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if kind == "Group" {
            if deleted {
                continue;
            }
            source.groups.push(Group {
                key: id,
                name: text("displayName").unwrap_or_default(),
                description: None,
                members: field(&data, "members")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_string))
                    .collect(),
            });
            continue;
        }
        let user_name = text("userName").unwrap_or_default();
        let email = field(&data, "emails")
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
            .or_else(|| user_name.contains('@').then(|| user_name.clone()));
        if deleted {
            gone.insert(id.clone());
        }
        source.people.push(Person {
            key: id,
            name: user_name,
            email,
            display_name: text("displayName"),
            // Deprovisioned: `active: false`, or deleted. The person stays.
            active: active && !deleted,
            groups: Vec::new(),
        });
    }
    // A deleted person is in no group any more (a deactivated one still
    // is, shown inactive).
    for group in &mut source.groups {
        group.members.retain(|m| !gone.contains(m));
    }
    Ok(source)
}

/// The LDAP sources as last read.
pub async fn ldap_sources(pool: &PgPool) -> Result<Vec<Source>, sqlx::Error> {
    let rows: Vec<(String, sqlx::types::Json<Source>)> =
        sqlx::query_as("SELECT source, data FROM directory_sources ORDER BY source")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(name, data)| Source { name, ..data.0 })
        .collect())
}

/// What the catalog holds that the composition respects: names by email,
/// and the people and teams other locations define.
async fn known(pool: &PgPool) -> Result<Known, sqlx::Error> {
    let rows: Vec<(String, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT e.kind, e.name, lower(e.email), l.target IS DISTINCT FROM $1
         FROM entities e LEFT JOIN locations l ON l.id = e.location_id
         WHERE e.kind IN ('user', 'group') AND e.namespace = 'default'
           AND (e.origin <> 'chat' OR e.kind = 'group')",
    )
    .bind(LOCATION)
    .fetch_all(pool)
    .await?;
    let mut known = Known::default();
    for (kind, name, email, foreign) in rows {
        if kind == "user" {
            if let Some(email) = email {
                known
                    .names_by_email
                    .entry(email)
                    .or_insert_with(|| name.clone());
            }
            if foreign {
                known.foreign_people.insert(name);
            }
        } else if foreign {
            known.foreign_teams.insert(name);
        }
    }
    Ok(known)
}

/// The directory as descriptor documents, with figures: SCIM and the
/// LDAP sources as stored, except those read just now (`fresh`).
pub async fn compose(
    pool: &PgPool,
    config: &DirectoryConfig,
    fresh: &[Source],
) -> Result<model::Composed, sqlx::Error> {
    let mut sources = vec![scim_source(pool).await?];
    for stored in ldap_sources(pool).await? {
        if !fresh.iter().any(|f| f.name == stored.name) {
            sources.push(stored);
        }
    }
    sources.extend(fresh.iter().cloned());
    let known = known(pool).await?;
    Ok(model::compose(&sources, config, &known))
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
    for doc in docs.iter().filter(|d| d["kind"] == "Group") {
        let team = format!(
            "group:default/{}",
            doc["metadata"]["name"].as_str().unwrap_or_default()
        );
        for person in doc["spec"]["members"].as_array().into_iter().flatten() {
            if let Some(person) = person.as_str() {
                out.insert((team.clone(), format!("user:default/{person}")));
            }
        }
    }
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
         WHERE u.kind = 'user' AND u.active
         UNION
         SELECT g.ref, r.target_ref FROM entities g
         JOIN locations l ON l.id = g.location_id AND l.target = $1
         JOIN relations r ON r.source_id = g.id AND r.type = 'hasMember'
         JOIN entities u ON u.ref = r.target_ref AND u.active",
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
    config: &DirectoryConfig,
    actor: &str,
) -> Result<Synced, sqlx::Error> {
    sync_with(pool, options, config, &[], actor, false)
        .await
        .map(|(synced, _)| synced)
}

/// [`sync`] with LDAP sources read just now in place of their stored
/// reads, and with `dry_run` everything checked and nothing written (a
/// change the guard would hold is shown as [`Synced::Held`] either way).
/// Also returns what was composed.
pub async fn sync_with(
    pool: &PgPool,
    options: &LoadOptions,
    config: &DirectoryConfig,
    fresh: &[Source],
    actor: &str,
    dry_run: bool,
) -> Result<(Synced, model::Composed), sqlx::Error> {
    let mut composed = compose(pool, config, fresh).await?;
    if let Some(held) = guard(pool, &composed.documents, config.max_removal_share).await? {
        return Ok((Synced::Held(held), composed));
    }
    let text: String = composed
        .documents
        .iter()
        .map(|d| format!("---\n{d}\n"))
        .collect();
    composed.documents.clear();
    let mut options = options.clone();
    // The directory is the authority for people unless configured not to:
    // a person a descriptor defines becomes the directory's.
    options.takes_over_people = config.people == Authority::Directory;
    options.membership_authority =
        (config.membership == Authority::Directory).then(|| LOCATION.to_string());
    // The directory is where people and teams come from: it may define them.
    let imported = crate::catalog::import::import_generated(
        pool,
        LOCATION,
        &[("directory.yaml".to_string(), text)],
        true,
        &options,
        actor,
        dry_run,
    )
    .await?;
    Ok((Synced::Imported(Box::new(imported)), composed))
}

/// What changes whenever a source does: a sync is due when it moved.
pub async fn fingerprint(pool: &PgPool) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM scim_resources) + (SELECT count(*) FROM directory_sources),
                (SELECT coalesce(sum(version), 0) FROM scim_resources)::bigint
                + (SELECT coalesce(sum(extract(epoch FROM read_at))::bigint, 0) FROM directory_sources)",
    )
    .fetch_one(pool)
    .await
}
