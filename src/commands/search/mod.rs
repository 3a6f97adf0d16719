//! `search <query>`: free text and filters over the catalog, paged, each
//! row with its owner — and, for "who uses log4j-core < 2.17.1?", a button
//! that notifies every owning team once.

pub mod query;
pub mod repositories;

use std::collections::{BTreeMap, HashMap};

use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{Postgres, QueryBuilder};

use crate::actions::jobs::{Notice, NoticedRepository, NoticedService};
use crate::actions::outbox::{self, NewJob};
use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::store::EntityRow;
use crate::catalog::versions::{Ecosystem, Range};
use crate::chat::{Action, ButtonStyle, Element, Reply, Request, Text};

use super::parse::Args;
use super::{CommandResult, Core};
use query::{DepFilter, Filter, Query};
use repositories::RepoMatch;

pub const OPTIONS: &[&str] = &["query", "page", "notify"];

/// `search`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered = crate::commands::registry::register!(
    "search",
    OPTIONS,
    Kept,
    |core, request, parsed| Box::pin(run(core, request, &parsed.args))
);

/// Results per page.
pub const PAGE: i64 = 10;

pub async fn run(core: &Core, request: &Request, args: &Args) -> CommandResult {
    let text = args.text("query").unwrap_or_default();
    let page = args.integer("page").unwrap_or(1).max(1);
    let query = match query::parse(text) {
        Ok(q) => q,
        Err(why) => return Ok(Reply::text(format!("Search: {why}."))),
    };
    let matches = match dep_matches(core, &query).await? {
        Ok(m) => m,
        Err(why) => return Ok(Reply::text(format!("Search: {why}."))),
    };
    if args.flag("notify") {
        return notify(core, request, text, &query, matches.as_ref()).await;
    }
    let filter = match resolve_filters(core, &query).await? {
        Ok(f) => f,
        Err(why) => return Ok(Reply::text(why)),
    };
    let (rows, total) = find(core, &query, &filter, matches.as_ref(), Some(page)).await?;
    let repos = match repositories::dep_matches(&core.pool, &query, filter.owner.as_deref()).await?
    {
        Ok(r) => r,
        Err(why) => return Ok(Reply::text(format!("Search: {why}."))),
    };
    Ok(render(
        text,
        &query,
        page,
        Found {
            rows: &rows,
            total,
            matches: matches.as_ref(),
            repos: &repos,
        },
    ))
}

/// Filters that need the catalog to mean something (a team, a system).
#[derive(Debug, Default)]
struct Resolved {
    owner: Option<String>,
    system: Option<String>,
    kinds: Vec<String>,
}

async fn resolve_filters(
    core: &Core,
    query: &Query,
) -> Result<Result<Resolved, String>, sqlx::Error> {
    let mut resolved = Resolved {
        kinds: vec!["component".into()],
        ..Resolved::default()
    };
    for filter in &query.filters {
        match filter {
            Filter::Owner(name) => {
                let groups = core
                    .reader()
                    .await
                    .find_by_name(&[Kind::Group, Kind::User], name)
                    .await?;
                let by_ref = EntityRef::parse(name, Some(Kind::Group), "default")
                    .ok()
                    .map(|r| r.key());
                let found = match groups.first() {
                    Some(g) => Some(g.key.clone()),
                    None => match by_ref {
                        Some(key) if core.reader().await.find_by_ref(&key).await?.is_some() => {
                            Some(key)
                        }
                        _ => None,
                    },
                };
                match found {
                    Some(key) => resolved.owner = Some(key),
                    None => {
                        let snapshot = core.snapshot.get(&core.pool).await?;
                        let close: Vec<String> = snapshot
                            .names
                            .similar(name, &[Kind::Group], 0.3, 3)
                            .into_iter()
                            .map(|m| m.name)
                            .collect();
                        let hint = if close.is_empty() {
                            String::new()
                        } else {
                            format!(" Did you mean {}?", super::resolve::or_list(&close))
                        };
                        return Ok(Err(format!(
                            "Search: there's no team called `{name}`.{hint}"
                        )));
                    }
                }
            }
            Filter::System(name) => {
                resolved.system = EntityRef::parse(name, Some(Kind::System), "default")
                    .ok()
                    .map(|r| r.key());
            }
            Filter::Kind(kind) => match Kind::parse(kind) {
                Some(k) => resolved.kinds = vec![k.as_str().to_string()],
                None => {
                    return Ok(Err(format!(
                        "Search: `kind:{kind}` is not a kind; use component, api, resource, system, domain, group or user."
                    )));
                }
            },
            _ => {}
        }
    }
    Ok(Ok(resolved))
}

