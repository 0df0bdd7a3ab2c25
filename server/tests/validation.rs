//! The contract's validation table, in process: every bad input to
//! `POST /api/v1/events` gets its status and an error body naming the
//! field, and none reaches the sink (an in-memory one, our own trait
//! boundary).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test;
use prism_event::{ErrorBody, ErrorCode};
use prism_server::enrich::AddressPolicy;
use prism_server::sink::MemorySink;
use serde_json::json;

mod support;

use support::{LIMIT, app, state, valid, with};

struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: String,
    status: StatusCode,
    code: ErrorCode,
    field: Option<&'static str>,
}

fn bad_inputs() -> Vec<Case> {
    use ErrorCode::*;
    let json = Some("application/json");
    let case = |name, content_type, body: String, status, code, field| Case {
        name,
        content_type,
        body,
        status,
        code,
        field,
    };
    vec![
        case(
            "truncated JSON",
            json,
            r#"{"event_id": "#.into(),
            StatusCode::BAD_REQUEST,
            MalformedJson,
            None,
        ),
        case(
            "not JSON at all",
            json,
            "name=Kim&color=blue".into(),
            StatusCode::BAD_REQUEST,
            MalformedJson,
            None,
        ),
        case(
            "trailing garbage",
            json,
            format!("{} x", valid()),
            StatusCode::BAD_REQUEST,
            MalformedJson,
            None,
        ),
        case(
            "empty body",
            json,
            String::new(),
            StatusCode::BAD_REQUEST,
            MalformedJson,
            None,
        ),
        case(
            "text/plain",
            Some("text/plain"),
            valid().to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UnsupportedMediaType,
            None,
        ),
        case(
            "form content type",
            Some("application/x-www-form-urlencoded"),
            valid().to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UnsupportedMediaType,
            None,
        ),
        case(
            "no content type",
            None,
            valid().to_string(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UnsupportedMediaType,
            None,
        ),
        case(
            "body over the limit",
            json,
            with("/navigator/referrer", Some(json!("r".repeat(LIMIT)))),
            StatusCode::PAYLOAD_TOO_LARGE,
            PayloadTooLarge,
            None,
        ),
        case(
            "an array, not an object",
            json,
            "[]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            None,
        ),
        case(
            "unknown top-level field",
            json,
            with("/surprise", Some(json!(1))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("surprise"),
        ),
        case(
            "colour outside the rainbow",
            json,
            with("/color", Some(json!("pink"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("color"),
        ),
        case(
            "colour missing",
            json,
            with("/color", None),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("color"),
        ),
        case(
            "empty name",
            json,
            with("/name", Some(json!("   "))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("name"),
        ),
        case(
            "name of 65 characters",
            json,
            with("/name", Some(json!("가".repeat(65)))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("name"),
        ),
        case(
            "control character in the name",
            json,
            with("/name", Some(json!("Kim\u{7}"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("name"),
        ),
        case(
            "name is a number",
            json,
            with("/name", Some(json!(7))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("name"),
        ),
        case(
            "event id not a UUID",
            json,
            with("/event_id", Some(json!("not-a-uuid"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("event_id"),
        ),
        case(
            "nil event id",
            json,
            with(
                "/event_id",
                Some(json!("00000000-0000-0000-0000-000000000000")),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("event_id"),
        ),
        case(
            "client time not RFC 3339",
            json,
            with("/client_ts", Some(json!("22/11/2026"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("client_ts"),
        ),
        case(
            "navigator missing",
            json,
            with("/navigator", None),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator"),
        ),
        case(
            "user agent missing",
            json,
            with("/navigator/user_agent", None),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.user_agent"),
        ),
        case(
            "user agent empty",
            json,
            with("/navigator/user_agent", Some(json!(""))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.user_agent"),
        ),
        case(
            "screen width not a number",
            json,
            with("/navigator/screen/width", Some(json!("wide"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.screen.width"),
        ),
        case(
            "hardware concurrency beyond a 32-bit store integer",
            json,
            with(
                "/navigator/hardware_concurrency",
                Some(json!(4_294_967_295u64)),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.hardware_concurrency"),
        ),
        case(
            "screen height beyond a store integer",
            json,
            with("/navigator/screen/height", Some(json!(2_147_483_648u64))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.screen.height"),
        ),
        case(
            "device memory beyond a float",
            json,
            with("/navigator/device_memory", Some(json!(1e308))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.device_memory"),
        ),
        case(
            "a platform over the byte cap",
            json,
            with("/navigator/platform", Some(json!("p".repeat(257)))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.platform"),
        ),
        case(
            "too many languages",
            json,
            with("/navigator/languages", Some(json!(vec!["ko"; 33]))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.languages"),
        ),
        case(
            "a control character in do_not_track",
            json,
            with("/navigator/do_not_track", Some(json!("1\u{1b}[2J"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.do_not_track"),
        ),
        case(
            "a client time in year 0",
            json,
            with("/client_ts", Some(json!("0000-01-01T00:00:00Z"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("client_ts"),
        ),
        case(
            "a timezone offset beyond a day",
            json,
            with("/navigator/timezone_offset_min", Some(json!(100_000))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("navigator.timezone_offset_min"),
        ),
        case(
            "a right-to-left override in the name",
            json,
            with("/name", Some(json!("evil\u{202E}gnp.exe"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("name"),
        ),
        case(
            "a name of invisible characters only",
            json,
            with("/name", Some(json!("\u{200B}\u{3164}\u{200B}"))),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("name"),
        ),
        case(
            "a stack of combining marks",
            json,
            with(
                "/name",
                Some(json!("Z\u{301}\u{302}\u{303}\u{304}\u{305}algo")),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            InvalidEvent,
            Some("name"),
        ),
    ]
}

#[actix_web::test]
async fn every_bad_input_gets_its_status_and_an_error_body_naming_the_field() {
    let sink = Arc::new(MemorySink::new());
    let state = state(sink.clone(), AddressPolicy::default());
    let app = app!(state);
    for case in bad_inputs() {
        let mut req = test::TestRequest::post()
            .uri("/api/v1/events")
            .set_payload(case.body.clone());
        if let Some(ct) = case.content_type {
            req = req.insert_header(("content-type", ct));
        }
        let res = test::call_service(&app, req.to_request()).await;
        assert_eq!(res.status(), case.status, "{}", case.name);
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(ct.as_deref(), Some("application/json"), "{}", case.name);
        let body: ErrorBody = test::read_body_json(res).await;
        assert_eq!(body.error, case.code, "{}: {body:?}", case.name);
        assert_eq!(body.field.as_deref(), case.field, "{}: {body:?}", case.name);
        assert!(!body.message.is_empty(), "{}", case.name);
    }
    assert!(sink.sent().is_empty(), "no bad input may reach the sink");
}
