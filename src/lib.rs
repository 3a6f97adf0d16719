//! usher: a chat-ops bot for a service catalog.
//!
//! Layout (see ARCHITECTURE.md for the invariants):
//!
//! - [`catalog`] — the Backstage model, reading and validating descriptors,
//!   the Postgres store. Knows nothing about chat.
//! - [`chat`] — the platform-neutral request and reply.
//! - [`commands`] — the router and one module per command; the definitions
//!   live in the top-level `commands/` folder.
//! - [`platforms`] — adapters that turn a platform's events into requests
//!   and render replies (the console for now).
//! - [`actions`] — the durable outbox every outbound side effect goes
//!   through.
//! - [`db`] — opening the database: `DATABASE_URL` or the local cluster
//!   usher runs itself; migrations.
//! - [`config`] — `usher.toml` and the environment.
//! - [`http`], [`serve`] — the HTTP endpoints and `usher serve`.
//! - [`demo`] — the embedded demo catalog.

pub mod actions;
pub mod bench;
pub mod catalog;
pub mod chat;
pub mod clock;
pub mod commands;
pub mod config;
pub mod db;
pub mod demo;
pub mod dialogs;
pub mod http;
pub mod hygiene;
pub mod metrics;
pub mod oncall;
pub mod periodic;
pub mod platforms;
pub mod schedule;
pub mod serve;

#[cfg(test)]
mod outside_input;

/// Installs rustls' ring provider once per process. With more than one
/// provider reachable in the dependency graph rustls can't pick one by
/// itself, and TLS clients panic at first use.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
