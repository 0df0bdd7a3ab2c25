//! `POST /api/v1/batch`: a JSON array of events, each decoded, checked and
//! produced on its own, answered with one result per event so that a client
//! sends again only what failed.
//!
//! The request as a whole keeps the single endpoint's contract: 415 when not
//! declared JSON, 413 over `batch_max_bytes` or `batch_max_events`, 400 when
//! not JSON, 422 when not a non-empty array, and 503 with `Retry-After` when
//! no event could be accepted because Kafka is unavailable. Otherwise 200
//! and a [`BatchAnswer`]: each event 202, or the 413/422/503 the single
//! endpoint would have answered for it alone.

use std::collections::HashMap;
use std::time::Instant;

use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::join_all;
use prism_event::{BatchAnswer, EventResult};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::decode::{decode_batch, decode_event};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn post_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limits = state.limits;
    let (client, body) = state
        .client_and_body(&req, payload, limits.batch_max_bytes)
        .await?;
    let events = decode_batch(&body)?;
    if events.len() > limits.batch_max_events {
        return Err(ApiError::TooManyEvents {
            max_events: limits.batch_max_events,
        });
    }
    // A batch weighs its events, and is admitted whole or not at all.
    let _admitted = state.admit(client, events.len())?;

    let mut results: Vec<Option<EventResult>> = vec![None; events.len()];
    let mut to_send = Vec::new();
    // Where each id first occurs in this batch; a repeat shares its fate.
    let mut first_at: HashMap<Uuid, usize> = HashMap::new();
    let mut repeats = Vec::new();
    let now = Instant::now();
    for (i, raw) in events.iter().enumerate() {
        let event = if raw.get().len() > limits.max_body_bytes {
            Err(ApiError::PayloadTooLarge {
                limit: limits.max_body_bytes,
            })
        } else {
            decode_event(raw.get().as_bytes())
        };
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                results[i] = Some(refused(id_of(raw), &e));
                continue;
            }
        };
        let event_id = event.event_id;
        // Accepted earlier: acknowledged, not produced again.
        if state.recent.contains(&event_id, now) {
            state.metrics.duplicates.inc();
            results[i] = Some(EventResult::accepted(event_id));
            continue;
        }
        // Earlier in this very batch: answered as that one is, once known.
        if let Some(first) = first_at.get(&event_id) {
            repeats.push((i, *first));
            continue;
        }
        first_at.insert(event_id, i);
        match state.enrich(&req, event) {
            Ok(payload) => to_send.push((i, event_id, payload)),
            Err(e) => results[i] = Some(refused(Some(event_id), &e)),
        }
    }

    // Every event is handed to the producer before any acknowledgement is
    // awaited, so a batch costs one round of broker latency.
    let sends = to_send
        .into_iter()
        .map(|(i, event_id, payload)| {
            let state = &state;
            async move { (i, event_id, state.produce(event_id, client, payload).await) }
        })
        .collect::<Vec<_>>();
    let mut unavailable = None;
    for (i, event_id, outcome) in join_all(sends).await {
        results[i] = Some(match outcome {
            Ok(()) => EventResult::accepted(event_id),
            Err(e) => {
                let e = ApiError::from_sink(e, limits.retry_after_s);
                let result = refused(Some(event_id), &e);
                if result.status == 503 {
                    unavailable = Some(e);
                }
                result
            }
        });
    }
    for (i, first) in repeats {
        let result = results[first].clone();
        if result.as_ref().is_some_and(EventResult::is_accepted) {
            state.metrics.duplicates.inc();
        }
        results[i] = result;
    }
    // Nothing accepted because Kafka is unavailable: the single endpoint's
    // 503, so a client backs off and sends the whole batch again.
    let accepted = results.iter().flatten().any(EventResult::is_accepted);
    if let Some(e) = unavailable.filter(|_| !accepted) {
        return Err(e);
    }

    let results: Vec<EventResult> = results.into_iter().flatten().collect();
    let mut response = HttpResponse::Ok();
    if results.iter().any(|r| r.status == 503) {
        response.insert_header((RETRY_AFTER, limits.retry_after_s));
    }
    Ok(response.json(BatchAnswer { results }))
}

fn refused(event_id: Option<Uuid>, e: &ApiError) -> EventResult {
    EventResult::refused(event_id, e.status_code().as_u16(), e.body())
}

/// The id of an element that is not a valid event, when it has a readable
/// one, so the client can match the result to what it sent.
fn id_of(raw: &RawValue) -> Option<Uuid> {
    #[derive(Deserialize)]
    struct IdOnly {
        event_id: Option<Uuid>,
    }
    serde_json::from_str::<IdOnly>(raw.get())
        .ok()
        .and_then(|e| e.event_id)
}
