//! Sends presses to the producer and never loses or repeats one.
//!
//! There is one path: a press is written to the [outbox](crate::outbox)
//! first, then the browser's single flusher (one tab at a time, see
//! [`lock`](crate::lock)) sends what is queued, oldest first, several at
//! once through the batch endpoint, and removes each event only on the
//! producer's acknowledgement of that event. What is not acknowledged is
//! sent again with back-off, always with its original `event_id`, so the
//! producer answers a repeat without a second event downstream. Tabs learn
//! of each other's changes through `storage` events.

use std::time::Duration;

use leptos::prelude::*;
use prism_event::Color;
use uuid::Uuid;

use crate::api::{self, Ack};
use crate::browser;
use crate::lock::{self, Held};
use crate::outbox::{self, Outbox, retry_delay};
use crate::status::{Status, short_id};
use crate::tally::{self, Tally};

/// Most events sent in one request.
pub const BATCH_EVENTS: usize = 50;

/// Where the flusher tells the other tabs what became of their presses.
const OUTCOMES_KEY: &str = "prism.outbox.outcomes";

/// What became of one press in a request, as told to the other tabs: a
/// line `<event_id> <d|q|r>[ <message>]` each (plain text: a serde
/// format would cost the page kilobytes).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    event_id: Uuid,
    /// Still queued, to be sent again.
    queued: bool,
    refused: Option<String>,
}

impl Outcome {
    fn line(&self) -> String {
        match (&self.refused, self.queued) {
            (Some(message), _) => format!("{} r {}", self.event_id, message.replace('\n', " ")),
            (None, true) => format!("{} q", self.event_id),
            (None, false) => format!("{} d", self.event_id),
        }
    }

    fn parse(line: &str) -> Option<Self> {
        let mut parts = line.splitn(3, ' ');
        let event_id = parts.next()?.parse().ok()?;
        let (queued, refused) = match parts.next()? {
            "q" => (true, None),
            "r" => (false, Some(parts.next().unwrap_or_default().to_owned())),
            _ => (false, None),
        };
        Some(Self {
            event_id,
            queued,
            refused,
        })
    }
}

/// The page's sending state; `Copy`, so every closure and task can hold it.
#[derive(Clone, Copy)]
pub struct Sender {
    pub status: RwSignal<Status>,
    pub tally: RwSignal<Tally>,
    /// Clicks dropped because the outbox was full, shown as a note.
    pub dropped: RwSignal<usize>,
    /// Presses made in this tab and still unsettled, for its status line.
    mine: StoredValue<Vec<(Uuid, String, Color)>>,
    /// This tab holds the flush lock or waits for it.
    flushing: StoredValue<bool>,
    /// Cut the current back-off short (the browser came back online).
    wake: StoredValue<bool>,
}

impl Sender {
    /// Restores the tally an earlier visit left behind.
    pub fn restore() -> Self {
        Self {
            status: RwSignal::new(Status::Idle),
            tally: RwSignal::new(Tally::load(browser::storage().as_ref())),
            dropped: RwSignal::new(0),
            mine: StoredValue::new(Vec::new()),
            flushing: StoredValue::new(false),
            wake: StoredValue::new(false),
        }
    }

    /// One press: queue a new event, then send what is queued.
    pub fn press(self, name: &str, color: Color) {
        let event = browser::new_event(name, color);
        let dropped = outbox::put(browser::storage().as_ref(), &event);
        if dropped > 0 {
            self.dropped.update(|d| *d += dropped);
        }
        self.mine
            .update_value(|m| m.push((event.event_id, event.name, color)));
        self.status.set(Status::Sending);
        self.flush();
    }

    /// Sends what an earlier visit or another tab left queued (on load).
    pub fn send_queued(self) {
        self.flush();
    }

    /// The browser came back online: cut the current back-off short.
    pub fn retry_now(self) {
        self.wake.set_value(true);
        self.flush();
    }

    /// Another tab changed `key` in `localStorage` (`None`: cleared it).
    pub fn on_storage(self, key: Option<String>, new_value: Option<String>) {
        match key.as_deref() {
            Some(tally::STORAGE_KEY) | None => {
                self.tally.set(Tally::load(browser::storage().as_ref()));
            }
            Some(OUTCOMES_KEY) => {
                let outcomes: Vec<Outcome> = new_value
                    .iter()
                    .flat_map(|v| v.lines())
                    .filter_map(Outcome::parse)
                    .collect();
                self.show(&outcomes);
            }
            // A press in another tab: should that tab close before its turn,
            // this one sends it.
            Some(k) if k.starts_with(outbox::PREFIX) && new_value.is_some() => self.flush(),
            _ => {}
        }
    }

