//! The platform-neutral reply as a Discord message: one embed (header as
//! the title, text as the description, fields, context as the footer) and
//! components (buttons, link buttons, string selects), within Discord's
//! limits — 256-character titles, 4,096-character descriptions, 25 fields
//! of 1,024 characters, 6,000 characters in all, 5 buttons a row, 5 rows,
//! 25 options a select — by cutting with "and N more", never failing.
//!
//! Components carry what they run in their `custom_id` (100 characters):
//! `r:<n>:<line>` runs a command line, `s:<n>:<line>` shares an answer,
//! `t:<n>:<command>` asks for a name in a modal then runs `command name`,
//! `i:<n>:<command>` asks for a dialogue's free text in a modal; longer
//! lines are stored (`platforms::values`). `<n>` keeps ids unique in a
//! message, as Discord requires.

use serde_json::{Value, json};

use crate::chat::{Block, ButtonStyle, Element, FormField, Reply, Span, Text, Visibility};
use crate::platforms::values;

mod modal;
mod text;

pub use modal::{FIELDS_SEPARATOR, MAX_MODAL_INPUTS, fields_modal, modal};
use text::fit_lines;
pub use text::{cut, escape, is_snowflake, markdown};

pub const RUN: &str = "r";
pub const SHARE: &str = "s";
pub const TYPEAHEAD: &str = "t";
pub const INPUT: &str = "i";
/// The "… and N more" option of a long select.
pub const NOOP: &str = "noop";

pub const MAX_TITLE: usize = 256;
pub const MAX_DESCRIPTION: usize = 4096;
pub const MAX_FIELDS: usize = 25;
pub const MAX_FIELD_NAME: usize = 256;
pub const MAX_FIELD_VALUE: usize = 1024;
pub const MAX_FOOTER: usize = 2048;
pub const MAX_EMBED_TOTAL: usize = 6000;
pub const MAX_ROWS: usize = 5;
pub const MAX_BUTTONS: usize = 5;
pub const MAX_OPTIONS: usize = 25;
pub const MAX_CUSTOM_ID: usize = 100;
pub const MAX_LABEL: usize = 80;

/// The EPHEMERAL message flag.
pub const EPHEMERAL: u64 = 64;

/// A rendered message, and the long values to store before sending it.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    pub body: Value,
    pub long_values: Vec<(String, String)>,
}

/// Builds components, numbering custom ids and storing long values.
struct Components {
    rows: Vec<Value>,
    long_values: Vec<(String, String)>,
    next: usize,
    dropped: usize,
}

impl Components {
    fn custom_id(&mut self, kind: &str, line: &str) -> String {
        let prefix = format!("{kind}:{}:", self.next);
        self.next += 1;
        let (value, long) = values::encode(line, MAX_CUSTOM_ID - prefix.len());
        if let Some(long) = long {
            self.long_values.push(long);
        }
        format!("{prefix}{value}")
    }

    fn push_row(&mut self, components: Vec<Value>) {
        if components.is_empty() {
            return;
        }
        if self.rows.len() >= MAX_ROWS {
            self.dropped += components.len();
            return;
        }
        self.rows
            .push(json!({ "type": 1, "components": components }));
    }

    fn button(&mut self, element: &Element) -> Option<Value> {
        match element {
            Element::Link { label, url } => Some(json!({
                "type": 2, "style": 5, "label": cut(label, MAX_LABEL), "url": url,
            })),
            Element::Button {
                label,
                action,
                style,
            } => Some(json!({
                "type": 2,
                "style": match style { ButtonStyle::Primary => 1, ButtonStyle::Danger => 4, ButtonStyle::Default => 2 },
                "label": cut(label, MAX_LABEL),
                "custom_id": self.custom_id(RUN, &action.command),
            })),
            Element::Typeahead {
                placeholder,
                command,
            } => Some(json!({
                "type": 2, "style": 2, "label": cut(&format!("🔎 {placeholder}"), MAX_LABEL),
                "custom_id": self.custom_id(TYPEAHEAD, command),
            })),
            Element::Select { .. } => None,
        }
    }

