//! The search language: words and `key:value` filters, quotes for values
//! with spaces. Parsing never fails silently: a bad filter is a one-line
//! explanation of the syntax.

use crate::catalog::entity::{normalise_language, normalise_tier};
use crate::catalog::gaps::{self, Gap};
use crate::catalog::versions::Ecosystem;

use super::super::parse::edit_distance;

/// Longest query accepted.
pub const MAX_QUERY: usize = 500;

/// A `dep:` filter: a package, optionally with an ecosystem, a namespace
/// and a version range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepFilter {
    pub ecosystem: Option<Ecosystem>,
    pub namespace: Option<String>,
    pub name: String,
    pub range: Option<String>,
}

impl DepFilter {
    /// As written, for messages and idempotency keys.
    pub fn display(&self) -> String {
        let mut s = String::new();
        if let Some(e) = self.ecosystem {
            s.push_str(e.as_str());
            s.push('/');
        }
        if let Some(n) = &self.namespace {
            s.push_str(n);
            s.push('/');
        }
        s.push_str(&self.name);
        if let Some(r) = &self.range {
            s.push('@');
            s.push_str(r);
        }
        s
    }
}

/// One filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Owner(String),
    Language(String),
    Framework(String),
    Tier(String),
    Lifecycle(String),
    Type(String),
    System(String),
    Tag(String),
    Kind(String),
    Missing(&'static Gap),
    Dep(DepFilter),
}

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub words: Vec<String>,
    pub filters: Vec<Filter>,
}

impl Query {
    pub fn dep(&self) -> Option<&DepFilter> {
        self.filters.iter().find_map(|f| match f {
            Filter::Dep(d) => Some(d),
            _ => None,
        })
    }
}

const KEYS: &[&str] = &[
    "owner",
    "lang",
    "language",
    "framework",
    "tier",
    "lifecycle",
    "type",
    "system",
    "tag",
    "kind",
    "missing",
    "dep",
];

/// The syntax, for errors.
pub const SYNTAX: &str = "words, and filters owner:TEAM lang: framework: tier:N lifecycle: type: system: tag: kind: missing:FIELD dep:PACKAGE[@RANGE]";

fn split(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'' | '“' | '”') => {
                quote = Some(if c == '“' { '”' } else { c });
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut current));
                    started = false;
                }
            }
            (None, c) => {
                current.push(c);
                started = true;
            }
        }
    }
    if quote.is_some() {
        return Err(
            "a quote is opened but not closed — close it, or leave the quotes out".to_string(),
        );
    }
    if started {
        words.push(current);
    }
    Ok(words)
}

/// Parses a query.
pub fn parse(text: &str) -> Result<Query, String> {
    if text.chars().count() > MAX_QUERY {
        return Err(format!(
            "that query is {} characters long; keep it under {MAX_QUERY}",
            text.chars().count()
        ));
    }
    let mut query = Query::default();
    for word in split(text)? {
        let Some((key, value)) = word.split_once(':') else {
            query.words.push(word);
            continue;
        };
        let key_lower = key.to_ascii_lowercase();
        if !KEYS.contains(&key_lower.as_str()) {
            // A misspelt filter is an error; other colons are just text.
            if key.chars().all(|c| c.is_ascii_alphabetic())
                && let Some(close) = KEYS.iter().find(|k| edit_distance(k, &key_lower) <= 2)
            {
                return Err(format!(
                    "there's no filter `{key}:` — did you mean `{close}:`? Filters: {SYNTAX}"
                ));
            }
            query.words.push(word);
            continue;
        }
        if value.trim().is_empty() {
            return Err(format!(
                "`{key}:` needs a value, e.g. {}",
                example(&key_lower)
            ));
        }
        let value = value.trim().to_string();
        let filter = match key_lower.as_str() {
            "owner" => Filter::Owner(value),
            "lang" | "language" => Filter::Language(normalise_language(&value)),
            "framework" => Filter::Framework(value.to_lowercase()),
            "tier" => {
                let tier = normalise_tier(&value);
                if !tier.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!(
                        "`tier:{value}` is not a tier; tiers are numbers, e.g. tier:1"
                    ));
                }
                Filter::Tier(tier)
            }
            "lifecycle" => Filter::Lifecycle(value.to_lowercase()),
            "type" => Filter::Type(value.to_lowercase()),
            "system" => Filter::System(value),
            "tag" => Filter::Tag(value.to_lowercase()),
            "kind" => Filter::Kind(value.to_lowercase()),
            "missing" => Filter::Missing(gaps::find(&value).ok_or_else(|| {
                format!(
                    "`missing:{value}` is not a field usher checks; use one of {}",
                    gaps::fields()
                )
            })?),
            _ => Filter::Dep(parse_dep(&value)?),
        };
        query.filters.push(filter);
    }
    if query.words.is_empty() && query.filters.is_empty() {
        return Err(format!("search for something: {SYNTAX}"));
    }
    Ok(query)
}

