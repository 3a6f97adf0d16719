//! SCIM filters (RFC 7644 §3.4.2.2): `userName eq "jane@acme.example"`,
//! `emails[type eq "work" and value co "@acme"]`, `not (active eq false)`,
//! joined by `and` (binding tighter) and `or`, with parentheses — parsed
//! into a tree and evaluated against a resource's JSON.
//!
//! The text comes from an identity provider, so it is outside input: at
//! most [`MAX_LEN`] characters, [`MAX_TERMS`] comparisons and
//! [`MAX_DEPTH`] levels of parentheses — the parser recurses only that
//! deep, and a tree that small drops without deep recursion either. Names
//! are matched without regard to case, as SCIM says; so are string values,
//! except for attributes SCIM makes case-exact (`id`, `externalId`,
//! `members.value`).

use serde_json::Value;

/// The longest filter read.
pub const MAX_LEN: usize = 4096;
/// The most comparisons in one filter.
pub const MAX_TERMS: usize = 64;
/// The deepest nesting of parentheses and brackets.
pub const MAX_DEPTH: usize = 16;

/// An attribute: `userName`, `name.givenName`, or with its schema
/// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`).
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub schema: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

/// A value compared against.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Present(AttrPath),
    Compare(AttrPath, Op, Literal),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `emails[type eq "work"]`: some element of `emails` matches.
    Where(AttrPath, Box<Filter>),
}

/// Why a filter isn't one: SCIM's `invalidFilter`, with the detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

/// Parses a filter.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_LEN {
        return Err(FilterError(format!(
            "the filter is {} characters long; at most {MAX_LEN}",
            text.len()
        )));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        terms: 0,
    };
    let filter = parser.or(0)?;
    match parser.peek() {
        None => Ok(filter),
        Some(t) => Err(FilterError(format!(
            "unexpected {} after the filter",
            t.describe()
        ))),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("`{}`", w.chars().take(40).collect::<String>()),
            Token::Str(_) => "a string".into(),
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::OpenBracket => "`[`".into(),
            Token::CloseBracket => "`]`".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(_, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, 't')) => value.push('\t'),
                            Some((_, other)) => value.push(other),
                            None => break,
                        },
                        other => value.push(other),
                    }
                }
                if !closed {
                    return Err(FilterError("a string isn't closed with `\"`".into()));
                }
                tokens.push(Token::Str(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    /// `a or b or c`: left to right.
    fn or(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.and(depth)?;
        while self.keyword("or") {
            self.next();
            let right = self.and(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Filter, FilterError> {
        let mut left = self.unary(depth)?;
        while self.keyword("and") {
            self.next();
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(FilterError(format!(
                "the filter nests deeper than {MAX_DEPTH} levels"
            )));
        }
        if self.keyword("not") {
            self.next();
            if self.peek() != Some(&Token::Open) {
                return Err(FilterError(
                    "`not` takes a filter in parentheses: not (…)".into(),
                ));
            }
            self.next();
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close, "`)`")?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.next();
            let inner = self.or(depth + 1)?;
            self.expect(Token::Close, "`)`")?;
            return Ok(inner);
        }
        self.attribute_expression(depth)
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), FilterError> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            Some(t) => Err(FilterError(format!(
                "expected {what}, found {}",
                t.describe()
            ))),
            None => Err(FilterError(format!("expected {what} before the end"))),
        }
    }

    fn attribute_expression(&mut self, depth: usize) -> Result<Filter, FilterError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(FilterError(format!(
                "the filter has more than {MAX_TERMS} comparisons"
            )));
        }
        let path = match self.next() {
            Some(Token::Word(w)) => attr_path(&w)?,
            Some(t) => {
                return Err(FilterError(format!(
                    "expected an attribute name, found {}",
                    t.describe()
                )));
            }
            None => return Err(FilterError("the filter is empty".into())),
        };
        if self.peek() == Some(&Token::OpenBracket) {
            self.next();
            let inner = self.or(depth + 1)?;
            self.expect(Token::CloseBracket, "`]`")?;
            return Ok(Filter::Where(path, Box::new(inner)));
        }
        let op = match self.next() {
            Some(Token::Word(w)) => w.to_ascii_lowercase(),
            Some(t) => {
                return Err(FilterError(format!(
                    "expected an operator after {}, found {}",
                    path.name,
                    t.describe()
                )));
            }
            None => {
                return Err(FilterError(format!(
                    "expected an operator after {}",
                    path.name
                )));
            }
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "lt" => Op::Lt,
            "ge" => Op::Ge,
            "le" => Op::Le,
            other => {
                return Err(FilterError(format!(
                    "`{}` is not a SCIM operator; use eq, ne, co, sw, ew, gt, lt, ge, le or pr",
                    other.chars().take(20).collect::<String>()
                )));
            }
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Literal::Str(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Literal::Bool(true),
                "false" => Literal::Bool(false),
                "null" => Literal::Null,
                _ => match w.parse::<f64>() {
                    Ok(n) if n.is_finite() => Literal::Num(n),
                    _ => {
                        return Err(FilterError(format!(
                            "{} is not a value; quote strings: \"…\"",
                            Token::Word(w).describe()
                        )));
                    }
                },
            },
            Some(t) => {
                return Err(FilterError(format!(
                    "expected a value, found {}",
                    t.describe()
                )));
            }
            None => return Err(FilterError("expected a value before the end".into())),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

/// `name`, `name.sub`, `urn:…:name`, `urn:…:name.sub`.
fn attr_path(word: &str) -> Result<AttrPath, FilterError> {
    let (schema, rest) = if word.to_ascii_lowercase().starts_with("urn:") {
        match word.rsplit_once(':') {
            Some((schema, rest)) => (Some(schema.to_string()), rest),
            None => (None, word),
        }
    } else {
        (None, word)
    };
    let (name, sub) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s.to_string())),
        None => (rest, None),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
    };
    if !valid(name) || sub.as_deref().is_some_and(|s| !valid(s)) {
        return Err(FilterError(format!(
            "`{}` is not an attribute name",
            word.chars().take(60).collect::<String>()
        )));
    }
    Ok(AttrPath {
        schema,
        name: name.to_string(),
        sub,
    })
}

