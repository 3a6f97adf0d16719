//! Spacing messages to one channel at most one per interval, as chat
//! platforms ask (Slack about one a second per channel; Discord likewise),
//! shared by the outbox senders.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When each channel may have its next message.
pub struct Pacer<K> {
    last: Mutex<HashMap<K, Instant>>,
}

impl<K: Eq + Hash> Default for Pacer<K> {
    fn default() -> Self {
        Pacer {
            last: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash> Pacer<K> {
    /// Waits until `channel` may have another message, `interval` after
    /// the one before (reserving the slot before waiting, so concurrent
    /// sends queue up rather than collide).
    pub async fn wait(&self, channel: K, interval: Duration) {
        let wait = {
            let mut last = self.last.lock().expect("pacing lock");
            let now = Instant::now();
            let at = last
                .get(&channel)
                .map(|t| *t + interval)
                .filter(|due| *due > now)
                .unwrap_or(now);
            last.insert(channel, at);
            if last.len() > 10_000 {
                last.retain(|_, t| now.duration_since(*t) < Duration::from_secs(60));
            }
            at.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}