    fn select(&mut self, placeholder: &str, options: &[crate::chat::SelectOption]) -> Value {
        let shown = if options.len() > MAX_OPTIONS {
            MAX_OPTIONS - 1
        } else {
            options.len()
        };
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, o) in options.iter().take(shown).enumerate() {
            let (mut value, long) = values::encode(&o.action.command, MAX_CUSTOM_ID);
            if let Some(long) = long {
                self.long_values.push(long);
            }
            // Option values must be unique within a select.
            if !seen.insert(value.clone()) {
                value = format!("{NOOP}:{i}");
            }
            let mut option = json!({ "label": cut(&o.label, 100), "value": value });
            if let Some(d) = &o.description {
                option["description"] = json!(cut(d, 100));
            }
            out.push(option);
        }
        if options.len() > shown {
            out.push(json!({
                "label": format!("… and {} more — type more of the name", options.len() - shown),
                "value": NOOP,
            }));
        }
        let custom_id = format!("sel:{}", self.next);
        self.next += 1;
        json!({
            "type": 3,
            "custom_id": custom_id,
            "placeholder": cut(placeholder, 150),
            "options": out,
        })
    }
}

/// Renders a reply as a message body (`content`, `embeds`,
/// `components`, `flags`). `share` is the command line a "Share" button
/// posts for everyone (ephemeral answers only).
pub fn message(reply: &Reply, share: Option<&str>) -> Rendered {
    let mut title: Option<String> = None;
    let mut description: Vec<String> = Vec::new();
    let mut fields: Vec<Value> = Vec::new();
    let mut footer: Vec<String> = Vec::new();
    let mut components = Components {
        rows: Vec::new(),
        long_values: Vec::new(),
        next: 0,
        dropped: 0,
    };
    let mut more_fields = 0usize;
    for block in &reply.blocks {
        match block {
            Block::Header { text } if title.is_none() => title = Some(cut(text, MAX_TITLE)),
            Block::Header { text } => description.push(format!("**{}**", escape(text))),
            Block::Section { text } => description.push(markdown(text)),
            Block::Hint { text } => description.push(format!("💡 {}", markdown(text))),
            Block::Context { text } => footer.push(text.to_plain()),
            Block::Divider => {}
            Block::Fields { fields: list } => {
                for f in list {
                    if fields.len() >= MAX_FIELDS - 1 && list.len() + fields.len() > MAX_FIELDS {
                        more_fields += 1;
                        continue;
                    }
                    let value = markdown(&f.value);
                    fields.push(json!({
                        "name": cut(&f.label, MAX_FIELD_NAME),
                        "value": cut(if value.is_empty() { "—" } else { &value }, MAX_FIELD_VALUE),
                        "inline": value.chars().count() <= 40,
                    }));
                }
            }
            Block::Actions { elements } => {
                let mut buttons = Vec::new();
                for element in elements {
                    if let Element::Select {
                        placeholder,
                        options,
                    } = element
                    {
                        let buttons_so_far = std::mem::take(&mut buttons);
                        components.push_row(buttons_so_far);
                        let select = components.select(placeholder, options);
                        components.push_row(vec![select]);
                        continue;
                    }
                    if let Some(button) = components.button(element) {
                        buttons.push(button);
                        if buttons.len() == MAX_BUTTONS {
                            let full = std::mem::take(&mut buttons);
                            components.push_row(full);
                        }
                    }
                }
                components.push_row(buttons);
            }
        }
    }
    if more_fields > 0 {
        fields.push(
            json!({ "name": "…", "value": format!("and {more_fields} more"), "inline": false }),
        );
    }
    if let Some(form) = &reply.form {
        // Said once: a reply that already shows it as a hint doesn't repeat it.
        let hinted = |error: &str| {
            reply
                .blocks
                .iter()
                .any(|b| matches!(b, Block::Hint { text } if text.to_plain() == error))
        };
        if let Some(error) = form.error.as_deref().filter(|e| !hinted(e)) {
            description.push(format!("⚠️ {}", escape(error)));
        }
        if let (false, Some(submit)) = (form.fields.is_empty() || form.finished, &form.submit) {
            // The fields travel with the button (stored when long): the
            // click opens the modal from them.
            let line = format!(
                "{submit}{FIELDS_SEPARATOR}{}",
                json!({ "title": form.title, "fields": form.fields })
            );
            let id = components.custom_id(INPUT, &line);
            let button = json!({
                "type": 2, "style": 1, "label": "✏️ Fill in", "custom_id": id,
            });
            if components.rows.len() >= MAX_ROWS {
                components.rows.pop();
            }
            components
                .rows
                .insert(0, json!({ "type": 1, "components": [button] }));
        }
        if let (Some(input), Some(expects)) = (&form.text_input, &reply.expects)
            && !form.finished
        {
            let id = components.custom_id(INPUT, &expects.command);
            // The button opens a modal; the row goes first, as it's the next step.
            let button = json!({
                "type": 2, "style": 1, "label": cut(&format!("✏️ {}", input.label), MAX_LABEL), "custom_id": id,
            });
            if components.rows.len() >= MAX_ROWS {
                components.rows.pop();
            }
            components
                .rows
                .insert(0, json!({ "type": 1, "components": [button] }));
        }
    }
    if let Some(line) = share.filter(|_| reply.visibility == Visibility::Ephemeral) {
        let id = components.custom_id(SHARE, line);
        let button = json!({ "type": 2, "style": 2, "label": "Share in channel", "custom_id": id });
        // In the last row with room, else a row of its own.
        match components.rows.last_mut() {
            Some(row)
                if row["components"].as_array().is_some_and(|c| {
                    c.len() < MAX_BUTTONS && c.first().is_some_and(|b| b["type"] == 2)
                }) =>
            {
                row["components"]
                    .as_array_mut()
                    .expect("a row")
                    .push(button);
            }
            _ => components.push_row(vec![button]),
        }
    }
    if components.dropped > 0 {
        footer.push(format!(
            "{} more buttons didn't fit: type `help` for the commands",
            components.dropped
        ));
    }
    let embed = embed(title, description, fields, footer);
    let mut body = json!({
        "embeds": [embed],
        "components": components.rows,
        "allowed_mentions": { "parse": [] },
    });
    if reply.visibility == Visibility::Ephemeral {
        body["flags"] = json!(EPHEMERAL);
    }
    Rendered {
        body,
        long_values: components.long_values,
    }
}

