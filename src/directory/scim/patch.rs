//! SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON: `add`,
//! `replace` and `remove`, with a path (`active`, `name.givenName`,
//! `emails[type eq "work"].value`, `members[value eq "…"]`, an extension's
//! `urn:…:department`) or without one (the value an object of attributes).
//! The providers' habits are taken as they come: Entra ID's capitalised
//! `Replace`, its path-less replace with dotted keys (`name.givenName`) and
//! string booleans (`"False"`); Okta's group-member changes in batches
//! (`remove` on `members` with a list of values).

use serde_json::{Map, Value};

use super::filter::{self, AttrPath, Filter};

/// Why an operation can't be applied: SCIM's `scimType` and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    pub scim_type: &'static str,
    pub detail: String,
}

fn invalid(scim_type: &'static str, detail: impl Into<String>) -> PatchError {
    PatchError {
        scim_type,
        detail: detail.into(),
    }
}

/// The most operations in one request.
pub const MAX_OPERATIONS: usize = 1000;

/// Applies a PatchOp's `Operations` in order; nothing is applied when one
/// fails (the caller keeps the original).
pub fn apply(resource: &mut Value, operations: &[Value]) -> Result<(), PatchError> {
    if operations.len() > MAX_OPERATIONS {
        return Err(invalid(
            "tooMany",
            format!("at most {MAX_OPERATIONS} operations in one request"),
        ));
    }
    let mut working = resource.clone();
    for op in operations {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| invalid("invalidSyntax", "each operation needs an `op`"))?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| !p.trim().is_empty());
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        match (kind.as_str(), path) {
            ("add" | "replace", None) => {
                let Value::Object(attributes) = value else {
                    return Err(invalid(
                        "invalidValue",
                        "an operation without a path takes an object of attributes",
                    ));
                };
                for (key, value) in attributes {
                    // Entra ID sends `name.givenName` as a key.
                    let path = parse_path(&key)?;
                    set(&mut working, &path, value, kind == "add")?;
                }
            }
            ("add" | "replace", Some(path)) => {
                set(&mut working, &parse_path(path)?, value, kind == "add")?;
            }
            ("remove", Some(path)) => remove(&mut working, &parse_path(path)?, &value)?,
            ("remove", None) => {
                return Err(invalid("noTarget", "`remove` needs a path"));
            }
            (other, _) => {
                return Err(invalid(
                    "invalidSyntax",
                    format!("`{other}` is not a PATCH operation; use add, replace or remove"),
                ));
            }
        }
    }
    normalise(&mut working);
    *resource = working;
    Ok(())
}

/// A PATCH path: an attribute, maybe a filter on its elements, maybe a
/// sub-attribute.
#[derive(Debug)]
struct Path {
    attr: AttrPath,
    filter: Option<Filter>,
    /// After the filter: `emails[type eq "work"].value`.
    sub_after_filter: Option<String>,
}

fn parse_path(text: &str) -> Result<Path, PatchError> {
    let bad = |why: String| invalid("invalidPath", why);
    let (head, filter, tail) = match text.split_once('[') {
        Some((head, rest)) => {
            let (inner, tail) = rest
                .rsplit_once(']')
                .ok_or_else(|| bad(format!("`{text}`: `[` without `]`")))?;
            let filter = filter::parse(inner).map_err(|e| bad(e.0))?;
            let tail = tail
                .strip_prefix('.')
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            (head, Some(filter), tail)
        }
        None => (text, None, None),
    };
    // Reuse the filter's attribute grammar: `head pr` parses the path.
    let attr = match filter::parse(&format!("{head} pr")) {
        Ok(Filter::Present(attr)) => attr,
        _ => return Err(bad(format!("`{text}` is not an attribute path"))),
    };
    Ok(Path {
        attr,
        filter,
        sub_after_filter: tail,
    })
}

/// The object an attribute lives in: the resource, or its extension's.
fn container<'a>(
    resource: &'a mut Value,
    schema: Option<&str>,
) -> Result<&'a mut Map<String, Value>, PatchError> {
    let root = resource
        .as_object_mut()
        .ok_or_else(|| invalid("invalidValue", "the resource isn't an object"))?;
    match schema {
        Some(urn) if !urn.to_ascii_lowercase().contains(":core:") => {
            let key = root
                .keys()
                .find(|k| k.eq_ignore_ascii_case(urn))
                .cloned()
                .unwrap_or_else(|| urn.to_string());
            let extension = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !extension.is_object() {
                *extension = Value::Object(Map::new());
            }
            Ok(extension.as_object_mut().expect("made an object"))
        }
        _ => Ok(root),
    }
}

