//! An in-memory snapshot of what lookups need fast on a large catalog: the
//! name index ("did you mean …?", completion) and the dependency graph
//! (blast radius, trees, single points of failure).
//!
//! Freshness: rebuilt after any committed change to the entities — a
//! statement trigger sends `NOTIFY usher_catalog` at commit and every
//! process listens (a dropped listener marks the snapshot stale) — and at
//! least every five minutes. Exact answers still come from the database;
//! the snapshot only ranks, counts and suggests.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Mutex;

use super::names::NameIndex;
use super::read_model::ReadModel;

/// Who depends on whom, by entity id.
#[derive(Default)]
pub struct Graph {
    ids: Vec<i64>,
    node: HashMap<i64, u32>,
    /// node → the nodes it depends on.
    deps: Vec<Vec<u32>>,
    /// node → the nodes that depend on it.
    dependents: Vec<Vec<u32>>,
}

/// One line of a dependency tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeLine {
    pub depth: usize,
    pub id: i64,
    /// The entity is already shown higher up this branch (a cycle).
    pub cycle: bool,
    /// Already expanded elsewhere in the tree: not expanded again.
    pub repeated: bool,
    /// Is the last child of its parent (for drawing └─).
    pub last: bool,
}

impl Graph {
    /// Builds the graph from edges (dependent, dependency).
    pub fn build(edges: &[(i64, i64)]) -> Graph {
        let mut g = Graph::default();
        let node_of = |g: &mut Graph, id: i64| -> u32 {
            *g.node.entry(id).or_insert_with(|| {
                g.ids.push(id);
                g.deps.push(Vec::new());
                g.dependents.push(Vec::new());
                (g.ids.len() - 1) as u32
            })
        };
        for &(from, to) in edges {
            if from == to {
                continue;
            }
            let (a, b) = (node_of(&mut g, from), node_of(&mut g, to));
            g.deps[a as usize].push(b);
            g.dependents[b as usize].push(a);
        }
        for list in g.deps.iter_mut().chain(g.dependents.iter_mut()) {
            list.sort_unstable();
            list.dedup();
        }
        g
    }

    fn edges(&self, reverse: bool) -> &[Vec<u32>] {
        if reverse {
            &self.dependents
        } else {
            &self.deps
        }
    }

    /// Direct dependencies (or dependents) of an entity.
    pub fn direct(&self, id: i64, reverse: bool) -> Vec<i64> {
        match self.node.get(&id) {
            Some(&n) => self.edges(reverse)[n as usize]
                .iter()
                .map(|&m| self.ids[m as usize])
                .collect(),
            None => Vec::new(),
        }
    }

    /// How many entities are reachable: everything it depends on, or (with
    /// `reverse`) everything that would be affected if it broke.
    pub fn transitive_count(&self, id: i64, reverse: bool) -> usize {
        let Some(&start) = self.node.get(&id) else {
            return 0;
        };
        let edges = self.edges(reverse);
        let mut seen = vec![false; self.ids.len()];
        seen[start as usize] = true;
        let mut queue = VecDeque::from([start]);
        let mut count = 0;
        while let Some(n) = queue.pop_front() {
            for &m in &edges[n as usize] {
                if !seen[m as usize] {
                    seen[m as usize] = true;
                    count += 1;
                    queue.push_back(m);
                }
            }
        }
        count
    }

    /// The tree of dependencies (or dependents) to `depth`, at most
    /// `max_lines` lines; an entity expanded once is not expanded again.
    pub fn tree(
        &self,
        id: i64,
        reverse: bool,
        depth: usize,
        max_lines: usize,
    ) -> (Vec<TreeLine>, usize) {
        let mut lines = vec![TreeLine {
            depth: 0,
            id,
            cycle: false,
            repeated: false,
            last: true,
        }];
        let Some(&start) = self.node.get(&id) else {
            return (lines, 0);
        };
        let edges = self.edges(reverse);
        let mut expanded = vec![false; self.ids.len()];
        expanded[start as usize] = true;
        let mut omitted = 0;
        // Pre-order, depth-first: frames of (node, depth, next child), and
        // the path from the root for cycle detection.
        let mut stack: Vec<(u32, usize, usize)> = vec![(start, 0, 0)];
        let mut path: Vec<u32> = vec![start];
        while let Some((n, d, next)) = stack.last_mut() {
            let children = &edges[*n as usize];
            if *d >= depth || *next >= children.len() {
                stack.pop();
                path.pop();
                continue;
            }
            let c = children[*next];
            *next += 1;
            let (child_depth, last) = (*d + 1, *next == children.len());
            if lines.len() >= max_lines {
                omitted += 1;
                continue;
            }
            let cycle = path.contains(&c);
            let repeated = !cycle && expanded[c as usize];
            lines.push(TreeLine {
                depth: child_depth,
                id: self.ids[c as usize],
                cycle,
                repeated,
                last,
            });
            if !cycle && !repeated {
                expanded[c as usize] = true;
                stack.push((c, child_depth, 0));
                path.push(c);
            }
        }
        (lines, omitted)
    }

