//! Version ranges, compared by each ecosystem's own rules: semver for
//! npm, cargo and Go (with npm's and Cargo's different range syntax), PEP
//! 440 for PyPI, and Maven's ComparableVersion ordering for Maven (and, as
//! the most forgiving dotted ordering, for NuGet, RubyGems and the rest).
//!
//! "Who uses log4j-core < 2.17.1?" must not be answered by comparing
//! strings: "2.9.1" < "2.17.1" is true for Maven and false for text.

use std::cmp::Ordering;
use std::str::FromStr;

/// A package ecosystem, from a package URL's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecosystem {
    Maven,
    Npm,
    Cargo,
    Pypi,
    Golang,
    Nuget,
    Gem,
    Composer,
    Other,
}

impl Ecosystem {
    pub fn parse(text: &str) -> Ecosystem {
        match text.to_ascii_lowercase().as_str() {
            "maven" => Ecosystem::Maven,
            "npm" => Ecosystem::Npm,
            "cargo" => Ecosystem::Cargo,
            "pypi" => Ecosystem::Pypi,
            "golang" | "go" => Ecosystem::Golang,
            "nuget" => Ecosystem::Nuget,
            "gem" => Ecosystem::Gem,
            "composer" => Ecosystem::Composer,
            _ => Ecosystem::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ecosystem::Maven => "maven",
            Ecosystem::Npm => "npm",
            Ecosystem::Cargo => "cargo",
            Ecosystem::Pypi => "pypi",
            Ecosystem::Golang => "golang",
            Ecosystem::Nuget => "nuget",
            Ecosystem::Gem => "gem",
            Ecosystem::Composer => "composer",
            Ecosystem::Other => "other",
        }
    }

    /// Whether `text` names a known ecosystem (`dep:npm/lodash`).
    pub fn is_known(text: &str) -> bool {
        Ecosystem::parse(text) != Ecosystem::Other
    }

    /// The range syntax, for error messages.
    pub fn syntax(self) -> &'static str {
        match self {
            Ecosystem::Npm => {
                "npm ranges: <4.17.21, >=1.2.0 <2.0.0, ^1.2.3, ~1.2.3, 1.x, 1.2.3 - 2.0.0, a || b"
            }
            Ecosystem::Cargo => {
                "Cargo requirements: <0.10.55, >=0.10, <0.10.55, ^1.2, ~1.2, =1.2.3"
            }
            Ecosystem::Golang => "semver comparisons: <v1.2.3, >=v1.0.0 <v2.0.0",
            Ecosystem::Pypi => "PEP 440 specifiers: <2.0, >=1.4,<1.5, ~=1.4.2, ==1.4.*, !=1.4.1",
            Ecosystem::Maven => {
                "comparisons (<2.17.1, >=2.0,<2.17.1) or Maven ranges ([2.0,2.17.1), (,2.17.1))"
            }
            Ecosystem::Gem => "comparisons: <2.1, >=1.0,<2.0, ~> 2.1",
            Ecosystem::Nuget | Ecosystem::Composer | Ecosystem::Other => {
                "comparisons: <2.1, >=1.0,<2.0, or ranges [1.0,2.0)"
            }
        }
    }
}

/// A parsed range for one ecosystem.
#[derive(Debug, Clone)]
pub enum Range {
    Any,
    /// npm/Cargo/Go: any of these requirements (npm's `||`).
    Semver(Vec<semver::VersionReq>),
    Pep440(pep440_rs::VersionSpecifiers),
    /// Maven and the rest: all of these comparisons (a `||` gives several
    /// alternatives).
    Comparisons(Vec<Vec<(Op, String)>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Op::Lt => ordering == Ordering::Less,
            Op::Le => ordering != Ordering::Greater,
            Op::Gt => ordering == Ordering::Greater,
            Op::Ge => ordering != Ordering::Less,
            Op::Eq => ordering == Ordering::Equal,
            Op::Ne => ordering != Ordering::Equal,
        }
    }
}

fn bad(ecosystem: Ecosystem, text: &str) -> String {
    format!(
        "'{}' is not a version range for {}; use {}",
        text.chars().take(60).collect::<String>(),
        ecosystem.as_str(),
        ecosystem.syntax()
    )
}