/// The key an attribute has in `object` (its case there), or its own.
fn key_in(object: &Map<String, Value>, name: &str) -> String {
    object
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn set(resource: &mut Value, path: &Path, value: Value, adding: bool) -> Result<(), PatchError> {
    let object = container(resource, path.attr.schema.as_deref())?;
    let key = key_in(object, &path.attr.name);
    match (&path.filter, &path.attr.sub) {
        (None, None) => {
            let slot = object.entry(key).or_insert(Value::Null);
            match (slot, value) {
                // Adding to a multi-valued attribute appends what isn't there.
                (Value::Array(existing), Value::Array(new)) if adding => {
                    for item in new {
                        if !existing.iter().any(|e| same_value(e, &item)) {
                            existing.push(item);
                        }
                    }
                }
                (Value::Object(existing), Value::Object(new)) => {
                    for (k, v) in new {
                        let k = key_in(existing, &k);
                        existing.insert(k, v);
                    }
                }
                (slot, value) => *slot = value,
            }
        }
        (None, Some(sub)) => {
            let slot = object
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let inner = slot.as_object_mut().expect("made an object");
            let k = key_in(inner, sub);
            inner.insert(k, value);
        }
        (Some(filter), _) => {
            let items = object
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            if !items.is_array() {
                *items = Value::Array(Vec::new());
            }
            let items = items.as_array_mut().expect("made an array");
            let mut matched = false;
            for item in items.iter_mut().filter(|i| filter.matches(i)) {
                matched = true;
                apply_to_element(item, path.sub_after_filter.as_deref(), value.clone());
            }
            if !matched {
                // `emails[type eq "work"].value` on a user without a work
                // email: the element is made, as providers expect.
                let mut element = seed(filter)
                    .ok_or_else(|| invalid("noTarget", "no element matches the path's filter"))?;
                apply_to_element(&mut element, path.sub_after_filter.as_deref(), value);
                items.push(element);
            }
        }
    }
    Ok(())
}

fn apply_to_element(item: &mut Value, sub: Option<&str>, value: Value) {
    match (sub, item.as_object_mut()) {
        (Some(sub), Some(object)) => {
            let k = key_in(object, sub);
            object.insert(k, value);
        }
        (None, Some(object)) => {
            if let Value::Object(new) = value {
                for (k, v) in new {
                    let k = key_in(object, &k);
                    object.insert(k, v);
                }
            }
        }
        _ => {}
    }
}

/// An element that a simple filter (`type eq "work"`, joined by `and`)
/// describes.
fn seed(filter: &Filter) -> Option<Value> {
    let mut element = Map::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            Filter::Compare(attr, filter::Op::Eq, literal) if attr.sub.is_none() => {
                let value = match literal {
                    filter::Literal::Str(s) => Value::String(s.clone()),
                    filter::Literal::Bool(b) => Value::Bool(*b),
                    filter::Literal::Num(n) => {
                        serde_json::Number::from_f64(*n).map(Value::Number)?
                    }
                    filter::Literal::Null => Value::Null,
                };
                element.insert(attr.name.clone(), value);
            }
            _ => return None,
        }
    }
    Some(Value::Object(element))
}

