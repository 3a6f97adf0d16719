//! What people write to usher in a channel, a DM or at a prompt ("@usher
//! who owns payments-api?") as a command line: a small, forgiving grammar
//! for the common questions; a message that already is a command runs as
//! one; anything else gets the help card. Mentions use it first; the
//! router falls back on it for any line that doesn't parse as a command,
//! so the console and slash commands understand the same questions.

use super::definitions;

/// The command line a message means, or `None` when it means nothing
/// usher knows (the caller answers with help).
pub fn command_for(message: &str) -> Option<String> {
    let cleaned = clean(message);
    // "usher usher owner x", "/usher help": the bot's own name in front,
    // however often, is dropped in one pass (never by recursion: a message
    // is up to 40,000 characters).
    let text = strip_own_name(&cleaned);
    if text.is_empty() {
        return Some("help".into());
    }
    let lower = text.to_lowercase();
    // Lower-casing changed some lengths (rare letters): match on the
    // lower-cased text alone, so offsets agree.
    let text = if lower.len() == text.len() {
        text
    } else {
        lower.as_str()
    };
    for (phrases, command) in PHRASES {
        for phrase in *phrases {
            if let Some(rest) = strip_phrase(&lower, text, phrase) {
                let subject = subject(rest);
                if subject.is_empty() {
                    return Some(format!("help {command}"));
                }
                return Some(format!("{command} {subject}"));
            }
        }
    }
    // Already a command ("owner payments-api", "help", "/usher oncall x").
    let first = lower
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_start_matches('/');
    if definitions::find(first).is_some_and(|d| !d.hidden) {
        return Some(text.trim_start_matches('/').to_string());
    }
    None
}

/// `text` without the leading words that only name the bot (`usher`,
/// `/usher`, `@usher`).
fn strip_own_name(text: &str) -> &str {
    let mut rest = text.trim_start();
    loop {
        let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
        if word
            .trim_start_matches(['/', '@'])
            .trim_end_matches([',', ':'])
            .eq_ignore_ascii_case("usher")
        {
            rest = after.trim_start();
        } else {
            return rest;
        }
    }
}

/// Phrases, most specific first, and the command they mean.
const PHRASES: &[(&[&str], &str)] = &[
    (
        &[
            "who's on call for",
            "who’s on call for",
            "whos on call for",
            "who is on call for",
            "who is oncall for",
            "who's oncall for",
            "who is on-call for",
            "who's on-call for",
            "who is on call on",
            "on call for",
            "oncall for",
            "on-call for",
            "who's on call",
            "who is on call",
        ],
        "oncall",
    ),
    (
        &[
            "runbooks for",
            "runbook for",
            "where is the runbook for",
            "where's the runbook for",
            "runbook of",
        ],
        "docs",
    ),
    (
        &[
            "where are the docs for",
            "where are docs for",
            "documentation for",
            "docs for",
            "docs of",
            "docs on",
        ],
        "docs",
    ),
    (
        &[
            "who owns",
            "who own",
            "whose is",
            "who is responsible for",
            "who's responsible for",
            "owner of",
            "owners of",
            "who maintains",
        ],
        "owner",
    ),
];

/// Drops mentions (`<@U123>`), unwraps Slack's links (`<https://x|x>` →
/// `x`, `<#C1|name>` → `name`) and tidies spaces.
fn clean(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &rest[start + 1..start + end];
        if !(inner.starts_with('@') || inner.starts_with('!')) {
            let shown = inner.split_once('|').map(|(_, l)| l).unwrap_or(inner);
            let shown = shown
                .trim_start_matches('#')
                .trim_start_matches("mailto:")
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            out.push_str(shown);
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The rest of `text` after `phrase` at its start (or after a greeting
/// such as "hey, " / "please").
fn strip_phrase<'a>(lower: &str, text: &'a str, phrase: &str) -> Option<&'a str> {
    // Greetings and politeness before the question: "hey, ", "hi usher, ", "please".
    let mut tail = lower;
    loop {
        let trimmed = tail.trim_start_matches([',', ' ', ':', '!']);
        let word_end = trimmed
            .find(|c: char| !c.is_alphanumeric())
            .unwrap_or(trimmed.len());
        let word = &trimmed[..word_end];
        if matches!(
            word,
            "hey" | "hi" | "hello" | "please" | "pls" | "so" | "usher" | "q"
        ) && word_end > 0
        {
            tail = &trimmed[word_end..];
        } else {
            tail = trimmed;
            break;
        }
    }
    let start = lower.len() - tail.len();
    if tail.starts_with(phrase) {
        let after = start + phrase.len();
        let next = lower[after..].chars().next();
        if next.is_none_or(|c| c == ' ' || c == '?' || c == ':') {
            return Some(&text[after..]);
        }
    }
    None
}

/// The service in "payments-api?", "the payments-api service", "`x`".
fn subject(rest: &str) -> String {
    let trimmed = rest
        .trim()
        .trim_start_matches(':')
        .trim()
        .trim_end_matches(['?', '!', '.', ' ']);
    let words: Vec<&str> = trimmed
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, '`' | '"' | '\'' | '*' | '“' | '”')))
        .filter(|w| !w.is_empty())
        .collect();
    let mut words = words;
    while let Some(last) = words.last()
        && words.len() > 1
        && matches!(
            last.to_lowercase().as_str(),
            "please" | "pls" | "plz" | "thanks" | "thx" | "ty"
        )
    {
        words.pop();
    }
    let words: Vec<&str> = match words.as_slice() {
        ["the", rest @ ..] => rest.to_vec(),
        other => other.to_vec(),
    };
    let words: Vec<&str> = match words.as_slice() {
        [rest @ .., "service" | "api" | "team" | "app"] if !rest.is_empty() => rest.to_vec(),
        other => other.to_vec(),
    };
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_become_commands() {
        let cases = [
            (
                "<@U0LAN0Z89> who owns payments-api?",
                Some("owner payments-api"),
            ),
            (
                "who owns the payments-api service",
                Some("owner payments-api"),
            ),
            (
                "hey, who's on call for `checkout`?",
                Some("oncall checkout"),
            ),
            ("Who is on-call for checkout", Some("oncall checkout")),
            ("docs for payments-api", Some("docs payments-api")),
            ("runbook for payments-api please", Some("docs payments-api")),
            ("where's the runbook for search?", Some("docs search")),
            (
                "owner <https://payments.example|payments.example>",
                Some("owner payments.example"),
            ),
            (
                "search dep:log4j-core@<2.17.1",
                Some("search dep:log4j-core@<2.17.1"),
            ),
            (
                "search dep:log4j-core@&lt;2.17.1",
                Some("search dep:log4j-core@<2.17.1"),
            ),
            ("/usher help", Some("help")),
            ("<@U0LAN0Z89>", Some("help")),
            ("who owns?", Some("help owner")),
            ("what's the weather like", None),
            ("whose is payments-api", Some("owner payments-api")),
        ];
        for (message, expected) in cases {
            assert_eq!(command_for(message).as_deref(), expected, "{message}");
        }
    }
}
