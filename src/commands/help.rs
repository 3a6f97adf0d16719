//! `help [command]`, generated from the definitions in `commands/`.

use crate::chat::{Action, Element, Field, Reply, Text};

use super::definitions::{self, OptionType, usage};
use super::parse::Args;

pub const OPTIONS: &[&str] = &["command"];

/// `help`, registered with the router (see [`crate::commands::registry`]).
pub const COMMAND: crate::commands::registry::Registered =
    crate::commands::registry::register!("help", OPTIONS, Kept, |_, _, parsed| Box::pin(
        async move { Ok(run(&parsed.args)) }
    ));

pub fn run(args: &Args) -> Reply {
    match args.text("command") {
        Some(word) => command_help(word),
        None => overview(),
    }
}

fn overview() -> Reply {
    let mut lines = Vec::new();
    for def in definitions::all().iter().filter(|d| !d.hidden) {
        lines.push(format!(
            "`{}` — {}",
            usage(&def.name, &def.options),
            def.summary
        ));
        for sub in &def.subcommands {
            lines.push(format!(
                "`{}` — {}",
                usage(&format!("{} {}", def.name, sub.name), &sub.options),
                sub.summary
            ));
        }
    }
    let mut buttons: Vec<Element> = vec![Element::Typeahead {
        placeholder: "Who owns…? Type a service".into(),
        command: "owner".into(),
    }];
    buttons.extend(
        definitions::all()
            .iter()
            .filter(|d| d.name != "help" && !d.hidden)
            .take(4)
            .map(|d| Element::Button {
                label: format!("help {}", d.name),
                action: Action::run(format!("help {}", d.name)),
                style: Default::default(),
            }),
    );
    Reply::new()
        .header("What usher can do")
        .section(Text::plain(lines.join("\n")))
        .actions(buttons)
        .context(Text::plain(
            "Type `help <command>` for the details of one command.",
        ))
}

fn command_help(word: &str) -> Reply {
    let word = word.trim().trim_start_matches('/');
    let Some(def) = definitions::find(word) else {
        let names: Vec<String> = definitions::all().iter().map(|d| d.name.clone()).collect();
        return Reply::text(format!(
            "There's no command called `{}`. The commands are: {}.",
            word.chars().take(40).collect::<String>(),
            names.join(", ")
        ));
    };
    let mut reply = Reply::new()
        .header(format!("{} — {}", def.name, def.summary))
        .section(Text::plain("Usage: ").add_code(usage(&def.name, &def.options)))
        .section(Text::plain(def.help.trim()));
    let mut fields: Vec<Field> = def
        .options
        .iter()
        .map(|o| Field {
            label: o.name.clone(),
            value: Text::plain(option_text(o)),
        })
        .collect();
    if !def.aliases.is_empty() {
        fields.push(Field {
            label: "Also".to_string(),
            value: Text::plain(def.aliases.join(", ")),
        });
    }
    reply = reply.fields(fields);
    for sub in &def.subcommands {
        reply = reply.section(
            Text::new()
                .add_code(usage(&format!("{} {}", def.name, sub.name), &sub.options))
                .add_plain(format!(" — {}", sub.summary)),
        );
    }
    if !def.examples.is_empty() {
        reply = reply.context(Text::plain(format!(
            "Examples: {}",
            def.examples.join(" · ")
        )));
    }
    reply
}

fn option_text(o: &definitions::OptionDef) -> String {
    let mut text = o.description.clone();
    if o.kind == OptionType::Choice {
        text.push_str(&format!(" (one of {})", o.choices.join(", ")));
    }
    if !o.required {
        text.push_str(" — optional");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::parse::ArgValue;

    #[test]
    fn overview_lists_every_command() {
        let text = overview().to_plain();
        for def in definitions::all() {
            assert_eq!(text.contains(&def.summary), !def.hidden, "{}", def.name);
        }
    }

    #[test]
    fn help_for_one_command() {
        let mut args = Args::default();
        args.insert("command", ArgValue::Text("whoowns".into()));
        let text = run(&args).to_plain();
        assert!(text.contains("Usage: owner <service>"), "{text}");
        assert!(text.contains("who, whoowns"), "{text}");
        args.insert("command", ArgValue::Text("nope".into()));
        assert!(
            run(&args)
                .to_plain()
                .contains("There's no command called `nope`")
        );
    }
}
