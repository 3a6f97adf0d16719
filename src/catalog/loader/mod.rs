//! Reading a location: its files, the Location entities they contain
//! (followed, globs included, cycles reported rather than looped), the
//! `$text`/`$json`/`$yaml` substitutions, and the checks that span several
//! documents (the same entity twice; references that resolve nowhere).
//!
//! The loader writes nothing: [`super::import`] applies what it returns,
//! and `catalog validate` only prints its problems.

mod memo;
mod references;
mod substitute;
mod targets;

pub use memo::{FileMemo, MemoEntity, Reuse};
use memo::{MISSING, deps_unchanged, fingerprint, reusable, text_hash};
pub use references::{check_references, referenced_keys};
pub(crate) use references::{dangling_message, other_party};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use substitute::substitute;
use targets::follow_target;

use serde_json::Value;

use super::entity::Entity;
use super::model::Kind;
use super::problem::{Problem, quote};
use super::source::{ReadError, Reader, Scope, Source, yaml_files_under};
use super::validate::{Rules, check_document};
use super::yaml::parse_stream;

/// How to load.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub rules: Rules,
    pub reader: Reader,
    /// `catalog.org_locations` as location keys: the only locations whose
    /// User and Group entities (and so `memberOf`/`members` edges) are
    /// accepted. Empty: any location's.
    pub org_locations: Vec<String>,
    /// Users other locations define are taken over rather than refused
    /// (the directory, when it is the authority for people).
    pub takes_over_people: bool,
    /// The location (the directory) that says who is in the teams it
    /// knows: after any import, other locations' memberships of those
    /// teams are dropped. None: memberships from anywhere count.
    pub membership_authority: Option<String>,
    /// GitHub teams and GitLab groups (`acme/payments-devs`) → catalog
    /// teams (`[directory] forge_teams`): discovery reads a repository's
    /// CODEOWNERS and host teams through it.
    pub forge_teams: std::collections::BTreeMap<String, String>,
}

impl LoadOptions {
    /// Options from the configuration; URLs are fetched, and with a pool
    /// their validators are remembered for conditional requests.
    pub fn from_config_with(config: &crate::config::Config, cache: Option<sqlx::PgPool>) -> Self {
        let catalog = &config.catalog;
        let fetcher = super::fetch::Fetcher::new(
            catalog.all_hosts(),
            catalog.max_file_size,
            std::time::Duration::from_secs(catalog.fetch_timeout_secs.max(1)),
            cache,
        );
        LoadOptions {
            org_locations: catalog
                .org_locations
                .iter()
                .map(|l| Source::from_arg(l).location_key())
                .collect(),
            rules: Rules::from_config(config),
            reader: Reader::new(catalog.max_file_size).with_fetcher(fetcher),
            takes_over_people: false,
            membership_authority: (config.directory.connected()
                && config.directory.membership == crate::config::Authority::Directory)
                .then(|| crate::catalog::import::DIRECTORY_LOCATION.to_string()),
            forge_teams: config.directory.forge_teams.clone(),
        }
    }

    /// Options from the configuration, without a fetch cache.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self::from_config_with(config, None)
    }

    /// Whether the location rooted at `root` may define people and teams.
    pub fn may_define_people(&self, root: &Source) -> bool {
        self.org_locations.is_empty() || self.org_locations.contains(&root.location_key())
    }
}

/// Everything read from one or more roots.
#[derive(Debug, Default)]
pub struct Loaded {
    /// How many valid entities went to the sink.
    pub entity_count: usize,
    pub problems: Vec<Problem>,
    /// Refs of documents that were invalid: their previous good versions
    /// are kept by the import.
    pub invalid_refs: HashSet<String>,
    /// Files that could not be read or parsed whole: everything previously
    /// imported from them is kept.
    pub unreadable_files: HashSet<String>,
    pub files_read: usize,
    /// YAML files in folders that were not descriptors (no apiVersion).
    pub files_skipped: usize,
    /// Every entity read (valid, and first of its name) — what the location
    /// holds now.
    pub read_keys: HashSet<String>,
    /// Every file read (their memos went to the sink when they changed).
    pub memo_files: HashSet<String>,
}

