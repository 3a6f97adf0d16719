//! The platform-neutral reply as Block Kit, within Block Kit's limits.
//!
//! Slack refuses a whole message when one limit is broken, so every limit
//! is kept here by cutting and saying so ("… and 12 more lines"), never by
//! failing: 50 blocks in a message and 100 in a modal, 3000 characters in
//! a text, 10 fields in a section, 25 elements in an actions block, 100
//! options in a select, 75 characters in an option, 150 in an option's
//! value and 2000 in a button's. User text is escaped (`&`, `<`, `>`) so a
//! name can't become a mention or a link.
//!
//! Buttons and selects carry the command line they run as their value; a
//! line too long for the value is stored in Postgres and the value is its
//! hash (see [`crate::platforms::values`]).

use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;

use crate::chat::{
    Block, ButtonStyle, Element, Field, Form, FormField, Reply, Span, Text, Visibility,
};
use crate::platforms::values;

mod modal;
mod text;

pub use modal::{FormState, field_id, modal, waiting_modal};
pub use text::{escape, fit, mrkdwn, plain};

pub const MAX_MESSAGE_BLOCKS: usize = 50;
pub const MAX_MODAL_BLOCKS: usize = 100;
pub const MAX_TEXT: usize = 3000;
pub const MAX_FIELD_TEXT: usize = 2000;
pub const MAX_FIELDS: usize = 10;
pub const MAX_ACTION_ELEMENTS: usize = 25;
pub const MAX_OPTIONS: usize = 100;
pub const MAX_OPTION_TEXT: usize = 75;
pub const MAX_OPTION_VALUE: usize = 150;
pub const MAX_BUTTON_VALUE: usize = 2000;
pub const MAX_BUTTON_TEXT: usize = 75;
pub const MAX_HEADER: usize = 150;
pub const MAX_MODAL_TITLE: usize = 24;

/// The action id prefixes usher's elements carry.
pub const RUN: &str = "run";
pub const LINK: &str = "link";
pub const SHARE: &str = "share";
pub const TYPEAHEAD: &str = "typeahead";
pub const NOOP: &str = "noop";
/// The block and action id of a modal's text field.
pub const ANSWER: &str = "answer";
/// The prefix of a several-field form's block and action ids (`f:tier`).
pub const FIELD: &str = "f:";
/// The callback id of usher's modals.
pub const FORM_CALLBACK: &str = "usher_form";

/// A message's blocks, its notification text, and the long command lines
/// to store before sending.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub blocks: Vec<SlackBlock>,
    pub text: String,
    pub long_values: Vec<(String, String)>,
}

impl Rendered {
    pub fn content(&self) -> SlackMessageContent {
        SlackMessageContent::new()
            .with_text(self.text.clone())
            .with_blocks(self.blocks.clone())
    }
}

/// Renders a reply as a message. `share` is the command line a "Share in
/// channel" button reruns publicly (offered on ephemeral answers).
pub fn message(reply: &Reply, share: Option<&str>) -> Rendered {
    let mut out = Builder::default();
    out.blocks(reply, false);
    if let Some(command) = share.filter(|_| reply.visibility == Visibility::Ephemeral) {
        let value = out.value(command, MAX_BUTTON_VALUE);
        let button = SlackBlockButtonElement::new("Share in channel".into())
            .with_action_id(SHARE.into())
            .with_value(value);
        out.push_element(button.into());
    }
    let blocks = cap(out.finish(), MAX_MESSAGE_BLOCKS);
    Rendered {
        blocks,
        text: fallback(reply),
        long_values: out.long_values,
    }
}

/// A plain message body (errors, refusals, "still looking…").
pub fn notice(text: &str) -> Rendered {
    message(&Reply::text(text.to_string()), None)
}

#[derive(Default)]
struct Builder {
    blocks: Vec<SlackBlock>,
    long_values: Vec<(String, String)>,
    element_counter: usize,
}

impl Builder {
    fn blocks(&mut self, reply: &Reply, in_modal: bool) {
        for block in &reply.blocks {
            match block {
                Block::Header { text } => self
                    .blocks
                    .push(SlackHeaderBlock::new(plain(text, MAX_HEADER).into()).into()),
                Block::Section { text } => {
                    let text = mrkdwn(text);
                    if !text.trim().is_empty() {
                        self.blocks.push(
                            SlackSectionBlock::new()
                                .with_text(md(&fit(text, MAX_TEXT)))
                                .into(),
                        );
                    }
                }
                Block::Fields { fields } => self.fields(fields),
                Block::Actions { elements } => {
                    for element in elements {
                        let rendered = self.element(element);
                        self.push_element(rendered);
                    }
                }
                Block::Context { text } => self.context(text),
                Block::Hint { text } if !in_modal => self.context(text),
                Block::Hint { .. } => {}
                Block::Divider => self.blocks.push(SlackDividerBlock::new().into()),
            }
        }
    }

