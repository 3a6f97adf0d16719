//! Integration tests: real PostgreSQL, the real binary, real files. All in
//! one test binary so it links once.

mod support;

mod backstage_import;
mod catalog_import;
mod cli;
mod commands;
mod conformance;
mod console;
mod creation;
mod deploy;
mod directory_ldap;
mod discord;
mod discovery;
mod discovery_deps;
mod discovery_gitlab;
mod fake_discord;
mod fake_github;
mod fake_gitlab;
mod fake_slack;
mod fakes;
mod first_hour;
mod hygiene;
mod hygiene_repositories;
mod layers;
mod load;
mod local_postgres;
mod manifests;
mod oncall;
mod outbox;
mod questions;
mod read_model;
mod rolling;
mod scim;
mod self_contained;
mod slack;
mod slapd;
mod sync;
mod trust;
mod validate;
