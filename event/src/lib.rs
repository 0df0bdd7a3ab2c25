//! The one event schema Prism speaks, from the page to the sinks.
//!
//! Three stages share these types: the page builds a [`ClientEvent`], the edge
//! producer validates it and turns it into an [`EnrichedEvent`] for Kafka, and
//! the sinks read that back. The producer's answers ([`Accepted`],
//! [`BatchAnswer`], [`ErrorBody`]) live here too so the page can decode them.
//!
//! This crate is serde plus `uuid`/`time` only: it builds for
//! `wasm32-unknown-unknown`.

mod api;
mod client;
mod color;
mod enriched;
mod validate;

pub use api::{Accepted, BatchAnswer, ErrorBody, ErrorCode, EventResult};
pub use client::{ClientEvent, Navigator, Screen, UaBrand, UaData, Viewport};
pub use color::{Color, UnknownColor};
pub use enriched::{Device, EnrichedEvent, SCHEMA_VERSION, Software, UserAgent};
pub use validate::{FieldError, NAME_MAX_CHARS, NameError, validate_name};

/// The path every event is posted to.
pub const EVENTS_PATH: &str = "/api/v1/events";

/// The path a JSON array of events is posted to ([`BatchAnswer`]).
pub const BATCH_PATH: &str = "/api/v1/batch";
