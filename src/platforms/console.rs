//! The console: usher in a terminal. One command per line on stdin, the
//! reply as readable text on stdout. Buttons and selects become numbered
//! choices — type the number to pick one. Colour only on a terminal; a
//! prompt only when stdin is one; logs never mix into stdout.

use std::io::Write;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::catalog::store;
use crate::chat::{Action, Actor, Block, Element, Person, Platform, Reply, Request, Span, Text};
use crate::commands::{self, Core};

/// How to draw.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn render_text(text: &Text, style: Style) -> String {
    text.spans
        .iter()
        .map(|span| match span {
            Span::Plain { text } => text.clone(),
            Span::Bold { text } => style.wrap("1", text),
            Span::Italic { text } => style.wrap("3", text),
            Span::Code { text } => {
                if style.color {
                    style.wrap("36", text)
                } else {
                    format!("`{text}`")
                }
            }
            Span::Pre { text } => text.clone(),
            Span::Link { label, url }
                if label == url || url.strip_prefix("mailto:") == Some(label) =>
            {
                style.wrap("4", label)
            }
            Span::Link { label, url } => format!("{label} <{}>", style.wrap("4", url)),
            Span::Person { name, .. } => style.wrap("1", name),
            Span::Channel { name, .. } => format!("#{name}"),
        })
        .collect()
}

/// A reply as terminal text, and the actions its numbers stand for.
pub fn render(reply: &Reply, style: Style) -> (String, Vec<Action>) {
    let mut out: Vec<String> = Vec::new();
    let mut actions: Vec<Action> = Vec::new();
    for block in &reply.blocks {
        match block {
            Block::Header { text } => out.push(style.wrap("1;4", text)),
            Block::Section { text } => out.push(render_text(text, style)),
            Block::Fields { fields } => {
                let width = fields
                    .iter()
                    .map(|f| f.label.chars().count())
                    .max()
                    .unwrap_or(0);
                for f in fields {
                    let pad = " ".repeat(width - f.label.chars().count());
                    out.push(format!(
                        "  {}:{pad} {}",
                        f.label,
                        render_text(&f.value, style)
                    ));
                }
            }
            Block::Actions { elements } => {
                for e in elements {
                    match e {
                        Element::Link { label, url } => {
                            out.push(format!("  → {label}: {}", style.wrap("4", url)))
                        }
                        Element::Button { label, action, .. } => {
                            actions.push(action.clone());
                            out.push(format!("  [{}] {label}", actions.len()));
                        }
                        Element::Select {
                            placeholder,
                            options,
                        } => {
                            out.push(format!("  {placeholder}:"));
                            for o in options {
                                actions.push(o.action.clone());
                                let desc = o
                                    .description
                                    .as_deref()
                                    .map(|d| format!(" — {d}"))
                                    .unwrap_or_default();
                                out.push(format!("  [{}] {}{desc}", actions.len(), o.label));
                            }
                        }
                        Element::Typeahead {
                            placeholder,
                            command,
                        } => out.push(format!("  {placeholder}: type `{command} NAME`")),
                    }
                }
            }
            Block::Context { text } | Block::Hint { text } => {
                out.push(style.wrap("2", &render_text(text, style)))
            }
            Block::Divider => out.push(style.wrap("2", "────────")),
        }
    }
    if !actions.is_empty() {
        out.push(style.wrap("2", "(type a number to choose)"));
    }
    (out.join("\n"), actions)
}

/// Who the console acts as: `--as PERSON`, else the catalog person whose
/// name or email matches the OS user, else an anonymous guest. `Err` when
/// `--as` names nobody.
pub async fn resolve_actor(core: &Core, as_person: Option<&str>) -> Result<Actor, String> {
    let os_user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "guest".to_string());
    let wanted = as_person
        .map(str::to_string)
        .unwrap_or_else(|| os_user.clone());
    let found = store::find_person(&core.pool, &wanted)
        .await
        .map_err(|e| format!("cannot look up '{wanted}': {e}"))?;
    match (found, as_person) {
        (Some(row), _) => Ok(Actor {
            person: Some(Person {
                key: row.key.clone(),
                display: row.label(),
                email: row.email.clone(),
            }),
            platform_user: os_user,
            display: row.label(),
            external: false,
            unresolved: false,
        }),
        (None, Some(name)) => Err(format!(
            "--as {name}: there's no person with that name, email or reference in the catalog (try an email, or user:namespace/name)"
        )),
        (None, None) => Ok(Actor::guest(&os_user)),
    }
}

/// While a dialogue waits for an answer, a line is the answer — unless it
/// starts with `/`, which runs it as a command.
fn starts_with_command(line: &str) -> bool {
    line.starts_with('/')
}

/// Reads commands until the input ends; writes replies to `out`.
pub async fn run<R, W>(
    core: &Core,
    actor: Actor,
    input: R,
    out: &mut W,
    interactive: bool,
    style: Style,
) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: Write,
{
    let mut lines = input.lines();
    let mut choices: Vec<Action> = Vec::new();
    let mut expects: Option<Action> = None;
    if interactive {
        let who = match &actor.person {
            Some(p) => format!("as {}", p.display),
            None => "as a guest (use --as PERSON to act as someone in the catalog)".to_string(),
        };
        writeln!(out, "usher console {who}. Type `help`, or Ctrl-D to leave.")?;
    }
    loop {
        if interactive {
            write!(out, "{}", style.wrap("1", "usher> "))?;
            out.flush()?;
        }
        let Some(line) = lines.next_line().await? else {
            break;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if interactive && matches!(line, "quit" | "exit") {
            break;
        }
        let command = match (line.parse::<usize>(), &expects) {
            (Ok(n), _) if n >= 1 && n <= choices.len() => choices[n - 1].command.clone(),
            // A dialogue waits for an answer: the line is it (unless it's a
            // command of its own).
            (_, Some(expected)) if !starts_with_command(line) => {
                format!("{} {line}", expected.command)
            }
            (Ok(_), None) if !choices.is_empty() => {
                writeln!(out, "Choose a number from 1 to {}.", choices.len())?;
                continue;
            }
            _ => line.to_string(),
        };
        let request = Request {
            actor: actor.clone(),
            platform: Platform::Console,
            workspace: None,
            channel: None,
            text: command,
        };
        let reply = commands::handle(core, &request).await;
        let (text, actions) = render(&reply, style);
        writeln!(out, "{text}")?;
        if !interactive {
            writeln!(out)?;
        }
        choices = actions;
        expects = reply.expects.clone();
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ButtonStyle, Field, SelectOption};

    #[test]
    fn buttons_and_selects_are_numbered() {
        let reply = Reply::new()
            .header("Title")
            .section(Text::plain("Hello ").add_bold("world"))
            .fields(vec![Field {
                label: "Email".into(),
                value: Text::plain("a@b"),
            }])
            .actions(vec![
                Element::Link {
                    label: "Docs".into(),
                    url: "https://docs".into(),
                },
                Element::Button {
                    label: "Again".into(),
                    action: Action::run("owner a"),
                    style: ButtonStyle::Default,
                },
                Element::Select {
                    placeholder: "Pick".into(),
                    options: vec![SelectOption {
                        label: "b".into(),
                        description: Some("team b".into()),
                        action: Action::run("owner b"),
                    }],
                },
            ]);
        let (text, actions) = render(&reply, Style { color: false });
        assert_eq!(
            text,
            "Title\nHello world\n  Email: a@b\n  → Docs: https://docs\n  [1] Again\n  Pick:\n  [2] b — team b\n(type a number to choose)"
        );
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[1].command, "owner b");
    }
}
