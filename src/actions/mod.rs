//! Outbound side effects, all through the durable outbox.

pub mod automation;
pub mod outbox;
