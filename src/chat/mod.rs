//! The platform-neutral request and reply. A platform adapter turns an
//! event into a [`Request`], hands it to [`crate::commands::handle`], and
//! renders the [`Reply`] it gets back. Nothing here knows about Slack,
//! Discord or the terminal.

pub mod reply;

pub use reply::{
    Action, Block, ButtonStyle, Element, Field, Form, FormField, Reply, SelectOption, Span, Text,
    TextInput, Visibility, filled_line,
};

use serde::{Deserialize, Serialize};

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Console,
    Slack,
    Discord,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Console => "console",
            Platform::Slack => "slack",
            Platform::Discord => "discord",
        }
    }
}

/// A catalog person, as the actor of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// `user:namespace/name`.
    pub key: String,
    pub display: String,
    pub email: Option<String>,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The catalog person, when the platform identity maps to one.
    pub person: Option<Person>,
    /// The platform's own user id (Slack `U…`, Discord snowflake, OS user).
    pub platform_user: String,
    /// A name to show when there is no catalog person.
    pub display: String,
    /// From another organisation (a Slack Connect guest): sees no
    /// people's contacts unless the configuration allows it.
    #[serde(default)]
    pub external: bool,
    /// Who this is couldn't be looked up (the catalog's database didn't
    /// answer) — not the same as "not in the catalog": usher says the
    /// catalog is unavailable rather than treat them as a stranger.
    #[serde(default)]
    pub unresolved: bool,
}

impl Actor {
    pub fn guest(platform_user: &str) -> Actor {
        Actor {
            person: None,
            platform_user: platform_user.to_string(),
            display: platform_user.to_string(),
            external: false,
            unresolved: false,
        }
    }

    /// How the actor is written in the audit log.
    pub fn audit_name(&self) -> String {
        match &self.person {
            Some(p) => p.key.clone(),
            None => format!("guest:{}", self.platform_user),
        }
    }
}

/// One thing a person asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub actor: Actor,
    pub platform: Platform,
    /// Slack team id or Discord guild id.
    pub workspace: Option<String>,
    pub channel: Option<String>,
    /// The command line, e.g. `owner payments-api`.
    pub text: String,
}
