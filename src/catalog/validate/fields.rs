//! Reading a descriptor's fields: the problems collected with their line
//! (`Ctx`), typed readers that turn a wrong type into a problem naming the
//! field and what to write, references, and metadata's labels, annotations
//! and links.

use serde_json::{Map, Value};

use super::super::entity::{Link, LinkCategory};
use super::super::model::{EntityRef, Kind, check_key, check_name};
use super::super::problem::{Problem, quote, quote_json};
use super::super::yaml::{YamlDoc, child_path, index_path};

pub(super) struct Ctx<'a> {
    pub doc: &'a YamlDoc,
    pub file: &'a str,
    pub problems: Vec<Problem>,
}

impl Ctx<'_> {
    pub(super) fn line(&self, path: &str) -> Option<usize> {
        self.doc.lines.line(path).or(Some(self.doc.start_line))
    }

    pub(super) fn error(&mut self, path: &str, message: impl Into<String>) {
        let line = self.line(path);
        self.problems
            .push(Problem::error(self.file, line, path, message));
    }

    pub(super) fn warn(&mut self, path: &str, message: impl Into<String>) {
        let line = self.line(path);
        self.problems
            .push(Problem::warning(self.file, line, path, message));
    }

    pub(super) fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }
}

/// A `$text`/`$json`/`$yaml` substitution left as written (a URL that could
/// not be fetched): it stands where a string is expected, and is kept.
pub(super) fn is_placeholder(value: &Value) -> bool {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (key, target) = map.iter().next().expect("one entry");
            matches!(key.as_str(), "$text" | "$json" | "$yaml") && target.is_string()
        }
        _ => false,
    }
}

pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a true/false value",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Reads an optional string field; wrong types are errors.
pub(super) fn opt_string(
    ctx: &mut Ctx,
    parent: &Value,
    parent_path: &str,
    key: &str,
    what: &str,
) -> Option<String> {
    let path = child_path(parent_path, key);
    match parent.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => {
            ctx.error(&path, format!("is empty; write {what} or remove the field"));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) if is_placeholder(v) => None,
        Some(v) => {
            ctx.error(
                &path,
                format!(
                    "must be text ({what}), not {} {}",
                    type_name(v),
                    quote_json(v)
                ),
            );
            None
        }
    }
}

/// Reads a required string field.
pub(super) fn req_string(
    ctx: &mut Ctx,
    parent: &Value,
    parent_path: &str,
    key: &str,
    what: &str,
) -> Option<String> {
    let present = parent.get(key).is_some_and(|v| !v.is_null());
    if !present {
        let path = child_path(parent_path, key);
        ctx.error(&path, format!("is required: add {key}: with {what}"));
        return None;
    }
    opt_string(ctx, parent, parent_path, key, what)
}

/// Reads an optional list of strings; each bad item is reported.
pub(super) fn opt_string_list(
    ctx: &mut Ctx,
    parent: &Value,
    parent_path: &str,
    key: &str,
    what: &str,
) -> Vec<(String, String)> {
    let path = child_path(parent_path, key);
    match parent.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let item_path = index_path(&path, i);
                match item {
                    Value::String(s) if !s.trim().is_empty() => out.push((s.clone(), item_path)),
                    other => ctx.error(
                        &item_path,
                        format!(
                            "must be text ({what}), not {} {}",
                            type_name(other),
                            quote_json(other)
                        ),
                    ),
                }
            }
            out
        }
        Some(Value::String(s)) => {
            ctx.error(
                &path,
                format!(
                    "must be a list, not the single value {}; write it as [{s}] or as a '- ' item",
                    quote(s)
                ),
            );
            Vec::new()
        }
        Some(other) => {
            ctx.error(
                &path,
                format!(
                    "must be a list of {what}, not {} {}",
                    type_name(other),
                    quote_json(other)
                ),
            );
            Vec::new()
        }
    }
}

/// Parses a reference field, reporting a bad one.
pub(super) fn reference(
    ctx: &mut Ctx,
    text: &str,
    path: &str,
    default_kind: Option<Kind>,
    namespace: &str,
) -> Option<EntityRef> {
    match EntityRef::parse(text, default_kind, namespace) {
        Ok(r) => {
            if let Err(why) = check_name(&r.name) {
                ctx.error(path, format!("refers to {}, whose name {why}", quote(text)));
                return None;
            }
            Some(r)
        }
        Err(why) => {
            ctx.error(path, format!("the reference {} {why}", quote(text)));
            None
        }
    }
}

pub(super) fn annotation<'a>(annotations: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    annotations
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `metadata.labels` / `metadata.annotations`: keys in Backstage's format,
/// values text.
pub(super) fn string_map(ctx: &mut Ctx, metadata: &Value, key: &str) -> Map<String, Value> {
    let path = child_path("metadata", key);
    match metadata.get(key) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => {
            let mut out = Map::new();
            for (k, v) in map {
                let entry_path = child_path(&path, k);
                if let Err(why) = check_key(k) {
                    ctx.error(&entry_path, format!("the key {} {why}", quote(k)));
                    continue;
                }
                match v {
                    Value::String(_) => {
                        out.insert(k.clone(), v.clone());
                    }
                    // A substitution that couldn't be read stays as written.
                    other if is_placeholder(other) => {
                        out.insert(k.clone(), v.clone());
                    }
                    other => ctx.error(
                        &entry_path,
                        format!(
                            "must be text, not {} {}; quote it, e.g. {k}: \"{}\"",
                            type_name(other),
                            quote_json(other),
                            other.to_string().trim_matches('"')
                        ),
                    ),
                }
            }
            out
        }
        Some(other) => {
            ctx.error(
                &path,
                format!("must be a mapping of key: value, not {}", type_name(other)),
            );
            Map::new()
        }
    }
}

pub(super) fn read_links(ctx: &mut Ctx, metadata: &Value) -> Vec<Link> {
    let Some(value) = metadata.get("links") else {
        return Vec::new();
    };
    let Value::Array(items) = value else {
        if !value.is_null() {
            ctx.error(
                "metadata.links",
                format!("must be a list of links, not {}", type_name(value)),
            );
        }
        return Vec::new();
    };
    let mut links = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = index_path("metadata.links", i);
        if !item.is_object() {
            ctx.error(
                &path,
                format!(
                    "must be a mapping with url: and title:, not {}",
                    type_name(item)
                ),
            );
            continue;
        }
        let url = req_string(ctx, item, &path, "url", "the link's address");
        let title = opt_string(ctx, item, &path, "title", "the link's title");
        let icon = opt_string(ctx, item, &path, "icon", "an icon name");
        let link_type = opt_string(ctx, item, &path, "type", "the link's type");
        if let Some(url) = url {
            if !(url.contains("://") || url.starts_with("mailto:")) {
                ctx.warn(
                    &child_path(&path, "url"),
                    format!(
                        "{} is not an absolute URL; chat clients can't open it",
                        quote(&url)
                    ),
                );
            }
            let category = LinkCategory::classify(
                link_type.as_deref(),
                icon.as_deref(),
                title.as_deref(),
                &url,
            );
            links.push(Link {
                url,
                title,
                icon,
                category,
            });
        }
    }
    links
}
