//! YAML text → JSON values that remember the line of every field.
//!
//! Why by hand on top of a parser's events: a problem report must say
//! `file:line: field: message` with the line of the offending field, and no
//! YAML crate's serde path keeps lines per field. Building the tree from
//! `saphyr-parser` events also lets us bound what hostile input can cost:
//! alias expansion has a budget in values and in bytes (an "alias bomb" is
//! one clear problem, not an out-of-memory), nesting has a depth limit that
//! aliases can't get round, keys have a length limit, the field paths kept
//! for line numbers have a budget, and duplicate keys are reported rather
//! than silently overwritten. Nothing here recurses: the tree is built
//! from a stack of frames, and each value's size is summed as it closes.
//!
//! Scalars resolve by YAML 1.2's core schema, as Backstage's parser does:
//! `true`, `null`, `42` and `4.2` are not strings unless quoted.

mod builder;
mod scalar;

use std::collections::HashMap;

use builder::Builder;
use saphyr_parser::{Event, Parser};
use serde_json::Value;

/// Deeper nesting than this is not a catalog descriptor.
pub const MAX_DEPTH: usize = 64;
/// One YAML document as JSON, with the line of each field.
#[derive(Debug, Clone)]
pub struct YamlDoc {
    pub value: Value,
    pub lines: FieldLines,
    /// The line the document starts on (its `---` or first content).
    pub start_line: usize,
    /// Structural problems inside the document (duplicate keys, keys that
    /// are not scalars): the document is still returned so other problems
    /// can be reported too, but it must not be imported.
    pub problems: Vec<YamlProblem>,
}

/// A problem that makes YAML text unusable, at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// The line of each field, by path (`metadata.name`, `spec.targets[1]`).
#[derive(Debug, Clone, Default)]
pub struct FieldLines {
    lines: HashMap<String, usize>,
}

impl FieldLines {
    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut path = path;
        loop {
            if let Some(line) = self.lines.get(path) {
                return Some(*line);
            }
            if path.is_empty() {
                return None;
            }
            path = parent_path(path);
        }
    }
}

/// `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``.
fn parent_path(path: &str) -> &str {
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    &path[..cut]
}

/// Joins a key onto a path.
pub fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Joins an index onto a path.
pub fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The documents of a YAML stream. A syntax error ends the stream: the
/// documents before it are returned with the error.
#[derive(Debug, Default)]
pub struct YamlStream {
    pub docs: Vec<YamlDoc>,
    pub error: Option<YamlProblem>,
}

/// How deep `value` nests (a scalar is 0), walked with a stack of its
/// own: values substituted from other files are checked with it.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((node, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match node {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(level + 1);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

