use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::client::check_rules;
use crate::validate::FieldError;
use crate::{ClientEvent, Color, Navigator};

/// Bumped whenever [`EnrichedEvent`] changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

/// What the edge producer writes to Kafka and the sinks read back: the
/// client's event plus what only the server knows.
///
/// Readers ignore fields they do not know, so adding a field is compatible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedEvent {
    pub schema_version: u32,
    pub event_id: Uuid,
    pub name: String,
    pub color: Color,
    #[serde(with = "time::serde::rfc3339")]
    pub client_ts: OffsetDateTime,
    /// When the producer accepted the event, by the server's clock.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// The client's address, possibly anonymised; absent when not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<IpAddr>,
    pub navigator: Navigator,
    /// Parsed from the request's `User-Agent` header with uap-core's rules.
    pub ua: UserAgent,
}

impl EnrichedEvent {
    pub fn new(
        event: ClientEvent,
        received_at: OffsetDateTime,
        client_ip: Option<IpAddr>,
        ua: UserAgent,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            event_id: event.event_id,
            name: event.name,
            color: event.color,
            client_ts: event.client_ts,
            received_at,
            client_ip,
            navigator: event.navigator,
            ua,
        }
    }

    /// Whether the event keeps the rules the producer enforces; the sinks
    /// check again, since anything can write to the topic.
    pub fn check(&self) -> Result<(), FieldError> {
        check_rules(&self.event_id, &self.name, self.client_ts, &self.navigator)
    }
}

/// A user agent broken down by uap-core's rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserAgent {
    pub browser: Software,
    pub os: Software,
    pub device: Device,
}

/// A browser or an operating system: family plus up to three version parts.
/// uap-core's family for "no rule matched" is `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Software {
    pub family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Device {
    pub family: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}
