use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use prism_event::{ErrorBody, ErrorCode, FieldError};

use crate::limit::Refusal;
use crate::sink::SinkError;

/// Every way a request can end other than 202, one variant per outcome.
/// The status code each maps to is decided in one place: [`ResponseError`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),

    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },

    #[error("a batch holds at most {max_events} events")]
    TooManyEvents { max_events: usize },

    #[error("the event is larger than the broker accepts")]
    EventTooLarge,

    #[error("the body must be sent as application/json")]
    UnsupportedMediaType,

    #[error("the body must not be compressed (Content-Encoding)")]
    UnsupportedEncoding,

    #[error("the body did not arrive within {timeout_ms} ms")]
    BodyTimeout { timeout_ms: u64 },

    #[error("the server is busy reading other requests, please retry")]
    Busy { retry_after_s: u32 },

    #[error("too many events from this client, please retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u32 },

    #[error("too many events from this client are waiting to be sent, please retry")]
    QueueShare { retry_after_s: u32 },

    #[error("this client is sending too many bodies at once, please retry")]
    BodyShare { retry_after_s: u32 },

    #[error("too many connections from this client")]
    TooManyConnections { retry_after_s: u32 },

    #[error("{}", .0.message)]
    InvalidEvent(FieldError),

    #[error("the event could not be delivered to Kafka, please retry: {reason}")]
    KafkaUnavailable { reason: String, retry_after_s: u32 },

    #[error("too many events are waiting to be sent, please retry")]
    QueueFull { retry_after_s: u32 },

    #[error("no such resource")]
    NotFound,

    #[error("method not allowed here")]
    MethodNotAllowed,

    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// A failed send, answered with a `Retry-After` of `retry_after_s`.
    pub fn from_refusal(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Rate { retry_after_s } => ApiError::RateLimited { retry_after_s },
            Refusal::QueueShare => ApiError::QueueShare { retry_after_s: 1 },
        }
    }

    pub fn from_sink(e: SinkError, retry_after_s: u32) -> Self {
        match e {
            SinkError::QueueFull => ApiError::QueueFull { retry_after_s },
            SinkError::TooLarge => ApiError::EventTooLarge,
            SinkError::Unavailable(reason) => ApiError::KafkaUnavailable {
                reason,
                retry_after_s,
            },
            SinkError::BrokersDown => ApiError::KafkaUnavailable {
                reason: "no Kafka broker is reachable".into(),
                retry_after_s,
            },
        }
    }

    fn retry_after_s(&self) -> Option<u32> {
        match self {
            ApiError::KafkaUnavailable { retry_after_s, .. }
            | ApiError::QueueFull { retry_after_s }
            | ApiError::Busy { retry_after_s }
            | ApiError::RateLimited { retry_after_s }
            | ApiError::QueueShare { retry_after_s }
            | ApiError::BodyShare { retry_after_s }
            | ApiError::TooManyConnections { retry_after_s } => Some(*retry_after_s),
            _ => None,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::MalformedJson(_) => ErrorCode::MalformedJson,
            ApiError::PayloadTooLarge { .. }
            | ApiError::TooManyEvents { .. }
            | ApiError::EventTooLarge => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedEncoding => {
                ErrorCode::UnsupportedMediaType
            }
            ApiError::InvalidEvent(_) => ErrorCode::InvalidEvent,
            ApiError::KafkaUnavailable { .. }
            | ApiError::QueueFull { .. }
            | ApiError::Busy { .. } => ErrorCode::Unavailable,
            ApiError::BodyTimeout { .. } => ErrorCode::RequestTimeout,
            ApiError::RateLimited { .. }
            | ApiError::QueueShare { .. }
            | ApiError::BodyShare { .. }
            | ApiError::TooManyConnections { .. } => ErrorCode::RateLimited,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::Internal => ErrorCode::Internal,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code(),
            message: clip_echoes(&self.to_string()),
            field: match self {
                ApiError::InvalidEvent(e) if !e.field.is_empty() => Some(e.field.clone()),
                _ => None,
            },
        }
    }
}

/// Bytes of the client's own input an error message may quote.
pub const ECHO_MAX_BYTES: usize = 64;

/// The message with every quoted part (serde quotes input in backticks or
/// double quotes) cut to [`ECHO_MAX_BYTES`], so an answer never carries
/// more than that of what the client sent.
fn clip_echoes(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(512));
    let mut rest = message;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=open]);
        let inner_start = open + 1;
        let (inner, after) = match rest[inner_start..].find(quote) {
            Some(close) => (
                &rest[inner_start..inner_start + close],
                &rest[inner_start + close..],
            ),
            None => (&rest[inner_start..], ""),
        };
        if inner.len() > ECHO_MAX_BYTES {
            let mut cut = ECHO_MAX_BYTES;
            while !inner.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push_str(&inner[..cut]);
            out.push('…');
        } else {
            out.push_str(inner);
        }
        match after.chars().next() {
            Some(close) => {
                out.push(close);
                rest = &after[close.len_utf8()..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. }
            | ApiError::TooManyEvents { .. }
            | ApiError::EventTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedEncoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::InvalidEvent(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::KafkaUnavailable { .. }
            | ApiError::QueueFull { .. }
            | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. }
            | ApiError::QueueShare { .. }
            | ApiError::BodyShare { .. }
            | ApiError::TooManyConnections { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, "application/json"));
        if let Some(seconds) = self.retry_after_s() {
            response.insert_header((RETRY_AFTER, seconds));
        }
        // The rest of an unread body, or a connection over the client's
        // share, is not worth keeping open.
        if matches!(
            self,
            ApiError::BodyTimeout { .. }
                | ApiError::Busy { .. }
                | ApiError::BodyShare { .. }
                | ApiError::TooManyConnections { .. }
                | ApiError::PayloadTooLarge { .. }
        ) {
            response.force_close();
        }
        response.json(self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_quotes_at_most_64_bytes_of_input() {
        let long = "p".repeat(10_000);
        let message = format!("unknown variant `{long}`, expected one of `red`, `blue`");
        let clipped = clip_echoes(&message);
        assert_eq!(
            clipped,
            format!(
                "unknown variant `{}…`, expected one of `red`, `blue`",
                "p".repeat(64)
            )
        );
        let korean = "김".repeat(30);
        let clipped = clip_echoes(&format!("invalid type: string \"{korean}\""));
        assert!(clipped.len() < 64 + 40, "{clipped}");
        assert_eq!(clip_echoes("no quotes at all"), "no quotes at all");
        assert_eq!(clip_echoes("an `unclosed quote"), "an `unclosed quote");
    }
}
