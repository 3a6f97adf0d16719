//! The tree built from the parser's events with a stack of frames — no
//! recursion on input — under the budgets that bound what hostile input can
//! cost: alias expansion in values and bytes, nesting depth, key length,
//! the field paths kept for line numbers; duplicate keys reported.

use std::collections::HashMap;

use saphyr_parser::{Event, ScalarStyle, Span};
use serde_json::{Map, Value};

use super::scalar::resolve_plain;
use super::{FieldLines, MAX_DEPTH, YamlDoc, YamlProblem, child_path, index_path};

/// Alias expansion may add at most this many nodes, or as many as the
/// document has itself, whichever is larger.
const MIN_ALIAS_BUDGET: usize = 10_000;
/// Alias expansion may copy at most this many bytes, or twice the text's
/// length, whichever is larger.
const MIN_ALIAS_BYTES: usize = 1 << 20;
/// A mapping key longer than this is not a field name.
const MAX_KEY_BYTES: usize = 1024;
/// The field paths kept for line numbers may take this many bytes plus
/// sixteen times the text's length (a descriptor's paths are a few times
/// its size; deep paths repeated over many values are quadratic).
const MIN_PATH_BYTES: usize = 1 << 20;

/// How big a value is: its nodes, the bytes of its strings and keys, and
/// how deep it nests (a scalar is 0). Summed as values close, so nothing
/// walks a tree.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
    depth: usize,
}

impl Size {
    fn scalar(bytes: usize) -> Size {
        Size {
            nodes: 1,
            bytes,
            depth: 0,
        }
    }

    /// Adds a child (with its key's bytes) to a container's size.
    fn add_child(&mut self, child: Size, key_bytes: usize) {
        self.nodes += child.nodes;
        self.bytes += child.bytes + key_bytes;
        self.depth = self.depth.max(child.depth + 1);
    }
}

/// A container being built: a mapping waiting for its next key or value, or
/// a sequence.
enum Frame {
    Mapping {
        map: Map<String, Value>,
        path: String,
        anchor: usize,
        pending_key: Option<(String, usize)>,
        merges: Vec<Value>,
        size: Size,
    },
    Sequence {
        items: Vec<Value>,
        path: String,
        anchor: usize,
        size: Size,
    },
}

pub(super) struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, Size)>,
    lines: HashMap<String, usize>,
    problems: Vec<YamlProblem>,
    nodes: usize,
    alias_nodes: usize,
    alias_bytes: usize,
    path_bytes: usize,
    /// The length of the whole text, which the budgets scale with.
    text_len: usize,
    root: Option<Value>,
    start_line: usize,
}

impl Builder {
    pub(super) fn new(start_line: usize, text_len: usize) -> Self {
        Builder {
            stack: Vec::new(),
            anchors: HashMap::new(),
            lines: HashMap::new(),
            problems: Vec::new(),
            nodes: 0,
            alias_nodes: 0,
            alias_bytes: 0,
            path_bytes: 0,
            text_len,
            root: None,
            start_line,
        }
    }

    /// The path the next value will have, and records its line.
    /// A mapping value takes the line of its key (`spec:` rather than the
    /// first line inside it); a list item its own line.
    fn next_path(&mut self, line: usize) -> Result<String, YamlProblem> {
        let (path, line) = match self.stack.last_mut() {
            None => (String::new(), line),
            Some(Frame::Sequence { items, path, .. }) => (index_path(path, items.len()), line),
            Some(Frame::Mapping {
                pending_key, path, ..
            }) => match pending_key {
                Some((key, key_line)) => (child_path(path, key), *key_line),
                None => unreachable!("values are only asked for once a key is pending"),
            },
        };
        self.path_bytes += path.len();
        let budget = MIN_PATH_BYTES + 16 * self.text_len;
        if self.path_bytes > budget {
            return Err(YamlProblem {
                line,
                field: String::new(),
                message: "this document nests too many values too deep to be a catalog descriptor; flatten it or split it into several documents".to_string(),
            });
        }
        self.lines.entry(path.clone()).or_insert(line);
        Ok(path)
    }