impl Range {
    /// Parses a range in the ecosystem's syntax. An empty text matches any
    /// version.
    pub fn parse(ecosystem: Ecosystem, text: &str) -> Result<Range, String> {
        let text = text.trim();
        if text.is_empty() || text == "*" {
            return Ok(Range::Any);
        }
        match ecosystem {
            Ecosystem::Cargo => semver::VersionReq::parse(text)
                .map(|r| Range::Semver(vec![r]))
                .map_err(|_| bad(ecosystem, text)),
            Ecosystem::Npm | Ecosystem::Golang => {
                let alternatives: Result<Vec<semver::VersionReq>, String> = text
                    .split("||")
                    .map(|alt| {
                        npm_to_cargo(alt)
                            .and_then(|req| semver::VersionReq::parse(&req).ok())
                            .ok_or_else(|| bad(ecosystem, text))
                    })
                    .collect();
                alternatives.map(Range::Semver)
            }
            Ecosystem::Pypi => pep440_rs::VersionSpecifiers::from_str(text)
                .map(Range::Pep440)
                .map_err(|_| bad(ecosystem, text)),
            _ => {
                let alternatives: Result<Vec<Vec<(Op, String)>>, String> = text
                    .split("||")
                    .map(|alt| comparisons(alt, ecosystem).ok_or_else(|| bad(ecosystem, text)))
                    .collect();
                alternatives.map(Range::Comparisons)
            }
        }
    }

    /// Whether `version` is in the range; `None` when the version itself
    /// can't be read in this ecosystem.
    pub fn matches(&self, ecosystem: Ecosystem, version: &str) -> Option<bool> {
        match self {
            Range::Any => Some(true),
            Range::Semver(reqs) => {
                let v = semver_version(version)?;
                Some(reqs.iter().any(|r| r.matches(&v)))
            }
            Range::Pep440(specs) => {
                let v = pep440_rs::Version::from_str(version.trim()).ok()?;
                Some(specs.contains(&v))
            }
            Range::Comparisons(alternatives) => {
                let _ = ecosystem;
                Some(alternatives.iter().any(|all| {
                    all.iter()
                        .all(|(op, bound)| op.holds(compare_maven(version, bound)))
                }))
            }
        }
    }
}

/// A semver version, forgiving a leading `v` or `=` and a missing patch.
fn semver_version(text: &str) -> Option<semver::Version> {
    let t = text.trim().trim_start_matches(['v', '=']);
    semver::Version::parse(t).ok().or_else(|| {
        let parts = t.split('.').count();
        match parts {
            1 => semver::Version::parse(&format!("{t}.0.0")).ok(),
            2 => semver::Version::parse(&format!("{t}.0")).ok(),
            _ => None,
        }
    })
}

/// npm's range syntax → Cargo's: comparators separated by spaces are ANDed
/// (Cargo: commas), a bare version is exact (Cargo: `=`), hyphen ranges
/// become two bounds, `x`/`*` wildcards are kept.
fn npm_to_cargo(range: &str) -> Option<String> {
    let range = range.trim();
    if range.is_empty() || range == "*" || range == "x" {
        return Some("*".to_string());
    }
    if let Some((low, high)) = range.split_once(" - ") {
        return Some(format!(
            ">={}, <={}",
            strip_v(low.trim()),
            strip_v(high.trim())
        ));
    }
    // Glue operators to their versions: ">= 1.2" → ">=1.2".
    let mut glued: Vec<String> = Vec::new();
    for word in range.split_whitespace() {
        match glued.last_mut() {
            Some(last) if matches!(last.as_str(), ">" | ">=" | "<" | "<=" | "=" | "^" | "~") => {
                last.push_str(word)
            }
            _ => glued.push(word.to_string()),
        }
    }
    let parts: Vec<String> = glued
        .into_iter()
        .map(|c| {
            let op_len = c
                .find(|ch: char| ch.is_ascii_digit() || ch == 'v' || ch == '*' || ch == 'x')
                .unwrap_or(c.len());
            let (op, version) = c.split_at(op_len);
            let version = strip_v(version);
            if op.is_empty() && !version.contains(['x', 'X', '*']) {
                format!("={version}")
            } else {
                format!("{op}{version}")
            }
        })
        .collect();
    Some(parts.join(", "))
}

fn strip_v(v: &str) -> &str {
    v.strip_prefix('v').unwrap_or(v)
}

