//! `usher bench catalog`: imports a generated organisation and prints
//! import throughput, the speed of re-importing it unchanged, exact and
//! fuzzy lookup latency, and this process's peak memory while importing.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::generate::{Generated, Rng};
use super::{Percentiles, memory_mb, ms, reset_peak_memory};
use crate::catalog::import::LocationKind;
use crate::catalog::loader::LoadOptions;
use crate::catalog::model::Kind;
use crate::catalog::snapshot::SnapshotCache;
use crate::catalog::source::Source;
use crate::catalog::{self, store};

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub entities: usize,
    pub import: Duration,
    pub reimport: Duration,
    pub peak_rss_mb: f64,
    pub rss_before_mb: f64,
    pub exact: Percentiles,
    pub fuzzy: Percentiles,
    pub index_build: Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rate = self.entities as f64 / self.import.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "import:           {} entities in {:.2} s = {:.0} entities/s",
            self.entities,
            self.import.as_secs_f64(),
            rate
        )?;
        writeln!(
            f,
            "re-import:        {:.2} s unchanged ({:.1}× faster than the first)",
            self.reimport.as_secs_f64(),
            self.import.as_secs_f64() / self.reimport.as_secs_f64().max(1e-9)
        )?;
        writeln!(
            f,
            "peak RSS (import): {:.1} MB (RSS before the import: {:.1} MB)",
            self.peak_rss_mb, self.rss_before_mb
        )?;
        writeln!(f, "exact lookup:     {}", self.exact)?;
        writeln!(
            f,
            "snapshot build:   {:.0} ms (names and dependency graph, once per catalog change)",
            ms(self.index_build)
        )?;
        write!(f, "fuzzy lookup:     {}", self.fuzzy)
    }
}

/// Imports `generated` into `pool` (which should be empty) and measures.
pub async fn run(
    pool: &PgPool,
    generated: &Generated,
    options: &LoadOptions,
    lookups: usize,
) -> Result<Figures, sqlx::Error> {
    let root = Source::File(generated.root.clone());
    let mut figures = Figures::default();

    reset_peak_memory();
    figures.rss_before_mb = memory_mb().0;
    let started = Instant::now();
    let result =
        catalog::import_one(pool, &root, LocationKind::Dir, options, "bench", false).await?;
    figures.import = started.elapsed();
    figures.peak_rss_mb = memory_mb().1;
    figures.entities = result.loaded.entity_count;
    sqlx::query("ANALYZE").execute(pool).await?;

    let started = Instant::now();
    catalog::import_one(pool, &root, LocationKind::Dir, options, "bench", false).await?;
    figures.reimport = started.elapsed();

    let mut rng = Rng::new(7);
    let names = &generated.sample_names;
    let mut exact = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let name = &names[rng.below(names.len())];
        let t = Instant::now();
        let rows = store::find_by_name(pool, &[Kind::Component], name).await?;
        exact.push(t.elapsed());
        debug_assert_eq!(rows.len(), 1);
    }
    figures.exact = Percentiles::of(&mut exact);

    // Fuzzy lookups go through the in-memory name index (built once, then
    // used until the catalog changes), then fetch the rows.
    let search = SnapshotCache::default();
    let t = Instant::now();
    search.get(pool).await?;
    figures.index_build = t.elapsed();
    let mut fuzzy = Vec::with_capacity(lookups);
    for _ in 0..lookups {
        let name = typo(&names[rng.below(names.len())], &mut rng);
        let t = Instant::now();
        let snapshot = search.get(pool).await?;
        let ids: Vec<i64> = snapshot
            .names
            .similar(&name, &Kind::OWNED, 0.3, 3)
            .into_iter()
            .map(|m| m.id)
            .collect();
        store::find_by_ids(pool, &ids).await?;
        fuzzy.push(t.elapsed());
    }
    figures.fuzzy = Percentiles::of(&mut fuzzy);
    Ok(figures)
}

/// A plausible typo: a dropped letter.
fn typo(name: &str, rng: &mut Rng) -> String {
    let chars: Vec<char> = name.chars().collect();
    let cut = 1 + rng.below(chars.len().saturating_sub(2).max(1));
    chars
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != cut)
        .map(|(_, c)| *c)
        .collect()
}