/// One embed within the per-part and total limits.
fn embed(
    title: Option<String>,
    description: Vec<String>,
    mut fields: Vec<Value>,
    footer: Vec<String>,
) -> Value {
    let footer = cut(&footer.join(" · "), MAX_FOOTER);
    let title_len = title.as_ref().map(|t| t.chars().count()).unwrap_or(0);
    // Fields first within the total, then the description gets the rest.
    let field_len = |f: &Value| {
        f["name"].as_str().map(|s| s.chars().count()).unwrap_or(0)
            + f["value"].as_str().map(|s| s.chars().count()).unwrap_or(0)
    };
    let mut used = title_len + footer.chars().count();
    let budget_for_fields = MAX_EMBED_TOTAL.saturating_sub(used + 1200);
    let mut kept = Vec::new();
    let mut fields_used = 0;
    let mut cut_fields = 0;
    for f in fields.drain(..) {
        let len = field_len(&f);
        if fields_used + len > budget_for_fields {
            cut_fields += 1;
            continue;
        }
        fields_used += len;
        kept.push(f);
    }
    if cut_fields > 0 {
        kept.push(
            json!({ "name": "…", "value": format!("and {cut_fields} more"), "inline": false }),
        );
        fields_used += 20;
    }
    used += fields_used;
    let budget = MAX_DESCRIPTION.min(MAX_EMBED_TOTAL.saturating_sub(used + 16));
    let description = fit_lines(&description.join("\n"), budget);
    let mut embed = json!({ "color": 0x1d3557 });
    if let Some(title) = title {
        embed["title"] = json!(title);
    }
    if !description.is_empty() {
        embed["description"] = json!(description);
    }
    if !kept.is_empty() {
        embed["fields"] = json!(kept);
    }
    if !footer.is_empty() {
        embed["footer"] = json!({ "text": footer });
    }
    embed
}

