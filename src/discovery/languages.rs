//! A repository's languages from its files, as GitHub ranks them: bytes of
//! code per language by file extension, vendored and generated folders
//! left out, the largest first. Names are the catalog's (lower case, as
//! `catalog::entity::normalise_language` writes them).

use std::collections::HashMap;

/// Folders whose files are someone else's code or build output.
const SKIPPED: [&str; 8] = [
    "node_modules/",
    "vendor/",
    "third_party/",
    "dist/",
    "build/",
    "target/",
    ".git/",
    "__pycache__/",
];

/// Languages kept per repository.
const MAX_LANGUAGES: usize = 5;

/// The language of a file, by its extension.
pub fn of(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "rs" => "rust",
        "go" => "go",
        "java" => "java",
        "kt" | "kts" => "kotlin",
        "scala" => "scala",
        "groovy" => "groovy",
        "py" => "python",
        "rb" => "ruby",
        "php" => "php",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "tsx" | "mts" | "cts" => "typescript",
        "cs" => "c#",
        "fs" => "f#",
        "cpp" | "cc" | "cxx" | "hpp" | "hh" => "c++",
        "c" | "h" => "c",
        "swift" => "swift",
        "m" | "mm" => "objective-c",
        "ex" | "exs" => "elixir",
        "erl" | "hrl" => "erlang",
        "clj" | "cljs" => "clojure",
        "hs" => "haskell",
        "dart" => "dart",
        "lua" => "lua",
        "r" => "r",
        "pl" | "pm" => "perl",
        "sh" | "bash" => "shell",
        "tf" | "hcl" => "hcl",
        "vue" => "vue",
        "svelte" => "svelte",
        _ => return None,
    })
}

/// The languages of these files (path, bytes), the largest first; a
/// language under 1% of the code is left out.
pub fn rank<'a>(files: impl Iterator<Item = (&'a str, u64)>) -> Vec<String> {
    top(files
        .filter(|(path, _)| {
            !SKIPPED
                .iter()
                .any(|s| path.starts_with(s) || path.contains(&format!("/{s}")))
        })
        .filter_map(|(path, size)| Some((of(path)?.to_string(), size))))
}

/// The largest languages of (language, bytes) pairs — a language may come
/// more than once — leaving out any under 1% of the whole: from a
/// repository's files, or as a host counts them (GitHub's languages).
pub fn top(sizes: impl IntoIterator<Item = (String, u64)>) -> Vec<String> {
    let mut bytes: HashMap<String, u64> = HashMap::new();
    for (language, size) in sizes {
        *bytes.entry(language).or_default() += size;
    }
    let total: u64 = bytes.values().sum();
    let mut ranked: Vec<(String, u64)> = bytes
        .into_iter()
        .filter(|(_, b)| total > 0 && *b * 100 >= total)
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(MAX_LANGUAGES)
        .map(|(l, _)| l)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_code_first_vendored_code_left_out() {
        let files = [
            ("src/main.rs", 9_000),
            ("scripts/release.sh", 1_000),
            ("web/app.ts", 4_000),
            ("web/node_modules/left-pad/index.js", 900_000),
            ("vendor/lib.go", 900_000),
            ("README.md", 50_000),
            ("tiny.py", 10),
        ];
        assert_eq!(rank(files.into_iter()), ["rust", "typescript", "shell"]);
        assert!(rank(std::iter::empty()).is_empty());
    }
}
