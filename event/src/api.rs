use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The producer's answer to an accepted event (HTTP 202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub event_id: Uuid,
}

/// The producer's answer to a batch it read (HTTP 200): one result per
/// posted event, in the order they were posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAnswer {
    pub results: Vec<EventResult>,
}

/// What became of one event of a batch: the status the single endpoint
/// would have answered for it alone. A client sends again exactly the
/// events whose `error` is retryable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventResult {
    /// The event's id, when the posted element had a readable one.
    pub event_id: Option<Uuid>,
    /// 202 when the event is in Kafka (now, or from an earlier attempt);
    /// otherwise 413, 422 or 503.
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The offending field as a dotted path, for schema violations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl EventResult {
    /// Accepted: in Kafka, or already accepted earlier.
    pub fn accepted(event_id: Uuid) -> Self {
        Self {
            event_id: Some(event_id),
            status: 202,
            error: None,
            message: None,
            field: None,
        }
    }

    /// Refused with `status` and the error body the single endpoint would
    /// have answered.
    pub fn refused(event_id: Option<Uuid>, status: u16, body: ErrorBody) -> Self {
        Self {
            event_id,
            status,
            error: Some(body.error),
            message: Some(body.message),
            field: body.field,
        }
    }

    pub fn is_accepted(&self) -> bool {
        self.status == 202
    }
}

/// The body of every error the producer answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
    /// Human-readable; safe to show to the person who pressed the button.
    pub message: String,
    /// The offending field as a dotted path (`navigator.user_agent`), for
    /// schema violations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// What went wrong, as a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    MalformedJson,
    /// 413: the body is over the size limit.
    PayloadTooLarge,
    /// 415: the body is not declared as `application/json`.
    UnsupportedMediaType,
    /// 422: JSON, but not a valid event; `field` says where.
    InvalidEvent,
    /// 503: Kafka is unreachable, the send queue is full or the server is
    /// busy; retry later.
    Unavailable,
    /// 408: the body did not arrive in time; retry.
    RequestTimeout,
    /// 429: this client sends more than its share; retry after `Retry-After`.
    RateLimited,
    /// 404
    NotFound,
    /// 405
    MethodNotAllowed,
    /// 500
    Internal,
    /// A code this build does not know yet (a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Whether sending the same event again later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::Unavailable | ErrorCode::RequestTimeout | ErrorCode::RateLimited
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_without_a_field_omits_it() {
        let body = ErrorBody {
            error: ErrorCode::MalformedJson,
            message: "expected value".into(),
            field: None,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":"malformed_json","message":"expected value"}"#
        );
    }

    #[test]
    fn a_batch_answer_names_each_event_and_omits_empty_fields() {
        let id = Uuid::from_u128(7);
        let answer = BatchAnswer {
            results: vec![
                EventResult::accepted(id),
                EventResult::refused(
                    None,
                    422,
                    ErrorBody {
                        error: ErrorCode::InvalidEvent,
                        message: "unknown variant `pink`".into(),
                        field: Some("color".into()),
                    },
                ),
            ],
        };
        let json = serde_json::to_string(&answer).unwrap();
        assert_eq!(
            json,
            r#"{"results":[{"event_id":"00000000-0000-0000-0000-000000000007","status":202},{"event_id":null,"status":422,"error":"invalid_event","message":"unknown variant `pink`","field":"color"}]}"#
        );
        let back: BatchAnswer = serde_json::from_str(&json).unwrap();
        assert_eq!(back, answer);
        assert!(back.results[0].is_accepted() && !back.results[1].is_accepted());
    }

    #[test]
    fn an_unknown_code_from_a_newer_server_still_decodes() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":"payment_required","message":"pay up"}"#).unwrap();
        assert_eq!(body.error, ErrorCode::Unknown);
    }
}