impl Filter {
    /// Whether `resource` (a SCIM resource's JSON) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Not(f) => !f.matches(resource),
            Filter::Present(path) => values(resource, path).iter().any(|v| match v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            }),
            Filter::Compare(path, op, literal) => {
                let exact = case_exact(path);
                let found = values(resource, path);
                match op {
                    // `ne` holds when no value is equal (an absent one too).
                    Op::Ne => !found.iter().any(|v| compare(v, Op::Eq, literal, exact)),
                    _ => found.iter().any(|v| compare(v, *op, literal, exact)),
                }
            }
            Filter::Where(path, inner) => {
                let Some(items) = attribute(resource, path.schema.as_deref(), &path.name) else {
                    return false;
                };
                match items {
                    Value::Array(items) => items.iter().any(|item| inner.matches(item)),
                    single => inner.matches(single),
                }
            }
        }
    }
}

/// The attributes SCIM makes case-exact.
fn case_exact(path: &AttrPath) -> bool {
    let name = path.name.to_ascii_lowercase();
    match path.sub.as_deref().map(str::to_ascii_lowercase) {
        None => matches!(name.as_str(), "id" | "externalid"),
        Some(sub) => name == "members" && sub == "value",
    }
}

/// An attribute of an object, by name without regard to case, in the
/// schema's extension object when one is named.
fn attribute<'a>(object: &'a Value, schema: Option<&str>, name: &str) -> Option<&'a Value> {
    let object = match schema {
        Some(urn) => {
            let core = |u: &str| u.to_ascii_lowercase().contains(":core:");
            match super::resource::attribute(object, urn) {
                Some(extension) => extension,
                None if object.is_object() && core(urn) => object,
                None => return None,
            }
        }
        None => object,
    };
    super::resource::attribute(object, name)
}

/// The values a path names (a multi-valued attribute gives each element's).
fn values<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let Some(top) = attribute(resource, path.schema.as_deref(), &path.name) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match top {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    match &path.sub {
        None => items
            .into_iter()
            // `emails eq "x"` compares each element's `value`.
            .map(|v| match v {
                Value::Object(_) => attribute(v, None, "value").unwrap_or(v),
                other => other,
            })
            .collect(),
        Some(sub) => items
            .into_iter()
            .filter_map(|item| attribute(item, None, sub))
            .collect(),
    }
}