/// The services using a package in the range, with the versions found:
/// `None` without a `dep:` filter; `Err` for a range that doesn't parse.
async fn dep_matches(
    core: &Core,
    query: &Query,
) -> Result<Result<Option<HashMap<i64, Vec<String>>>, String>, sqlx::Error> {
    let Some(dep) = query.dep() else {
        return Ok(Ok(None));
    };
    // From SBOMs, and from the manifests of the repository a component's
    // descriptor was discovered in.
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT entity_id, ecosystem, name, version FROM packages
         WHERE lower(name) = lower($1) AND ($2::text IS NULL OR ecosystem = $2)
           AND ($3::text IS NULL OR lower(namespace) = lower($3))
         UNION ALL
         SELECT e.id, p.ecosystem, p.name, p.version
         FROM repository_packages p
         JOIN repositories r ON r.id = p.repository_id AND r.gone_at IS NULL
         JOIN entities e ON e.location_id = r.location_id AND e.kind = 'component'
         WHERE r.location_id IS NOT NULL AND lower(p.name) = lower($1)
           AND ($2::text IS NULL OR p.ecosystem = $2)
           AND ($3::text IS NULL OR lower(p.namespace) = lower($3))",
    )
    .bind(&dep.name)
    .bind(dep.ecosystem.map(|e| e.as_str()))
    .bind(&dep.namespace)
    .fetch_all(&core.pool)
    .await?;
    let mut in_range = InRange::new(dep);
    let mut found: HashMap<i64, Vec<String>> = HashMap::new();
    let mut seen: std::collections::HashSet<(i64, String)> = std::collections::HashSet::new();
    for (entity, ecosystem, name, version) in rows {
        match in_range.holds(&ecosystem, &version) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(why) => return Ok(Err(why)),
        }
        let label = format!("{name} {version}");
        if seen.insert((entity, label.clone())) {
            found.entry(entity).or_default().push(label);
        }
    }
    // Check the range's syntax even when nothing uses the package.
    if let (Some(range), Some(eco)) = (&dep.range, dep.ecosystem)
        && let Err(why) = Range::parse(eco, range)
    {
        return Ok(Err(why));
    }
    Ok(Ok(Some(found)))
}

/// Whether versions are in a `dep:` filter's range, each ecosystem's
/// range parsed once (the same text means different things in npm and
/// Maven).
pub(crate) struct InRange<'a> {
    dep: &'a DepFilter,
    ranges: HashMap<Ecosystem, Range>,
}

impl<'a> InRange<'a> {
    pub(crate) fn new(dep: &'a DepFilter) -> Self {
        InRange {
            dep,
            ranges: HashMap::new(),
        }
    }

    /// Whether `version` (of a package in `ecosystem`) is in the range;
    /// `Err` when the range doesn't parse in that ecosystem. A version
    /// that can't be read is not in it.
    pub(crate) fn holds(&mut self, ecosystem: &str, version: &str) -> Result<bool, String> {
        let eco = Ecosystem::parse(ecosystem);
        let range = match self.ranges.entry(eco) {
            std::collections::hash_map::Entry::Occupied(r) => r.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(Range::parse(
                eco,
                self.dep.range.as_deref().unwrap_or_default(),
            )?),
        };
        Ok(range.matches(eco, version) == Some(true))
    }
}

