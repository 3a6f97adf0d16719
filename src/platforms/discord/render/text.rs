//! Text as Discord shows it: markdown with user text escaped, mentions
//! only for well-formed snowflakes, and cutting to a limit — by characters,
//! or by whole lines saying how many more.

pub use crate::config::is_snowflake;

use super::*;

/// Cuts `text` to `max` characters, ending with "…".
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Escapes Discord markdown in user text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '[' | ']' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    // No mass mentions from catalog text.
    out.replace("@everyone", "@\u{200b}everyone")
        .replace("@here", "@\u{200b}here")
}

/// Formatted text as Discord markdown.
pub fn markdown(text: &Text) -> String {
    let mut out = String::new();
    for span in &text.spans {
        match span {
            Span::Plain { text } => out.push_str(&escape(text)),
            Span::Bold { text } => out.push_str(&format!("**{}**", escape(text))),
            Span::Italic { text } => out.push_str(&format!("*{}*", escape(text))),
            Span::Code { text } => out.push_str(&format!("`{}`", text.replace('`', "'"))),
            Span::Pre { text } => {
                out.push_str(&format!("```\n{}\n```", text.replace("```", "'''")))
            }
            Span::Link { label, url } => {
                out.push_str(&format!("[{}]({})", escape(label), url.replace(')', "%29")))
            }
            Span::Person {
                name, discord_id, ..
            } => match discord_id.as_deref().filter(|id| is_snowflake(id)) {
                Some(id) => out.push_str(&format!("<@{id}>")),
                None => out.push_str(&escape(name)),
            },
            Span::Channel {
                name, discord_id, ..
            } => match discord_id.as_deref().filter(|id| is_snowflake(id)) {
                Some(id) => out.push_str(&format!("<#{id}>")),
                None => out.push_str(&format!("#{}", escape(name.trim_start_matches('#')))),
            },
        }
    }
    out
}

/// Whole lines of `text` within `max` characters, then "… and N more lines".
pub(super) fn fit_lines(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut used = 0;
    for (i, line) in lines.iter().enumerate() {
        let note = format!("\n… and {} more lines", lines.len() - i);
        let len = line.chars().count() + 1;
        if used + len + note.chars().count() > max {
            if out.matches("```").count() % 2 == 1 {
                out.push_str("```");
            }
            out.push_str(&note);
            return cut(&out, max);
        }
        out.push_str(line);
        out.push('\n');
        used += len;
    }
    cut(&out, max)
}