    /// The entities with the most transitive dependents (single points of
    /// failure): the `candidates` with the most direct dependents are
    /// measured, the best `limit` returned as (id, direct, transitive).
    pub fn most_depended_on(&self, limit: usize, candidates: usize) -> Vec<(i64, usize, usize)> {
        let mut by_direct: Vec<u32> = (0..self.ids.len() as u32).collect();
        by_direct.sort_by_key(|&n| std::cmp::Reverse(self.dependents[n as usize].len()));
        let mut scored: Vec<(i64, usize, usize)> = by_direct
            .into_iter()
            .take(candidates)
            .filter(|&n| !self.dependents[n as usize].is_empty())
            .map(|n| {
                let id = self.ids[n as usize];
                (
                    id,
                    self.dependents[n as usize].len(),
                    self.transitive_count(id, true),
                )
            })
            .collect();
        scored.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)));
        scored.truncate(limit);
        scored
    }
}

/// What a snapshot holds.
pub struct Snapshot {
    pub names: Arc<NameIndex>,
    pub graph: Arc<Graph>,
    built: Instant,
}

/// A committed change to the catalog, as its NOTIFY tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Anything may have changed (entities added or removed, people or
    /// teams changed, a rotation changed, a notification missed).
    All,
    /// Only these services, APIs or resources changed, in place: names
    /// stand, and answers that didn't read them stand.
    Updated(HashSet<i64>),
}

impl Change {
    /// Reads a NOTIFY payload: `u:1,2,3`, or anything else for "all".
    pub fn parse(payload: &str) -> Change {
        match payload.strip_prefix("u:") {
            Some(ids) => {
                let parsed: Option<HashSet<i64>> =
                    ids.split(',').map(|id| id.trim().parse().ok()).collect();
                parsed.map(Change::Updated).unwrap_or(Change::All)
            }
            None => Change::All,
        }
    }
}

/// The recent changes, by the generation they made.
#[derive(Default)]
struct ChangeLog {
    entries: VecDeque<(u64, Change)>,
    /// Changes up to this generation are forgotten.
    floor: u64,
}

/// Changes remembered at most (older answers are simply not reused).
const MAX_LOGGED: usize = 1024;

/// The snapshot of one process, kept fresh.
///
/// Name lookups never wait for a dependency graph rebuild: a change that
/// only updates services in place leaves the names as they were, so only
/// the graph is rebuilt, and only by those who ask for the graph.
pub struct SnapshotCache {
    current: Arc<std::sync::RwLock<Option<Arc<Snapshot>>>>,
    /// Held while rebuilding, so one caller rebuilds and the others wait.
    build: Arc<Mutex<()>>,
    names_stale: Arc<AtomicBool>,
    graph_stale: Arc<AtomicBool>,
    listening: AtomicBool,
    /// Counts catalog changes heard of (and listener reconnects), so other
    /// caches can tell they are out of date.
    changes: Arc<AtomicU64>,
    log: Arc<std::sync::Mutex<ChangeLog>>,
    /// The catalog in memory for questions, with the (changes heard,
    /// local writes) it was read at.
    model: Arc<std::sync::RwLock<Option<ModelAt>>>,
    /// Set while a read model is being read.
    model_building: Arc<AtomicBool>,
    /// No new read model is started before this (a catalog changing all
    /// the time doesn't keep a core busy reading it).
    model_not_before: Arc<std::sync::Mutex<Option<Instant>>>,
}