fn like_pattern(word: &str) -> String {
    let escaped = word
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Runs the query: a page of rows and the total, or (page `None`) all.
async fn find(
    core: &Core,
    query: &Query,
    resolved: &Resolved,
    matches: Option<&HashMap<i64, Vec<String>>>,
    page: Option<i64>,
) -> Result<(Vec<EntityRow>, i64), sqlx::Error> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(concat!(
        "SELECT ",
        crate::entity_columns!(),
        ", count(*) OVER () AS total FROM entities e WHERE e.kind = ANY("
    ));
    sql.push_bind(resolved.kinds.clone()).push(")");
    for word in &query.words {
        let pattern = like_pattern(word);
        sql.push(" AND (lower(e.name) LIKE ")
            .push_bind(pattern.clone())
            .push(" OR lower(e.title) LIKE ")
            .push_bind(pattern.clone())
            .push(" OR lower(e.description) LIKE ")
            .push_bind(pattern)
            .push(" OR e.tags @> ARRAY[")
            .push_bind(word.to_lowercase())
            .push("]::text[])");
    }
    for filter in &query.filters {
        match filter {
            Filter::Owner(_) => {
                sql.push(" AND e.owner_ref = ")
                    .push_bind(resolved.owner.clone());
            }
            Filter::System(_) => {
                sql.push(" AND e.system_ref = ")
                    .push_bind(resolved.system.clone());
            }
            Filter::Language(v) => {
                sql.push(" AND e.language = ").push_bind(v.clone());
            }
            Filter::Framework(v) => {
                sql.push(" AND lower(e.framework) = ").push_bind(v.clone());
            }
            Filter::Tier(v) => {
                sql.push(" AND e.tier = ").push_bind(v.clone());
            }
            Filter::Lifecycle(v) => {
                sql.push(" AND e.lifecycle = ").push_bind(v.clone());
            }
            Filter::Type(v) => {
                sql.push(" AND lower(e.spec_type) = ").push_bind(v.clone());
            }
            Filter::Tag(v) => {
                sql.push(" AND e.tags @> ARRAY[")
                    .push_bind(v.clone())
                    .push("]::text[]");
            }
            Filter::Missing(gap) => {
                // A constant of catalog::gaps.
                sql.push(" AND ").push(gap.missing_sql);
            }
            Filter::Kind(_) | Filter::Dep(_) => {}
        }
    }
    if let Some(found) = matches {
        let ids: Vec<i64> = found.keys().copied().collect();
        sql.push(" AND e.id = ANY(").push_bind(ids).push(")");
    }
    sql.push(" ORDER BY e.name, e.namespace");
    if let Some(page) = page {
        sql.push(" LIMIT ")
            .push_bind(PAGE)
            .push(" OFFSET ")
            .push_bind((page - 1) * PAGE);
    } else {
        sql.push(" LIMIT 10000");
    }
    let rows = sql.build().fetch_all(&core.pool).await?;
    let mut total = 0i64;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        use sqlx::Row;
        total = row.try_get("total")?;
        out.push(<EntityRow as sqlx::FromRow<'_, sqlx::postgres::PgRow>>::from_row(&row)?);
    }
    if out.is_empty() && page.is_some_and(|p| p > 1) {
        // Past the last page: report the real total.
        let (_, all) = Box::pin(find(core, query, resolved, matches, Some(1))).await?;
        return Ok((Vec::new(), all));
    }
    Ok((out, total))
}

fn owner_short(row: &EntityRow) -> String {
    row.owner_ref
        .as_deref()
        .and_then(EntityRef::from_key)
        .map(|r| r.short())
        .unwrap_or_else(|| "no owner".into())
}

