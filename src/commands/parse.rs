//! Parsing a command line against the definitions: words with shell-like
//! quotes, positionals in order, `--name value`, `--flag`, and a last
//! option that may take the rest of the line. Every error says what was
//! expected, with the usage line.

use std::collections::BTreeMap;

use super::definitions::{self, CommandDef, OptionDef, OptionType, SubcommandDef, usage};

/// A parsed argument value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    Text(String),
    Integer(i64),
    Bool(bool),
}

/// The arguments of a parsed command, by option name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    values: BTreeMap<String, ArgValue>,
}

impl Args {
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(ArgValue::Text(t)) => Some(t),
            _ => None,
        }
    }

    pub fn integer(&self, name: &str) -> Option<i64> {
        match self.values.get(name) {
            Some(ArgValue::Integer(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.values.get(name), Some(ArgValue::Bool(true)))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    pub fn insert(&mut self, name: &str, value: ArgValue) {
        self.values.insert(name.to_string(), value);
    }
}

/// A command line, understood.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub command: &'static CommandDef,
    pub sub: Option<&'static SubcommandDef>,
    pub args: Args,
}

impl Parsed {
    /// `owner`, or `service new` for a subcommand.
    pub fn path(&self) -> String {
        match self.sub {
            Some(sub) => format!("{} {}", self.command.name, sub.name),
            None => self.command.name.clone(),
        }
    }
}

/// Why a line could not be parsed; `Display` is the message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "Say what you'd like to know — for example `owner payments-api`. Type `help` to see everything usher can do."
    )]
    Empty,
    #[error("I don't know the command `{word}`.{suggestion} Type `help` to see what usher can do.")]
    UnknownCommand { word: String, suggestion: String },
    #[error("{0}")]
    Invalid(String),
}

/// A word and where it starts in the line (for options taking the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    start: usize,
    end: usize,
}

/// Splits a line into words; quotes group words and are removed.
fn split_words(line: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    let mut quote_start = 0;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '"' | '\'' | '“' | '”' | '‘' | '’') => {
                quote = Some(match c {
                    '“' => '”',
                    '‘' => '’',
                    other => other,
                });
                quote_start = i;
                start.get_or_insert(i);
            }
            (None, c) if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    words.push(Word {
                        text: std::mem::take(&mut current),
                        start: s,
                        end: i,
                    });
                }
            }
            (None, c) => {
                start.get_or_insert(i);
                current.push(c);
            }
        }
    }
    if quote.is_some() {
        return Err(format!(
            "There's an opening quote at character {} with no closing quote. Close it, or leave the quotes out.",
            line[..quote_start].chars().count() + 1
        ));
    }
    if let Some(s) = start {
        words.push(Word {
            text: current,
            start: s,
            end: line.len(),
        });
    }
    Ok(words)
}

/// Parses a command line.
pub fn parse(line: &str) -> Result<Parsed, ParseError> {
    let line = line.trim();
    let line = line.strip_prefix('/').unwrap_or(line);
    let words = split_words(line).map_err(ParseError::Invalid)?;
    let Some(first) = words.first() else {
        return Err(ParseError::Empty);
    };
    let Some(command) = definitions::find(&first.text) else {
        return Err(ParseError::UnknownCommand {
            word: shorten(&first.text),
            suggestion: suggest_command(&first.text),
        });
    };
    let mut rest = &words[1..];
    let mut sub = None;
    if !command.subcommands.is_empty()
        && let Some(word) = rest.first()
        && let Some(found) = command.subcommand(&word.text)
    {
        sub = Some(found);
        rest = &rest[1..];
    }
    let (options, path) = match sub {
        Some(s) => (&s.options, format!("{} {}", command.name, s.name)),
        None => (&command.options, command.name.clone()),
    };
    let args = parse_args(line, rest, options, &path)?;
    Ok(Parsed { command, sub, args })
}

/// `owner Payments API` as `owner "Payments API"`: for a command (or
/// subcommand) whose only argument is one name, the words after it taken
/// as that name — a title has spaces. `None` when the line isn't such a
/// command, has options (`--…`), or has one word only.
pub fn as_one_name(line: &str) -> Option<String> {
    let line = line.trim();
    let line = line.strip_prefix('/').unwrap_or(line);
    let words = split_words(line).ok()?;
    let command = definitions::find(&words.first()?.text)?;
    let mut head = 1;
    let mut options = &command.options;
    if let Some(word) = words.get(1)
        && let Some(sub) = command.subcommand(&word.text)
    {
        head = 2;
        options = &sub.options;
    }
    let rest = &words[head..];
    let positionals: Vec<&OptionDef> = options.iter().filter(|o| !o.named).collect();
    let [only] = positionals.as_slice() else {
        return None;
    };
    if only.kind != OptionType::String
        || only.rest
        || rest.len() < 2
        || rest.iter().any(|w| w.text.starts_with("--"))
    {
        return None;
    }
    let name: Vec<&str> = rest.iter().map(|w| w.text.as_str()).collect();
    Some(format!(
        "{} \"{}\"",
        &line[..words[head - 1].end],
        name.join(" ").replace('"', "")
    ))
}

