//! Every command, registered once: its module exports a [`Registered`]
//! (name, definition file, the options its code reads, whether its answers
//! may be kept, and how to run it), and [`super::COMMANDS`] lists them. The
//! router, the definitions, the answer cache and the tests all read that
//! list, so a new command is one module and one `commands/*.toml`.

use std::future::Future;
use std::pin::Pin;

use super::CommandResult;
use super::parse::Parsed;
use crate::chat::Request;
use crate::context::Core;
pub use crate::context::answers::Caching;

/// A command's answer, boxed so that every command fits one signature.
pub type Answer<'a> = Pin<Box<dyn Future<Output = CommandResult> + Send + 'a>>;

/// How to run a parsed command line.
pub type Run = for<'a> fn(&'a Core, &'a Request, &'a Parsed) -> Answer<'a>;

/// One command, as the router, the definitions and the cache know it.
pub struct Registered {
    /// The name typed first (`owner`), as in its definition.
    pub name: &'static str,
    /// Its definition's file name in `commands/` and the text, embedded.
    pub file: &'static str,
    pub definition: &'static str,
    /// The option names its code reads (checked against the definition).
    pub options: &'static [&'static str],
    /// Whether (and how) its answers may be kept.
    pub caching: Caching,
    pub run: Run,
}

/// A command's registration: `register!("owner", OPTIONS, Tracked, run)`.
/// The definition file is the command's name in `commands/`, embedded.
macro_rules! register {
    ($name:literal, $options:expr, $caching:ident, $run:expr) => {
        $crate::commands::registry::Registered {
            name: $name,
            file: concat!($name, ".toml"),
            definition: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/commands/",
                $name,
                ".toml"
            )),
            options: $options,
            caching: $crate::commands::registry::Caching::$caching,
            run: $run,
        }
    };
}
pub(crate) use register;
