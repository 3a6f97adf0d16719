//! The change itself, made to the descriptor file's text: the service's
//! document only, comments and layout kept, checked by parsing the result
//! back — and, for a retry, whether the document already says it.

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The file with `field` set to `value` in the document starting at line
/// `doc_line` (1-based), checked by parsing it back.
pub fn edit(text: &str, doc_line: usize, field: &str, value: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let (start, end) = document_bounds(&lines, doc_line);
    let find = |key: &str, from: usize, to: usize, indent: usize| {
        (from..to).find(|&i| {
            indent_of(lines[i]) == indent && lines[i].trim_start().starts_with(&format!("{key}:"))
        })
    };
    let block_end = |at: usize| {
        let own = indent_of(lines[at]);
        (at + 1..end)
            .find(|&i| !lines[i].trim().is_empty() && indent_of(lines[i]) <= own)
            .unwrap_or(end)
    };
    let child_indent = |at: usize| {
        (at + 1..end)
            .find(|&i| !lines[i].trim().is_empty())
            .map(|i| indent_of(lines[i]))
            .filter(|n| *n > indent_of(lines[at]))
            .unwrap_or(indent_of(lines[at]) + 2)
    };
    let quoted = serde_json::to_string(value).unwrap_or_default();
    let (after, insert): (usize, Vec<String>) = {
        let metadata = find("metadata", start, end, 0).ok_or("the document has no metadata")?;
        let ind = " ".repeat(child_indent(metadata));
        let annotation = |key: &str| -> (usize, Vec<String>) {
            match find("annotations", metadata + 1, block_end(metadata), ind.len()) {
                Some(a) => (
                    a,
                    vec![format!("{}{key}: {quoted}", " ".repeat(child_indent(a)))],
                ),
                None => (
                    metadata,
                    vec![
                        format!("{ind}annotations:"),
                        format!("{ind}{ind}{key}: {quoted}"),
                    ],
                ),
            }
        };
        match field {
            "description" => (metadata, vec![format!("{ind}description: {quoted}")]),
            "tier" => annotation("usher.dev/tier"),
            "repo" => {
                let location = serde_json::to_string(&format!("url:{value}")).unwrap_or_default();
                match find("annotations", metadata + 1, block_end(metadata), ind.len()) {
                    Some(a) => (
                        a,
                        vec![format!(
                            "{}backstage.io/source-location: {location}",
                            " ".repeat(child_indent(a))
                        )],
                    ),
                    None => (
                        metadata,
                        vec![
                            format!("{ind}annotations:"),
                            format!("{ind}{ind}backstage.io/source-location: {location}"),
                        ],
                    ),
                }
            }
            "lifecycle" => {
                let spec = find("spec", start, end, 0).ok_or("the document has no spec")?;
                let sind = " ".repeat(child_indent(spec));
                (spec, vec![format!("{sind}lifecycle: {value}")])
            }
            "runbook" | "docs" => {
                let title = if field == "runbook" {
                    "Runbook"
                } else {
                    "Docs"
                };
                match find("links", metadata + 1, block_end(metadata), ind.len()) {
                    Some(l) => {
                        let item = " ".repeat(child_indent(l).max(ind.len()));
                        (
                            l,
                            vec![
                                format!("{item}- url: {quoted}"),
                                format!("{item}  title: {title}"),
                                format!("{item}  type: {field}"),
                            ],
                        )
                    }
                    None => (
                        metadata,
                        vec![
                            format!("{ind}links:"),
                            format!("{ind}  - url: {quoted}"),
                            format!("{ind}    title: {title}"),
                            format!("{ind}    type: {field}"),
                        ],
                    ),
                }
            }
            other => return Err(format!("usher can't propose a change to {other}")),
        }
    };
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    for (k, line) in insert.into_iter().enumerate() {
        out.insert(after + 1 + k, line);
    }
    let mut edited = out.join("\n");
    if text.ends_with('\n') {
        edited.push('\n');
    }
    // Check: the document parses and now says what was asked.
    let doc_end = end + (out.len() - lines.len());
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out[start..doc_end].join("\n"))
        .map_err(|e| format!("the edited document doesn't parse ({e})"))?;
    if !says(&doc, field, value) {
        return Err("the edit didn't land where usher expected; make it by hand".into());
    }
    Ok(edited)
}