/// A read model and when it was read: (changes heard, writes made here).
type ModelAt = (Arc<ReadModel>, (u64, u64));

/// The longest a snapshot lives without a rebuild, whatever NOTIFY says
/// (a safety net; the rebuild then runs in the background).
const MAX_AGE: Duration = Duration::from_secs(300);

impl Default for SnapshotCache {
    fn default() -> Self {
        SnapshotCache {
            current: Arc::new(std::sync::RwLock::new(None)),
            build: Arc::new(Mutex::new(())),
            names_stale: Arc::new(AtomicBool::new(true)),
            graph_stale: Arc::new(AtomicBool::new(true)),
            listening: AtomicBool::new(false),
            changes: Arc::new(AtomicU64::new(0)),
            log: Arc::new(std::sync::Mutex::new(ChangeLog::default())),
            model: Arc::new(std::sync::RwLock::new(None)),
            model_building: Arc::new(AtomicBool::new(false)),
            model_not_before: Arc::new(std::sync::Mutex::new(None)),
        }
    }
}

impl SnapshotCache {
    fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.read().expect("snapshot lock").clone()
    }

    fn store(&self, snapshot: Arc<Snapshot>) {
        *self.current.write().expect("snapshot lock") = Some(snapshot);
    }

    /// The snapshot for name lookups: its names are current (its graph
    /// may not be — use [`SnapshotCache::get`] for the graph).
    pub async fn names(&self, pool: &PgPool) -> Result<Arc<Snapshot>, sqlx::Error> {
        self.listen(pool).await;
        if !self.names_stale.load(Ordering::SeqCst)
            && let Some(snapshot) = self.current()
        {
            self.refresh_if_old(&snapshot, pool);
            return Ok(snapshot);
        }
        self.rebuild(pool).await
    }

    /// The current snapshot, names and graph, rebuilt first where the
    /// catalog changed.
    pub async fn get(&self, pool: &PgPool) -> Result<Arc<Snapshot>, sqlx::Error> {
        self.listen(pool).await;
        if !self.names_stale.load(Ordering::SeqCst)
            && !self.graph_stale.load(Ordering::SeqCst)
            && let Some(snapshot) = self.current()
        {
            self.refresh_if_old(&snapshot, pool);
            return Ok(snapshot);
        }
        self.rebuild(pool).await
    }

    /// Rebuilds what is stale (one caller at a time).
    async fn rebuild(&self, pool: &PgPool) -> Result<Arc<Snapshot>, sqlx::Error> {
        let _building = self.build.lock().await;
        let names_stale = self.names_stale.load(Ordering::SeqCst);
        let graph_stale = self.graph_stale.load(Ordering::SeqCst);
        let current = self.current();
        let (names_needed, graph_needed) = match &current {
            None => (true, true),
            Some(_) => (names_stale, names_stale || graph_stale),
        };
        if let (false, false, Some(snapshot)) = (names_needed, graph_needed, &current) {
            return Ok(snapshot.clone());
        }
        // Clear the flags before reading, so a change committed while we
        // read marks the new snapshot stale again.
        if names_needed {
            self.names_stale.store(false, Ordering::SeqCst);
        }
        self.graph_stale.store(false, Ordering::SeqCst);
        let snapshot = match (&current, names_needed) {
            (Some(old), false) => {
                let graph = build_graph(pool).await?;
                Snapshot {
                    names: old.names.clone(),
                    graph: Arc::new(graph),
                    built: old.built,
                }
            }
            _ => build_all(pool).await?,
        };
        let snapshot = Arc::new(snapshot);
        self.store(snapshot.clone());
        Ok(snapshot)
    }

    /// A snapshot older than [`MAX_AGE`] is rebuilt in the background
    /// while the old one keeps answering. (The flags are left alone: a
    /// change heard meanwhile still makes the next lookup rebuild.)
    fn refresh_if_old(&self, snapshot: &Snapshot, pool: &PgPool) {
        if snapshot.built.elapsed() < MAX_AGE {
            return;
        }
        let Ok(guard) = self.build.clone().try_lock_owned() else {
            return;
        };
        let (pool, current) = (pool.clone(), self.current.clone());
        tokio::spawn(async move {
            let _building = guard;
            match build_all(&pool).await {
                Ok(fresh) => *current.write().expect("snapshot lock") = Some(Arc::new(fresh)),
                Err(e) => tracing::warn!(error = %e, "rebuilding the catalog snapshot failed"),
            }
        });
    }

    /// The catalog in memory, when it is current: read after the last
    /// change heard of (NOTIFY, from any replica) and the last write made
    /// here. Otherwise `None` — answer from the database — and a new one
    /// is read in the background (one at a time, and not more than half
    /// the time: after a read that took T, the next starts T later at the
    /// earliest).
    pub async fn read_model(&self, pool: &PgPool) -> Option<Arc<ReadModel>> {
        self.listen(pool).await;
        let now = (
            self.changes.load(Ordering::SeqCst),
            super::read_model::local_writes(),
        );
        if let Some((model, at)) = self.model.read().expect("model lock").as_ref()
            && *at == now
        {
            return Some(model.clone());
        }
        if let Some(t) = *self.model_not_before.lock().expect("model lock")
            && Instant::now() < t
        {
            return None;
        }
        if self.model_building.swap(true, Ordering::SeqCst) {
            return None;
        }
        let (pool, slot, building, not_before) = (
            pool.clone(),
            self.model.clone(),
            self.model_building.clone(),
            self.model_not_before.clone(),
        );
        let changes = self.changes.clone();
        tokio::spawn(async move {
            // What the model is read at: taken before reading, so a change
            // committed meanwhile makes it out of date at once.
            let at = (
                changes.load(Ordering::SeqCst),
                super::read_model::local_writes(),
            );
            let started = Instant::now();
            match ReadModel::load(&pool).await {
                Ok(model) => {
                    let (encoded_bytes, rows, links) = model.footprint();
                    tracing::debug!(
                        entities = model.len(),
                        encoded_bytes,
                        rows,
                        links,
                        ms = started.elapsed().as_millis() as u64,
                        "the catalog is read into memory"
                    );
                    *slot.write().expect("model lock") = Some((Arc::new(model), at));
                }
                Err(e) => tracing::warn!(error = %e, "reading the catalog into memory failed"),
            }
            *not_before.lock().expect("model lock") = Some(Instant::now() + started.elapsed());
            building.store(false, Ordering::SeqCst);
        });
        None
    }

    /// A number that changes whenever the catalog may have changed
    /// (committed changes are heard of through NOTIFY, from any replica).
    /// A cache that remembers it next to an answer knows when the answer
    /// may be out of date.
    pub async fn generation(&self, pool: &PgPool) -> u64 {
        self.listen(pool).await;
        self.changes.load(Ordering::SeqCst)
    }

    /// Whether nothing an answer read (`reads`: entity ids, or `None` when
    /// it depends on the catalog as a whole) has changed since
    /// `generation`.
    pub fn unchanged_since(&self, generation: u64, reads: Option<&HashSet<i64>>) -> bool {
        let now = self.changes.load(Ordering::SeqCst);
        if now == generation {
            return true;
        }
        let Some(reads) = reads else {
            return false;
        };
        let log = self.log.lock().expect("change log");
        if generation < log.floor {
            return false;
        }
        log.entries
            .iter()
            .filter(|(g, _)| *g > generation)
            .all(|(_, change)| match change {
                Change::All => false,
                Change::Updated(ids) => ids.is_disjoint(reads),
            })
    }

    /// Starts listening for catalog changes once per process.
    async fn listen(&self, pool: &PgPool) {
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let heard = Heard {
            names_stale: self.names_stale.clone(),
            graph_stale: self.graph_stale.clone(),
            changes: self.changes.clone(),
            log: self.log.clone(),
        };
        let pool = pool.clone();
        let (ready, listening) = tokio::sync::oneshot::channel::<()>();
        let mut ready = Some(ready);
        tokio::spawn(async move {
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(_) => {
                        heard.change(Change::All);
                        if pool.is_closed() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        continue;
                    }
                };
                if listener.listen("usher_catalog").await.is_err() {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
                match ready.take() {
                    // The first snapshot is built after this, so it misses
                    // nothing.
                    Some(ready) => {
                        let _ = ready.send(());
                    }
                    // Changes may have been missed while reconnecting.
                    None => heard.change(Change::All),
                }
                // A change, or a reconnect after which changes may have
                // been missed.
                while let Ok(notification) = listener.try_recv().await {
                    match notification {
                        Some(n) => heard.change(Change::parse(n.payload())),
                        None => heard.change(Change::All),
                    }
                }
                if pool.is_closed() {
                    break;
                }
            }
        });
        // Build the first snapshot only once changes are being heard of
        // (or after two seconds, when the listener can't connect).
        let _ = tokio::time::timeout(Duration::from_secs(2), listening).await;
    }
}