impl Loaded {
    pub fn error_count(&self) -> usize {
        self.problems.iter().filter(|p| p.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.problems.len() - self.error_count()
    }
}

/// A file waiting to be read, with the chain of Location files that led to
/// it (to report cycles) and whether it was found by walking a folder.
struct Pending {
    source: Source,
    /// The bounds of the root location it was reached from.
    scope: std::sync::Arc<Scope>,
    /// Whether that location may define people and teams.
    people_allowed: bool,
    chain: Vec<String>,
    from_folder: bool,
    /// Where the target was written, for "does not exist" problems.
    referrer: Option<Referrer>,
}

/// Where a Location target was written.
#[derive(Debug, Clone)]
struct Referrer {
    file: String,
    line: Option<usize>,
    field: String,
    /// The target as written.
    written: String,
}

/// Receives each valid entity as it is read, so a location of 100,000
/// entities never has to be held in memory at once.
pub trait EntitySink: Send {
    fn accept(&mut self, entity: Entity) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Entities of an unchanged file, kept as they are in the catalog.
    fn keep(&mut self, keys: Vec<String>) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        let _ = keys;
        async { Ok(()) }
    }

    /// The memo of a file that was read (new or changed), to remember.
    fn memo(
        &mut self,
        file: String,
        memo: FileMemo,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        let _ = (file, memo);
        async { Ok(()) }
    }
}

/// A sink that keeps everything (validation, tests).
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Entity>);

impl EntitySink for Collect {
    async fn accept(&mut self, entity: Entity) -> Result<(), sqlx::Error> {
        self.0.push(entity);
        Ok(())
    }
}

/// Where the first definition of each entity was, to report duplicates.
struct FirstSeen {
    name: String,
    file: std::sync::Arc<str>,
    line: usize,
}

