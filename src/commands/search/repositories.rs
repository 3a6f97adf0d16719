//! The repositories discovery found that no descriptor catalogues, for
//! `search dep:` — so "who uses log4j-core < 2.17.1?" covers every
//! repository, each with its likely owner and the evidence for it.

use std::collections::BTreeMap;

use super::InRange;
use super::query::{Filter, Query};
use crate::catalog::model::EntityRef;

/// An uncatalogued repository using the package.
#[derive(Debug, Clone)]
pub struct RepoMatch {
    pub name: String,
    pub url: String,
    /// The likely owner (a team's key) and why.
    pub owner_ref: Option<String>,
    pub evidence: Option<String>,
    pub archived: bool,
    /// "log4j-core 2.14.1 (pom.xml)".
    pub versions: Vec<String>,
}

impl RepoMatch {
    /// "likely team-payments", or "no likely owner".
    pub fn owner_phrase(&self) -> String {
        self.owner_ref
            .as_deref()
            .and_then(EntityRef::from_key)
            .map(|r| format!("likely {}", r.short()))
            .unwrap_or_else(|| "no likely owner".into())
    }
}

/// Whether a query's filters mean something for a repository: `dep:`,
/// `owner:` (the likely owner), `lang:` and words (in its name). Others
/// (tier, lifecycle, missing …) are catalog fields no repository has.
pub fn applies(query: &Query) -> bool {
    query.dep().is_some()
        && query.filters.iter().all(|f| match f {
            Filter::Dep(_) | Filter::Owner(_) | Filter::Language(_) => true,
            Filter::Kind(k) => k.eq_ignore_ascii_case("component"),
            _ => false,
        })
}

/// The uncatalogued repositories whose manifests pin a version in the
/// range, by name; `owner`: the resolved `owner:` filter.
pub async fn dep_matches(
    pool: &sqlx::PgPool,
    query: &Query,
    owner: Option<&str>,
) -> Result<Result<Vec<RepoMatch>, String>, sqlx::Error> {
    let Some(dep) = query.dep().filter(|_| applies(query)) else {
        return Ok(Ok(Vec::new()));
    };
    let language = query.filters.iter().find_map(|f| match f {
        Filter::Language(l) => Some(l.clone()),
        _ => None,
    });
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        bool,
        Vec<String>,
        String,
        String,
        String,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.name, r.url, r.owner_ref, r.owner_evidence, r.archived, r.languages,
                p.ecosystem, p.name, p.version, p.file
         FROM repository_packages p JOIN repositories r ON r.id = p.repository_id
         WHERE lower(p.name) = lower($1) AND ($2::text IS NULL OR p.ecosystem = $2)
           AND ($3::text IS NULL OR lower(p.namespace) = lower($3))
           AND r.gone_at IS NULL AND cardinality(r.descriptors) = 0
           AND ($4::text IS NULL OR r.owner_ref = $4)
         ORDER BY r.name, p.file",
    )
    .bind(&dep.name)
    .bind(dep.ecosystem.map(|e| e.as_str()))
    .bind(&dep.namespace)
    .bind(owner)
    .fetch_all(pool)
    .await?;
    let mut in_range = InRange::new(dep);
    let mut found: BTreeMap<String, RepoMatch> = BTreeMap::new();
    for (name, url, owner_ref, evidence, archived, languages, ecosystem, package, version, file) in
        rows
    {
        if let Some(lang) = &language
            && !languages.iter().any(|l| l.eq_ignore_ascii_case(lang))
        {
            continue;
        }
        if !query
            .words
            .iter()
            .all(|w| name.to_lowercase().contains(&w.to_lowercase()))
        {
            continue;
        }
        match in_range.holds(&ecosystem, &version) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(why) => return Ok(Err(why)),
        }
        let entry = found.entry(name.clone()).or_insert_with(|| RepoMatch {
            name,
            url,
            owner_ref,
            evidence,
            archived,
            versions: Vec::new(),
        });
        let label = format!("{package} {version} ({file})");
        if !entry.versions.contains(&label) {
            entry.versions.push(label);
        }
    }
    Ok(Ok(found.into_values().collect()))
}
