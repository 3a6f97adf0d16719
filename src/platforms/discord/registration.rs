//! Discord's application commands, generated from `commands/`: one root
//! command (`/usher`) with a subcommand per command — a command's own
//! subcommands become `<command>-<sub>` (`/usher service-new`), since
//! Discord can't give a subcommand group options of its own — plus the
//! commands' own slash aliases (`/whoowns`, `/oncall`). Options keep their
//! names from `commands/`; names that complete (services, teams, people)
//! get autocomplete. `deploy/discord/commands.json` is this output (a test
//! keeps them equal); `usher commands register-discord` puts it in place
//! with one bulk overwrite, so registering twice changes nothing.

use serde_json::{Value, json};

use crate::commands::definitions::{self, CommandDef, OptionDef, OptionType};

/// Discord's option types.
const SUB_COMMAND: u8 = 1;
const STRING: u8 = 3;
const INTEGER: u8 = 4;
const BOOLEAN: u8 = 5;

/// The Discord name of a command's subcommand.
pub fn sub_name(command: &str, sub: &str) -> String {
    format!("{command}-{sub}")
}

fn cut(text: &str, max: usize) -> String {
    super::render::cut(text, max)
}

fn option(def: &OptionDef) -> Value {
    let kind = match def.kind {
        OptionType::String | OptionType::Choice => STRING,
        OptionType::Integer => INTEGER,
        OptionType::Boolean => BOOLEAN,
    };
    let mut o = json!({
        "type": kind,
        "name": def.name,
        "description": cut(&def.description, 100),
        "required": def.required,
    });
    if def.kind == OptionType::Choice {
        o["choices"] = def
            .choices
            .iter()
            .take(25)
            .map(|c| json!({ "name": c, "value": c }))
            .collect();
    } else if def.complete.is_some() && def.kind == OptionType::String {
        o["autocomplete"] = json!(true);
    }
    if let Some(min) = def.min {
        o["min_value"] = json!(min);
    }
    if let Some(max) = def.max {
        o["max_value"] = json!(max);
    }
    o
}

/// Options with the required ones first, as Discord insists.
fn options(defs: &[OptionDef]) -> Vec<Value> {
    let mut sorted: Vec<&OptionDef> = defs.iter().collect();
    sorted.sort_by_key(|d| !d.required);
    sorted.into_iter().take(25).map(option).collect()
}

fn subcommands(def: &CommandDef) -> Vec<Value> {
    let mut out = vec![json!({
        "type": SUB_COMMAND,
        "name": def.name,
        "description": cut(&def.summary, 100),
        "options": options(&def.options),
    })];
    for sub in def.subcommands.iter().filter(|s| !s.buttons_only) {
        out.push(json!({
            "type": SUB_COMMAND,
            "name": sub_name(&def.name, &sub.name),
            "description": cut(&sub.summary, 100),
            "options": options(&sub.options),
        }));
    }
    out
}

/// The most subcommands (and groups) Discord takes under one command.
const DISCORD_MAX_SUBCOMMANDS: usize = 25;

/// The registration JSON (the body of a bulk overwrite).
pub fn commands(root: &str) -> Value {
    let visible: Vec<&CommandDef> = definitions::all().iter().filter(|d| !d.hidden).collect();
    let mut subs: Vec<Value> = visible.iter().flat_map(|d| subcommands(d)).collect();
    // Discord's limit; `registration_fits_discords_rules` fails first.
    subs.truncate(DISCORD_MAX_SUBCOMMANDS);
    let mut out = vec![json!({
        "name": root,
        "type": 1,
        "description": "Ask the service catalog: who owns it, who's on call, where the docs are",
        "options": subs,
        "contexts": [0, 1],
        "integration_types": [0],
    })];
    for def in &visible {
        for alias in &def.slash {
            out.push(json!({
                "name": alias,
                "type": 1,
                "description": cut(&def.summary, 100),
                "options": options(&def.options),
                "contexts": [0, 1],
                "integration_types": [0],
            }));
        }
    }
    Value::Array(out)
}

/// The JSON, pretty, as checked in.
pub fn commands_pretty(root: &str) -> String {
    let mut text = serde_json::to_string_pretty(&commands(root)).expect("JSON serializes");
    text.push('\n');
    text
}

/// The bot permissions usher asks for when invited: View Channels, Send
/// Messages, Embed Links, Read Message History, Manage Channels (for the
/// `discord_channel` step).
pub const PERMISSIONS: u64 = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16) | (1 << 4);

/// The invite URL for the bot.
pub fn invite_url(application_id: &str) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application_id}&scope=bot+applications.commands&permissions={PERMISSIONS}"
    )
}

