//! Finding what a person meant by a name, everywhere a service or team is
//! named: exact (case-insensitive) → a full reference → title or alias →
//! similar names ("did you mean …?") → nothing close. Ambiguity is a
//! choice, never a guess.

use crate::catalog::model::{EntityRef, Kind};
use crate::catalog::store::{self, EntityRow};
use crate::chat::{Action, Element, Reply, SelectOption, Text};

use super::Core;

/// The outcome of resolving a name.
#[derive(Debug)]
pub enum Resolved {
    One(Box<EntityRow>),
    /// Several entities answer to the name.
    Ambiguous(Vec<EntityRow>),
    /// Nothing by that name; these are close.
    Suggestions(Vec<EntityRow>),
    /// Nothing by that name in the catalog, but a descriptor describes it
    /// and was rejected at import: its problems, `file:line: field: message`.
    Rejected {
        name: String,
        problems: Vec<String>,
    },
    NotFound,
}

/// Resolves `text` among `kinds`.
pub async fn resolve(core: &Core, text: &str, kinds: &[Kind]) -> Result<Resolved, sqlx::Error> {
    let pool = &core.pool;
    let reader = core.reader().await;
    // "payments-api?" as typed in a question: names never end that way.
    let text = text.trim().trim_end_matches(['?', '!', ',', ';', '.']);
    // A full reference (kind:namespace/name or namespace/name).
    let mut referenced_name = None;
    if text.contains(':') || text.contains('/') {
        let default_kind = kinds.first().copied();
        if let Ok(r) = EntityRef::parse(text, default_kind, "default")
            && kinds.contains(&r.kind)
        {
            if let Some(row) = reader.find_by_ref(&r.key()).await? {
                return Ok(Resolved::One(Box::new(row)));
            }
            // The right name in another namespace (or of another kind) is
            // a suggestion, never silently the answer.
            let elsewhere = store::find_by_name(pool, kinds, &r.name).await?;
            if !elsewhere.is_empty() {
                return Ok(Resolved::Suggestions(elsewhere));
            }
            referenced_name = Some(r.name);
        }
    }
    let text = referenced_name.as_deref().unwrap_or(text);
    let exact = reader.find_by_name(kinds, text).await?;
    if let Some(found) = pick(exact, kinds) {
        return Ok(found);
    }
    let titled = store::find_by_title(pool, kinds, text).await?;
    if let Some(found) = pick(titled, kinds) {
        return Ok(found);
    }
    // "Did you mean": any new or renamed entity could change it.
    store::record_whole_catalog();
    if let Some(problems) = rejected(core, text, kinds).await? {
        return Ok(Resolved::Rejected {
            name: text.to_string(),
            problems,
        });
    }
    let snapshot = core.snapshot.names(pool).await?;
    let threshold = core.config.chat.fuzzy_threshold as f32;
    let limit = core.config.chat.suggestions.max(1);
    let mut matches = snapshot.names.similar(text, kinds, threshold, limit);
    // Teams are mostly named `team-…`: "platfrom" means team-platform.
    if kinds.contains(&Kind::Group) && !text.to_lowercase().starts_with("team-") {
        for m in snapshot
            .names
            .similar(&format!("team-{text}"), &[Kind::Group], threshold, limit)
        {
            if !matches.iter().any(|known| known.id == m.id) {
                matches.push(m);
            }
        }
        matches.sort_by(|a, b| b.score.total_cmp(&a.score));
        matches.truncate(limit);
    }
    let ids: Vec<i64> = matches.into_iter().map(|m| m.id).collect();
    let similar = reader.find_by_ids(&ids).await?;
    if similar.is_empty() {
        Ok(Resolved::NotFound)
    } else {
        Ok(Resolved::Suggestions(similar))
    }
}

/// The import errors of a descriptor named `name` (of one of `kinds`)
/// that never made it into the catalog, if there is one.
async fn rejected(
    core: &Core,
    name: &str,
    kinds: &[Kind],
) -> Result<Option<Vec<String>>, sqlx::Error> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let rows: Vec<(String, Option<i32>, String, String)> = sqlx::query_as(
        "SELECT p.file, p.line, p.field, p.message FROM import_problems p
         WHERE p.severity = 'error'
           AND lower(split_part(split_part(p.entity_ref, '/', 2), '/', 1)) = lower($1)
           AND split_part(p.entity_ref, ':', 1) = ANY($2)
           AND NOT EXISTS (SELECT 1 FROM entities e WHERE e.ref = p.entity_ref)
         ORDER BY p.file, p.line LIMIT 5",
    )
    .bind(name)
    .bind(&kinds)
    .fetch_all(&core.pool)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .map(|(file, line, field, message)| match line {
                Some(line) => format!("{file}:{line}: {field}: {message}"),
                None => format!("{file}: {field}: {message}"),
            })
            .collect(),
    ))
}

