//! usher: a chat-ops bot for a service catalog.
//!
//! Layout, bottom to top — a module uses only those listed before it
//! (`tests/integration/layers.rs` fails on a cycle; ARCHITECTURE.md has
//! the invariants):
//!
//! - [`clock`], [`schedule`], [`rotation`], [`diagnostics`], [`percent`],
//!   [`metrics`], [`periodic`] — leaves: time, crontab schedules, rotation
//!   arithmetic, error references, URL path encoding, Prometheus metrics,
//!   periodic tasks.
//! - [`config`] — `usher.toml` and the environment, as plain settings;
//!   each part turns its own section into what it needs.
//! - [`db`] — opening the database: `DATABASE_URL` or the local cluster
//!   usher runs itself; migrations.
//! - [`chat`] — the platform-neutral request and reply.
//! - [`actions`] — the durable outbox every outbound side effect goes
//!   through, its job kinds and typed payloads, and the automation steps of
//!   new services (which write back to the catalog only through the
//!   `Annotations` they are handed).
//! - [`catalog`] — the Backstage model, reading and validating descriptors,
//!   the Postgres store. Uses no chat types.
//! - [`oncall`] — PagerDuty, Opsgenie and usher's rotations; paging.
//! - [`hygiene`] — the catalog check-up: rules, digests, proposals.
//! - [`context`] — `Core`, what commands and dialogues run with.
//! - [`dialogs`] — guided conversations (creating a service).
//! - [`commands`] — the router and one module per command; the definitions
//!   live in the top-level `commands/` folder.
//! - [`discovery`] — every repository the organisation has, catalogued or
//!   not: scans, likely owners from CODEOWNERS, descriptors imported.
//! - [`directory`] — people and teams from the identity provider (SCIM, LDAP / AD).
//! - [`platforms`] — the console, Slack and Discord adapters.
//! - [`http`], [`serve`] — the HTTP endpoints and `usher serve`.
//! - [`demo`], [`bench`] — the embedded demo catalog; benchmarks.
//! - `cli/` (in the binary, `src/main.rs`) — the command line.

pub mod actions;
pub mod bench;
pub mod catalog;
pub mod chat;
pub mod clock;
pub mod commands;
pub mod config;
pub mod context;
pub mod db;
pub mod demo;
pub mod diagnostics;
pub mod dialogs;
pub mod directory;
pub mod discovery;
pub mod http;
pub mod hygiene;
pub mod metrics;
pub mod oncall;
pub mod percent;
pub mod periodic;
pub mod platforms;
pub mod rotation;
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
