use prism_event::Color;
use uuid::Uuid;

/// What the status line says about the last press.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Idle,
    Sending,
    Sent {
        name: String,
        color: Color,
        short_id: String,
    },
    /// The server refused the event (a 4xx other than 429): shown, not retried.
    Rejected {
        message: String,
    },
    /// Kept in the browser and retried later.
    Queued {
        pending: usize,
    },
}

impl Status {
    /// The CSS class of the status line.
    pub fn class(&self) -> &'static str {
        match self {
            Status::Rejected { .. } => "status error",
            Status::Queued { .. } => "status queued",
            _ => "status",
        }
    }
}

/// The last 8 hex digits of an event id: the random part of a UUIDv7, so
/// two presses in the same millisecond still look different.
pub fn short_id(id: Uuid) -> String {
    let simple = id.simple().to_string();
    simple[simple.len() - 8..].to_owned()
}