/// What a search found: a page of catalogued rows with the total, the
/// versions each uses (for `dep:`), and the uncatalogued repositories.
struct Found<'a> {
    rows: &'a [EntityRow],
    total: i64,
    matches: Option<&'a HashMap<i64, Vec<String>>>,
    repos: &'a [RepoMatch],
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn render(text: &str, query: &Query, page: i64, found: Found<'_>) -> Reply {
    let shown = text.chars().take(80).collect::<String>();
    let Found {
        rows,
        total,
        matches,
        repos,
    } = found;
    if total == 0 && repos.is_empty() {
        let hint = if query.dep().is_some() {
            "No service in the catalog uses that, nor any repository discovery read (as far as SBOMs and manifests say — `usher catalog import-sbom` adds SBOMs, `usher discover` reads repositories)."
        } else {
            "Try fewer words, or a filter like lang:java or owner:TEAM."
        };
        return Reply::new().section(
            Text::plain("Nothing matches ")
                .add_code(shown)
                .add_plain(format!(". {hint}")),
        );
    }
    let repo_pages = (repos.len() as i64 + PAGE - 1) / PAGE;
    let pages = ((total + PAGE - 1) / PAGE).max(repo_pages);
    let repo_page: Vec<&RepoMatch> = repos
        .iter()
        .skip(((page - 1) * PAGE) as usize)
        .take(PAGE as usize)
        .collect();
    if rows.is_empty() && repo_page.is_empty() {
        return Reply::text(format!(
            "There are only {pages} pages of results for that search."
        ));
    }
    let mut summary = if total == 0 {
        // Only repositories: say so first.
        Text::plain("No service in the catalog matches ")
            .add_code(shown.clone())
            .add_plain(format!(
                "; {} not in the catalog {}",
                plural(repos.len(), "repository", "repositories"),
                if repos.len() == 1 { "does" } else { "do" }
            ))
    } else {
        Text::plain(format!("{total} found for ")).add_code(shown.clone())
    };
    if total > 0 && !repos.is_empty() {
        summary = summary.add_plain(format!(
            ", and {} not in the catalog",
            plural(repos.len(), "repository", "repositories")
        ));
    }
    if !rows.is_empty() {
        let first = (page - 1) * PAGE + 1;
        let last = first + rows.len() as i64 - 1;
        summary = summary.add_plain(format!(" (showing {first}–{last}):"));
    } else {
        summary = summary.add_plain(":");
    }
    let mut reply = Reply::new().section(summary);
    if !rows.is_empty() {
        reply = reply.section(service_lines(rows, matches));
    }
    if !repo_page.is_empty() {
        reply = reply.section(repo_lines(&repo_page));
    }
    let mut actions = Vec::new();
    if page < pages {
        actions.push(Element::Button {
            label: "More".into(),
            action: Action::run(format!("search --page {} {text}", page + 1)),
            style: ButtonStyle::Default,
        });
    }
    if page > 1 {
        actions.push(Element::Button {
            label: "Previous".into(),
            action: Action::run(format!("search --page {} {text}", page - 1)),
            style: ButtonStyle::Default,
        });
    }
    if query.dep().is_some_and(|d| d.range.is_some()) {
        actions.push(Element::Button {
            label: "Notify these owners".into(),
            action: Action::run(format!("search --notify {text}")),
            style: ButtonStyle::Danger,
        });
    }
    reply = reply.actions(actions);
    reply.context(Text::plain(format!("Page {page} of {pages}.")))
}

/// A line per catalogued service: name, owner, the versions it uses.
fn service_lines(rows: &[EntityRow], matches: Option<&HashMap<i64, Vec<String>>>) -> Text {
    let mut lines = Text::new();
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            lines = lines.add_plain("\n");
        }
        lines = lines
            .add_bold(row.short())
            .add_plain(format!(" — {}", owner_short(row)));
        let mut details = Vec::new();
        if let Some(versions) = matches.and_then(|m| m.get(&row.id)) {
            details.push(versions.join(", "));
        }
        if let Some(t) = &row.tier {
            details.push(format!("tier {t}"));
        }
        if let Some(l) = &row.lifecycle
            && l != "production"
        {
            details.push(l.clone());
        }
        if !details.is_empty() {
            lines = lines.add_plain(format!(" · {}", details.join(" · ")));
        }
    }
    lines
}

/// The uncatalogued repositories: name, likely owner, versions and files.
fn repo_lines(repos: &[&RepoMatch]) -> Text {
    let mut lines = Text::plain("Not in the catalog:");
    for repo in repos {
        lines = lines
            .add_plain("\n")
            .add_link(repo.name.clone(), repo.url.clone())
            .add_plain(format!(" — {}", repo.owner_phrase()));
        let mut details = vec![repo.versions.join(", ")];
        if repo.archived {
            details.push("archived".into());
        }
        lines = lines.add_plain(format!(" · {}", details.join(" · ")));
    }
    lines
}

