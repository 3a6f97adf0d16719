//! The command definitions in the top-level `commands/` folder, embedded in
//! the binary: one source for `help`, the parser, Slack's manifest and
//! Discord's registration. The format is documented in
//! `commands/README.md`.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Every command's definition file and its text, in the order commands are
/// listed (from the registry: one place names each command).
pub fn sources() -> impl Iterator<Item = (&'static str, &'static str)> {
    super::COMMANDS.iter().map(|c| (c.file, c.definition))
}

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Anyone who can talk to usher.
    #[default]
    Everyone,
    /// People known to the catalog.
    Member,
    /// Admins from `usher.toml`.
    Admin,
}

/// The type of an option's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionType {
    String,
    Integer,
    Boolean,
    Choice,
}

/// Where completions for an option come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Completion {
    Service,
    Team,
    Person,
    Command,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: OptionType,
    pub description: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub complete: Option<Completion>,
    /// The allowed values of a `choice` option.
    #[serde(default)]
    pub choices: Vec<String>,
    /// Takes the rest of the line, spaces and all (the last positional).
    #[serde(default)]
    pub rest: bool,
    /// Only as `--name value` (or `--name` for booleans), never positional.
    #[serde(default)]
    pub named: bool,
    #[serde(default)]
    pub min: Option<i64>,
    #[serde(default)]
    pub max: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubcommandDef {
    pub name: String,
    pub summary: String,
    #[serde(default)]
    pub help: String,
    #[serde(default)]
    pub permission: Option<Permission>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub options: Vec<OptionDef>,
    /// Pressed more than typed (a digest's or a card's buttons): left out
    /// of the platforms' command lists — Discord takes 25 subcommands in
    /// all — but still in help and still typed anywhere.
    #[serde(default)]
    pub buttons_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandDef {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub summary: String,
    pub help: String,
    #[serde(default)]
    pub permission: Permission,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub options: Vec<OptionDef>,
    #[serde(default)]
    pub subcommands: Vec<SubcommandDef>,
    /// Run by buttons and dialogues, not typed: left out of help and the
    /// platforms' command lists.
    #[serde(default)]
    pub hidden: bool,
    /// Slash commands of its own on the chat platforms (`whoowns` for
    /// `/whoowns payments-api`), besides the root command.
    #[serde(default)]
    pub slash: Vec<String>,
}

impl CommandDef {
    pub fn subcommand(&self, name: &str) -> Option<&SubcommandDef> {
        self.subcommands
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    pub fn matches(&self, word: &str) -> bool {
        self.name.eq_ignore_ascii_case(word)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    }
}

/// Parses and checks one definition file.
pub fn parse_definition(file: &str, text: &str) -> Result<CommandDef, String> {
    let def: CommandDef =
        toml::from_str(text).map_err(|e| format!("commands/{file}: {}", e.message()))?;
    check_options(file, &def.options)?;
    for word in &def.slash {
        let ok = (1..=32).contains(&word.len())
            && word
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !ok {
            return Err(format!(
                "commands/{file}: slash command '{word}' must be 1–32 lower-case letters, digits, - or _"
            ));
        }
    }
    for sub in &def.subcommands {
        check_options(file, &sub.options)?;
    }
    Ok(def)
}

fn check_options(file: &str, options: &[OptionDef]) -> Result<(), String> {
    for (i, o) in options.iter().enumerate() {
        if o.kind == OptionType::Choice && o.choices.is_empty() {
            return Err(format!(
                "commands/{file}: option '{}' is a choice without choices",
                o.name
            ));
        }
        if o.rest
            && (i + 1 != options.iter().filter(|o| !o.named).count()
                || o.kind != OptionType::String)
        {
            return Err(format!(
                "commands/{file}: option '{}' takes the rest of the line, so it must be the last positional string option",
                o.name
            ));
        }
    }
    Ok(())
}

/// All definitions, parsed once. Invalid definitions are a build mistake,
/// caught by the test suite, so this panics on them.
pub fn all() -> &'static [CommandDef] {
    static DEFS: OnceLock<Vec<CommandDef>> = OnceLock::new();
    DEFS.get_or_init(|| {
        sources()
            .map(|(file, text)| parse_definition(file, text).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    })
}

/// The definition a word (name or alias) names.
pub fn find(word: &str) -> Option<&'static CommandDef> {
    all().iter().find(|d| d.matches(word))
}

/// The definition whose own slash command is `word` (without the `/`).
pub fn by_slash(word: &str) -> Option<&'static CommandDef> {
    let word = word.trim_start_matches('/');
    all()
        .iter()
        .find(|d| d.slash.iter().any(|s| s.eq_ignore_ascii_case(word)))
}

/// `owner <service>`, `deps <service> [--reverse] [--depth N]`.
pub fn usage(command: &str, options: &[OptionDef]) -> String {
    let mut out = command.to_string();
    for o in options {
        let placeholder = match o.kind {
            OptionType::Boolean => format!("--{}", o.name),
            OptionType::Choice if o.named => format!("--{} {}", o.name, o.choices.join("|")),
            OptionType::Choice => o.choices.join("|"),
            OptionType::Integer if o.named => format!("--{} N", o.name),
            _ if o.named => format!("--{} <{}>", o.name, o.name),
            _ => format!("<{}>", o.name),
        };
        if o.required {
            out.push_str(&format!(" {placeholder}"));
        } else {
            out.push_str(&format!(" [{placeholder}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_folder_is_embedded_and_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/commands");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = sources().map(|(f, _)| f.to_string()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "register each command in commands::COMMANDS"
        );
        for command in super::super::COMMANDS {
            let def = parse_definition(command.file, command.definition).unwrap();
            assert_eq!(
                format!("{}.toml", def.name),
                command.file,
                "a file is named after its command"
            );
            assert_eq!(
                def.name, command.name,
                "registered under its definition's name"
            );
        }
    }

    #[test]
    fn names_and_aliases_are_unique() {
        let mut words: Vec<String> = all()
            .iter()
            .flat_map(|d| std::iter::once(d.name.clone()).chain(d.aliases.iter().cloned()))
            .map(|w| w.to_lowercase())
            .collect();
        let before = words.len();
        words.sort();
        words.dedup();
        assert_eq!(before, words.len());
    }

    #[test]
    fn slash_commands_are_unique_and_name_their_command() {
        let mut words: Vec<&str> = all()
            .iter()
            .flat_map(|d| d.slash.iter().map(String::as_str))
            .collect();
        assert!(words.contains(&"whoowns") && words.contains(&"oncall"));
        let before = words.len();
        words.sort();
        words.dedup();
        assert_eq!(before, words.len());
        assert_eq!(by_slash("/whoowns").unwrap().name, "owner");
        assert!(by_slash("usher").is_none());
    }

    #[test]
    fn usage_lines() {
        let owner = find("whoowns").unwrap();
        assert_eq!(usage(&owner.name, &owner.options), "owner <service>");
    }
}
