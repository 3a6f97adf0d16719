//! A problem found reading or validating a descriptor, reported as
//! `file:line: field: message`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    /// The offending field (`spec.owner`), or what failed when no field is
    /// to blame (`yaml`, `file`).
    pub field: String,
    /// What is wrong, quoting the offending value, and what to do.
    pub message: String,
    pub severity: Severity,
    /// The entity the problem belongs to, when it could be read.
    pub entity_ref: Option<String>,
    /// The owner the descriptor names, when it could be read: the hygiene
    /// reminders send the problem there.
    pub owner_ref: Option<String>,
}

impl Problem {
    pub fn error(
        file: &str,
        line: Option<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            file: file.to_string(),
            line,
            field: field.to_string(),
            message: message.into(),
            severity: Severity::Error,
            entity_ref: None,
            owner_ref: None,
        }
    }

    pub fn warning(
        file: &str,
        line: Option<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(file, line, field, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    /// `file:line: field: message`; warnings say so at the start of the
    /// message so the first three parts stay machine-readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line.unwrap_or(1))?;
        let field = if self.field.is_empty() {
            "-"
        } else {
            &self.field
        };
        write!(f, "{field}: ")?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Quotes a user's value in a message, shortened so a 10 MB value doesn't
/// become a 10 MB message.
pub fn quote(value: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = value.chars().take(MAX).collect();
    if value.chars().count() > MAX {
        out.push('…');
    }
    format!("'{}'", out.replace('\n', "\\n"))
}

/// A JSON value quoted for a message.
pub fn quote_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => quote(s),
        other => {
            let text = other.to_string();
            quote(&text)
        }
    }
}