fn example(key: &str) -> &'static str {
    match key {
        "owner" => "owner:team-payments",
        "lang" | "language" => "lang:java",
        "tier" => "tier:1",
        "missing" => "missing:runbook",
        "dep" => "dep:log4j-core@<2.17.1",
        "lifecycle" => "lifecycle:production",
        _ => "tag:payments",
    }
}

/// `log4j-core`, `log4j-core@<2.17.1`, `maven/org.apache.logging.log4j/log4j-core@<2.17.1`,
/// `npm/@babel/core@<7.0.0`, `cargo/openssl@>=0.10,<0.10.55`.
fn parse_dep(value: &str) -> Result<DepFilter, String> {
    let invalid = || {
        format!(
            "`dep:{}` needs a package name, e.g. dep:log4j-core@<2.17.1 or dep:npm/lodash@<4.17.21",
            value.chars().take(40).collect::<String>()
        )
    };
    let (ecosystem, rest) = match value.split_once('/') {
        Some((eco, rest)) if Ecosystem::is_known(eco) => (Some(Ecosystem::parse(eco)), rest),
        _ => (None, value),
    };
    // The version part starts at the last '@' that isn't an npm scope's.
    let (package, range) = match rest.rfind('@') {
        Some(0) | None => (rest, None),
        Some(at) => (
            &rest[..at],
            Some(rest[at + 1..].trim().to_string()).filter(|r| !r.is_empty()),
        ),
    };
    let (namespace, name) = match package.rsplit_once('/') {
        Some((ns, name)) => (Some(ns.to_string()), name),
        None => (None, package),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || "-_.+~".contains(c))
    };
    // A namespace part may be an npm scope (`@babel`).
    let valid_namespace = |s: &str| valid(s.strip_prefix('@').unwrap_or(s));
    if !valid(name)
        || namespace
            .as_deref()
            .is_some_and(|n| !n.split('/').all(valid_namespace))
    {
        return Err(invalid());
    }
    Ok(DepFilter {
        ecosystem,
        namespace,
        name: name.to_string(),
        range,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_words() {
        let q = parse("payments lang:Java tier:tier-1 owner:\"team x\" missing:runbook").unwrap();
        assert_eq!(q.words, ["payments"]);
        assert_eq!(q.filters[0], Filter::Language("java".into()));
        assert_eq!(q.filters[1], Filter::Tier("1".into()));
        assert_eq!(q.filters[2], Filter::Owner("team x".into()));
        assert!(matches!(q.filters[3], Filter::Missing(g) if g.field == "runbook"));
    }

    #[test]
    fn dependencies() {
        let d = |t: &str| parse(t).unwrap().dep().cloned().unwrap();
        assert_eq!(
            d("dep:log4j-core@<2.17.1").range.as_deref(),
            Some("<2.17.1")
        );
        let m = d("dep:maven/org.apache.logging.log4j/log4j-core@<2.17.1");
        assert_eq!(
            (m.ecosystem, m.namespace.as_deref(), m.name.as_str()),
            (
                Some(Ecosystem::Maven),
                Some("org.apache.logging.log4j"),
                "log4j-core"
            )
        );
        let n = d("dep:npm/@babel/core@<7.0.0");
        assert_eq!(
            (n.namespace.as_deref(), n.name.as_str(), n.range.as_deref()),
            (Some("@babel"), "core", Some("<7.0.0"))
        );
        let c = d("dep:cargo/openssl@>=0.10,<0.10.55");
        assert_eq!(c.range.as_deref(), Some(">=0.10,<0.10.55"));
        assert_eq!(d("dep:lodash").range, None);
    }

    #[test]
    fn bad_input_gets_one_line_of_syntax() {
        for (text, expect) in [
            ("dep:@@@", "needs a package name"),
            ("tier:banana", "is not a tier"),
            ("langauge:java", "did you mean `language:`"),
            ("missing:love", "not a field usher checks"),
            ("\"unbalanced", "not closed"),
            ("owner:", "needs a value"),
            ("   ", "search for something"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(expect), "{text}: {e}");
            assert!(!e.contains('\n'), "{text}: {e}");
        }
        assert!(
            parse(&"x".repeat(10_000))
                .unwrap_err()
                .contains("keep it under")
        );
        // SQL metacharacters and confusables are just words.
        assert_eq!(
            parse("\"'; DROP TABLE entities; --\"").unwrap().words.len(),
            1
        );
        assert_eq!(parse("pаyments").unwrap().words, ["pаyments"]);
    }
}
