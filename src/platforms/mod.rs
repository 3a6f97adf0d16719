//! Platform adapters: each turns its platform's events into requests for
//! the core and renders the replies. Only these modules know a platform.

pub mod console;
pub mod delivery;
pub mod discord;
pub mod messages;
pub mod pacing;
pub mod replay;
pub mod slack;
pub mod values;

use std::sync::RwLock;

use serde_json::Value;

/// What `/readyz` says about a platform (its details; a platform that is
/// down doesn't make usher unready).
#[derive(Debug, Default)]
pub struct Status {
    inner: RwLock<Value>,
}

impl Status {
    pub fn set(&self, value: Value) {
        *self.inner.write().expect("status lock") = value;
    }

    pub fn get(&self) -> Value {
        self.inner.read().expect("status lock").clone()
    }
}