/// A short ephemeral notice.
pub fn notice(text: &str) -> Value {
    json!({
        "content": cut(text, 2000),
        "flags": EPHEMERAL,
        "allowed_mentions": { "parse": [] },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Action, Field, SelectOption};

    fn embed_total(e: &Value) -> usize {
        let s = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(0);
        s(&e["title"])
            + s(&e["description"])
            + s(&e["footer"]["text"])
            + e["fields"]
                .as_array()
                .map(|f| f.iter().map(|f| s(&f["name"]) + s(&f["value"])).sum())
                .unwrap_or(0)
    }

    #[test]
    fn huge_replies_fit_every_limit() {
        let mut reply = Reply::new().header("x".repeat(400));
        for i in 0..200 {
            reply = reply.section(format!("line {i} {}", "y".repeat(100)));
        }
        let fields: Vec<Field> = (0..60)
            .map(|i| Field {
                label: format!("f{i}"),
                value: Text::plain("z".repeat(2000)),
            })
            .collect();
        reply = reply.fields(fields);
        let buttons: Vec<Element> = (0..40)
            .map(|i| Element::Button {
                label: format!("b{i}"),
                action: Action::run(format!("owner s{i} {}", "q".repeat(i * 5))),
                style: ButtonStyle::Default,
            })
            .collect();
        reply = reply.actions(buttons);
        reply = reply.actions(vec![Element::Select {
            placeholder: "pick".into(),
            options: (0..80)
                .map(|i| SelectOption {
                    label: format!("o{i}"),
                    description: None,
                    action: Action::run(format!("owner o{i}")),
                })
                .collect(),
        }]);
        let r = message(&reply, Some("owner x"));
        let e = &r.body["embeds"][0];
        assert!(e["title"].as_str().unwrap().chars().count() <= MAX_TITLE);
        assert!(e["description"].as_str().unwrap().chars().count() <= MAX_DESCRIPTION);
        assert!(e["description"].as_str().unwrap().contains("more lines"));
        let fields = e["fields"].as_array().unwrap();
        assert!(fields.len() <= MAX_FIELDS);
        assert!(
            fields
                .iter()
                .all(|f| f["value"].as_str().unwrap().chars().count() <= MAX_FIELD_VALUE)
        );
        assert!(embed_total(e) <= MAX_EMBED_TOTAL, "{}", embed_total(e));
        let rows = r.body["components"].as_array().unwrap();
        assert!(rows.len() <= MAX_ROWS);
        let mut ids = std::collections::HashSet::new();
        for row in rows {
            let c = row["components"].as_array().unwrap();
            assert!(c.len() <= MAX_BUTTONS);
            for c in c {
                if let Some(id) = c["custom_id"].as_str() {
                    assert!(id.chars().count() <= MAX_CUSTOM_ID);
                    assert!(ids.insert(id.to_string()), "unique ids");
                }
                if let Some(o) = c["options"].as_array() {
                    assert!(o.len() <= MAX_OPTIONS);
                }
            }
        }
        assert_eq!(r.body["flags"], json!(EPHEMERAL));
    }

    #[test]
    fn markdown_is_escaped_and_people_are_mentions() {
        let text = Text::new()
            .add_plain("a*b_c @everyone")
            .add_span(Span::Person {
                name: "Amara".into(),
                slack_id: None,
                discord_id: Some("123456789012345678".into()),
            })
            .add_span(Span::Person {
                name: "Jo_nas".into(),
                slack_id: None,
                discord_id: None,
            });
        let md = markdown(&text);
        assert!(md.contains("a\\*b\\_c"), "{md}");
        assert!(!md.contains("@everyone"));
        assert!(md.contains("<@123456789012345678>"));
        assert!(md.contains("Jo\\_nas"));
    }

    #[test]
    fn long_lines_are_stored_not_cut() {
        let line = format!("search {}", "x".repeat(200));
        let reply = Reply::new().actions(vec![Element::Button {
            label: "More".into(),
            action: Action::run(line.clone()),
            style: ButtonStyle::Primary,
        }]);
        let r = message(&reply, None);
        let id = r.body["components"][0]["components"][0]["custom_id"]
            .as_str()
            .unwrap();
        assert!(id.starts_with("r:0:v:"));
        assert_eq!(r.long_values[0].1, line);
    }
}