/// Whether the actor may notify owners: admins and members of the
/// configured security groups — checked on every press.
async fn may_notify(core: &Core, request: &Request) -> Result<bool, sqlx::Error> {
    if core.is_admin(request) {
        return Ok(true);
    }
    let Some(person) = &request.actor.person else {
        return Ok(false);
    };
    for group in &core.config.security.groups {
        let Ok(key) = EntityRef::parse(group, Some(Kind::Group), "default").map(|r| r.key()) else {
            continue;
        };
        let member: bool = sqlx::query_scalar(
            "SELECT EXISTS (
                SELECT 1 FROM entities u WHERE u.ref = $2 AND (
                    u.id IN (SELECT source_id FROM relations WHERE type = 'memberOf' AND target_ref = $1)
                    OR u.ref IN (SELECT r.target_ref FROM relations r JOIN entities g ON g.id = r.source_id
                                 WHERE g.ref = $1 AND r.type = 'hasMember')))",
        )
        .bind(&key)
        .bind(&person.key)
        .fetch_one(&core.pool)
        .await?;
        if member {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Records one notification per owning team in the outbox (once per query
/// and team, however often the button is pressed).
async fn notify(
    core: &Core,
    request: &Request,
    text: &str,
    query: &Query,
    matches: Option<&HashMap<i64, Vec<String>>>,
) -> CommandResult {
    let Some(dep) = query.dep().filter(|d| d.range.is_some()) else {
        return Ok(Reply::text(
            "Notifying owners is for searches with a vulnerable version range, e.g. `search dep:log4j-core@<2.17.1`.",
        ));
    };
    if !may_notify(core, request).await? {
        // Named by role, never by address: refusals go to anyone who asks.
        let who = if core.config.security.groups.is_empty() {
            "usher admins".to_string()
        } else {
            format!(
                "usher admins and members of {}",
                core.config.security.groups.join(", ")
            )
        };
        return Ok(Reply::text(format!(
            "Only {who} may notify owners. Nothing was sent."
        )));
    }
    let resolved = match resolve_filters(core, query).await? {
        Ok(r) => r,
        Err(why) => return Ok(Reply::text(why)),
    };
    let (rows, _) = find(core, query, &resolved, matches, None).await?;
    let repos =
        match repositories::dep_matches(&core.pool, query, resolved.owner.as_deref()).await? {
            Ok(r) => r,
            Err(why) => return Ok(Reply::text(format!("Search: {why}."))),
        };
    let mut by_team: BTreeMap<String, (Vec<&EntityRow>, Vec<&RepoMatch>)> = BTreeMap::new();
    let mut unowned = Vec::new();
    for row in &rows {
        match &row.owner_ref {
            Some(owner) => by_team.entry(owner.clone()).or_default().0.push(row),
            None => unowned.push(row.short().to_string()),
        }
    }
    // Archived repositories run nowhere: their owners aren't told.
    for repo in repos.iter().filter(|r| !r.archived) {
        match &repo.owner_ref {
            Some(owner) => by_team.entry(owner.clone()).or_default().1.push(repo),
            None => unowned.push(repo.name.clone()),
        }
    }
    let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut tx = core.pool.begin().await?;
    let (mut sent, mut already) = (0, 0);
    for (team, (services, repos)) in &by_team {
        let key = hex::encode(&Sha256::digest(format!("{normalized}\n{team}").as_bytes())[..12]);
        let notice = Notice {
            reason: "vulnerable-package".into(),
            query: normalized.clone(),
            package: dep.display(),
            requested_by: request.actor.audit_name(),
            services: services
                .iter()
                .map(|s| NoticedService {
                    key: s.key.clone(),
                    name: s.short().to_string(),
                    versions: matches
                        .and_then(|m| m.get(&s.id))
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect(),
            repositories: repos
                .iter()
                .map(|r| NoticedRepository {
                    name: r.name.clone(),
                    url: r.url.clone(),
                    evidence: r.evidence.clone(),
                    versions: r.versions.clone(),
                })
                .collect(),
        };
        let job = NewJob::new(team.clone(), &notice, format!("notify:{key}"));
        if outbox::enqueue(&mut tx, &job, core.config.outbox.max_attempts).await? {
            sent += 1;
        } else {
            already += 1;
        }
    }
    sqlx::query("INSERT INTO audit_log (actor, action, subject, details) VALUES ($1, 'search.notify', $2, $3)")
        .bind(request.actor.audit_name())
        .bind(&normalized)
        .bind(json!({ "teams": by_team.keys().collect::<Vec<_>>(), "new": sent, "repeated": already }))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let mut reply = Reply::new().section(Text::plain(format!(
        "Notified {} about {}{} using {}.",
        plural(sent, "team", "teams"),
        plural(rows.len(), "service", "services"),
        match repos
            .iter()
            .filter(|r| !r.archived && r.owner_ref.is_some())
            .count()
        {
            0 => String::new(),
            n => format!(
                " and {} not in the catalog",
                plural(n, "repository", "repositories")
            ),
        },
        dep.display()
    )));
    if already > 0 {
        reply = reply.context(Text::plain(format!(
            "{already} team{} had already been notified for this search; nothing was sent to them again.",
            if already == 1 { "" } else { "s" }
        )));
    }
    if !unowned.is_empty() {
        reply = reply.context(Text::plain(format!(
            "No owner to notify for: {}.",
            unowned
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