/// Parses every document of a YAML stream.
pub fn parse_stream(text: &str) -> YamlStream {
    let mut stream = YamlStream::default();
    let mut builder: Option<Builder> = None;
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(pair) => pair,
            Err(err) => {
                let message = if err.info().contains("recursion limit") {
                    format!("nesting deeper than {MAX_DEPTH} levels is not a catalog descriptor")
                } else {
                    format!("this is not valid YAML: {}", err.info())
                };
                stream.error = Some(YamlProblem {
                    line: err.marker().line(),
                    field: String::new(),
                    message,
                });
                return stream;
            }
        };
        match event {
            Event::DocumentStart(_) => builder = Some(Builder::new(span.start.line(), text.len())),
            Event::DocumentEnd => {
                if let Some(done) = builder.take() {
                    stream.docs.push(done.finish());
                }
            }
            other => {
                if let Some(current) = builder.as_mut()
                    && let Err(problem) = current.event(other, span)
                {
                    stream.error = Some(problem);
                    return stream;
                }
            }
        }
    }
    stream
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> YamlDoc {
        let stream = parse_stream(text);
        assert!(stream.error.is_none(), "{:?}", stream.error);
        assert_eq!(stream.docs.len(), 1);
        stream.docs.into_iter().next().unwrap()
    }

    #[test]
    fn values_and_lines() {
        let doc = one(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n  tags:\n    - x\n    - 'y'\nspec:\n  owner: team\n",
        );
        assert_eq!(doc.value["metadata"]["tags"], json!(["x", "y"]));
        assert_eq!(doc.lines.line("kind"), Some(2));
        assert_eq!(doc.lines.line("metadata.name"), Some(4));
        assert_eq!(doc.lines.line("metadata.tags[1]"), Some(7));
        assert_eq!(doc.lines.line("spec.owner"), Some(9));
        // A field that is absent points at its parent.
        assert_eq!(doc.lines.line("spec.lifecycle"), Some(8));
    }

    #[test]
    fn core_schema_scalars() {
        let doc = one(
            "a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: 1.0.0\ng: -3\nh: 0x1f\ni: .inf\nj: 1e3\nk: yes\n",
        );
        assert_eq!(
            doc.value,
            json!({"a":1,"b":1.5,"c":true,"d":null,"e":"1","f":"1.0.0","g":-3,"h":31,"i":".inf","j":1000.0,"k":"yes"})
        );
    }

    #[test]
    fn multi_document_streams() {
        let stream = parse_stream("---\na: 1\n---\nb: 2\n...\n---\nc: 3\n");
        assert_eq!(stream.docs.len(), 3);
        assert_eq!(stream.docs[2].start_line, 6);
    }

    #[test]
    fn duplicate_keys_are_problems() {
        let doc = one("a: 1\nb: 2\na: 3\n");
        assert_eq!(doc.problems.len(), 1);
        assert_eq!(doc.problems[0].line, 3);
        assert_eq!(doc.value["a"], json!(1));
    }

    #[test]
    fn merge_keys() {
        let doc = one("base: &b\n  x: 1\n  y: 2\nc:\n  <<: *b\n  y: 3\n");
        assert_eq!(doc.value["c"], json!({"x":1,"y":3}));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for n in names {
            text.push_str(&format!("{n}: &{n} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
            prev = n;
        }
        let stream = parse_stream(&text);
        let error = stream.error.expect("refused");
        assert!(error.message.contains("alias bomb"), "{}", error.message);
    }

    #[test]
    fn aliases_of_big_strings_are_counted_in_bytes() {
        // One node each, but a megabyte each: 100 copies of 100 KB.
        let mut text = format!("a: &a \"{}\"\nb: [", "x".repeat(100_000));
        text.push_str(&vec!["*a"; 100].join(","));
        text.push_str("]\n");
        let error = parse_stream(&text).error.expect("refused");
        assert!(error.message.contains("alias bomb"), "{}", error.message);
        // A few copies of a small value are fine.
        let doc = one("a: &a {x: 1}\nb: [*a, *a]\n");
        assert_eq!(doc.value["b"], json!([{"x":1},{"x":1}]));
    }

    #[test]
    fn aliases_cannot_nest_past_the_depth_limit() {
        // Each line nests the previous anchor 30 levels deeper.
        let mut text = String::from("a0: &a0 1\n");
        for i in 1..10 {
            text.push_str(&format!(
                "a{i}: &a{i} {}*a{}{}\n",
                "[".repeat(30),
                i - 1,
                "]".repeat(30)
            ));
        }
        let error = parse_stream(&text).error.expect("refused");
        assert!(
            error.message.contains("deeper than 64"),
            "{}",
            error.message
        );
    }

    #[test]
    fn long_keys_and_huge_path_sets_are_refused() {
        let text = format!("{{{}: 1}}\n", "k".repeat(5_000));
        let error = parse_stream(&text).error.expect("refused");
        assert!(
            error.message.contains("not a field name"),
            "{}",
            error.message
        );
        // 60 levels of 1,000-character keys, then many values: the paths
        // alone would be gigabytes.
        let key = "k".repeat(1_000);
        let mut text = String::new();
        for _ in 0..60 {
            text.push_str(&format!("{{{key}: "));
        }
        text.push('[');
        text.push_str(&vec!["1"; 100_000].join(","));
        text.push(']');
        text.push_str(&"}".repeat(60));
        let error = parse_stream(&text).error.expect("refused");
        assert!(error.message.contains("too deep"), "{}", error.message);
    }

    #[test]
    fn depth_of_values() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!([])), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": [2]}]})), 4);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any text, up to 64 KB: no panic, no overflow, and an answer.
        #[test]
        fn any_text_parses_or_is_refused(text in "(?s).{0,2000}", repeat in 1usize..32) {
            let text = text.repeat(repeat);
            let _ = parse_stream(&text);
        }

        /// Text made of YAML's own punctuation, where parsers go deep.
        #[test]
        fn yaml_punctuation_parses_or_is_refused(text in "[\\[\\]{}:,&*!|>'\"#%@` \n-a1]{0,4000}", repeat in 1usize..16) {
            let _ = parse_stream(&text.repeat(repeat));
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000);
        let stream = parse_stream(&text);
        assert!(stream.error.is_some());
    }

    #[test]
    fn syntax_errors_keep_earlier_documents() {
        let stream = parse_stream("a: 1\n---\nb: [1, 2\n");
        assert_eq!(stream.docs.len(), 1);
        let error = stream.error.unwrap();
        assert!(error.message.starts_with("this is not valid YAML"));
    }

    #[test]
    fn complex_keys_are_refused() {
        let stream = parse_stream("? [a, b]\n: c\n");
        assert!(stream.error.is_some());
    }
}
