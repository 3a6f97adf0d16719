//! The platform-neutral reply: what every command returns and every
//! platform adapter renders (Block Kit, Discord embeds, terminal text).
//!
//! Buttons and selects carry an [`Action`]: a command line the core runs
//! again, as the person who clicked, when they click. Nothing about who may
//! do what is trusted from the button; permissions are checked on the run.

use serde::{Deserialize, Serialize};

/// Who sees the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Only the person who asked (the default: answers don't spam channels).
    #[default]
    Ephemeral,
    /// Everyone in the channel.
    Public,
}

/// A piece of formatted text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Span {
    Plain {
        text: String,
    },
    Bold {
        text: String,
    },
    Italic {
        text: String,
    },
    Code {
        text: String,
    },
    /// Preformatted lines (a tree, a chart): monospace, kept as they are.
    Pre {
        text: String,
    },
    Link {
        label: String,
        url: String,
    },
    /// A person, mentioned natively where the platform id is known.
    Person {
        name: String,
        slack_id: Option<String>,
        discord_id: Option<String>,
    },
    /// A channel, linked natively where the platform id is known.
    Channel {
        name: String,
        slack_id: Option<String>,
        discord_id: Option<String>,
    },
}

/// Formatted text: a sequence of spans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Text {
    pub spans: Vec<Span>,
}

impl Text {
    pub fn new() -> Self {
        Text::default()
    }

    pub fn plain(text: impl Into<String>) -> Self {
        Text::new().add_plain(text)
    }

    pub fn add_plain(mut self, text: impl Into<String>) -> Self {
        self.spans.push(Span::Plain { text: text.into() });
        self
    }

    pub fn add_bold(mut self, text: impl Into<String>) -> Self {
        self.spans.push(Span::Bold { text: text.into() });
        self
    }

    pub fn add_italic(mut self, text: impl Into<String>) -> Self {
        self.spans.push(Span::Italic { text: text.into() });
        self
    }

    pub fn add_code(mut self, text: impl Into<String>) -> Self {
        self.spans.push(Span::Code { text: text.into() });
        self
    }

    pub fn add_pre(mut self, text: impl Into<String>) -> Self {
        self.spans.push(Span::Pre { text: text.into() });
        self
    }

    pub fn add_link(mut self, label: impl Into<String>, url: impl Into<String>) -> Self {
        self.spans.push(Span::Link {
            label: label.into(),
            url: url.into(),
        });
        self
    }