    fn context(&mut self, text: &Text) {
        let text = mrkdwn(text);
        if !text.trim().is_empty() {
            self.blocks.push(
                SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
                    SlackBlockMarkDownText::new(fit(text, MAX_TEXT)),
                )])
                .into(),
            );
        }
    }

    fn fields(&mut self, fields: &[Field]) {
        for chunk in fields.chunks(MAX_FIELDS) {
            let texts: Vec<SlackBlockText> = chunk
                .iter()
                .map(|f| {
                    md(&fit(
                        format!("*{}*\n{}", escape(&f.label), mrkdwn(&f.value)),
                        MAX_FIELD_TEXT,
                    ))
                })
                .collect();
            self.blocks
                .push(SlackSectionBlock::new().with_fields(texts).into());
        }
    }

    /// Adds an element to the last actions block, or starts one.
    fn push_element(&mut self, element: SlackActionBlockElement) {
        if let Some(SlackBlock::Actions(last)) = self.blocks.last_mut()
            && last.elements.len() < MAX_ACTION_ELEMENTS
        {
            last.elements.push(element);
            return;
        }
        self.blocks
            .push(SlackActionsBlock::new(vec![element]).into());
    }

    fn next_id(&mut self, prefix: &str) -> SlackActionId {
        self.element_counter += 1;
        format!("{prefix}:{}", self.element_counter).into()
    }

    fn value(&mut self, command: &str, limit: usize) -> String {
        let (value, long) = values::encode(command, limit);
        if let Some(long) = long {
            self.long_values.push(long);
        }
        value
    }

    fn element(&mut self, element: &Element) -> SlackActionBlockElement {
        match element {
            Element::Link { label, url } => {
                let id = self.next_id(LINK);
                let mut button = SlackBlockButtonElement::new(plain(label, MAX_BUTTON_TEXT).into())
                    .with_action_id(id);
                if let Ok(url) = url.parse() {
                    button = button.with_url(url);
                }
                button.into()
            }
            Element::Button {
                label,
                action,
                style,
            } => {
                let id = self.next_id(RUN);
                let value = self.value(&action.command, MAX_BUTTON_VALUE);
                let mut button = SlackBlockButtonElement::new(plain(label, MAX_BUTTON_TEXT).into())
                    .with_action_id(id)
                    .with_value(value);
                match style {
                    ButtonStyle::Primary => {
                        button = button.with_style(SlackBlockButtonStyle::Primary)
                    }
                    ButtonStyle::Danger => {
                        button = button.with_style(SlackBlockButtonStyle::Danger)
                    }
                    ButtonStyle::Default => {}
                }
                button.into()
            }
            Element::Select {
                placeholder,
                options,
            } => {
                let id = self.next_id(RUN);
                let shown = if options.len() > MAX_OPTIONS {
                    MAX_OPTIONS - 1
                } else {
                    options.len()
                };
                let mut items: Vec<SlackBlockChoiceItem<SlackBlockPlainTextOnly>> = options
                    [..shown]
                    .iter()
                    .map(|o| {
                        let value = self.value(&o.action.command, MAX_OPTION_VALUE);
                        let mut item = SlackBlockChoiceItem::new(
                            plain(&o.label, MAX_OPTION_TEXT).into(),
                            value,
                        );
                        if let Some(d) = o.description.as_deref().filter(|d| !d.is_empty()) {
                            item = item.with_description(plain(d, MAX_OPTION_TEXT).into());
                        }
                        item
                    })
                    .collect();
                if options.len() > shown {
                    items.push(SlackBlockChoiceItem::new(
                        plain(
                            &format!("… and {} more (narrow it down)", options.len() - shown),
                            MAX_OPTION_TEXT,
                        )
                        .into(),
                        NOOP.to_string(),
                    ));
                }
                SlackBlockStaticSelectElement::new()
                    .with_action_id(id)
                    .with_placeholder(plain(placeholder, 150).into())
                    .with_options(items)
                    .into()
            }
            Element::Typeahead {
                placeholder,
                command,
            } => SlackBlockExternalSelectElement::new()
                .with_action_id(format!("{TYPEAHEAD}:{}", plain(command, 200)).into())
                .with_placeholder(plain(placeholder, 150).into())
                .with_min_query_length(1)
                .into(),
        }
    }

    fn finish(&mut self) -> Vec<SlackBlock> {
        std::mem::take(&mut self.blocks)
    }
}

