use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The producer's answer to an accepted event (HTTP 202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub event_id: Uuid,
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
    /// 503: Kafka is unreachable or the send queue is full; retry later.
    Unavailable,
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
        matches!(self, ErrorCode::Unavailable)
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
    fn an_unknown_code_from_a_newer_server_still_decodes() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":"rate_limited","message":"slow down"}"#).unwrap();
        assert_eq!(body.error, ErrorCode::Unknown);
    }
}