/// Loads the given roots (files, folders) and everything their Location
/// entities point at, handing each valid entity to `sink`. The second
/// definition of an entity is a problem and is not handed on.
pub async fn load<S: EntitySink>(
    roots: &[Source],
    options: &LoadOptions,
    reuse: &Reuse,
    sink: &mut S,
) -> Result<Loaded, sqlx::Error> {
    let mut loaded = Loaded::default();
    let mut first_seen: HashMap<String, FirstSeen> = HashMap::new();
    let mut queue: VecDeque<Pending> = VecDeque::new();
    for root in roots {
        let scope = std::sync::Arc::new(Scope::of_root(root));
        let people_allowed = options.may_define_people(root);
        match root {
            Source::File(path) if path.is_dir() => match yaml_files_under(path) {
                Ok(files) => queue.extend(files.into_iter().map(|f| Pending {
                    source: Source::File(f),
                    scope: scope.clone(),
                    people_allowed,
                    chain: Vec::new(),
                    from_folder: true,
                    referrer: None,
                })),
                Err(e) => loaded.problems.push(Problem::error(
                    &root.to_string(),
                    None,
                    "file",
                    format!("the folder cannot be read: {e}"),
                )),
            },
            other => queue.push_back(Pending {
                source: other.clone(),
                scope,
                people_allowed,
                chain: Vec::new(),
                from_folder: false,
                referrer: None,
            }),
        }
    }

    let mut visited: HashSet<String> = HashSet::new();
    while let Some(pending) = queue.pop_front() {
        let identity = pending.source.identity();
        if !visited.insert(identity.clone()) {
            continue;
        }
        let file = pending.source.to_string();
        // A file found by walking the folder may be a link out of it.
        if let Source::File(path) = &pending.source
            && let Err(why) = pending.scope.check_real(path)
        {
            loaded.problems.push(Problem::error(
                &file,
                None,
                "file",
                format!("{} {why}", quote(&file)),
            ));
            loaded.unreadable_files.insert(file);
            continue;
        }
        let text = match options
            .reader
            .read_text(&pending.source, &pending.scope)
            .await
        {
            Ok(text) => text,
            Err(err) => {
                let problem = match &pending.referrer {
                    // A missing target is the Location's mistake: report it
                    // where the target is written.
                    Some(r) if err == ReadError::NotFound => Problem::error(
                        &r.file,
                        r.line,
                        &r.field,
                        format!(
                            "the target {} does not exist (looked for {file}); check the path",
                            quote(&r.written)
                        ),
                    ),
                    _ => Problem::error(&file, None, "file", format!("{} {err}", quote(&file))),
                };
                loaded.problems.push(problem);
                loaded.unreadable_files.insert(file);
                continue;
            }
        };
        let mut chain = pending.chain.clone();
        chain.push(identity.clone());
        let fingerprint = fingerprint(&text, options, pending.people_allowed);
        let shared_file: std::sync::Arc<str> = std::sync::Arc::from(file.as_str());

        // An unchanged file whose entities are in the catalog as they were:
        // nothing to parse, validate or write.
        if let Some(memo) = reuse.memos.get(&file)
            && memo.fingerprint == fingerprint
            && reusable(memo, &reuse.existing, &first_seen)
            && deps_unchanged(&memo.deps, &pending.scope, options).await
        {
            loaded.files_read += 1;
            loaded.problems.extend(memo.problems.iter().cloned());
            loaded
                .invalid_refs
                .extend(memo.invalid_refs.iter().cloned());
            if memo.unreadable {
                loaded.unreadable_files.insert(file.clone());
            }
            for e in &memo.entities {
                first_seen.insert(
                    e.key.clone(),
                    FirstSeen {
                        name: e.name.clone(),
                        file: shared_file.clone(),
                        line: e.line,
                    },
                );
            }
            for target in &memo.targets {
                follow_target(
                    &mut queue,
                    &mut loaded,
                    &pending,
                    &file,
                    target,
                    &chain,
                    &visited,
                )
                .await;
            }
            loaded.entity_count += memo.entities.len();
            sink.keep(memo.entities.iter().map(|e| e.key.clone()).collect())
                .await?;
            loaded.memo_files.insert(file);
            continue;
        }

        let stream = parse_stream(&text);
        if pending.from_folder && !looks_like_descriptors(&stream.docs) && stream.error.is_none() {
            loaded.files_skipped += 1;
            continue;
        }
        loaded.files_read += 1;
        let mut memo = FileMemo {
            fingerprint,
            ..FileMemo::default()
        };
        if let Some(err) = &stream.error {
            memo.problems.push(Problem::error(
                &file,
                Some(err.line),
                if err.field.is_empty() {
                    "yaml"
                } else {
                    &err.field
                },
                err.message.clone(),
            ));
            memo.unreadable = true;
        }
        for mut doc in stream.docs {
            if doc.value.is_null() {
                continue; // an empty document, e.g. a trailing ---
            }
            let substituted = substitute(
                &mut doc.value,
                &pending.source,
                &pending.scope,
                options,
                &mut memo.problems,
                &file,
                &doc.lines,
            )
            .await;
            memo.deps.extend(substituted.deps);
            let mut checked = check_document(&doc, &file, &options.rules);
            memo.problems.extend(checked.problems);
            if substituted.refused {
                // A document that reaches outside its location is refused
                // whole: what the catalog has for it stays as it was.
                checked.entity = None;
            }
            match checked.entity {
                Some(entity)
                    if !pending.people_allowed
                        && matches!(entity.eref.kind, Kind::User | Kind::Group) =>
                {
                    // Not invalid (its previous version isn't kept): this
                    // location may not say who people are at all.
                    memo.problems.push(Problem::error(
                        &file,
                        Some(entity.line),
                        "kind",
                        format!(
                            "{} {} can't come from here: people and teams are accepted only from catalog.org_locations in usher.toml; move it to your organisation's location, or add this location there",
                            entity.eref.kind.backstage_name(),
                            quote(&entity.eref.name)
                        ),
                    ));
                }
                Some(mut entity) => {
                    if let Some(path) = entity
                        .annotations
                        .get(SBOM_ANNOTATION)
                        .and_then(Value::as_str)
                    {
                        let path = path.to_string();
                        let (dep, update, problem) = read_sbom(
                            &pending.source,
                            &pending.scope,
                            &path,
                            options,
                            &file,
                            &doc.lines,
                        )
                        .await;
                        memo.deps.extend(dep);
                        memo.problems.extend(problem);
                        entity.packages = update;
                    }
                    if entity.eref.kind == Kind::Location {
                        memo.targets.extend(entity.targets.iter().cloned());
                        for target in &entity.targets {
                            follow_target(
                                &mut queue,
                                &mut loaded,
                                &pending,
                                &file,
                                target,
                                &chain,
                                &visited,
                            )
                            .await;
                        }
                    }
                    if let Some(problem) = duplicate(&mut first_seen, &entity, &shared_file) {
                        loaded.problems.push(problem);
                        continue;
                    }
                    memo.entities.push(MemoEntity {
                        key: entity.eref.key(),
                        name: entity.eref.name.clone(),
                        line: entity.line,
                        hash: entity.content_hash(),
                    });
                    loaded.entity_count += 1;
                    sink.accept(entity).await?;
                }
                None => match checked.eref {
                    Some(eref) => memo.invalid_refs.push(eref.key()),
                    // Without a readable name we can't tell which entity
                    // this was: keep everything from the file.
                    None => memo.unreadable = true,
                },
            }
        }
        loaded.problems.extend(memo.problems.iter().cloned());
        loaded
            .invalid_refs
            .extend(memo.invalid_refs.iter().cloned());
        if memo.unreadable {
            loaded.unreadable_files.insert(file.clone());
        }
        loaded.memo_files.insert(file.clone());
        sink.memo(file, memo).await?;
    }
    loaded.read_keys = first_seen.into_keys().collect();
    Ok(loaded)
}

