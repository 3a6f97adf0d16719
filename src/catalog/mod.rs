//! The catalog: the Backstage model, reading and validating descriptors,
//! applying them to Postgres, and looking things up.
//!
//! Architecture invariant: nothing here knows about chat. Commands read the
//! catalog through [`store`]; imports go through [`import`].

pub mod entity;
pub mod import;
pub mod loader;
pub mod model;
pub mod problem;
pub mod source;
pub mod store;
pub mod validate;
pub mod yaml;

use sqlx::PgPool;

use import::{ImportOutcome, LocationKind};
use loader::{LoadOptions, Loaded};
use source::Source;

/// One location imported: what was read and what changed.
#[derive(Debug)]
pub struct LocationImport {
    pub target: String,
    pub loaded: Loaded,
    pub outcome: Option<ImportOutcome>,
}

fn location_kind(source: &Source) -> LocationKind {
    match source {
        Source::Url(_) => LocationKind::Url,
        Source::File(p) if p.is_dir() => LocationKind::Dir,
        Source::File(_) => LocationKind::File,
    }
}

/// Imports each root as its own location, one transaction each. With
/// `dry_run`, nothing is written and `outcome` is `None`.
pub async fn import_roots(
    pool: &PgPool,
    roots: &[Source],
    options: &LoadOptions,
    actor: &str,
    dry_run: bool,
) -> Result<Vec<LocationImport>, sqlx::Error> {
    let mut results = Vec::new();
    for root in roots {
        results.push(import_one(pool, root, location_kind(root), options, actor, dry_run).await?);
    }
    Ok(results)
}

/// Imports one root as the location `kind`.
pub async fn import_one(
    pool: &PgPool,
    root: &Source,
    kind: LocationKind,
    options: &LoadOptions,
    actor: &str,
    dry_run: bool,
) -> Result<LocationImport, sqlx::Error> {
    let mut loaded = loader::load(std::slice::from_ref(root), options).await;
    let known = import::known_refs(pool, &loader::referenced_keys(&loaded)).await?;
    loader::check_references(&mut loaded, &known);
    let target = root.location_key();
    let outcome = if dry_run {
        None
    } else {
        Some(import::apply_location(pool, &target, kind, &mut loaded, actor).await?)
    };
    Ok(LocationImport {
        target,
        loaded,
        outcome,
    })
}
