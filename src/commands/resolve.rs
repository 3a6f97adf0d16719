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
    NotFound,
}

/// Resolves `text` among `kinds`.
pub async fn resolve(core: &Core, text: &str, kinds: &[Kind]) -> Result<Resolved, sqlx::Error> {
    let pool = &core.pool;
    let text = text.trim();
    // A full reference (kind:namespace/name or namespace/name).
    if text.contains(':') || text.contains('/') {
        let default_kind = kinds.first().copied();
        if let Ok(r) = EntityRef::parse(text, default_kind, "default")
            && kinds.contains(&r.kind)
            && let Some(row) = store::find_by_ref(pool, &r.key()).await?
        {
            return Ok(Resolved::One(Box::new(row)));
        }
    }
    let exact = store::find_by_name(pool, kinds, text).await?;
    if let Some(found) = pick(exact, kinds) {
        return Ok(found);
    }
    let titled = store::find_by_title(pool, kinds, text).await?;
    if let Some(found) = pick(titled, kinds) {
        return Ok(found);
    }
    // "Did you mean": any new or renamed entity could change it.
    store::record_whole_catalog();
    let snapshot = core.snapshot.names(pool).await?;
    let threshold = core.config.chat.fuzzy_threshold as f32;
    let limit = core.config.chat.suggestions.max(1);
    let ids: Vec<i64> = snapshot
        .names
        .similar(text, kinds, threshold, limit)
        .into_iter()
        .map(|m| m.id)
        .collect();
    let similar = store::find_by_ids(pool, &ids).await?;
    if similar.is_empty() {
        Ok(Resolved::NotFound)
    } else {
        Ok(Resolved::Suggestions(similar))
    }
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