/// The annotation naming a service's SBOM (a path relative to the
/// descriptor, or a URL).
pub const SBOM_ANNOTATION: &str = "usher.dev/sbom";

/// Reads the SBOM an annotation points at: the dependency to remember, what
/// to do with the packages, and a warning when it can't be used.
async fn read_sbom(
    from: &Source,
    scope: &Scope,
    path: &str,
    options: &LoadOptions,
    file: &str,
    lines: &super::yaml::FieldLines,
) -> (
    Option<(String, String)>,
    super::entity::PackagesUpdate,
    Option<Problem>,
) {
    use super::entity::PackagesUpdate;
    let field = format!("metadata.annotations.{SBOM_ANNOTATION}");
    let source = match scope.resolve(from, path) {
        Ok(source) => source,
        Err(why) => {
            let problem = Problem::error(
                file,
                lines.line(&field),
                &field,
                format!(
                    "the SBOM {} {why}; the service's packages are kept as they were",
                    quote(path)
                ),
            );
            return (None, PackagesUpdate::Keep, Some(problem));
        }
    };
    let warn = |why: String| {
        Problem::warning(
            file,
            lines.line(&field),
            &field,
            format!(
                "the SBOM {} {why}; the service's packages are kept as they were",
                quote(&source.to_string())
            ),
        )
    };
    match options.reader.read_text(&source, scope).await {
        Ok(text) => {
            let hash = text_hash(&text);
            let dep = Some((source.to_string(), hash.clone()));
            match super::sbom::parse(&text) {
                Ok((_, packages)) => (dep, PackagesUpdate::Replace { packages, hash }, None),
                Err(why) => (dep, PackagesUpdate::Keep, Some(warn(why))),
            }
        }
        Err(e) => (
            Some((source.to_string(), MISSING.to_string())),
            PackagesUpdate::Keep,
            Some(warn(e.to_string())),
        ),
    }
}

/// Folders hold other YAML too (OpenAPI files, CI configs): only files
/// whose documents look like entities are descriptors.
fn looks_like_descriptors(docs: &[super::yaml::YamlDoc]) -> bool {
    docs.iter()
        .any(|d| d.value.get("apiVersion").is_some() || d.value.get("kind").is_some())
}

/// The same entity twice in what was loaded: the second is an error,
/// naming where the first is (and saying so when only the case differs).
fn duplicate(
    first_seen: &mut HashMap<String, FirstSeen>,
    entity: &Entity,
    file: &std::sync::Arc<str>,
) -> Option<Problem> {
    let key = entity.eref.key();
    let Some(first) = first_seen.get(&key) else {
        first_seen.insert(
            key,
            FirstSeen {
                name: entity.eref.name.clone(),
                file: file.clone(),
                line: entity.line,
            },
        );
        return None;
    };
    let (file, line) = (&first.file, first.line);
    let message = if first.name == entity.eref.name {
        format!(
            "{} {} is already defined at {file}:{line}; remove one of them",
            entity.eref.kind.backstage_name(),
            quote(&entity.eref.name)
        )
    } else {
        format!(
            "{} differs only by case from {} at {file}:{line}; names are case-insensitive, so this is the same entity — use one spelling",
            quote(&entity.eref.name),
            quote(&first.name)
        )
    };
    let mut problem = Problem::error(&entity.file, Some(entity.line), "metadata.name", message);
    problem.entity_ref = Some(key);
    problem.owner_ref = entity.owner.as_ref().map(|o| o.key());
    Some(problem)
}
