//! The typed HTTP client for the producer's API.

use std::time::Duration;

use gloo_net::http::Request;
use prism_event::{Accepted, ClientEvent, EVENTS_PATH, ErrorBody, ErrorCode};

/// Why an event was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The server refused it; sending the same event again will not help.
    Rejected { status: u16, body: ErrorBody },
    /// Worth retrying later: no network, 429, or a 5xx (with the server's
    /// `Retry-After` when it gave one).
    Retry {
        retry_after: Option<Duration>,
        reason: String,
    },
}

/// Posts one event and waits for the producer's answer.
pub async fn send_event(event: &ClientEvent) -> Result<Accepted, SendError> {
    let request = Request::post(EVENTS_PATH)
        .json(event)
        .map_err(|e| SendError::Rejected {
            status: 0,
            body: ErrorBody {
                error: ErrorCode::Internal,
                message: e.to_string(),
                field: None,
            },
        })?;
    let response = request.send().await.map_err(|e| SendError::Retry {
        retry_after: None,
        reason: e.to_string(),
    })?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| parse_retry_after(&v));
    match classify(status) {
        Outcome::Accepted => Ok(response.json::<Accepted>().await.unwrap_or(Accepted {
            event_id: event.event_id,
        })),
        Outcome::Retry => Err(SendError::Retry {
            retry_after,
            reason: format!("HTTP {status}"),
        }),
        Outcome::Rejected => {
            let body = response
                .json::<ErrorBody>()
                .await
                .unwrap_or_else(|_| ErrorBody {
                    error: ErrorCode::Unknown,
                    message: format!("HTTP {status}"),
                    field: None,
                });
            Err(SendError::Rejected { status, body })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Retry,
    Rejected,
}

/// What a status code means for the page: 2xx done, 429 and 5xx retry
/// later, any other answer is final.
pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Accepted,
        429 | 500..=599 => Outcome::Retry,
        _ => Outcome::Rejected,
    }
}

/// `Retry-After` in its delta-seconds form (the producer's); HTTP dates are
/// ignored and fall back to the page's own back-off.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