    pub fn add_span(mut self, span: Span) -> Self {
        self.spans.push(span);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The text without formatting (fallbacks, logs, tests).
    pub fn to_plain(&self) -> String {
        self.spans
            .iter()
            .map(|s| match s {
                Span::Plain { text }
                | Span::Bold { text }
                | Span::Italic { text }
                | Span::Code { text }
                | Span::Pre { text } => text.clone(),
                Span::Link { label, url } if label == url => url.clone(),
                Span::Link { label, url } => format!("{label} ({url})"),
                Span::Person { name, .. } => name.clone(),
                Span::Channel { name, .. } => format!("#{}", name.trim_start_matches('#')),
            })
            .collect()
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Text::plain(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Text::plain(text)
    }
}

/// What pressing a button or picking an option does: run a command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub command: String,
}

impl Action {
    pub fn run(command: impl Into<String>) -> Self {
        Action {
            command: command.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ButtonStyle {
    #[default]
    Default,
    Primary,
    Danger,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectOption {
    pub label: String,
    pub description: Option<String>,
    pub action: Action,
}

/// An interactive element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Element {
    /// Opens a URL.
    Link { label: String, url: String },
    /// Runs an action.
    Button {
        label: String,
        action: Action,
        style: ButtonStyle,
    },
    /// A choice among options, each running its own action.
    Select {
        placeholder: String,
        options: Vec<SelectOption>,
    },
    /// Pick a catalog entity by typing part of its name (a typeahead
    /// where the platform has one); runs `command <name>`.
    Typeahead {
        placeholder: String,
        command: String,
    },
}

/// A reply that is one step of a guided dialogue. Platforms with forms
/// (Slack's modals) draw the whole dialogue as one form, step by step;
/// the others show the reply as a message, as usual.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Form {
    /// The dialogue's id: every step of one dialogue is the same form.
    pub id: String,
    /// A short title (Slack allows 24 characters).
    pub title: String,
    /// The step takes typed text: the field's label and what it holds now.
    pub text_input: Option<TextInput>,
    /// What was wrong with the last answer, to show on the field.
    pub error: Option<String>,
    /// The dialogue has ended (done or cancelled): nothing to submit.
    pub finished: bool,
    /// Several named fields answered at once (instead of `text_input`): the
    /// answers given are added to the expected command as `--name value`
    /// (see [`filled_line`]), so a form is just another way to type it.
    #[serde(default)]
    pub fields: Vec<FormField>,
    /// With `fields`: the command the answers are added to. (Kept here, not
    /// in the reply's `expects`, so the console — which has no forms — isn't
    /// left waiting for typed text; it uses the reply's buttons instead.)
    #[serde(default)]
    pub submit: Option<String>,
    /// Which of `fields` the `error` is about.
    #[serde(default)]
    pub error_field: Option<String>,
}

/// One field of a several-field form; all are optional (an empty answer
/// leaves the option out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    /// The command's option the answer goes to.
    pub name: String,
    pub label: String,
    /// A closed set of answers (a select where the platform has one).
    #[serde(default)]
    pub choices: Vec<String>,
    /// What was typed last time (kept when the form comes back with an error).
    #[serde(default)]
    pub initial: Option<String>,
}

/// `command` with each non-empty answer added as `--name value`, quoted so
/// that any text (spaces, quotes) comes back as typed.
pub fn filled_line(command: &str, answers: &[(String, String)]) -> String {
    let mut line = command.to_string();
    for (name, value) in answers {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        // Double quotes group; a double quote inside is closed, given in
        // single quotes, and reopened — adjacent quoted parts join up.
        line.push_str(&format!(" --{name} \"{}\"", value.replace('"', "\"'\"'\"")));
    }
    line
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextInput {
    pub label: String,
    pub initial: Option<String>,
}

/// A labelled value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub label: String,
    pub value: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Header {
        text: String,
    },
    Section {
        text: Text,
    },
    Fields {
        fields: Vec<Field>,
    },
    Actions {
        elements: Vec<Element>,
    },
    Context {
        text: Text,
    },
    /// How to answer by typing (a dialogue's "type the answer, back or
    /// cancel"): platforms that draw the answer as fields and buttons, such
    /// as Slack's modals, leave it out.
    Hint {
        text: Text,
    },
    Divider,
}

/// A reply to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Reply {
    pub blocks: Vec<Block>,
    pub visibility: Visibility,
    /// A free-text answer is expected: typed text runs this command line
    /// with the text appended (a dialogue's text step; a platform may draw
    /// a text input or a modal for it).
    #[serde(default)]
    pub expects: Option<Action>,
    /// The reply is a step of a guided dialogue (see [`Form`]).
    #[serde(default)]
    pub form: Option<Form>,
}

impl Reply {
    pub fn new() -> Self {
        Reply::default()
    }

    /// A reply of one paragraph.
    pub fn text(text: impl Into<Text>) -> Self {
        Reply::new().section(text)
    }

    pub fn header(mut self, text: impl Into<String>) -> Self {
        self.blocks.push(Block::Header { text: text.into() });
        self
    }

    pub fn section(mut self, text: impl Into<Text>) -> Self {
        self.blocks.push(Block::Section { text: text.into() });
        self
    }

    pub fn fields(mut self, fields: Vec<Field>) -> Self {
        if !fields.is_empty() {
            self.blocks.push(Block::Fields { fields });
        }
        self
    }

    pub fn actions(mut self, elements: Vec<Element>) -> Self {
        if !elements.is_empty() {
            self.blocks.push(Block::Actions { elements });
        }
        self
    }

    pub fn context(mut self, text: impl Into<Text>) -> Self {
        self.blocks.push(Block::Context { text: text.into() });
        self
    }

    pub fn hint(mut self, text: impl Into<Text>) -> Self {
        self.blocks.push(Block::Hint { text: text.into() });
        self
    }

    pub fn divider(mut self) -> Self {
        self.blocks.push(Block::Divider);
        self
    }

