//! What one client may take, in process: its share of the producer queue
//! (with a sink that holds every send until released: our own trait
//! boundary, standing in for a broker that is slow to acknowledge), its
//! share of the remembered ids, and compressed bodies refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{test, web};
use async_trait::async_trait;
use prism_event::{BatchAnswer, ErrorBody, ErrorCode};
use prism_server::enrich::AddressPolicy;
use prism_server::limit::{ClientLimiter, ClientLimits};
use prism_server::recent::RecentIds;
use prism_server::sink::{EventSink, MemorySink, SinkError};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

mod support;

use support::{CHROME, app, app_state, valid};

/// Holds every send until [`HeldSink::release`]; counts what was sent.
struct HeldSink {
    gate: Semaphore,
    waiting: AtomicUsize,
    sent: AtomicUsize,
}

impl HeldSink {
    fn new() -> Self {
        Self {
            gate: Semaphore::new(0),
            waiting: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
        }
    }

    fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }

    /// Returns once `n` sends are held.
    async fn waiting_for(&self, n: usize) {
        while self.waiting.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait]
impl EventSink for HeldSink {
    async fn send(&self, _payload: Vec<u8>) -> Result<(), SinkError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let permit = self.gate.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        permit
            .map_err(|_| SinkError::Unavailable("closed".into()))?
            .forget();
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn ready(&self) -> bool {
        true
    }
}

fn event_with_id(id: uuid::Uuid) -> Value {
    let mut event = valid();
    event["event_id"] = json!(id);
    event
}

fn request(uri: &str, peer: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(uri)
        .insert_header(("content-type", "application/json"))
        .insert_header(("user-agent", CHROME))
        .peer_addr(format!("{peer}:40000").parse().unwrap())
        .set_payload(body.to_string())
}

#[actix_web::test]
async fn a_client_fills_at_most_its_share_of_the_producer_queue() {
    let sink = Arc::new(HeldSink::new());
    let mut state = app_state(sink.clone(), AddressPolicy::default());
    state.clients = Arc::new(ClientLimiter::new(
        ClientLimits {
            events_per_s: 0.0,
            burst: 0.0,
            max_in_flight: 4,
        },
        100,
    ));
    let state = web::Data::new(state);
    let app = app!(state);

    // The flooding client's batch of 4 waits for Kafka...
    let batch: Vec<Value> = (0..4)
        .map(|_| event_with_id(uuid::Uuid::now_v7()))
        .collect();
    let flood = test::call_service(
        &app,
        request("/api/v1/batch", "203.0.113.9", &json!(batch)).to_request(),
    );
    let meanwhile = async {
        sink.waiting_for(4).await;
        // ...so its next event is refused at once,
        let res = test::call_service(
            &app,
            request(
                "/api/v1/events",
                "203.0.113.9",
                &event_with_id(uuid::Uuid::now_v7()),
            )
            .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        let body: ErrorBody = test::read_body_json(res).await;
        assert_eq!(body.error, ErrorCode::RateLimited);

        // ...while another client's press goes through.
        let press = request(
            "/api/v1/events",
            "198.51.100.1",
            &event_with_id(uuid::Uuid::now_v7()),
        );
        answered_once_released(&app, press.to_request(), &sink, 5).await
    };
    let (flood, press) = futures_util::future::join(flood, meanwhile).await;
    assert_eq!(press.status(), StatusCode::ACCEPTED);
    assert_eq!(flood.status(), StatusCode::OK);
    let answer: BatchAnswer = test::read_body_json(flood).await;
    assert!(answer.results.iter().all(|r| r.is_accepted()));
    assert_eq!(sink.sent.load(Ordering::SeqCst), 5);

    // Acknowledged, its share is free again.
    let again = request(
        "/api/v1/events",
        "203.0.113.9",
        &event_with_id(uuid::Uuid::now_v7()),
    );
    let again = answered_once_released(&app, again.to_request(), &sink, 1).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
}

/// The answer to `req`, once `held` sends are held and then released.
async fn answered_once_released<S, R, B>(
    app: &S,
    req: R,
    sink: &HeldSink,
    held: usize,
) -> ServiceResponse<B>
where
    S: Service<R, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let release = async {
        sink.waiting_for(held).await;
        sink.release(held);
    };
    futures_util::future::join(test::call_service(app, req), release)
        .await
        .0
}

#[actix_web::test]
async fn one_client_sending_many_ids_does_not_evict_another_clients_retry_protection() {
    let sink = Arc::new(MemorySink::new());
    let mut state = app_state(sink.clone(), AddressPolicy::default());
    // 1 600 ids remembered, 160 at most per client.
    state.recent = Arc::new(RecentIds::new(
        1_600,
        160,
        std::time::Duration::from_secs(600),
    ));
    let state = web::Data::new(state);
    let app = app!(state);

    let browser_event = event_with_id(uuid::Uuid::now_v7());
    let res = test::call_service(
        &app,
        request("/api/v1/events", "198.51.100.1", &browser_event).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    // Another client: 4 000 fresh ids, 2.5 times everything remembered.
    for _ in 0..800 {
        let batch: Vec<Value> = (0..5)
            .map(|_| event_with_id(uuid::Uuid::now_v7()))
            .collect();
        let res = test::call_service(
            &app,
            request("/api/v1/batch", "203.0.113.9", &json!(batch)).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(sink.sent().len(), 4_001);

    // The browser did not see its 202 and sends the event again: it is
    // acknowledged and not produced a second time.
    let res = test::call_service(
        &app,
        request("/api/v1/events", "198.51.100.1", &browser_event).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(sink.sent().len(), 4_001, "the retry was produced again");
}

#[actix_web::test]
async fn a_compressed_body_is_refused_with_415_not_decompressed() {
    let sink = Arc::new(MemorySink::new());
    let state = web::Data::new(app_state(sink.clone(), AddressPolicy::default()));
    let app = app!(state);
    for encoding in ["gzip", "br", "deflate", "zstd"] {
        let req = test::TestRequest::post()
            .uri("/api/v1/events")
            .insert_header(("content-type", "application/json"))
            .insert_header(("content-encoding", encoding))
            .set_payload(valid().to_string())
            .to_request();
        let res = test::call_service(&app, req).await;
        assert_eq!(
            res.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{encoding}"
        );
        let body: ErrorBody = test::read_body_json(res).await;
        assert_eq!(body.error, ErrorCode::UnsupportedMediaType);
        assert!(
            body.message.contains("Content-Encoding"),
            "{}",
            body.message
        );
    }
    assert!(sink.sent().is_empty());
}
