//! Clicks that could not be delivered yet, kept in `localStorage` so a
//! reload or a closed tab does not lose them, and the back-off between
//! attempts.

use std::collections::VecDeque;
use std::time::Duration;

use prism_event::ClientEvent;
use uuid::Uuid;

/// Most clicks kept for retry; beyond it the oldest are dropped (and the
/// page says so).
pub const OUTBOX_CAP: usize = 100;

const STORAGE_KEY: &str = "prism.outbox.v1";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outbox {
    events: VecDeque<ClientEvent>,
}

impl Outbox {
    /// Adds an event (once: the same `event_id` is never queued twice) and
    /// returns how many old events were dropped to stay within the cap.
    pub fn push(&mut self, event: ClientEvent) -> usize {
        if self.events.iter().any(|e| e.event_id == event.event_id) {
            return 0;
        }
        self.events.push_back(event);
        let over = self.events.len().saturating_sub(OUTBOX_CAP);
        self.events.drain(..over);
        over
    }

    pub fn front(&self) -> Option<&ClientEvent> {
        self.events.front()
    }

    pub fn remove(&mut self, id: Uuid) {
        self.events.retain(|e| e.event_id != id);
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Reads the queue saved by an earlier visit; a damaged entry is
    /// dropped rather than blocking the page.
    pub fn load(storage: Option<&web_sys::Storage>) -> Self {
        let saved = storage.and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
        let events = saved
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        Self { events }
    }

    pub fn save(&self, storage: Option<&web_sys::Storage>) {
        let Some(storage) = storage else { return };
        if self.events.is_empty() {
            let _ = storage.remove_item(STORAGE_KEY);
        } else if let Ok(json) = serde_json::to_string(&self.events) {
            let _ = storage.set_item(STORAGE_KEY, &json);
        }
    }
}

/// How long to wait before retry number `attempt` (0-based): exponential
/// from 1 s, capped at 60 s, with "equal jitter" (`jitter` in [0, 1)), and
/// never shorter than the server's `Retry-After`.
pub fn retry_delay(attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let base_ms = 1_000u64.saturating_mul(1 << attempt.min(6)).min(60_000);
    let jittered = base_ms / 2 + ((base_ms / 2) as f64 * jitter.clamp(0.0, 1.0)) as u64;
    Duration::from_millis(jittered).max(retry_after.unwrap_or_default())
}
