//! Text as Slack shows it: mrkdwn with user text escaped so a name can't
//! become a mention or a link, mentions only for well-formed ids, links
//! only to http(s), and every text cut to its limit on a character
//! boundary, saying so.

use super::*;

/// Escapes text for mrkdwn: `&`, `<` and `>` are Slack's control
/// characters (`<@U1>` mentions, `<!channel>` pings, `<url|links>`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text cut to `max` characters (ending in "…" when cut).
pub fn plain(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Text as mrkdwn.
pub fn mrkdwn(text: &Text) -> String {
    let mut out = String::new();
    for span in &text.spans {
        match span {
            Span::Plain { text } => out.push_str(&escape(text)),
            Span::Bold { text } => wrap(&mut out, text, "*"),
            Span::Italic { text } => wrap(&mut out, text, "_"),
            Span::Code { text } => {
                let t = text.replace('`', "ʼ");
                if !t.is_empty() {
                    out.push('`');
                    out.push_str(&escape(&t));
                    out.push('`');
                }
            }
            Span::Pre { text } => {
                out.push_str("```");
                out.push_str(&escape(&text.replace("```", "ʼʼʼ")));
                out.push_str("```");
            }
            Span::Link { label, url } => {
                let url = safe_url(url);
                let label = match label.trim() {
                    "" => url.trim_start_matches("mailto:"),
                    label => label,
                };
                out.push_str(&format!("<{url}|{}>", escape(label).replace('|', "¦")));
            }
            Span::Person { name, slack_id, .. } => match slack_id {
                Some(id) if is_id(id) => out.push_str(&format!("<@{id}>")),
                _ => wrap(&mut out, name, "*"),
            },
            Span::Channel { name, slack_id, .. } => match slack_id {
                Some(id) if is_id(id) => out.push_str(&format!("<#{id}>")),
                _ => {
                    out.push('#');
                    out.push_str(&escape(name.trim_start_matches('#')));
                }
            },
        }
    }
    out
}

/// `*bold*` with the spaces outside the markers (Slack ignores `*x *`).
fn wrap(out: &mut String, text: &str, marker: &str) {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        out.push_str(text);
        return;
    }
    let lead = &text[..text.len() - text.trim_start().len()];
    let trail = &text[text.trim_end().len()..];
    out.push_str(lead);
    out.push_str(marker);
    out.push_str(&escape(trimmed));
    out.push_str(marker);
    out.push_str(trail);
}

/// A Slack id (`U…`, `W…`, `C…`, `G…`): letters and digits only, so it
/// can't break out of `<@…>`.
fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 24 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A URL that can't break out of `<…|…>`.
fn safe_url(url: &str) -> String {
    url.replace('<', "%3C")
        .replace('>', "%3E")
        .replace('|', "%7C")
        .replace(' ', "%20")
}

/// Cuts mrkdwn to `max` characters at a line end, closing an open code
/// block and never splitting an escape or a `<…>` link, and says how many
/// lines were left out.
pub fn fit(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let budget = max.saturating_sub(60);
    let budget_bytes = text
        .char_indices()
        .nth(budget)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let mut cut = text[..budget_bytes]
        .rfind('\n')
        .filter(|i| *i > budget_bytes / 2)
        .unwrap_or(budget_bytes);
    // Not inside `<…>` or `&…;`.
    let head = &text[..cut];
    if let Some(open) = head.rfind('<')
        && head.rfind('>').is_none_or(|close| close < open)
    {
        cut = open;
    }
    let head = &text[..cut];
    if let Some(amp) = head.rfind('&')
        && head.rfind(';').is_none_or(|semi| semi < amp)
        && head.len() - amp < 6
    {
        cut = amp;
    }
    let kept = &text[..cut];
    let omitted = text[cut..]
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
        .max(1);
    let mut out = kept.trim_end().to_string();
    if out.matches("```").count() % 2 == 1 {
        out.push_str("```");
    }
    out.push_str(&format!(
        "\n… and {omitted} more line{}",
        if omitted == 1 { "" } else { "s" }
    ));
    out
}