/// What the listener updates when it hears of a change.
struct Heard {
    names_stale: Arc<AtomicBool>,
    graph_stale: Arc<AtomicBool>,
    changes: Arc<AtomicU64>,
    log: Arc<std::sync::Mutex<ChangeLog>>,
}

impl Heard {
    fn change(&self, change: Change) {
        if change == Change::All {
            self.names_stale.store(true, Ordering::SeqCst);
        }
        self.graph_stale.store(true, Ordering::SeqCst);
        let mut log = self.log.lock().expect("change log");
        let generation = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        log.entries.push_back((generation, change));
        while log.entries.len() > MAX_LOGGED {
            if let Some((g, _)) = log.entries.pop_front() {
                log.floor = g;
            }
        }
    }
}

/// Reads names and edges in one consistent view and builds both.
async fn build_all(pool: &PgPool) -> Result<Snapshot, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let names: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, kind, lower(name) FROM entities")
            .fetch_all(&mut *tx)
            .await?;
    let edges = edges(&mut tx).await?;
    tx.commit().await?;
    tokio::task::spawn_blocking(move || Snapshot {
        names: Arc::new(NameIndex::build(names)),
        graph: Arc::new(Graph::build(&edges)),
        built: Instant::now(),
    })
    .await
    .map_err(|e| sqlx::Error::Protocol(format!("building the catalog snapshot failed: {e}")))
}