fn remove(resource: &mut Value, path: &Path, value: &Value) -> Result<(), PatchError> {
    let object = container(resource, path.attr.schema.as_deref())?;
    let key = key_in(object, &path.attr.name);
    match (&path.filter, &path.attr.sub) {
        (None, None) => match (object.get_mut(&key), value) {
            // Okta: remove these members, given as a list.
            (Some(Value::Array(items)), Value::Array(gone)) if !gone.is_empty() => {
                items.retain(|item| !gone.iter().any(|g| same_value(item, g)));
            }
            _ => {
                object.remove(&key);
            }
        },
        (None, Some(sub)) => {
            if let Some(Value::Object(inner)) = object.get_mut(&key) {
                let k = key_in(inner, sub);
                inner.remove(&k);
            }
        }
        (Some(filter), _) => {
            if let Some(Value::Array(items)) = object.get_mut(&key) {
                match &path.sub_after_filter {
                    None => items.retain(|item| !filter.matches(item)),
                    Some(sub) => {
                        for item in items.iter_mut().filter(|i| filter.matches(i)) {
                            if let Some(o) = item.as_object_mut() {
                                let k = key_in(o, sub);
                                o.remove(&k);
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Two elements of a multi-valued attribute are the same when their
/// `value`s are (members, emails), else when they are equal.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Entra ID's string booleans (`"False"`) as booleans, where SCIM's
/// attributes are booleans.
pub fn normalise(resource: &mut Value) {
    fn fix(value: &mut Value) {
        if let Value::String(s) = value {
            if s.eq_ignore_ascii_case("true") {
                *value = Value::Bool(true);
            } else if s.eq_ignore_ascii_case("false") {
                *value = Value::Bool(false);
            }
        }
    }
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    for (key, value) in object.iter_mut() {
        if key.eq_ignore_ascii_case("active") {
            fix(value);
        }
        if let Value::Array(items) = value {
            for item in items {
                if let Some(primary) = item.get_mut("primary") {
                    fix(primary);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({ "userName": "jane@acme.example", "active": true,
                "name": { "givenName": "Jane", "familyName": "Doe" },
                "emails": [{ "value": "jane@acme.example", "type": "work", "primary": true }] })
    }

    #[test]
    fn entra_ids_pathless_replace_with_dotted_keys_and_string_booleans() {
        let mut u = user();
        apply(&mut u, &[json!({ "op": "Replace", "value": { "active": "False", "name.givenName": "Janet" } })]).unwrap();
        assert_eq!(u["active"], false);
        assert_eq!(u["name"]["givenName"], "Janet");
        assert_eq!(u["name"]["familyName"], "Doe");
    }

    #[test]
    fn filtered_paths_change_or_make_the_element() {
        let mut u = user();
        apply(&mut u, &[
            json!({ "op": "replace", "path": "emails[type eq \"work\"].value", "value": "j.doe@acme.example" }),
            json!({ "op": "add", "path": "emails[type eq \"home\"].value", "value": "jd@home.example" }),
            json!({ "op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Payments" }),
        ]).unwrap();
        assert_eq!(u["emails"][0]["value"], "j.doe@acme.example");
        assert_eq!(
            u["emails"][1],
            json!({ "type": "home", "value": "jd@home.example" })
        );
        assert_eq!(
            u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            "Payments"
        );
        apply(
            &mut u,
            &[json!({ "op": "remove", "path": "emails[type eq \"home\"]" })],
        )
        .unwrap();
        assert_eq!(u["emails"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn oktas_member_batches() {
        let mut g = json!({ "displayName": "payments", "members": [] });
        apply(&mut g, &[json!({ "op": "add", "path": "members", "value": [{ "value": "a" }, { "value": "b" }, { "value": "c" }] })]).unwrap();
        apply(
            &mut g,
            &[json!({ "op": "add", "path": "members", "value": [{ "value": "b" }] })],
        )
        .unwrap();
        assert_eq!(g["members"].as_array().unwrap().len(), 3);
        apply(&mut g, &[json!({ "op": "remove", "path": "members", "value": [{ "value": "a" }, { "value": "c" }] })]).unwrap();
        assert_eq!(g["members"], json!([{ "value": "b" }]));
        apply(
            &mut g,
            &[json!({ "op": "remove", "path": "members[value eq \"b\"]" })],
        )
        .unwrap();
        assert_eq!(g["members"], json!([]));
    }

    #[test]
    fn bad_operations_change_nothing() {
        let mut u = user();
        let before = u.clone();
        let e = apply(
            &mut u,
            &[
                json!({ "op": "replace", "path": "displayName", "value": "J" }),
                json!({ "op": "move", "path": "x" }),
            ],
        )
        .unwrap_err();
        assert_eq!(e.scim_type, "invalidSyntax");
        assert_eq!(u, before);
        assert_eq!(
            apply(&mut u, &[json!({ "op": "remove" })])
                .unwrap_err()
                .scim_type,
            "noTarget"
        );
        assert_eq!(
            apply(
                &mut u,
                &[json!({ "op": "add", "path": "emails[type eq", "value": 1 })]
            )
            .unwrap_err()
            .scim_type,
            "invalidPath"
        );
    }
}
