//! `$text`, `$json` and `$yaml` substitutions: found without recursion,
//! resolved inside the location's scope, read through the reader, and put
//! in place unless they would nest too deep.

use super::*;

/// What substituting a document did.
pub(super) struct Substituted {
    /// Files and URLs read, with the hash of what they held.
    pub(super) deps: Vec<(String, String)>,
    /// A substitution reached outside the location: the document is refused.
    pub(super) refused: bool,
}

/// Resolves `$text`, `$json` and `$yaml` substitutions against the file
/// they appear in. One that cannot be read is a warning and the reference
/// is kept as written; one that reaches outside the location is an error.
pub(super) async fn substitute(
    value: &mut Value,
    source: &Source,
    scope: &Scope,
    options: &LoadOptions,
    problems: &mut Vec<Problem>,
    file: &str,
    lines: &crate::catalog::yaml::FieldLines,
) -> Substituted {
    let mut deps = Vec::new();
    let mut refused = false;
    // Collect the paths first (iteratively), then resolve each.
    let mut found: Vec<(Vec<PathStep>, String, String)> = Vec::new();
    let mut stack: Vec<(Vec<PathStep>, &Value)> = vec![(Vec::new(), &*value)];
    while let Some((path, node)) = stack.pop() {
        match node {
            Value::Object(map) => {
                if map.len() == 1
                    && let Some((key, Value::String(target))) = map.iter().next()
                    && matches!(key.as_str(), "$text" | "$json" | "$yaml")
                {
                    found.push((path, key.clone(), target.clone()));
                    continue;
                }
                for (k, v) in map {
                    let mut p = path.clone();
                    p.push(PathStep::Key(k.clone()));
                    stack.push((p, v));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    let mut p = path.clone();
                    p.push(PathStep::Index(i));
                    stack.push((p, v));
                }
            }
            _ => {}
        }
    }
    for (path, kind, target) in found {
        let field = path_string(&path);
        let line = lines.line(&field);
        // A path out of the location is refused before anything is read;
        // a URL to a host it may not reach, by the fetcher.
        let resolved = scope.resolve(source, &target);
        let read = match &resolved {
            Ok(resolved) => {
                let read = options.reader.read_text(resolved, scope).await;
                deps.push((
                    resolved.to_string(),
                    read.as_ref()
                        .map(|t| text_hash(t))
                        .unwrap_or_else(|_| MISSING.to_string()),
                ));
                read
            }
            Err(why) => Err(ReadError::Refused(why.clone())),
        };
        let replacement = match read {
            Ok(text) => match kind.as_str() {
                "$text" => Ok(Value::String(text)),
                "$json" => serde_json::from_str::<Value>(&text)
                    .map_err(|e| format!("is not valid JSON: {e}")),
                _ => {
                    let stream = parse_stream(&text);
                    match (stream.error, stream.docs.into_iter().next()) {
                        (None, Some(doc)) => Ok(doc.value),
                        (Some(e), _) => Err(format!(
                            "is not valid YAML (line {}): {}",
                            e.line, e.message
                        )),
                        (None, None) => Ok(Value::Null),
                    }
                }
            },
            Err(ReadError::Refused(why)) => {
                refused = true;
                problems.push(Problem::error(
                    file,
                    line,
                    &field,
                    format!("the substitution {kind}: {} {why}", quote(&target)),
                ));
                continue;
            }
            Err(e) => Err(e.to_string()),
        };
        let replacement = replacement.and_then(|v| {
            // Stored documents are read back with serde_json's depth limit:
            // a deep value substituted deep down could never be read again.
            if path.len() + crate::catalog::yaml::depth(&v) > crate::catalog::yaml::MAX_DEPTH {
                Err(format!(
                    "nests deeper than {} levels where it is used",
                    crate::catalog::yaml::MAX_DEPTH
                ))
            } else {
                Ok(v)
            }
        });
        match replacement {
            Ok(new_value) => {
                if let Some(slot) = value_at_mut(value, &path) {
                    *slot = new_value;
                }
            }
            Err(why) => problems.push(Problem::warning(
                file,
                line,
                &field,
                format!(
                    "the substitution {kind}: {} {why}; it is kept as written",
                    quote(&resolved.as_ref().map(Source::to_string).unwrap_or(target))
                ),
            )),
        }
    }
    Substituted { deps, refused }
}

#[derive(Debug, Clone)]
pub(super) enum PathStep {
    Key(String),
    Index(usize),
}

pub(super) fn path_string(path: &[PathStep]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            PathStep::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathStep::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

pub(super) fn value_at_mut<'a>(value: &'a mut Value, path: &[PathStep]) -> Option<&'a mut Value> {
    let mut node = value;
    for step in path {
        node = match step {
            PathStep::Key(k) => node.get_mut(k.as_str())?,
            PathStep::Index(i) => node.get_mut(*i)?,
        };
    }
    Some(node)
}