async fn build_graph(pool: &PgPool) -> Result<Graph, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let edges = edges(&mut tx).await?;
    tx.commit().await?;
    tokio::task::spawn_blocking(move || Graph::build(&edges))
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("building the dependency graph failed: {e}")))
}

async fn edges(conn: &mut sqlx::PgConnection) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT CASE WHEN r.type = 'dependsOn' THEN r.source_id ELSE t.id END,
                CASE WHEN r.type = 'dependsOn' THEN t.id ELSE r.source_id END
         FROM relations r JOIN entities t ON t.ref = r.target_ref
         WHERE r.type IN ('dependsOn', 'dependencyOf')",
    )
    .fetch_all(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    // 1 → 2 → 3, 4 → 2, 5 → 4, 3 → 1 (a cycle)
    fn graph() -> Graph {
        Graph::build(&[(1, 2), (2, 3), (4, 2), (5, 4), (3, 1)])
    }

    #[test]
    fn counts() {
        let g = graph();
        assert_eq!(g.direct(2, true), vec![1, 4]);
        assert_eq!(g.transitive_count(2, true), 4); // 1, 4, 5, 3 (via the cycle)
        assert_eq!(g.transitive_count(5, false), 4); // 4, 2, 3, 1
        assert_eq!(g.transitive_count(99, false), 0);
    }

    #[test]
    fn trees_mark_cycles_and_repeats() {
        let g = graph();
        let (lines, omitted) = g.tree(1, false, 10, 100);
        let shown: Vec<(usize, i64, bool)> =
            lines.iter().map(|l| (l.depth, l.id, l.cycle)).collect();
        assert_eq!(
            shown,
            vec![(0, 1, false), (1, 2, false), (2, 3, false), (3, 1, true)]
        );
        assert_eq!(omitted, 0);
        let (lines, _) = g.tree(2, true, 1, 100);
        assert_eq!(
            lines.iter().map(|l| l.id).collect::<Vec<_>>(),
            vec![2, 1, 4]
        );
        let (lines, omitted) = g.tree(2, true, 5, 2);
        assert_eq!(lines.len(), 2);
        assert!(omitted > 0);
    }

    #[test]
    fn single_points_of_failure() {
        let g = graph();
        let top = g.most_depended_on(2, 10);
        assert_eq!(top[0].0, 2);
    }
}