/// One match is the answer; several are a choice — unless exactly one of
/// them is of the first (preferred) kind and all share namespace and owner.
fn pick(mut rows: Vec<EntityRow>, kinds: &[Kind]) -> Option<Resolved> {
    match rows.len() {
        0 => None,
        1 => Some(Resolved::One(Box::new(rows.remove(0)))),
        _ => {
            let preferred = kinds.first().map(|k| k.as_str());
            let mut primary: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| Some(r.kind.as_str()) == preferred)
                .map(|(i, _)| i)
                .collect();
            // A service and its API often share a name and an owner: then
            // the answer is the same whichever was meant, so give it for
            // the preferred kind rather than asking.
            let same_place = rows
                .iter()
                .all(|r| r.namespace == rows[0].namespace && r.owner_ref == rows[0].owner_ref);
            if primary.len() == 1 && same_place {
                let i = primary.remove(0);
                return Some(Resolved::One(Box::new(rows.remove(i))));
            }
            Some(Resolved::Ambiguous(rows))
        }
    }
}

/// What a person reads to tell candidates apart: kind (when not a
/// component), namespace (when not default), system and owner.
pub fn describe(row: &EntityRow) -> String {
    let mut parts = Vec::new();
    if row.kind != "component" {
        parts.push(row.kind.clone());
    }
    if row.namespace != "default" {
        parts.push(format!("namespace {}", row.namespace));
    }
    if let Some(system) = row.system_ref.as_deref().and_then(EntityRef::from_key) {
        parts.push(format!("system {}", system.short()));
    }
    match row.owner_ref.as_deref().and_then(EntityRef::from_key) {
        Some(owner) => parts.push(format!("owned by {}", owner.short())),
        None if row.kind != "group" && row.kind != "user" => parts.push("no owner".to_string()),
        None => {}
    }
    parts.join(" · ")
}

/// The reply for a name that didn't resolve to one entity. `command` is
/// the command to re-run with the chosen reference (e.g. `owner`); `what`
/// names the thing sought ("service", "team").
pub fn unresolved_reply(resolved: &Resolved, query: &str, command: &str, what: &str) -> Reply {
    let shown = shorten(query);
    match resolved {
        Resolved::One(_) => Reply::new(),
        Resolved::Ambiguous(rows) => {
            let options = rows
                .iter()
                .map(|r| SelectOption {
                    label: r.short(),
                    description: Some(describe(r)),
                    action: Action::run(format!("{command} {}", r.command_ref())),
                })
                .collect();
            Reply::new()
                .section(
                    Text::plain(format!("{} entities are called ", rows.len()))
                        .add_code(shown)
                        .add_plain(" — which one do you mean?"),
                )
                .actions(vec![Element::Select {
                    placeholder: format!("Choose the {what}"),
                    options,
                }])
        }
        Resolved::Suggestions(rows) => {
            let names: Vec<String> = rows.iter().map(candidate_label).collect();
            let buttons = rows
                .iter()
                .map(|r| Element::Button {
                    label: candidate_label(r),
                    action: Action::run(format!("{command} {}", r.command_ref())),
                    style: Default::default(),
                })
                .collect();
            Reply::new()
                .section(
                    Text::plain(format!("There's no {what} called "))
                        .add_code(shown)
                        .add_plain(format!(". Did you mean {}?", or_list(&names))),
                )
                .actions(buttons)
        }
        Resolved::Rejected { name, problems } => {
            let mut text = Text::new()
                .add_bold(name.clone())
                .add_plain("'s descriptor was rejected when it was imported, so it isn't in the catalog yet:");
            for problem in problems {
                text = text.add_plain("\n").add_code(problem.clone());
            }
            Reply::new().section(text).context(Text::plain(
                "Fix the descriptor (whoever maintains it, or your usher admins); it is read again at the next refresh.",
            ))
        }
        Resolved::NotFound => Reply::new()
            .section(
                Text::plain(format!("There's no {what} called "))
                    .add_code(shown.clone())
                    .add_plain(", and nothing with a similar name. Search descriptions and tags instead, or use the full reference (")
                    .add_code("component:namespace/name")
                    .add_plain(")."),
            )
            .actions(vec![Element::Button {
                label: format!("search {shown}"),
                action: Action::run(format!("search {}", query.replace(['"', '\''], ""))),
                style: Default::default(),
            }]),
    }
}

/// `payments-api`, or `payments (system)` when it isn't a component.
fn candidate_label(row: &EntityRow) -> String {
    if row.kind == "component" {
        row.short()
    } else {
        format!("{} ({})", row.short(), row.kind)
    }
}

/// "a, b or c".
pub fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn shorten(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    s
}