/// The lines [start, end) of the document that starts at `doc_line`
/// (1-based): up to the next `---`.
fn document_bounds(lines: &[&str], doc_line: usize) -> (usize, usize) {
    let start = doc_line.saturating_sub(1).min(lines.len());
    let end = lines[start..]
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, l)| l.starts_with("---"))
        .map(|(i, _)| start + i)
        .unwrap_or(lines.len());
    (start, end)
}

/// Whether a parsed descriptor has `field` set to `value`.
fn says(doc: &serde_yaml_ng::Value, field: &str, value: &str) -> bool {
    match field {
        "description" => doc["metadata"]["description"].as_str() == Some(value),
        "tier" => doc["metadata"]["annotations"]["usher.dev/tier"].as_str() == Some(value),
        "repo" => {
            doc["metadata"]["annotations"]["backstage.io/source-location"].as_str()
                == Some(format!("url:{value}").as_str())
        }
        "lifecycle" => doc["spec"]["lifecycle"].as_str() == Some(value),
        _ => doc["metadata"]["links"]
            .as_sequence()
            .is_some_and(|l| l.iter().any(|x| x["url"].as_str() == Some(value))),
    }
}

/// Whether the document at `doc_line` already says it (an earlier attempt
/// got this far, or someone made the change by hand).
pub fn already_says(text: &str, doc_line: usize, field: &str, value: &str) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    let (start, end) = document_bounds(&lines, doc_line);
    serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&lines[start..end].join("\n"))
        .is_ok_and(|doc| says(&doc, field, value))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::edited_text;
    use super::*;
    use crate::actions::jobs::HygieneProposal;

    const FILE: &str = "# our service\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: ledger\n  annotations:\n    github.com/project-slug: acme/ledger\n  links:\n    - url: https://dash.example.com\n      title: Dashboard\nspec:\n  type: service\n  owner: team-payments\n---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: ledger-api\nspec:\n  type: openapi\n";

    #[test]
    fn edits_land_in_the_right_document_and_keep_the_rest() {
        let out = edit(FILE, 2, "runbook", "https://runbooks.example.com/ledger").unwrap();
        assert!(out.starts_with("# our service\n"));
        assert!(out.contains("  links:\n    - url: \"https://runbooks.example.com/ledger\"\n      title: Runbook\n      type: runbook\n    - url: https://dash.example.com"));
        let out = edit(FILE, 2, "tier", "2").unwrap();
        assert!(
            out.contains("  annotations:\n    usher.dev/tier: \"2\"\n    github.com/project-slug")
        );
        let out = edit(FILE, 2, "lifecycle", "production").unwrap();
        assert!(out.contains("spec:\n  lifecycle: production\n  type: service"));
        let out = edit(FILE, 2, "description", "Keeps the books: \"double-entry\"").unwrap();
        assert!(out.contains("  description: \"Keeps the books: \\\"double-entry\\\"\""));
        // The second document only.
        let out = edit(FILE, 15, "description", "The ledger's API").unwrap();
        let second = out.split("---").nth(1).unwrap();
        assert!(second.contains("description: \"The ledger's API\""));
        assert!(
            !out.split("---")
                .next()
                .unwrap()
                .contains("The ledger's API")
        );
    }

    #[test]
    fn a_retry_sees_what_an_earlier_attempt_already_changed() {
        // "1" is in the file (apiVersion v1alpha1), yet the tier isn't set.
        assert!(!already_says(FILE, 2, "tier", "1"));
        let once = edit(FILE, 2, "tier", "1").unwrap();
        assert!(already_says(&once, 2, "tier", "1"));
        let linked = edit(&once, 2, "runbook", "https://runbooks.example.com/ledger").unwrap();
        assert!(already_says(
            &linked,
            2,
            "runbook",
            "https://runbooks.example.com/ledger"
        ));
        // Another document's value doesn't count.
        assert!(!already_says(&linked, 15, "tier", "1"));
        let payload: HygieneProposal = serde_json::from_value(json!({
            "service": "ledger", "service_ref": "component:default/ledger",
            "requested_by": "Jonas Weber", "source_line": 2, "changes": [
            { "field": "tier", "value": "1" },
            { "field": "runbook", "value": "https://runbooks.example.com/ledger" },
        ] }))
        .unwrap();
        // Both already made: nothing to commit; half made: only the rest.
        assert_eq!(edited_text(&linked, &payload).unwrap(), None);
        let rest = edited_text(&once, &payload).unwrap().unwrap();
        assert_eq!(rest.matches("usher.dev/tier").count(), 1);
        assert_eq!(rest.matches("runbooks.example.com/ledger").count(), 1);
    }
}
