//! The HTTP contract, in process: every status code of `POST /api/v1/events`
//! with an in-memory sink standing in for Kafka (our own trait boundary).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{test, web};
use prism_event::{EnrichedEvent, ErrorBody, ErrorCode};
use prism_server::AppState;
use prism_server::enrich::AddressPolicy;
use prism_server::sink::{MemorySink, SinkError};
use serde_json::{Value, json};
use time::macros::datetime;

mod support;

use support::{CHROME, app, state, valid, with};

async fn post(state: &web::Data<AppState>, body: String) -> (StatusCode, Option<String>, Value) {
    let app = app!(state);
    let req = test::TestRequest::post()
        .uri("/api/v1/events")
        .insert_header(("content-type", "application/json"))
        .insert_header(("user-agent", CHROME))
        .peer_addr("198.51.100.77:40000".parse().unwrap())
        .set_payload(body)
        .to_request();
    let res = test::call_service(&app, req).await;
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, test::read_body_json(res).await)
}

#[actix_web::test]
async fn a_valid_event_is_accepted_enriched_and_handed_to_the_sink() {
    let sink = Arc::new(MemorySink::new());
    let state = state(sink.clone(), AddressPolicy::default());
    let (status, _, body) = post(&state, with("/navigator/brand_new_field", Some(json!(1)))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body,
        json!({"event_id": "01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12"})
    );

    let sent = sink.sent();
    assert_eq!(sent.len(), 1);
    let event: EnrichedEvent = serde_json::from_slice(&sent[0]).unwrap();
    assert_eq!(event.schema_version, prism_event::SCHEMA_VERSION);
    assert_eq!(event.received_at, datetime!(2026-11-22 05:00:00 UTC));
    assert_eq!(event.client_ip, Some("198.51.100.77".parse().unwrap()));
    assert_eq!(event.ua.browser.family, "Chrome");
    assert_eq!(event.ua.browser.major.as_deref(), Some("131"));
    assert_eq!(event.ua.os.family, "Linux");
    assert_eq!(event.navigator.timezone.as_deref(), Some("Asia/Seoul"));
}

#[actix_web::test]
async fn a_retry_of_an_accepted_event_is_acknowledged_not_produced_again() {
    let sink = Arc::new(MemorySink::new());
    let state = state(sink.clone(), AddressPolicy::default());
    // A first attempt that failed was not accepted: its retry is produced.
    sink.fail_next(SinkError::Unavailable("timed out".into()));
    let (status, _, _) = post(&state, valid().to_string()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    for _ in 0..3 {
        let (status, _, body) = post(&state, valid().to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body["event_id"], valid()["event_id"]);
    }
    assert_eq!(sink.sent().len(), 1, "produced once");
    assert_eq!(state.metrics.duplicates.get(), 2);
}

#[actix_web::test]
async fn the_client_address_can_be_anonymised() {
    let sink = Arc::new(MemorySink::new());
    let state = state(
        sink.clone(),
        AddressPolicy {
            trust_forwarded: false,
            anonymize: true,
        },
    );
    let (status, _, _) = post(&state, valid().to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let event: EnrichedEvent = serde_json::from_slice(&sink.sent()[0]).unwrap();
    assert_eq!(event.client_ip, Some("198.51.100.0".parse().unwrap()));
}

#[actix_web::test]
async fn send_failures_become_503_with_retry_after_or_413() {
    let sink = Arc::new(MemorySink::new());
    let state = state(sink.clone(), AddressPolicy::default());
    for (failure, status, retry_after) in [
        (
            SinkError::Unavailable("all brokers down".into()),
            StatusCode::SERVICE_UNAVAILABLE,
            Some("3"),
        ),
        (
            SinkError::QueueFull,
            StatusCode::SERVICE_UNAVAILABLE,
            Some("3"),
        ),
        (SinkError::TooLarge, StatusCode::PAYLOAD_TOO_LARGE, None),
    ] {
        sink.fail_next(failure.clone());
        let (got, got_retry_after, body) = post(&state, valid().to_string()).await;
        assert_eq!(got, status, "{failure:?}");
        assert_eq!(got_retry_after.as_deref(), retry_after, "{failure:?}");
        let body: ErrorBody = serde_json::from_value(body).unwrap();
        assert_eq!(
            body.error.is_retryable(),
            retry_after.is_some(),
            "{failure:?}"
        );
    }
    assert!(sink.sent().is_empty());
    let (status, _, _) = post(&state, valid().to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "a failure must not stick");
}

#[actix_web::test]
async fn health_readiness_and_unknown_routes() {
    let sink = Arc::new(MemorySink::new());
    let state = state(sink.clone(), AddressPolicy::default());
    let app = app!(state);
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();

    assert_eq!(
        test::call_service(&app, get("/healthz")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        test::call_service(&app, get("/readyz")).await.status(),
        StatusCode::OK
    );
    sink.set_ready(false);
    let res = test::call_service(&app, get("/readyz")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    sink.set_ready(false);
    assert_eq!(
        test::call_service(&app, get("/healthz")).await.status(),
        StatusCode::OK,
        "health ignores Kafka"
    );

    let res = test::call_service(&app, get("/api/v1/events")).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: ErrorBody = test::read_body_json(res).await;
    assert_eq!(body.error, ErrorCode::MethodNotAllowed);
    let res = test::call_service(&app, get("/nowhere")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status_without_personal_labels() {
    let sink = Arc::new(MemorySink::new());
    let state = state(sink.clone(), AddressPolicy::default());
    post(&state, valid().to_string()).await;
    post(&state, with("/color", Some(json!("pink")))).await;
    sink.fail_next(SinkError::QueueFull);
    let another = json!("01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f13");
    post(&state, with("/event_id", Some(another))).await;

    let app = app!(state);
    let res = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    for line in [
        r#"prism_http_requests_total{route="/api/v1/events",status="202"} 1"#,
        r#"prism_http_requests_total{route="/api/v1/events",status="422"} 1"#,
        r#"prism_http_requests_total{route="/api/v1/events",status="503"} 1"#,
        "prism_events_produced_total 1",
        r#"prism_produce_failures_total{cause="queue_full"} 1"#,
        "prism_producer_queue_depth 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(text.contains("prism_http_request_duration_seconds_bucket"));
    assert!(!text.contains("Kim") && !text.contains("198.51.100") && !text.contains("Chrome"));
}

#[actix_web::test]
async fn a_name_is_stored_in_normalisation_form_c() {
    let sink = Arc::new(MemorySink::new());
    let state = state(sink.clone(), AddressPolicy::default());
    let (status, _, _) = post(&state, with("/name", Some(json!("  Jose\u{301} Kim ")))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let stored: EnrichedEvent = serde_json::from_slice(&sink.sent()[0]).unwrap();
    assert_eq!(stored.name, "Jos\u{e9} Kim");
}

#[actix_web::test]
async fn an_error_answer_quotes_at_most_64_bytes_of_the_input() {
    let sink = Arc::new(MemorySink::new());
    let state = state(sink.clone(), AddressPolicy::default());
    let long = "x".repeat(3_000);
    for body in [
        with("/color", Some(json!(long))),
        with(&format!("/{long}"), Some(json!(1))),
    ] {
        let (status, _, answer) = post(&state, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let message = answer["message"].as_str().unwrap();
        assert!(message.len() < 300, "{} bytes: {message}", message.len());
        assert!(!message.contains(&"x".repeat(65)), "{message}");
    }
}
