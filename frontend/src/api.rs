//! The typed HTTP client for the producer's API: what counts as an
//! acknowledgement, event by event.

use std::time::Duration;

use gloo_net::http::Request;
use prism_event::{Accepted, BATCH_PATH, BatchAnswer, EVENTS_PATH, ErrorBody, ErrorCode};
use uuid::Uuid;

use crate::outbox::Queued;

/// Longest a request (answer and body) may take before it is abandoned and
/// its events retried.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of one sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// The producer acknowledged this event's id: it is in Kafka.
    Delivered,
    /// The producer refused it; sending it again will not help.
    Refused(String),
    /// Not acknowledged (no answer, 429, 5xx, or an answer that is not the
    /// producer's): keep it and send it again later.
    Retry,
}

/// The answer to one request: an [`Ack`] per event, in the order sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub acks: Vec<Ack>,
    /// The server's `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
    /// The batch endpoint refused the request as a whole (an older
    /// producer without it, or a proxy's limit): send one at a time.
    pub one_at_a_time: bool,
}

impl Delivery {
    fn all(n: usize, ack: Ack) -> Self {
        Self {
            acks: vec![ack; n],
            retry_after: None,
            one_at_a_time: false,
        }
    }
}

/// Sends `events`, as queued: one alone to the events endpoint, several as
/// a batch.
pub async fn deliver(events: &[Queued]) -> Delivery {
    let (path, body) = match events {
        [one] => (EVENTS_PATH, one.json.clone()),
        _ => {
            let all: Vec<&str> = events.iter().map(|e| e.json.as_str()).collect();
            (BATCH_PATH, format!("[{}]", all.join(",")))
        }
    };
    let Ok((status, retry_after, text)) = post(path, body).await else {
        return Delivery::all(events.len(), Ack::Retry);
    };
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let (acks, one_at_a_time) = match ids.as_slice() {
        [id] => (vec![single_ack(status, &text, *id)], false),
        _ => match batch_acks(status, &text, &ids) {
            Some(acks) => (acks, false),
            None => (vec![Ack::Retry; ids.len()], true),
        },
    };
    Delivery {
        acks,
        retry_after,
        one_at_a_time,
    }
}

/// Posts JSON and reads the whole answer within [`REQUEST_TIMEOUT`]:
/// status, `Retry-After` and body.
async fn post(path: &str, body: String) -> Result<(u16, Option<Duration>, String), String> {
    let controller = web_sys::AbortController::new().map_err(|_| "no AbortController")?;
    let signal = controller.signal();
    let _deadline =
        gloo_timers::callback::Timeout::new(REQUEST_TIMEOUT.as_millis() as u32, move || {
            controller.abort()
        });
    let response = Request::post(path)
        .header("content-type", "application/json")
        .abort_signal(Some(&signal))
        .body(body)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| parse_retry_after(&v));
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok((response.status(), retry_after, text))
}

/// The single endpoint's answer for the event `id`. Only a 2xx whose body
/// names this event is an acknowledgement; a refusal must be the
/// producer's own error body (a proxy's or portal's page is not).
pub fn single_ack(status: u16, body: &str, id: Uuid) -> Ack {
    match status {
        200..=299 => match serde_json::from_str::<Accepted>(body) {
            Ok(accepted) if accepted.event_id == id => Ack::Delivered,
            _ => Ack::Retry,
        },
        429 | 500..=599 => Ack::Retry,
        _ => refusal(status, body),
    }
}

/// The batch endpoint's answer for the events `ids`, matched by id and
/// position; `None` when the batch was refused as a whole (any 4xx but
/// 429), whose events are then best judged one by one.
pub fn batch_acks(status: u16, body: &str, ids: &[Uuid]) -> Option<Vec<Ack>> {
    let all = |ack: Ack| Some(vec![ack; ids.len()]);
    match status {
        200 => match serde_json::from_str::<BatchAnswer>(body) {
            Ok(answer) if answer.results.len() == ids.len() => Some(
                ids.iter()
                    .zip(answer.results)
                    .map(|(id, result)| match result.status {
                        _ if result.event_id != Some(*id) => Ack::Retry,
                        202 => Ack::Delivered,
                        429 | 500..=599 => Ack::Retry,
                        status => {
                            Ack::Refused(result.message.unwrap_or_else(|| format!("HTTP {status}")))
                        }
                    })
                    .collect(),
            ),
            _ => all(Ack::Retry),
        },
        400..=499 if status != 429 => None,
        _ => all(Ack::Retry),
    }
}

/// A refusal counts only as the producer's own verdict on the event: one of
/// its refusing statuses with its error body and a code it uses for that. A
/// proxy's or portal's page, or another service's JSON error, is no verdict.
fn refusal(status: u16, body: &str) -> Ack {
    let Ok(error) = serde_json::from_str::<ErrorBody>(body) else {
        return Ack::Retry;
    };
    let ours = matches!(
        (status, error.error),
        (400, ErrorCode::MalformedJson)
            | (413, ErrorCode::PayloadTooLarge)
            | (415, ErrorCode::UnsupportedMediaType)
            | (422, ErrorCode::InvalidEvent)
    );
    if ours {
        Ack::Refused(error.message)
    } else {
        Ack::Retry
    }
}

/// `Retry-After` in its delta-seconds form (the producer's); HTTP dates are
/// ignored and fall back to the page's own back-off.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
