//! A fresh clone has only this repository: no test or source file may
//! read outside it (usher 0.1's tests read a shared fixtures folder beside
//! the checkout, which only happened to be there on CI). Paths are checked where they are
//! written: `include_str!`/`include_bytes!` from the file's folder, and
//! joins onto the repository root (`repo()`, `fixtures()`,
//! `CARGO_MANIFEST_DIR`) from the root.

use std::path::{Component, Path, PathBuf};

use crate::support::repo;

/// `base` joined with `relative`, `..` resolved without touching the disk.
fn resolve(base: &Path, relative: &str) -> PathBuf {
    let mut out = base.to_path_buf();
    for part in Path::new(relative).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            Component::RootDir => out = PathBuf::from("/"),
            _ => {}
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
}

#[test]
fn nothing_reads_outside_the_repository() {
    let root = repo();
    let root = root.canonicalize().unwrap();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    let include = regex_lite::Regex::new(r#"include_(?:str|bytes)!\(\s*"([^"]+)""#).unwrap();
    let joined = regex_lite::Regex::new(
        r#"(?:repo\(\)|fixtures\(\)|env!\("CARGO_MANIFEST_DIR"\)\))\s*\.join\(\s*"([^"]+)""#,
    )
    .unwrap();
    let outside = ["shared", "fixtures"].join("/");
    let mut escapes = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let folder = file.parent().unwrap();
        for (n, line) in text.lines().enumerate() {
            let at = format!("{}:{}", file.strip_prefix(&root).unwrap().display(), n + 1);
            for c in include.captures_iter(line) {
                if !resolve(folder, &c[1]).starts_with(&root) {
                    escapes.push(format!("{at}: {}", &c[1]));
                }
            }
            for c in joined.captures_iter(line) {
                if !resolve(&root, &c[1]).starts_with(&root) {
                    escapes.push(format!("{at}: {}", &c[1]));
                }
            }
            if line.contains(&format!("../{outside}")) {
                escapes.push(format!("{at}: ../{outside}"));
            }
        }
    }
    assert!(
        escapes.is_empty(),
        "paths outside the repository (copy what a test needs into tests/fixtures/):\n{}",
        escapes.join("\n")
    );
}