fn shorten(word: &str) -> String {
    let mut s: String = word.chars().take(40).collect();
    if word.chars().count() > 40 {
        s.push('…');
    }
    s
}

fn parse_args(
    line: &str,
    words: &[Word],
    options: &[OptionDef],
    path: &str,
) -> Result<Args, ParseError> {
    let usage_line = usage(path, options);
    let invalid = |msg: String| ParseError::Invalid(format!("{msg}\nUsage: `{usage_line}`"));
    let mut args = Args::default();
    let mut positionals = options.iter().filter(|o| !o.named);
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        if let Some(flag) = word.text.strip_prefix("--").filter(|f| !f.is_empty()) {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (flag, None),
            };
            let Some(option) = options.iter().find(|o| o.name.eq_ignore_ascii_case(name)) else {
                let known: Vec<String> = options.iter().map(|o| format!("--{}", o.name)).collect();
                return Err(invalid(if known.is_empty() {
                    format!("`{path}` takes no options like `--{}`.", shorten(name))
                } else {
                    format!(
                        "`{path}` has no option `--{}`; it has {}.",
                        shorten(name),
                        known.join(", ")
                    )
                }));
            };
            let value = if option.kind == OptionType::Boolean {
                match inline.as_deref() {
                    None => ArgValue::Bool(true),
                    Some(v) => ArgValue::Bool(parse_bool(v).ok_or_else(|| {
                        invalid(format!(
                            "`--{}` is yes or no, not `{}`.",
                            option.name,
                            shorten(v)
                        ))
                    })?),
                }
            } else {
                let text = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        words
                            .get(i)
                            .map(|w| w.text.clone())
                            .ok_or_else(|| invalid(format!("`--{}` needs a value.", option.name)))?
                    }
                };
                convert(option, &text).map_err(invalid)?
            };
            args.insert(&option.name, value);
            i += 1;
            continue;
        }
        let Some(option) = positionals.find(|o| !args.values.contains_key(&o.name)) else {
            return Err(invalid(format!(
                "I didn't expect `{}` here.",
                shorten(&word.text)
            )));
        };
        if option.rest {
            // The rest of the line, verbatim — except named options
            // written after it (`search lang:java --page 2`).
            let mut text = String::new();
            let mut from = word.start;
            let mut j = i;
            while j < words.len() {
                let named = words[j].text.strip_prefix("--").and_then(|n| {
                    options
                        .iter()
                        .find(|o| o.named && o.name.eq_ignore_ascii_case(n))
                });
                if let Some(named) = named {
                    text.push_str(&line[from..words[j].start]);
                    let value = if named.kind == OptionType::Boolean {
                        ArgValue::Bool(true)
                    } else {
                        j += 1;
                        let raw = words
                            .get(j)
                            .map(|w| w.text.clone())
                            .ok_or_else(|| invalid(format!("`--{}` needs a value.", named.name)))?;
                        convert(named, &raw).map_err(invalid)?
                    };
                    args.insert(&named.name, value);
                    from = words.get(j).map(|w| w.end).unwrap_or(line.len());
                }
                j += 1;
            }
            text.push_str(&line[from.min(line.len())..]);
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let text = if text.is_empty() {
                line[word.start..].trim().to_string()
            } else {
                text
            };
            args.insert(&option.name, ArgValue::Text(text));
            break;
        }
        let value = convert(option, &word.text).map_err(invalid)?;
        args.insert(&option.name, value);
        i += 1;
    }
    for option in options {
        if option.required && !args.values.contains_key(&option.name) {
            return Err(invalid(format!("`{path}` needs {}.", describe(option))));
        }
    }
    Ok(args)
}

fn describe(option: &OptionDef) -> String {
    let mut d = option.description.clone();
    if let Some(first) = d.get(..1) {
        d = first.to_lowercase() + &d[1..];
    }
    format!("<{}>: {d}", option.name)
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_lowercase().as_str() {
        "yes" | "true" | "on" | "1" | "y" => Some(true),
        "no" | "false" | "off" | "0" | "n" => Some(false),
        _ => None,
    }
}