    /// Whether the next scalar is a mapping key.
    fn expecting_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Mapping {
                pending_key: None,
                ..
            })
        )
    }

    fn push_value(&mut self, value: Value, value_size: Size) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Sequence { items, size, .. }) => {
                size.add_child(value_size, 0);
                items.push(value)
            }
            Some(Frame::Mapping {
                map,
                path,
                pending_key,
                merges,
                size,
                ..
            }) => {
                let (key, line) = pending_key.take().expect("a key is pending");
                size.add_child(value_size, key.len());
                if key == "<<" {
                    merges.push(value);
                } else if map.contains_key(&key) {
                    self.problems.push(YamlProblem {
                        line,
                        field: child_path(path, &key),
                        message: format!(
                            "the key '{key}' appears twice in the same mapping; keep one"
                        ),
                    });
                } else {
                    map.insert(key, value);
                }
            }
        }
    }

    fn remember_anchor(&mut self, anchor: usize, value: &Value, size: Size) {
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), size));
        }
    }

    pub(super) fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlProblem> {
        let line = span.start.line();
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.nodes += 1;
                if self.expecting_key() {
                    if text.len() > MAX_KEY_BYTES {
                        return Err(YamlProblem {
                            line,
                            field: String::new(),
                            message: format!(
                                "a key of {} characters is not a field name (at most {MAX_KEY_BYTES})",
                                text.chars().count()
                            ),
                        });
                    }
                    if let Some(Frame::Mapping { pending_key, .. }) = self.stack.last_mut() {
                        *pending_key = Some((text.into_owned(), line));
                    }
                    return Ok(());
                }
                self.next_path(line)?;
                let size = Size::scalar(text.len());
                let forced_string = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let value = if forced_string || style != ScalarStyle::Plain {
                    Value::String(text.into_owned())
                } else {
                    resolve_plain(&text)
                };
                self.remember_anchor(anchor, &value, size);
                self.push_value(value, size);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.nodes += 1;
                if self.stack.len() >= MAX_DEPTH {
                    return Err(YamlProblem {
                        line,
                        field: String::new(),
                        message: format!(
                            "nesting deeper than {MAX_DEPTH} levels is not a catalog descriptor"
                        ),
                    });
                }
                if self.expecting_key() {
                    return Err(YamlProblem {
                        line,
                        field: String::new(),
                        message: "a mapping key must be a plain value, not a list or a mapping"
                            .to_string(),
                    });
                }
                let path = self.next_path(line)?;
                let size = Size::scalar(0);
                let frame = if matches!(event, Event::SequenceStart(..)) {
                    Frame::Sequence {
                        items: Vec::new(),
                        path,
                        anchor,
                        size,
                    }
                } else {
                    Frame::Mapping {
                        map: Map::new(),
                        path,
                        anchor,
                        pending_key: None,
                        merges: Vec::new(),
                        size,
                    }
                };
                self.stack.push(frame);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, size) = match self.stack.pop() {
                    Some(Frame::Sequence {
                        items,
                        anchor,
                        size,
                        ..
                    }) => (Value::Array(items), anchor, size),
                    Some(Frame::Mapping {
                        mut map,
                        anchor,
                        merges,
                        size,
                        ..
                    }) => {
                        // Merged values were counted when they were read.
                        apply_merges(&mut map, merges);
                        (Value::Object(map), anchor, size)
                    }
                    None => return Ok(()),
                };
                self.remember_anchor(anchor, &value, size);
                self.push_value(value, size);
            }
            Event::Alias(anchor) => {
                if self.expecting_key() {
                    return Err(YamlProblem {
                        line,
                        field: String::new(),
                        message: "an alias cannot be used as a mapping key here".to_string(),
                    });
                }
                let Some((value, size)) = self.anchors.get(&anchor) else {
                    return Err(YamlProblem {
                        line,
                        field: String::new(),
                        message: "an alias refers to an anchor that is not defined before it"
                            .to_string(),
                    });
                };
                let size = *size;
                self.alias_nodes += size.nodes;
                self.alias_bytes += size.bytes;
                let budget = MIN_ALIAS_BUDGET.max(self.nodes);
                let byte_budget = MIN_ALIAS_BYTES.max(2 * self.text_len);
                if self.alias_nodes > budget || self.alias_bytes > byte_budget {
                    return Err(YamlProblem {
                        line,
                        field: String::new(),
                        message: format!(
                            "aliases expand to more than {budget} values or {} KB (an \"alias bomb\"); write the values out instead",
                            byte_budget / 1024
                        ),
                    });
                }
                if self.stack.len() + size.depth > MAX_DEPTH {
                    return Err(YamlProblem {
                        line,
                        field: String::new(),
                        message: format!(
                            "this alias nests values deeper than {MAX_DEPTH} levels, which is not a catalog descriptor"
                        ),
                    });
                }
                let value = value.clone();
                self.next_path(line)?;
                self.push_value(value, size);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => {}
        }
        Ok(())
    }

    pub(super) fn finish(self) -> YamlDoc {
        YamlDoc {
            value: self.root.unwrap_or(Value::Null),
            lines: FieldLines { lines: self.lines },
            start_line: self.start_line,
            problems: self.problems,
        }
    }
}

/// YAML merge keys (`<<: *defaults`): keys already present win.
fn apply_merges(map: &mut Map<String, Value>, merges: Vec<Value>) {
    for merge in merges {
        let sources = match merge {
            Value::Array(items) => items,
            other => vec![other],
        };
        for source in sources {
            if let Value::Object(entries) = source {
                for (key, value) in entries {
                    map.entry(key).or_insert(value);
                }
            }
        }
    }
}
