//! The outbox: a press is written here before anything is sent, and an
//! event leaves only when the producer acknowledged that very event, or
//! refused it for good.
//!
//! Each event is its own `localStorage` entry (`prism.outbox.v2.<event_id>`),
//! so tabs never overwrite each other's clicks and a damaged entry costs
//! only itself. Where the browser refuses storage (disabled, or full), the
//! entry is kept in this tab's memory instead: sent as long as the tab
//! lives.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use prism_event::{ClientEvent, Color};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

/// Most clicks kept for retry; beyond it the oldest are dropped (and the
/// page says so).
pub const OUTBOX_CAP: usize = 100;

/// The prefix of every outbox entry's key.
pub const PREFIX: &str = "prism.outbox.v2.";

/// Where the first version kept its whole queue as one JSON array; read
/// once, entry by entry, into the new layout.
pub const LEGACY_KEY: &str = "prism.outbox.v1";

thread_local! {
    /// Entries the browser would not store, by key.
    static MEMORY: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
}

pub fn key(id: Uuid) -> String {
    format!("{PREFIX}{id}")
}

/// A queued event: its JSON exactly as it was pressed (every attempt sends
/// the same bytes), and what the page needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub event_id: Uuid,
    pub color: Color,
    pub json: String,
}

/// The part of an event the page reads back; the rest stays text (parsing
/// whole events would cost the page kilobytes of code).
#[derive(Deserialize)]
struct Head {
    event_id: Uuid,
    color: Color,
}

impl Queued {
    fn parse(json: String) -> Option<Self> {
        let head: Head = serde_json::from_str(&json).ok()?;
        Some(Self {
            event_id: head.event_id,
            color: head.color,
            json,
        })
    }
}

/// The queued events, oldest first (UUIDv7 ids sort by creation time).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outbox {
    events: Vec<Queued>,
}

impl Outbox {
    /// Everything queued in this browser, by any tab. An entry that does not
    /// parse is removed (and logged); the others are unaffected.
    pub fn read(storage: Option<&web_sys::Storage>) -> Self {
        if let Some(storage) = storage {
            migrate_legacy(storage);
        }
        let entries = entries(storage, true);
        let mut events = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            match Queued::parse(value) {
                Some(event) if key == self::key(event.event_id) => events.push(event),
                _ => {
                    web_sys::console::warn_1(
                        &format!("dropping a damaged outbox entry {key}").into(),
                    );
                    remove_key(storage, &key);
                }
            }
        }
        Self { events }
    }

    pub fn events(&self) -> &[Queued] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// How many events are queued, without reading them.
pub fn count(storage: Option<&web_sys::Storage>) -> usize {
    entries(storage, false).len()
}

/// Every outbox entry, stored or in memory, by key: oldest first; with its
/// text when `read` (otherwise an empty one: counting needs only keys).
fn entries(storage: Option<&web_sys::Storage>, read: bool) -> BTreeMap<String, String> {
    let mut entries = MEMORY.with_borrow(|m| m.clone());
    if let Some(storage) = storage {
        let n = storage.length().unwrap_or(0);
        for key in (0..n).filter_map(|i| storage.key(i).ok().flatten()) {
            if !key.starts_with(PREFIX) {
                continue;
            }
            let value = if read {
                match storage.get_item(&key) {
                    Ok(Some(value)) => value,
                    _ => continue,
                }
            } else {
                String::new()
            };
            entries.insert(key, value);
        }
    }
    entries
}

/// Queues `event` (once: its key is its id) and returns how many of the
/// oldest entries were dropped to stay within [`OUTBOX_CAP`].
pub fn put(storage: Option<&web_sys::Storage>, event: &ClientEvent) -> usize {
    match serde_json::to_string(event) {
        Ok(json) => put_json(storage, event.event_id, json),
        Err(_) => 0,
    }
}

fn put_json(storage: Option<&web_sys::Storage>, id: Uuid, value: String) -> usize {
    let key = key(id);
    let stored = storage.is_some_and(|s| s.set_item(&key, &value).is_ok());
    if !stored {
        MEMORY.with_borrow_mut(|m| m.insert(key, value));
    }
    let all = entries(storage, false);
    let over = all.len().saturating_sub(OUTBOX_CAP);
    for oldest in all.keys().take(over) {
        remove_key(storage, oldest);
    }
    over
}

/// Takes the event out of the outbox (delivered, or refused for good);
/// whether it was still there (another sender may have settled it).
pub fn remove(storage: Option<&web_sys::Storage>, id: Uuid) -> bool {
    remove_key(storage, &key(id))
}

fn remove_key(storage: Option<&web_sys::Storage>, key: &str) -> bool {
    let stored = storage.is_some_and(|s| {
        let there = matches!(s.get_item(key), Ok(Some(_)));
        let _ = s.remove_item(key);
        there
    });
    let in_memory = MEMORY.with_borrow_mut(|m| m.remove(key)).is_some();
    stored || in_memory
}

/// Moves the first version's single-array queue into one entry per event,
/// element by element, so one damaged element loses only itself.
fn migrate_legacy(storage: &web_sys::Storage) {
    let Ok(Some(saved)) = storage.get_item(LEGACY_KEY) else {
        return;
    };
    let elements: Vec<Box<RawValue>> = serde_json::from_str(&saved).unwrap_or_default();
    for element in elements {
        match Queued::parse(element.get().to_owned()) {
            Some(event) => {
                put_json(Some(storage), event.event_id, event.json);
            }
            None => web_sys::console::warn_1(&"dropping a damaged queued click".into()),
        }
    }
    let _ = storage.remove_item(LEGACY_KEY);
}

/// How long to wait before retry number `attempt` (0-based): exponential
/// from 1 s, capped at 60 s, with "equal jitter" (`jitter` in [0, 1)), and
/// never shorter than the server's `Retry-After`.
pub fn retry_delay(attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let base_ms = 1_000u64.saturating_mul(1 << attempt.min(6)).min(60_000);
    let jittered = base_ms / 2 + ((base_ms / 2) as f64 * jitter.clamp(0.0, 1.0)) as u64;
    Duration::from_millis(jittered).max(retry_after.unwrap_or_default())
}