fn convert(option: &OptionDef, text: &str) -> Result<ArgValue, String> {
    match option.kind {
        OptionType::String => Ok(ArgValue::Text(text.to_string())),
        OptionType::Integer => {
            let n: i64 = text.parse().map_err(|_| {
                format!(
                    "`{}` is a whole number, not `{}`.",
                    option.name,
                    shorten(text)
                )
            })?;
            if let Some(min) = option.min
                && n < min
            {
                return Err(format!("`{}` must be at least {min}.", option.name));
            }
            if let Some(max) = option.max
                && n > max
            {
                return Err(format!("`{}` must be at most {max}.", option.name));
            }
            Ok(ArgValue::Integer(n))
        }
        OptionType::Boolean => parse_bool(text)
            .map(ArgValue::Bool)
            .ok_or_else(|| format!("`{}` is yes or no, not `{}`.", option.name, shorten(text))),
        OptionType::Choice => option
            .choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(text))
            .map(|c| ArgValue::Text(c.clone()))
            .ok_or_else(|| {
                format!(
                    "`{}` is one of {}, not `{}`.",
                    option.name,
                    option.choices.join(", "),
                    shorten(text)
                )
            }),
    }
}

/// " Did you mean `owner`?" for a mistyped command, or nothing.
fn suggest_command(word: &str) -> String {
    let word = word.to_lowercase();
    let best = definitions::all()
        .iter()
        .flat_map(|d| {
            std::iter::once(&d.name)
                .chain(d.aliases.iter())
                .map(move |w| (w, &d.name))
        })
        .map(|(w, name)| (edit_distance(&word, &w.to_lowercase()), name))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, name)) if d <= 2 && d < word.chars().count() => format!(" Did you mean `{name}`?"),
        _ => String::new(),
    }
}

/// Levenshtein distance, for short words.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_answers_come_back_as_typed() {
        let answers = vec![
            (
                "description".to_string(),
                r#"Pays "out", it's fast"#.to_string(),
            ),
            ("tier".to_string(), "  ".to_string()),
            ("docs".to_string(), "https://d.example.com/a b".to_string()),
        ];
        let line = crate::chat::filled_line("hygiene fix payouts", &answers);
        let words: Vec<String> = split_words(&line)
            .unwrap()
            .into_iter()
            .map(|w| w.text)
            .collect();
        assert_eq!(
            words,
            [
                "hygiene",
                "fix",
                "payouts",
                "--description",
                r#"Pays "out", it's fast"#,
                "--docs",
                "https://d.example.com/a b"
            ]
        );
    }

    #[test]
    fn words_and_quotes() {
        let w = split_words(r#"owner "payments api"  x"#).unwrap();
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["owner", "payments api", "x"]);
        assert!(
            split_words("owner \"x")
                .unwrap_err()
                .contains("no closing quote")
        );
        let w = split_words("owner “smart quotes”").unwrap();
        assert_eq!(w[1].text, "smart quotes");
    }

    #[test]
    fn owner_and_aliases() {
        let p = parse("whoowns payments-api").unwrap();
        assert_eq!(p.command.name, "owner");
        assert_eq!(p.args.text("service"), Some("payments-api"));
        let p = parse("/who checkout").unwrap();
        assert_eq!(p.args.text("service"), Some("checkout"));
    }

    #[test]
    fn helpful_errors() {
        let e = parse("owner").unwrap_err().to_string();
        assert!(e.contains("`owner` needs <service>"), "{e}");
        assert!(e.contains("Usage: `owner <service>`"), "{e}");
        let e = parse("ownr x").unwrap_err().to_string();
        assert!(e.contains("Did you mean `owner`?"), "{e}");
        let e = parse("owner a b").unwrap_err().to_string();
        assert!(e.contains("didn't expect `b`"), "{e}");
        let e = parse("owner --bogus x").unwrap_err().to_string();
        assert!(e.contains("no option `--bogus`"), "{e}");
        assert_eq!(parse("   ").unwrap_err(), ParseError::Empty);
    }

    #[test]
    fn rest_options_and_named_ones_after_them() {
        let p = parse("search lang:java \"tier 1\" --page 2").unwrap();
        assert_eq!(p.args.text("query"), Some("lang:java \"tier 1\""));
        assert_eq!(p.args.integer("page"), Some(2));
        let p = parse("search --page 3 owner:x").unwrap();
        assert_eq!(
            (p.args.text("query"), p.args.integer("page")),
            (Some("owner:x"), Some(3))
        );
        let p = parse("search --notify dep:log4j-core@<2.17.1").unwrap();
        assert!(p.args.flag("notify"));
        let p = parse("deps --reverse event-bus --depth 2").unwrap();
        assert_eq!(
            (p.args.text("service"), p.args.integer("depth")),
            (Some("event-bus"), Some(2))
        );
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("owner", "ownr"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