/// Keeps at most `max` blocks, the last saying how many were left out.
fn cap(mut blocks: Vec<SlackBlock>, max: usize) -> Vec<SlackBlock> {
    if blocks.len() <= max {
        return blocks;
    }
    let left_out = blocks.len() - (max - 1);
    blocks.truncate(max - 1);
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(format!(
                "… and {left_out} more not shown. Ask a narrower question to see them."
            )),
        )])
        .into(),
    );
    blocks
}

fn md(text: &str) -> SlackBlockText {
    SlackBlockMarkDownText::new(text.to_string()).into()
}

/// The notification text of a message (what a phone shows).
fn fallback(reply: &Reply) -> String {
    let text = reply.to_plain();
    let first: String = text.lines().take(3).collect::<Vec<_>>().join(" — ");
    plain(&first, 300)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Action, SelectOption};

    #[test]
    fn user_text_is_escaped_and_people_are_mentions() {
        let text = Text::plain("a <b> & c ")
            .add_bold(" bold ")
            .add_span(Span::Person {
                name: "Mei".into(),
                slack_id: Some("U123".into()),
                discord_id: None,
            })
            .add_span(Span::Person {
                name: "<!channel>".into(),
                slack_id: Some("U1>|x".into()),
                discord_id: None,
            })
            .add_link("docs", "https://x.example/a|b");
        assert_eq!(
            mrkdwn(&text),
            "a &lt;b&gt; &amp; c  *bold* <@U123>*&lt;!channel&gt;*<https://x.example/a%7Cb|docs>"
        );
    }

    #[test]
    fn long_text_is_cut_at_a_line_and_says_so() {
        let long: String = (0..500).map(|i| format!("line {i}\n")).collect();
        let out = fit(format!("```{long}```"), MAX_TEXT);
        assert!(out.chars().count() <= MAX_TEXT);
        assert!(
            out.contains("``` \n… and") || out.contains("```\n… and"),
            "{}",
            &out[out.len() - 40..]
        );
        assert!(out.ends_with("more lines"));
    }

    #[test]
    fn limits_are_kept_by_cutting() {
        let options: Vec<SelectOption> = (0..150)
            .map(|i| SelectOption {
                label: format!("{i} {}", "x".repeat(100)),
                description: None,
                action: Action::run(format!("owner s{i}")),
            })
            .collect();
        let mut reply = Reply::new().actions(vec![Element::Select {
            placeholder: "Pick".into(),
            options,
        }]);
        for i in 0..80 {
            reply = reply.section(Text::plain(format!("section {i}")));
        }
        let fields: Vec<Field> = (0..23)
            .map(|i| Field {
                label: format!("f{i}"),
                value: Text::plain("v"),
            })
            .collect();
        reply = Reply {
            blocks: [Reply::new().fields(fields).blocks, reply.blocks].concat(),
            ..reply
        };
        let rendered = message(&reply, Some("owner x"));
        let json = serde_json::to_value(&rendered.blocks).unwrap();
        let blocks = json.as_array().unwrap();
        assert_eq!(blocks.len(), MAX_MESSAGE_BLOCKS);
        // 23 fields → 3 sections of at most 10.
        assert_eq!(blocks[0]["fields"].as_array().unwrap().len(), 10);
        assert_eq!(blocks[2]["fields"].as_array().unwrap().len(), 3);
        let select = &blocks[3]["elements"][0];
        let opts = select["options"].as_array().unwrap();
        assert_eq!(opts.len(), MAX_OPTIONS);
        assert!(
            opts[99]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("51 more")
        );
        assert!(opts[0]["text"]["text"].as_str().unwrap().chars().count() <= MAX_OPTION_TEXT);
        assert!(
            blocks[49]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains("more not shown")
        );
    }

    #[test]
    fn long_command_lines_become_stored_values() {
        let command = format!("dialog answer 1 purpose {}", "x".repeat(300));
        let reply = Reply::new().actions(vec![Element::Select {
            placeholder: "Pick".into(),
            options: vec![SelectOption {
                label: "long".into(),
                description: None,
                action: Action::run(command.clone()),
            }],
        }]);
        let rendered = message(&reply, None);
        assert_eq!(rendered.long_values.len(), 1);
        assert_eq!(rendered.long_values[0].1, command);
        let json = serde_json::to_value(&rendered.blocks).unwrap();
        let value = json[0]["elements"][0]["options"][0]["value"]
            .as_str()
            .unwrap();
        assert!(value.starts_with("v:") && value.len() <= MAX_OPTION_VALUE);
    }
}
