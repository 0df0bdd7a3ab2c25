//! Reading a request body, bounded in size, in time and in memory: a body
//! must arrive whole within `timeout`, with no pause longer than
//! `idle_timeout`, and every byte held counts against one budget shared by
//! all requests. Nothing is allocated from what the client declares.

pub mod budget;

pub use self::budget::{BodyBudget, Held, Overdrawn};
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap};
use actix_web::web::{self, Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::decode::is_json_content_type;
use crate::error::ApiError;
use crate::limit::ClientKey;

/// How bodies are read.
#[derive(Clone)]
pub struct BodyRules {
    pub timeout: Duration,
    pub idle_timeout: Duration,
    pub budget: Arc<BodyBudget>,
    /// `Retry-After` when the budget is full.
    pub retry_after_s: u32,
}

/// A body read whole, holding its bytes in the budget until dropped.
pub struct Body {
    bytes: Bytes,
    _held: Held,
}

impl Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The body of a request, up to `limit` bytes: 415 unless it is declared
/// as JSON (and not compressed), 413 beyond the limit.
pub async fn json_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    client: Option<ClientKey>,
    rules: &BodyRules,
) -> Result<Body, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(is_json_content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    if let Some(encoding) = req.headers().get(header::CONTENT_ENCODING)
        && !encoding.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        return Err(ApiError::UnsupportedEncoding);
    }
    read_body(req.headers(), payload, limit, client, rules).await
}

/// Reads the body up to `limit` bytes; a declared or actual size beyond it
/// is a 413 without reading further.
async fn read_body(
    headers: &HeaderMap,
    mut payload: web::Payload,
    limit: usize,
    client: Option<ClientKey>,
    rules: &BodyRules,
) -> Result<Body, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let deadline = Instant::now() + rules.timeout;
    let mut held = rules.budget.start(client);
    // Each chunk copied to an allocation of its own size: the budget counts
    // what is really held, and no chunk keeps the connection's read buffer
    // alive. Joined once, when the body is whole.
    let mut parts: Vec<Bytes> = Vec::new();
    let mut len = 0;
    loop {
        let pause_ends = (Instant::now() + rules.idle_timeout).min(deadline);
        let chunk = match tokio::time::timeout_at(pause_ends, payload.next()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_elapsed) => {
                return Err(ApiError::BodyTimeout {
                    timeout_ms: rules.timeout.as_millis().min(u128::from(u64::MAX)) as u64,
                });
            }
        };
        let chunk =
            chunk.map_err(|e| ApiError::MalformedJson(format!("could not read the body: {e}")))?;
        if len + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        match held.grow(chunk.len()) {
            Ok(()) => {}
            Err(Overdrawn::Full) => {
                return Err(ApiError::Busy {
                    retry_after_s: rules.retry_after_s,
                });
            }
            Err(Overdrawn::ClientShare) => {
                return Err(ApiError::BodyShare {
                    retry_after_s: rules.retry_after_s,
                });
            }
        }
        len += chunk.len();
        parts.push(Bytes::copy_from_slice(&chunk));
    }
    let bytes = match parts.len() {
        0 => Bytes::new(),
        1 => parts.swap_remove(0),
        _ => {
            let mut whole = BytesMut::with_capacity(len);
            for part in parts {
                whole.extend_from_slice(&part);
            }
            whole.freeze()
        }
    };
    Ok(Body { bytes, _held: held })
}