    /// Expects a free-text answer, run as `command <text>`.
    pub fn expect_text(mut self, command: impl Into<String>) -> Self {
        self.expects = Some(Action::run(command));
        self
    }

    pub fn public(mut self) -> Self {
        self.visibility = Visibility::Public;
        self
    }

    /// The reply as plain text: notification fallbacks, logs and tests.
    pub fn to_plain(&self) -> String {
        let mut out = Vec::new();
        for block in &self.blocks {
            match block {
                Block::Header { text } => out.push(text.clone()),
                Block::Section { text } | Block::Context { text } | Block::Hint { text } => {
                    out.push(text.to_plain())
                }
                Block::Fields { fields } => {
                    for f in fields {
                        out.push(format!("{}: {}", f.label, f.value.to_plain()));
                    }
                }
                Block::Actions { elements } => {
                    for e in elements {
                        match e {
                            Element::Link { label, url } => out.push(format!("[{label}] {url}")),
                            Element::Button { label, action, .. } => {
                                out.push(format!("[{label}] → {}", action.command))
                            }
                            Element::Select {
                                placeholder,
                                options,
                            } => {
                                out.push(format!("{placeholder}:"));
                                for o in options {
                                    out.push(format!("  - {} → {}", o.label, o.action.command));
                                }
                            }
                            Element::Typeahead {
                                placeholder,
                                command,
                            } => out.push(format!("{placeholder}: {command} NAME")),
                        }
                    }
                }
                Block::Divider => out.push("---".to_string()),
            }
        }
        out.join("\n")
    }

    /// The reply without people's contact details: mentions become
    /// "someone", email links and addresses are dropped. For viewers from
    /// other organisations (Slack Connect), unless configured otherwise.
    pub fn without_people(mut self) -> Reply {
        for block in &mut self.blocks {
            match block {
                Block::Section { text } | Block::Context { text } | Block::Hint { text } => {
                    redact(text)
                }
                Block::Fields { fields } => {
                    for f in fields.iter_mut() {
                        redact(&mut f.value);
                    }
                    fields.retain(|f| !f.value.is_empty());
                }
                Block::Actions { elements } => elements.retain(
                    |e| !matches!(e, Element::Link { url, .. } if url.starts_with("mailto:")),
                ),
                Block::Header { .. } | Block::Divider => {}
            }
        }
        self.blocks.retain(|b| match b {
            Block::Actions { elements } => !elements.is_empty(),
            Block::Fields { fields } => !fields.is_empty(),
            _ => true,
        });
        self.blocks.push(Block::Context {
            text: Text::plain(
                "People's names and contacts are hidden for guests from other organisations.",
            ),
        });
        self
    }

    /// Every action the reply offers, in order (what the console numbers).
    pub fn choices(&self) -> Vec<(String, Action)> {
        let mut out = Vec::new();
        for block in &self.blocks {
            if let Block::Actions { elements } = block {
                for e in elements {
                    match e {
                        Element::Button { label, action, .. } => {
                            out.push((label.clone(), action.clone()))
                        }
                        Element::Select { options, .. } => {
                            out.extend(options.iter().map(|o| (o.label.clone(), o.action.clone())))
                        }
                        Element::Link { .. } | Element::Typeahead { .. } => {}
                    }
                }
            }
        }
        out
    }
}

/// Drops people and email addresses from text (see [`Reply::without_people`]).
fn redact(text: &mut Text) {
    let mut out = Vec::with_capacity(text.spans.len());
    for span in text.spans.drain(..) {
        match span {
            Span::Person { .. } => out.push(Span::Italic {
                text: "someone (hidden)".into(),
            }),
            Span::Link { url, .. } if url.starts_with("mailto:") => out.push(Span::Italic {
                text: "email hidden".into(),
            }),
            Span::Plain { text } if text.contains('@') => out.push(Span::Plain {
                text: text
                    .split(' ')
                    .map(|w| {
                        if looks_like_email(w) {
                            "(email hidden)"
                        } else {
                            w
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            }),
            other => out.push(other),
        }
    }
    text.spans = out;
}

fn looks_like_email(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    match word.split_once('@') {
        Some((user, host)) => !user.is_empty() && host.contains('.'),
        None => false,
    }
}
