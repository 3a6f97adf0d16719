//! Platform adapters: each turns its platform's events into requests for
//! the core and renders the replies. Only these modules know a platform.

pub mod console;
pub mod slack;
