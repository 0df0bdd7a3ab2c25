//! The in-process app with an in-memory sink (our own trait boundary), for
//! the HTTP contract tests.

#![allow(dead_code)] // each test file uses its own part

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix_web::web;
use prism_server::body::BodyBudget;
use prism_server::body::BodyRules;
use prism_server::clock::FixedClock;
use prism_server::enrich::AddressPolicy;
use prism_server::limit::{ClientLimiter, ClientLimits};
use prism_server::metrics::Metrics;
use prism_server::recent::RecentIds;
use prism_server::sink::{EventSink, MemorySink};
use prism_server::ua::UaParser;
use prism_server::{AppState, Limits};
use serde_json::{Value, json};
use time::macros::datetime;

pub const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/// The single endpoint's body limit, and each event's in a batch.
pub const LIMIT: usize = 4096;
pub const BATCH_MAX_EVENTS: usize = 5;
pub const BATCH_MAX_BYTES: usize = 16 * 1024;

fn parser() -> Arc<UaParser> {
    static PARSER: OnceLock<Arc<UaParser>> = OnceLock::new();
    PARSER
        .get_or_init(|| Arc::new(UaParser::new(64).unwrap()))
        .clone()
}

pub fn state(sink: Arc<MemorySink>, address: AddressPolicy) -> web::Data<AppState> {
    web::Data::new(app_state(sink, address))
}

/// The test state, to adjust before wrapping it in `web::Data`.
pub fn app_state(sink: Arc<dyn EventSink>, address: AddressPolicy) -> AppState {
    AppState {
        sink,
        ua: parser(),
        clock: Arc::new(FixedClock(datetime!(2026-11-22 05:00:00 UTC))),
        metrics: Arc::new(Metrics::new().unwrap()),
        recent: Arc::new(RecentIds::new(1_000, 1_000, Duration::from_secs(600))),
        clients: Arc::new(ClientLimiter::new(
            ClientLimits {
                events_per_s: 0.0,
                burst: 0.0,
                max_in_flight: 0,
            },
            100,
        )),
        body: BodyRules {
            timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            budget: BodyBudget::new(BATCH_MAX_BYTES * 4, BATCH_MAX_BYTES * 4),
            retry_after_s: 3,
        },
        limits: Limits {
            max_body_bytes: LIMIT,
            batch_max_events: BATCH_MAX_EVENTS,
            batch_max_bytes: BATCH_MAX_BYTES,
            retry_after_s: 3,
            address,
        },
    }
}

macro_rules! app {
    ($state:expr) => {
        actix_web::test::init_service(
            actix_web::App::new()
                .app_data($state.clone())
                .wrap(actix_web::middleware::from_fn(prism_server::record_request))
                .configure(prism_server::configure)
                .configure(prism_server::configure_admin),
        )
        .await
    };
}
pub(crate) use app;

pub fn valid() -> Value {
    json!({
        "event_id": "01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12",
        "name": "Kim Minji",
        "color": "blue",
        "client_ts": "2026-11-22T04:00:00.123Z",
        "navigator": {
            "user_agent": CHROME,
            "language": "ko-KR",
            "screen": {"width": 1920, "height": 1080, "pixel_ratio": 1.0, "color_depth": 24},
            "timezone": "Asia/Seoul"
        }
    })
}

/// `valid()` with one JSON pointer replaced (or removed when `None`).
pub fn with(pointer: &str, value: Option<Value>) -> String {
    let mut event = valid();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = event.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(v) => target.insert(key.to_owned(), v),
        None => target.remove(key),
    };
    event.to_string()
}
