//! Spacing messages to one channel at most one per interval, as chat
//! platforms ask (Slack about one a second per channel; Discord likewise),
//! shared by the outbox senders.
//!
//! A sender waits for a slot only when it is near; a channel busy for
//! longer hands the job back to the outbox for when its slot comes (a
//! `RetryAfter`, not a failed attempt), so a worker lane is never held by
//! one busy channel while pages and answers for others wait.

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
    /// sends queue up rather than collide) — when that is at most
    /// [`MAX_HOLD`] away. Otherwise nothing is reserved and the answer is
    /// how long until the channel is free: come back then.
    pub async fn wait(&self, channel: K, interval: Duration) -> Result<(), Duration> {
        let wait = {
            let mut last = self.last.lock().expect("pacing lock");
            let now = Instant::now();
            let at = last
                .get(&channel)
                .map(|t| *t + interval)
                .filter(|due| *due > now)
                .unwrap_or(now);
            let wait = at.saturating_duration_since(now);
            if wait > MAX_HOLD {
                return Err(wait);
            }
            last.insert(channel, at);
            if last.len() > 10_000 {
                last.retain(|_, t| now.duration_since(*t) < Duration::from_secs(60));
            }
            at.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

/// The longest a sender waits in place for a channel's slot.
pub const MAX_HOLD: Duration = Duration::from_millis(300);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_near_slot_is_waited_for_a_far_one_handed_back() {
        let pacer = Pacer::default();
        assert_eq!(pacer.wait("C1", Duration::from_secs(1)).await, Ok(()));
        // The next slot is a second away: come back then, nothing reserved.
        let later = pacer.wait("C1", Duration::from_secs(1)).await.unwrap_err();
        assert!(
            later > MAX_HOLD && later <= Duration::from_secs(1),
            "{later:?}"
        );
        // Another channel is free; a short interval is waited for in place.
        assert_eq!(pacer.wait("C2", Duration::from_secs(1)).await, Ok(()));
        let started = Instant::now();
        assert_eq!(pacer.wait("C2", Duration::from_millis(1)).await, Ok(()));
        assert_eq!(pacer.wait("C3", Duration::from_millis(100)).await, Ok(()));
        assert_eq!(pacer.wait("C3", Duration::from_millis(100)).await, Ok(()));
        assert!(started.elapsed() >= Duration::from_millis(90));
    }
}
