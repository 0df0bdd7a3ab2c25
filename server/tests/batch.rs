//! The contract of `POST /api/v1/batch`, in process, with an in-memory sink
//! standing in for Kafka (our own trait boundary).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{test, web};
use prism_event::{BatchAnswer, EnrichedEvent, ErrorBody, ErrorCode};
use prism_server::AppState;
use prism_server::enrich::AddressPolicy;
use prism_server::sink::{MemorySink, SinkError};
use serde_json::{Value, json};

mod support;

use support::{BATCH_MAX_BYTES, BATCH_MAX_EVENTS, CHROME, LIMIT, app, state, valid};

fn event(n: u32) -> Value {
    let mut e = valid();
    e["event_id"] = json!(format!("01937a4e-8f2b-7c3d-9a1e-{n:012x}"));
    e["name"] = json!(format!("person {n}"));
    e
}

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

async fn post_batch(
    state: &web::Data<AppState>,
    content_type: &str,
    body: impl Into<web::Bytes>,
) -> Answer {
    let app = app!(state);
    let req = test::TestRequest::post()
        .uri("/api/v1/batch")
        .insert_header(("content-type", content_type))
        .insert_header(("user-agent", CHROME))
        .peer_addr("198.51.100.77:40000".parse().unwrap())
        .set_payload(body)
        .to_request();
    let res = test::call_service(&app, req).await;
    Answer {
        status: res.status(),
        retry_after: res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: test::read_body_json(res).await,
    }
}

/// A batch declared as JSON.
async fn post_events(state: &web::Data<AppState>, body: impl Into<web::Bytes>) -> Answer {
    post_batch(state, "application/json", body).await
}

fn fresh() -> (Arc<MemorySink>, web::Data<AppState>) {
    let sink = Arc::new(MemorySink::new());
    let state = state(sink.clone(), AddressPolicy::default());
    (sink, state)
}

#[actix_web::test]
async fn every_event_gets_its_own_result_in_order_and_only_valid_ones_are_produced() {
    let (sink, state) = fresh();
    let mut bad_color = event(2);
    bad_color["color"] = json!("pink");
    let mut too_big = event(4);
    too_big["navigator"]["referrer"] = json!("r".repeat(LIMIT));
    let body = json!([event(1), bad_color, 7, too_big, event(5)]);
    let a = post_events(&state, body.to_string()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.retry_after, None);
    let answer: BatchAnswer = serde_json::from_value(a.body).unwrap();
    type Row = (Option<String>, u16, Option<ErrorCode>, Option<String>);
    let got: Vec<Row> = answer
        .results
        .iter()
        .map(|r| {
            (
                r.event_id.map(|id| id.to_string()),
                r.status,
                r.error,
                r.field.clone(),
            )
        })
        .collect();
    let id = |n: u32| Some(format!("01937a4e-8f2b-7c3d-9a1e-{n:012x}"));
    assert_eq!(
        got,
        vec![
            (id(1), 202, None, None),
            (
                id(2),
                422,
                Some(ErrorCode::InvalidEvent),
                Some("color".into())
            ),
            (None, 422, Some(ErrorCode::InvalidEvent), None),
            (id(4), 413, Some(ErrorCode::PayloadTooLarge), None),
            (id(5), 202, None, None),
        ]
    );
    let produced: Vec<String> = sink
        .sent()
        .iter()
        .map(|p| serde_json::from_slice::<EnrichedEvent>(p).unwrap().name)
        .collect();
    assert_eq!(produced, ["person 1", "person 5"]);
    let enriched: EnrichedEvent = serde_json::from_slice(&sink.sent()[0]).unwrap();
    assert_eq!(enriched.ua.browser.family, "Chrome");
    assert_eq!(enriched.client_ip, Some("198.51.100.77".parse().unwrap()));
}

#[actix_web::test]
async fn the_request_as_a_whole_keeps_the_single_endpoints_statuses() {
    let (sink, state) = fresh();
    let too_many: Vec<Value> = (0..=BATCH_MAX_EVENTS as u32).map(event).collect();
    let cases: Vec<(&str, &str, String, StatusCode, ErrorCode)> = vec![
        (
            "not declared JSON",
            "text/plain",
            json!([event(1)]).to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
        ),
        (
            "not JSON",
            "application/json",
            "[{".into(),
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedJson,
        ),
        (
            "not an array",
            "application/json",
            event(1).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidEvent,
        ),
        (
            "empty",
            "application/json",
            "[]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidEvent,
        ),
        (
            "too many events",
            "application/json",
            json!(too_many).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
        ),
        (
            "too many bytes",
            "application/json",
            format!("[{}]", " ".repeat(BATCH_MAX_BYTES)),
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
        ),
    ];
    for (name, content_type, body, status, code) in cases {
        let a = post_batch(&state, content_type, body).await;
        assert_eq!(a.status, status, "{name}");
        let body: ErrorBody = serde_json::from_value(a.body).unwrap();
        assert_eq!(body.error, code, "{name}");
    }
    assert!(sink.sent().is_empty());
}

#[actix_web::test]
async fn kafka_unavailable_for_every_event_is_a_503_and_for_some_a_per_event_503() {
    let (sink, state) = fresh();
    for _ in 0..2 {
        sink.fail_next(SinkError::BrokersDown);
    }
    let a = post_events(&state, json!([event(1), event(2)]).to_string()).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.retry_after.as_deref(), Some("3"));
    let body: ErrorBody = serde_json::from_value(a.body).unwrap();
    assert_eq!(body.error, ErrorCode::Unavailable);

    // The same event twice while Kafka is down: still nothing accepted.
    sink.fail_next(SinkError::BrokersDown);
    let a = post_events(&state, json!([event(3), event(3)]).to_string()).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);

    // One of two fails: a 200 with the failed one marked retryable.
    sink.fail_next(SinkError::QueueFull);
    let a = post_events(&state, json!([event(1), event(2)]).to_string()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.retry_after.as_deref(), Some("3"));
    let answer: BatchAnswer = serde_json::from_value(a.body).unwrap();
    let statuses: Vec<u16> = answer.results.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 1);
    let failed = answer.results.iter().find(|r| r.status == 503).unwrap();
    assert!(failed.error.unwrap().is_retryable());
    assert_eq!(sink.sent().len(), 1);
}

#[actix_web::test]
async fn events_accepted_before_or_twice_in_one_batch_are_acknowledged_not_produced() {
    let (sink, state) = fresh();
    let a = post_events(&state, json!([event(1)]).to_string()).await;
    assert_eq!(a.status, StatusCode::OK);
    // The page sends 1 again (it missed the answer), 2 twice, and 3.
    let body = json!([event(1), event(2), event(2), event(3)]).to_string();
    let a = post_events(&state, body).await;
    let answer: BatchAnswer = serde_json::from_value(a.body).unwrap();
    assert!(answer.results.iter().all(|r| r.is_accepted()));
    let names: Vec<String> = sink
        .sent()
        .iter()
        .map(|p| serde_json::from_slice::<EnrichedEvent>(p).unwrap().name)
        .collect();
    assert_eq!(names, ["person 1", "person 2", "person 3"]);
    assert_eq!(state.metrics.duplicates.get(), 2);
    // And the single endpoint knows them too.
    let app = app!(state);
    let req = test::TestRequest::post()
        .uri("/api/v1/events")
        .insert_header(("content-type", "application/json"))
        .set_payload(event(3).to_string())
        .to_request();
    assert_eq!(test::call_service(&app, req).await.status(), 202);
    assert_eq!(sink.sent().len(), 3);
}