fn compare(value: &Value, op: Op, literal: &Literal, exact: bool) -> bool {
    match (value, literal) {
        (Value::String(s), Literal::Str(l)) => {
            let (s, l) = if exact {
                (s.clone(), l.clone())
            } else {
                (s.to_lowercase(), l.to_lowercase())
            };
            match op {
                Op::Eq => s == l,
                Op::Ne => s != l,
                Op::Co => s.contains(&l),
                Op::Sw => s.starts_with(&l),
                Op::Ew => s.ends_with(&l),
                Op::Gt => s > l,
                Op::Lt => s < l,
                Op::Ge => s >= l,
                Op::Le => s <= l,
            }
        }
        // Entra ID's habit: booleans as strings ("False").
        (Value::String(s), Literal::Bool(_)) => {
            let parsed = if s.eq_ignore_ascii_case("true") {
                Some(true)
            } else if s.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            };
            parsed.is_some_and(|v| compare(&Value::Bool(v), op, literal, exact))
        }
        (Value::Bool(v), Literal::Bool(b)) => match op {
            Op::Eq => v == b,
            Op::Ne => v != b,
            _ => false,
        },
        (Value::Number(n), Literal::Num(l)) => {
            let Some(n) = n.as_f64() else { return false };
            match op {
                Op::Eq => n == *l,
                Op::Ne => n != *l,
                Op::Gt => n > *l,
                Op::Lt => n < *l,
                Op::Ge => n >= *l,
                Op::Le => n <= *l,
                _ => false,
            }
        }
        (Value::Null, Literal::Null) => op == Op::Eq,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jane() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "2819c223", "externalId": "00u1ab", "userName": "Jane@Acme.example",
            "displayName": "Jane Doe", "active": true,
            "name": { "givenName": "Jane", "familyName": "Doe" },
            "emails": [{ "value": "jane@acme.example", "type": "work", "primary": true },
                       { "value": "jd@home.example", "type": "home" }],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": "Payments" },
        })
    }

    #[test]
    fn what_okta_and_entra_send_matches() {
        for (filter, expected) in [
            ("userName eq \"jane@acme.example\"", true),
            ("userName eq \"JANE@ACME.EXAMPLE\"", true),
            ("externalId eq \"00U1AB\"", false),
            ("externalId eq \"00u1ab\"", true),
            ("emails.value co \"@acme\"", true),
            ("emails[type eq \"work\" and value sw \"jane\"]", true),
            ("emails[type eq \"home\" and value sw \"jane\"]", false),
            ("displayName sw \"Jane\" or userName eq \"x\"", true),
            ("not (active eq false)", true),
            ("active eq true and name.familyName ew \"oe\"", true),
            ("title pr", false),
            ("emails pr", true),
            ("userName ne \"jane@acme.example\"", false),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"payments\"",
                true,
            ),
            (
                "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"jane\"",
                true,
            ),
            (
                "(userName eq \"x\" or displayName co \"doe\") and active eq true",
                true,
            ),
        ] {
            let parsed = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
            assert_eq!(parsed.matches(&jane()), expected, "{filter}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let f = parse("a pr or b pr and c pr").unwrap();
        assert!(matches!(f, Filter::Or(_, ref right) if matches!(**right, Filter::And(_, _))));
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        for (filter, says) in [
            ("userName eq", "expected a value"),
            ("userName xx \"a\"", "not a SCIM operator"),
            ("userName eq jane", "quote strings"),
            ("(userName pr", "expected `)`"),
            ("userName eq \"open", "isn't closed"),
            ("not userName pr", "not (…)"),
            ("", "empty"),
            ("userName pr )", "unexpected `)`"),
        ] {
            let e = parse(filter).unwrap_err().0;
            assert!(e.contains(says), "{filter}: {e}");
        }
        let deep = format!("{}a pr{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().0.contains("nests deeper"));
        let long = vec!["a pr"; 100].join(" and ");
        assert!(parse(&long).unwrap_err().0.contains("more than"));
    }
}