/// `<2.17.1`, `>=2.0,<2.17.1`, `~> 2.1` (RubyGems), or Maven's interval
/// notation `[2.0,2.17.1)`, `(,2.17.1)`, `[1.2.3]`.
fn comparisons(text: &str, ecosystem: Ecosystem) -> Option<Vec<(Op, String)>> {
    let text = text.trim();
    if text.starts_with(['[', '(']) && text.ends_with([']', ')']) {
        let inner = &text[1..text.len() - 1];
        let (low_inclusive, high_inclusive) = (text.starts_with('['), text.ends_with(']'));
        return match inner.split_once(',') {
            None if !inner.trim().is_empty() => Some(vec![(Op::Eq, inner.trim().to_string())]),
            None => None,
            Some((low, high)) => {
                let mut out = Vec::new();
                if !low.trim().is_empty() {
                    out.push((
                        if low_inclusive { Op::Ge } else { Op::Gt },
                        low.trim().to_string(),
                    ));
                }
                if !high.trim().is_empty() {
                    out.push((
                        if high_inclusive { Op::Le } else { Op::Lt },
                        high.trim().to_string(),
                    ));
                }
                (!out.is_empty()).then_some(out)
            }
        };
    }
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if ecosystem == Ecosystem::Gem
            && let Some(v) = part.strip_prefix("~>")
        {
            // ~> 2.1 means >= 2.1 and < 3 (the last given segment bumps).
            let v = v.trim();
            let mut segments: Vec<u64> = v
                .split('.')
                .map(|s| s.parse().ok())
                .collect::<Option<_>>()?;
            out.push((Op::Ge, v.to_string()));
            if segments.len() > 1 {
                segments.pop();
            }
            let last = segments.len() - 1;
            segments[last] += 1;
            out.push((
                Op::Lt,
                segments
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join("."),
            ));
            continue;
        }
        let (op, rest) = if let Some(r) = part.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = part.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = part.strip_prefix("!=") {
            (Op::Ne, r)
        } else if let Some(r) = part.strip_prefix("==") {
            (Op::Eq, r)
        } else if let Some(r) = part.strip_prefix('<') {
            (Op::Lt, r)
        } else if let Some(r) = part.strip_prefix('>') {
            (Op::Gt, r)
        } else if let Some(r) = part.strip_prefix('=') {
            (Op::Eq, r)
        } else {
            (Op::Eq, part)
        };
        let rest = rest.trim();
        if rest.is_empty()
            || !rest
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            return None;
        }
        out.push((op, rest.to_string()));
    }
    (!out.is_empty()).then_some(out)
}

/// One item of a Maven version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Number(u128),
    Qualifier(String),
}

/// Maven's qualifier order; unknown qualifiers sort after `sp`, by text.
fn qualifier_rank(q: &str) -> (u8, String) {
    match q {
        "alpha" | "a" => (0, String::new()),
        "beta" | "b" => (1, String::new()),
        "milestone" | "m" => (2, String::new()),
        "rc" | "cr" => (3, String::new()),
        "snapshot" => (4, String::new()),
        "" | "ga" | "final" | "release" => (5, String::new()),
        "sp" => (6, String::new()),
        other => (7, other.to_string()),
    }
}

/// Splits a Maven version into items: on `.` and `-`, and where digits and
/// letters meet; trailing zeros and release qualifiers are dropped, so
/// `1.0.0` equals `1` and `1-ga`.
fn maven_items(version: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut current_digits = None::<bool>;
    let flush = |items: &mut Vec<Item>, current: &mut String| {
        if current.is_empty() {
            return;
        }
        let item = match current.parse::<u128>() {
            Ok(n) => Item::Number(n),
            Err(_) => Item::Qualifier(current.clone()),
        };
        items.push(item);
        current.clear();
    };
    for c in version.trim().to_lowercase().chars() {
        if c == '.' || c == '-' || c == '_' {
            flush(&mut items, &mut current);
            current_digits = None;
            continue;
        }
        let digit = c.is_ascii_digit();
        if current_digits.is_some_and(|d| d != digit) {
            flush(&mut items, &mut current);
        }
        current_digits = Some(digit);
        current.push(c);
    }
    flush(&mut items, &mut current);
    // A letter directly followed by a number: "a1" → alpha 1 etc. is
    // already split; normalise short qualifiers only when followed by a
    // number, as Maven does.
    while matches!(items.last(), Some(Item::Number(0)))
        || matches!(items.last(), Some(Item::Qualifier(q)) if qualifier_rank(q).0 == 5)
    {
        items.pop();
    }
    items
}

/// An item compared with the end of the other version: a number is
/// newer unless zero; a qualifier by its rank against a release.
fn against_nothing(item: &Item) -> Ordering {
    match item {
        Item::Number(0) => Ordering::Equal,
        Item::Number(_) => Ordering::Greater,
        Item::Qualifier(q) => qualifier_rank(q).0.cmp(&qualifier_rank("").0),
    }
}

fn compare_items(a: Option<&Item>, b: Option<&Item>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (Some(x), None) => against_nothing(x),
        (None, Some(y)) => against_nothing(y).reverse(),
        (Some(Item::Number(x)), Some(Item::Number(y))) => x.cmp(y),
        (Some(Item::Number(_)), Some(Item::Qualifier(_))) => Ordering::Greater,
        (Some(Item::Qualifier(_)), Some(Item::Number(_))) => Ordering::Less,
        (Some(Item::Qualifier(x)), Some(Item::Qualifier(y))) => {
            qualifier_rank(x).cmp(&qualifier_rank(y))
        }
    }
}