/// The command line an application command means: the subcommand's
/// command (and its own subcommand), positional options in order, named
/// options as `--name value`, true booleans as `--name`.
pub fn command_line(root: &str, name: &str, options: &[(String, OptionValue)]) -> String {
    let (path, options) = if name == root {
        match options.first() {
            Some((sub, OptionValue::Sub(inner))) => (sub.clone(), inner.clone()),
            _ => return "help".into(),
        }
    } else {
        (name.to_string(), options.to_vec())
    };
    let (def, sub) = resolve_path(&path);
    let Some(def) = def else {
        return "help".into();
    };
    let option_defs: &[OptionDef] = match &sub {
        Some(sub) => def
            .subcommand(sub)
            .map(|s| s.options.as_slice())
            .unwrap_or(&[]),
        None => &def.options,
    };
    let mut words = vec![def.name.clone()];
    if let Some(sub) = &sub {
        words.push(sub.clone());
    }
    let value_of = |n: &str| options.iter().find(|(k, _)| k == n).map(|(_, v)| v);
    let mut positional_gap = false;
    for d in option_defs {
        let Some(value) = value_of(&d.name) else {
            if !d.named {
                positional_gap = true;
            }
            continue;
        };
        match value {
            OptionValue::Bool(true) => words.push(format!("--{}", d.name)),
            OptionValue::Bool(false) | OptionValue::Sub(_) => {}
            OptionValue::Text(text) if d.rest && !d.named && !positional_gap => {
                words.push(text.trim().to_string())
            }
            OptionValue::Text(text) if d.named || positional_gap => {
                words.push(format!("--{}", d.name));
                words.push(quote(text));
            }
            OptionValue::Text(text) => words.push(quote(text)),
            OptionValue::Integer(n) if d.named || positional_gap => {
                words.push(format!("--{} {n}", d.name))
            }
            OptionValue::Integer(n) => words.push(n.to_string()),
        }
    }
    words.join(" ")
}

/// `service-new` → (service, new); `owner` → (owner, None).
pub fn resolve_path(path: &str) -> (Option<&'static CommandDef>, Option<String>) {
    if let Some(def) = definitions::find(path) {
        return (Some(def), None);
    }
    if let Some((command, sub)) = path.split_once('-')
        && let Some(def) = definitions::find(command)
        && def.subcommand(sub).is_some()
    {
        return (Some(def), Some(sub.to_string()));
    }
    if let Some(def) = definitions::by_slash(path) {
        return (Some(def), None);
    }
    (None, None)
}

/// Quotes a value with spaces (or quotes) for the command-line parser.
fn quote(text: &str) -> String {
    let text = text.trim();
    if !text.is_empty() && !text.contains([' ', '"', '\'']) {
        return text.to_string();
    }
    format!("\"{}\"", text.replace('"', "'"))
}

/// An option's value, from serenity's model (flattened).
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Text(String),
    Integer(i64),
    Bool(bool),
    Sub(Vec<(String, OptionValue)>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> OptionValue {
        OptionValue::Text(s.into())
    }

    #[test]
    fn application_commands_become_command_lines() {
        let owner = vec![(
            "owner".to_string(),
            OptionValue::Sub(vec![("service".into(), t("payments-api"))]),
        )];
        assert_eq!(command_line("usher", "usher", &owner), "owner payments-api");
        assert_eq!(
            command_line("usher", "whoowns", &[("service".into(), t("checkout"))]),
            "owner checkout"
        );
        let search = vec![(
            "search".to_string(),
            OptionValue::Sub(vec![(
                "query".into(),
                t("dep:log4j-core@<2.17.1 lang:java"),
            )]),
        )];
        assert_eq!(
            command_line("usher", "usher", &search),
            "search dep:log4j-core@<2.17.1 lang:java"
        );
        let new = vec![("service-new".to_string(), OptionValue::Sub(vec![]))];
        assert_eq!(command_line("usher", "usher", &new), "service new");
        let deps = vec![(
            "deps".to_string(),
            OptionValue::Sub(vec![
                ("service".into(), t("checkout")),
                ("reverse".into(), OptionValue::Bool(true)),
                ("depth".into(), OptionValue::Integer(2)),
            ]),
        )];
        let line = command_line("usher", "usher", &deps);
        assert!(line.starts_with("deps checkout"), "{line}");
        assert!(line.contains("--reverse") && line.contains("2"), "{line}");
        let page = vec![(
            "page".to_string(),
            OptionValue::Sub(vec![
                ("service".into(), t("payments-api")),
                ("reason".into(), t("card payments fail")),
            ]),
        )];
        assert_eq!(
            command_line("usher", "usher", &page),
            "page payments-api card payments fail"
        );
        assert_eq!(command_line("usher", "usher", &[]), "help");
    }

    #[test]
    fn registration_fits_discords_rules() {
        let all = commands("usher");
        let root = &all[0];
        let subs = root["options"].as_array().unwrap();
        // Every visible command and subcommand fits, none cut off: one
        // more needs `buttons_only` on a subcommand pressed more than typed.
        let wanted: usize = definitions::all()
            .iter()
            .filter(|d| !d.hidden)
            .map(|d| subcommands(d).len())
            .sum();
        assert!(
            wanted <= DISCORD_MAX_SUBCOMMANDS,
            "{wanted} subcommands; Discord takes {DISCORD_MAX_SUBCOMMANDS}"
        );
        assert_eq!(subs.len(), wanted);
        for name in [
            "owner",
            "oncall",
            "docs",
            "service",
            "team",
            "deps",
            "search",
            "stats",
            "page",
            "help",
            "service-new",
        ] {
            assert!(subs.iter().any(|s| s["name"] == name), "{name}");
        }
        let names: Vec<&str> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"whoowns") && names.contains(&"oncall"));
        for sub in subs {
            let name = sub["name"].as_str().unwrap();
            assert!(
                name.len() <= 32
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
            );
            assert!(sub["description"].as_str().unwrap().chars().count() <= 100);
            let mut seen_optional = false;
            for o in sub["options"].as_array().unwrap() {
                if o["required"] == json!(true) {
                    assert!(!seen_optional, "required options first in {name}");
                } else {
                    seen_optional = true;
                }
            }
        }
        let owner = subs.iter().find(|s| s["name"] == "owner").unwrap();
        assert_eq!(owner["options"][0]["name"], "service");
        assert_eq!(owner["options"][0]["autocomplete"], json!(true));
    }
}
