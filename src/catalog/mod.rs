//! The catalog: the Backstage model, reading and validating descriptors,
//! applying them to Postgres, and looking things up.
//!
//! Architecture invariant: nothing here knows about chat. Commands read the
//! catalog through [`store`]; imports go through [`import`].

pub mod backstage;
pub mod entity;
pub mod export;
pub mod fetch;
pub mod gaps;
pub mod import;
pub mod loader;
pub mod model;
pub mod names;
pub mod problem;
pub mod read_model;
pub mod refresh;
pub mod sbom;
pub mod snapshot;
pub mod source;
pub mod store;
pub mod validate;
pub mod versions;
pub mod yaml;

use sqlx::PgPool;

use import::{ImportOutcome, LocationKind};
use loader::{LoadOptions, Loaded};
use source::Source;

/// One location imported: what was read and what changed (or, in a dry
/// run, what would have).
#[derive(Debug)]
pub struct LocationImport {
    pub target: String,
    pub loaded: Loaded,
    pub outcome: ImportOutcome,
    pub dry_run: bool,
}

fn location_kind(source: &Source) -> LocationKind {
    match source {
        Source::Url(_) => LocationKind::Url,
        Source::File(p) if p.is_dir() => LocationKind::Dir,
        Source::File(_) => LocationKind::File,
    }
}

/// Imports each root as its own location, one transaction each.
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

/// Imports one root as the location `kind`. With `dry_run` everything is
/// checked against the catalog and nothing is kept.
pub async fn import_one(
    pool: &PgPool,
    root: &Source,
    kind: LocationKind,
    options: &LoadOptions,
    actor: &str,
    dry_run: bool,
) -> Result<LocationImport, sqlx::Error> {
    let target = root.location_key();
    let (loaded, outcome) =
        import::import_location(pool, root, &target, kind, options, actor, dry_run).await?;
    Ok(LocationImport {
        target,
        loaded,
        outcome,
        dry_run,
    })
}
