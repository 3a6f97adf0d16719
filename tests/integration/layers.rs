//! The top-level modules form layers that depend one way only: read from
//! the `crate::…` paths in `src/`, no module reaches (directly or through
//! others) back up to one that uses it. A cycle makes every module in it
//! part of one big module nobody can read on its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo;

/// Top-level module → the modules it names, with one place each does.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn graph() -> Graph {
    let src = repo().join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .filter(|m| m != "main" && m != "lib")
        .collect();
    let single = regex_lite::Regex::new(r"crate::([a-z_]+)").unwrap();
    let group = regex_lite::Regex::new(r"crate::\{([^}]*)\}").unwrap();
    let word = regex_lite::Regex::new(r"\b([a-z_]+)\b").unwrap();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let top = relative
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if !modules.contains(&top) {
            continue; // main.rs and lib.rs sit above every layer
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            let mut named: Vec<String> = single
                .captures_iter(code)
                .map(|c| c[1].to_string())
                .collect();
            for c in group.captures_iter(code) {
                named.extend(word.captures_iter(&c[1]).map(|w| w[1].to_string()));
            }
            for target in named {
                if target != top && modules.contains(&target) {
                    graph
                        .entry(top.clone())
                        .or_default()
                        .entry(target)
                        .or_insert_with(|| format!("src/{relative}:{}", n + 1));
                }
            }
        }
    }
    graph
}

/// A path from `from` back to itself, if there is one.
fn cycle_through(graph: &Graph, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flat_map(|m| m.keys()) {
            if next == from {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_depend_one_way() {
    let graph = graph();
    assert!(graph.len() > 10, "the reader found too little: {graph:?}");
    let mut cycles = Vec::new();
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(&graph, module) {
            let evidence: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} → {} ({})", w[0], w[1], graph[&w[0]][&w[1]]))
                .collect();
            cycles.push(evidence.join(", "));
        }
    }
    assert!(
        cycles.is_empty(),
        "module cycles (move what both need below them):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_reader_sees_a_cycle_when_there_is_one() {
    let mut graph = Graph::new();
    graph
        .entry("a".into())
        .or_default()
        .insert("b".into(), "x".into());
    graph
        .entry("b".into())
        .or_default()
        .insert("a".into(), "y".into());
    assert_eq!(
        cycle_through(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    assert_eq!(cycle_through(&graph, "c"), None);
}