    /// Asks for the flush lock unless this tab already holds or awaits it:
    /// the holder reads the outbox again before every request and lets go
    /// only once it is empty, so nothing queued is left behind.
    fn flush(self) {
        if self.flushing.get_value() {
            return;
        }
        self.flushing.set_value(true);
        lock::exclusive(move |held| async move {
            self.drain(&held).await;
            self.flushing.set_value(false);
        });
    }

    /// Sends until the outbox is empty, backing off while nothing is
    /// acknowledged.
    async fn drain(self, held: &Held) {
        let mut attempt = 0u32;
        let mut batch = BATCH_EVENTS;
        loop {
            // Another tab took the lease over: it sends from here on.
            if !held.keep() {
                return;
            }
            let queued = Outbox::read(browser::storage().as_ref());
            if queued.is_empty() {
                return;
            }
            let sending = &queued.events()[..queued.len().min(batch)];
            let delivery = api::deliver(sending).await;
            let mut outcomes = Vec::with_capacity(sending.len());
            let mut delivered = Vec::new();
            for (event, ack) in sending.iter().zip(delivery.acks) {
                let outcome = Outcome {
                    event_id: event.event_id,
                    queued: ack == Ack::Retry,
                    refused: match ack {
                        Ack::Refused(message) => Some(message),
                        _ => None,
                    },
                };
                // Counted once, by whichever sender takes it out.
                if !outcome.queued
                    && outbox::remove(browser::storage().as_ref(), event.event_id)
                    && outcome.refused.is_none()
                {
                    delivered.push(event.color);
                }
                outcomes.push(outcome);
            }
            self.count_delivered(&delivered);
            self.show(&outcomes);
            tell_other_tabs(&outcomes);
            if delivery.one_at_a_time {
                batch = 1;
            }
            if outcomes.iter().any(|o| o.queued) {
                let delay = retry_delay(attempt, delivery.retry_after, browser::random());
                attempt = attempt.saturating_add(1);
                if self.pause(delay, held).await {
                    attempt = 0;
                }
            } else {
                attempt = 0;
            }
        }
    }

    /// Waits `delay`, keeping the lock fresh; true when woken early.
    async fn pause(self, delay: Duration, held: &Held) -> bool {
        const STEP: f64 = 250.0;
        let until = js_sys::Date::now() + delay.as_millis() as f64;
        loop {
            if self.wake.get_value() {
                self.wake.set_value(false);
                return true;
            }
            let left = until - js_sys::Date::now();
            if left <= 0.0 {
                return false;
            }
            gloo_timers::future::sleep(Duration::from_millis(left.min(STEP) as u64)).await;
            if !held.keep() {
                return false;
            }
        }
    }

    /// Adds a delivered event to the browser's tally. Only the flusher
    /// writes it, so reading it afresh first loses no other tab's count.
    fn count_delivered(self, colors: &[Color]) {
        if colors.is_empty() {
            return;
        }
        let storage = browser::storage();
        let mut tally = Tally::load(storage.as_ref());
        for &color in colors {
            tally.add(color);
        }
        tally.save(storage.as_ref());
        self.tally.set(tally);
    }

    /// Shows what became of the presses this tab made among `outcomes`.
    fn show(self, outcomes: &[Outcome]) {
        let mut pending = None;
        for outcome in outcomes {
            self.settled(outcome, &mut pending);
        }
    }

    /// Shows what became of a press, if this tab made it; `pending` is the
    /// outbox's size, counted once when first needed.
    fn settled(self, outcome: &Outcome, pending: &mut Option<usize>) {
        let id = outcome.event_id;
        if outcome.queued {
            if self
                .mine
                .with_value(|m| m.iter().any(|(mine, ..)| *mine == id))
            {
                let pending =
                    *pending.get_or_insert_with(|| outbox::count(browser::storage().as_ref()));
                self.status.set(Status::Queued { pending });
            }
            return;
        }
        let found = self.mine.try_update_value(|m| {
            let at = m.iter().position(|(mine, ..)| *mine == id)?;
            Some(m.swap_remove(at))
        });
        let Some((_, name, color)) = found.flatten() else {
            return;
        };
        self.status.set(match &outcome.refused {
            None => Status::Sent {
                name,
                color,
                short_id: short_id(id),
            },
            Some(message) => Status::Rejected {
                message: message.clone(),
            },
        });
    }
}

fn tell_other_tabs(outcomes: &[Outcome]) {
    if outcomes.is_empty() {
        return;
    }
    if let Some(storage) = browser::storage() {
        let lines: Vec<String> = outcomes.iter().map(Outcome::line).collect();
        let _ = storage.set_item(OUTCOMES_KEY, &lines.join("\n"));
    }
}
