//! Sends presses to the producer and never loses one: what cannot be
//! delivered now goes to the outbox and is retried with back-off, on load,
//! and when the browser comes back online, always with its original
//! `event_id` so a retry never makes a second event downstream.

use gloo_timers::future::sleep;
use leptos::prelude::*;
use leptos::task::spawn_local;
use prism_event::{ClientEvent, Color};

use crate::api::{self, SendError};
use crate::browser;
use crate::outbox::{Outbox, retry_delay};
use crate::status::{Status, short_id};
use crate::tally::Tally;

/// The page's sending state; `Copy`, so every closure and task can hold it.
#[derive(Clone, Copy)]
pub struct Sender {
    pub status: RwSignal<Status>,
    pub outbox: RwSignal<Outbox>,
    pub tally: RwSignal<Tally>,
    /// Clicks dropped because the outbox was full, shown as a note.
    pub dropped: RwSignal<usize>,
    flushing: StoredValue<bool>,
    retry_scheduled: StoredValue<bool>,
    attempt: StoredValue<u32>,
}

impl Sender {
    /// Restores the outbox and tally an earlier visit left behind.
    pub fn restore() -> Self {
        let storage = browser::storage();
        Self {
            status: RwSignal::new(Status::Idle),
            outbox: RwSignal::new(Outbox::load(storage.as_ref())),
            tally: RwSignal::new(Tally::load(storage.as_ref())),
            dropped: RwSignal::new(0),
            flushing: StoredValue::new(false),
            retry_scheduled: StoredValue::new(false),
            attempt: StoredValue::new(0),
        }
    }

    /// The action behind a press: send one event, then settle its outcome.
    pub fn send_action(self) -> Action<ClientEvent, ()> {
        Action::new_local(move |event: &ClientEvent| {
            let event = event.clone();
            async move {
                let result = api::send_event(&event).await;
                self.settle(event, result);
            }
        })
    }

    /// One press: a new event, sent at once through `send`.
    pub fn press(self, send: Action<ClientEvent, ()>, name: &str, color: Color) {
        self.status.set(Status::Sending);
        send.dispatch(browser::new_event(name, color));
    }

    /// Sends what an earlier visit queued (call once on load).
    pub fn resume(self) {
        let pending = self.outbox.with_untracked(Outbox::len);
        if pending > 0 {
            self.status.set(Status::Queued { pending });
            self.retry_now();
        }
    }

    /// Retries the outbox now, from the shortest back-off (the browser came
    /// back online).
    pub fn retry_now(self) {
        self.attempt.set_value(0);
        spawn_local(self.flush());
    }

    /// What to do with the answer to a send.
    pub fn settle(self, event: ClientEvent, result: Result<prism_event::Accepted, SendError>) {
        match result {
            Ok(_) => self.delivered(&event),
            Err(SendError::Rejected { body, .. }) => {
                self.status.set(Status::Rejected {
                    message: body.message,
                });
            }
            Err(SendError::Retry { retry_after, .. }) => {
                let dropped = self.outbox.try_update(|o| o.push(event)).unwrap_or(0);
                self.save_outbox();
                if dropped > 0 {
                    self.dropped.update(|d| *d += dropped);
                }
                self.status.set(Status::Queued {
                    pending: self.outbox.with_untracked(Outbox::len),
                });
                let attempt = self.attempt.get_value();
                self.schedule(retry_delay(attempt, retry_after, browser::random()));
            }
        }
    }

    fn delivered(self, event: &ClientEvent) {
        self.tally.update(|t| t.add(event.color));
        self.tally
            .with_untracked(|t| t.save(browser::storage().as_ref()));
        self.status.set(Status::Sent {
            name: event.name.clone(),
            color: event.color,
            short_id: short_id(event.event_id),
        });
    }

    fn save_outbox(self) {
        self.outbox
            .with_untracked(|o| o.save(browser::storage().as_ref()));
    }

    fn schedule(self, delay: std::time::Duration) {
        if self.retry_scheduled.get_value() {
            return;
        }
        self.retry_scheduled.set_value(true);
        spawn_local(async move {
            sleep(delay).await;
            self.retry_scheduled.set_value(false);
            self.flush().await;
        });
    }

    /// Sends queued events oldest first until one needs a retry.
    async fn flush(self) {
        if self.flushing.get_value() {
            return;
        }
        self.flushing.set_value(true);
        while let Some(event) = self.outbox.with_untracked(|o| o.front().cloned()) {
            match api::send_event(&event).await {
                Ok(_) => {
                    self.outbox.update(|o| o.remove(event.event_id));
                    self.save_outbox();
                    self.delivered(&event);
                }
                Err(SendError::Rejected { body, .. }) => {
                    self.outbox.update(|o| o.remove(event.event_id));
                    self.save_outbox();
                    self.status.set(Status::Rejected {
                        message: body.message,
                    });
                }
                Err(SendError::Retry { retry_after, .. }) => {
                    let attempt = self.attempt.get_value();
                    self.attempt.set_value(attempt.saturating_add(1));
                    self.status.set(Status::Queued {
                        pending: self.outbox.with_untracked(Outbox::len),
                    });
                    self.schedule(retry_delay(attempt + 1, retry_after, browser::random()));
                    break;
                }
            }
        }
        if self.outbox.with_untracked(Outbox::is_empty) {
            self.attempt.set_value(0);
        }
        self.flushing.set_value(false);
    }
}
