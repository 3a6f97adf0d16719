//! CODEOWNERS, as GitHub and GitLab read it: one rule a line (a path
//! pattern, then owners — `@user`, `@org/team`, `@group/subgroup`, an
//! email), `#` comments, `\ ` and `\#` escapes, and GitLab's sections
//! (`[Section]`, `^[Optional]`, `[Section][2] @default-owners`) whose
//! default owners apply to the section's rules that name none. The last
//! matching rule wins, so the repository's default owners are the last
//! rule whose pattern covers every file.
//!
//! The file is untrusted text: it is read line by line, each line cut at
//! 4 KB and at 64 owners, with no recursion and nothing that grows faster
//! than the input.

/// Where GitHub and GitLab look for the file, in their order of precedence.
pub const PATHS: [&str; 4] = [
    ".github/CODEOWNERS",
    ".gitlab/CODEOWNERS",
    "CODEOWNERS",
    "docs/CODEOWNERS",
];

/// Longer lines are cut (no real rule is this long).
const MAX_LINE: usize = 4096;
/// Owners kept per rule.
const MAX_OWNERS: usize = 64;

/// One rule: where it stands, its pattern and its owners (without `@`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub line: usize,
    pub pattern: String,
    pub owners: Vec<String>,
}

impl Rule {
    /// Whether the pattern covers every file of the repository.
    pub fn covers_everything(&self) -> bool {
        matches!(
            self.pattern.as_str(),
            "*" | "**" | "/*" | "/**" | "**/*" | "/**/*"
        )
    }
}

/// The rules of a CODEOWNERS file, in order.
pub fn parse(text: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut section_owners: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = cut(raw, MAX_LINE);
        let words = words(line);
        let Some(first) = words.first() else { continue };
        if let Some(owners) = section_header(line) {
            section_owners = owners;
            continue;
        }
        let mut owners: Vec<String> = words[1..]
            .iter()
            .filter_map(|w| owner(w))
            .take(MAX_OWNERS)
            .collect();
        if owners.is_empty() {
            owners = section_owners.clone();
        }
        rules.push(Rule {
            line: i + 1,
            pattern: first.clone(),
            owners,
        });
    }
    rules
}

/// The repository's default owners: the last rule covering every file
/// that names someone.
pub fn default_rule(rules: &[Rule]) -> Option<&Rule> {
    rules
        .iter()
        .rev()
        .find(|r| r.covers_everything() && !r.owners.is_empty())
}

fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    &text[..text.floor_char_boundary(max)]
}

/// The words of a line up to an unescaped `#` (a comment), with `\ ` and
/// `\#` unescaped.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ (' ' | '#' | '\\')) => word.push(next),
                Some(other) => {
                    word.push('\\');
                    word.push(other);
                }
                None => word.push('\\'),
            },
            '#' if word.is_empty() => break,
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// A GitLab section header's default owners (`[Name]`, `^[Name]`,
/// `[Name][2]`, then owners), or `None` for any other line.
fn section_header(line: &str) -> Option<Vec<String>> {
    let rest = line.trim_start();
    let rest = rest.strip_prefix('^').unwrap_or(rest);
    let rest = rest.strip_prefix('[')?;
    let close = rest.find(']')?;
    let mut after = &rest[close + 1..];
    // An approval count: `[2]`.
    if let Some(count) = after.strip_prefix('[')
        && let Some(end) = count.find(']')
        && count[..end].chars().all(|c| c.is_ascii_digit())
    {
        after = &count[end + 1..];
    }
    Some(
        words(after)
            .iter()
            .filter_map(|w| owner(w))
            .take(MAX_OWNERS)
            .collect(),
    )
}

/// An owner as written: `@name` or `@org/team` (kept without the `@`), or
/// an email; anything else is not an owner.
fn owner(word: &str) -> Option<String> {
    if let Some(name) = word.strip_prefix('@') {
        let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.len() <= 255
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        return ok.then(|| name.to_string());
    }
    let (local, domain) = word.split_once('@')?;
    let ok = !local.is_empty() && domain.contains('.') && word.len() <= 254;
    ok.then(|| word.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_rules_with_comments_and_escapes() {
        let text = "# the default owners\n*       @acme/payments @jane   # and Jane\n\n/docs/  docs@acme.example\npath\\ with\\ spaces/ @acme/docs\n\\#notes @acme/notes\n*.js    @acme/web\n";
        let rules = parse(text);
        assert_eq!(rules.len(), 5);
        assert_eq!(rules[0].line, 2);
        assert_eq!(rules[0].owners, ["acme/payments", "jane"]);
        assert_eq!(rules[1].owners, ["docs@acme.example"]);
        assert_eq!(rules[2].pattern, "path with spaces/");
        assert_eq!(rules[3].pattern, "#notes");
        assert_eq!(default_rule(&rules).unwrap().line, 2);
    }

    #[test]
    fn the_last_default_rule_wins_and_gitlab_sections_lend_their_owners() {
        let text = "* @old-team\n[Backend][2] @acme/backend\n*\n^[Docs] @acme/docs\n*.md\n";
        let rules = parse(text);
        assert_eq!(rules.len(), 3);
        assert_eq!(default_rule(&rules).unwrap().owners, ["acme/backend"]);
        assert_eq!(rules[2].owners, ["acme/docs"]);
        // A default rule that names nobody doesn't count.
        let rules = parse("* @acme/a\n*\n");
        assert_eq!(default_rule(&rules).unwrap().owners, ["acme/a"]);
    }

    #[test]
    fn odd_lines_are_rules_or_nothing_never_a_panic() {
        assert!(parse("").is_empty());
        assert!(parse("#\n   \n\\").len() <= 1);
        // Not section headers: patterns (gitignore's brackets).
        assert_eq!(parse("[unclosed @x\n^[").len(), 2);
        assert!(parse("* @@x @ @/ not-an-owner")[0].owners.is_empty());
        let long = format!("* {}", "@a ".repeat(10_000));
        assert_eq!(parse(&long)[0].owners.len(), MAX_OWNERS);
    }
}