/// Maven's ComparableVersion ordering of two versions.
pub fn compare_maven(a: &str, b: &str) -> Ordering {
    let (x, y) = (maven_items(a), maven_items(b));
    for i in 0..x.len().max(y.len()) {
        let ordering = compare_items(x.get(i), y.get(i));
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(eco: &str, range: &str, version: &str) -> bool {
        let e = Ecosystem::parse(eco);
        Range::parse(e, range).unwrap().matches(e, version).unwrap()
    }

    #[test]
    fn maven_ordering_by_the_documented_examples() {
        use Ordering::*;
        // From Maven's ComparableVersion documentation and tests.
        let ordered = [
            "1-alpha",
            "1-alpha-2",
            "1-beta",
            "1-milestone",
            "1-rc",
            "1-snapshot",
            "1",
            "1-sp",
            "1-abc",
            "1.1",
            "1.2",
            "1.10",
            "2.0",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare_maven(w[0], w[1]), Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare_maven(w[1], w[0]), Greater, "{} > {}", w[1], w[0]);
        }
        assert_eq!(compare_maven("1.0.0", "1"), Equal);
        assert_eq!(compare_maven("1-ga", "1"), Equal);
        assert_eq!(compare_maven("1.0-final", "1"), Equal);
        assert_eq!(compare_maven("2.9.1", "2.17.1"), Less);
        assert_eq!(compare_maven("1-rc1", "1-rc2"), Less);
        assert_eq!(compare_maven("1.0-alpha-1", "1.0"), Less);
        assert_eq!(compare_maven("1.0.1", "1.0-sp"), Greater);
    }

    #[test]
    fn log4j() {
        assert!(within("maven", "<2.17.1", "2.14.1"));
        assert!(within("maven", "<2.17.1", "2.9.1"));
        assert!(!within("maven", "<2.17.1", "2.17.1"));
        assert!(!within("maven", "<2.17.1", "2.17.2"));
        assert!(within("maven", ">=2.0,<2.17.1", "2.16.0"));
        assert!(!within("maven", ">=2.0,<2.17.1", "1.2.17"));
        assert!(within("maven", "[2.0,2.17.1)", "2.0"));
        assert!(!within("maven", "[2.0,2.17.1)", "2.17.1"));
        assert!(within("maven", "(,2.17.1)", "2.0-beta9"));
        assert!(within("maven", "2.14.1", "2.14.1"));
    }

    #[test]
    fn npm_and_cargo_differ() {
        assert!(within("npm", "<4.17.21", "4.17.20"));
        assert!(!within("npm", "<4.17.21", "4.17.21"));
        assert!(within("npm", ">=1.2.0 <2.0.0", "1.9.9"));
        assert!(!within("npm", ">=1.2.0 <2.0.0", "2.0.0"));
        assert!(within("npm", "1.2.3 - 2.0.0", "2.0.0"));
        assert!(within("npm", "<1.0.0 || >=3.0.0", "3.1.0"));
        assert!(!within("npm", "<1.0.0 || >=3.0.0", "2.0.0"));
        // A bare version is exact in npm, a caret in Cargo.
        assert!(!within("npm", "1.2.3", "1.2.4"));
        assert!(within("cargo", "1.2.3", "1.2.4"));
        assert!(within("cargo", ">=0.10, <0.10.55", "0.10.54"));
        assert!(!within("cargo", ">=0.10, <0.10.55", "0.10.55"));
        assert!(within("golang", "<v1.2.3", "v1.2.2"));
    }

    #[test]
    fn pypi_and_gems() {
        assert!(within("pypi", "<2.0", "1.9.post1"));
        assert!(within("pypi", "~=1.4.2", "1.4.9"));
        assert!(!within("pypi", "~=1.4.2", "1.5.0"));
        assert!(within("pypi", "==1.4.*", "1.4.7"));
        assert!(within("gem", "~> 2.1", "2.9"));
        assert!(!within("gem", "~> 2.1", "3.0"));
        assert!(within("gem", "~> 2.1.3", "2.1.9"));
        assert!(!within("gem", "~> 2.1.3", "2.2.0"));
    }

    #[test]
    fn bad_ranges_name_the_syntax() {
        let e = Range::parse(Ecosystem::Npm, "@@@").unwrap_err();
        assert!(e.contains("npm ranges"), "{e}");
        let e = Range::parse(Ecosystem::Pypi, "<<1").unwrap_err();
        assert!(e.contains("PEP 440"), "{e}");
        let e = Range::parse(Ecosystem::Maven, "<").unwrap_err();
        assert!(e.contains("Maven ranges"), "{e}");
    }
}
