use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::web::{self, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use prism_event::{Accepted, BATCH_PATH, ClientEvent, EVENTS_PATH, EnrichedEvent};
use tracing::{debug, warn};
use uuid::Uuid;

use crate::batch::post_batch;
use crate::clock::Clock;
use crate::decode::{decode_event, is_json_content_type};
use crate::enrich::{AddressPolicy, client_address};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::recent::RecentIds;
use crate::sink::{EventSink, SinkError};
use crate::ua::UaParser;

/// Everything a request handler needs, built once at start-up.
pub struct AppState {
    pub sink: Arc<dyn EventSink>,
    pub ua: Arc<UaParser>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// Ids accepted recently: a retry of one is acknowledged, not produced.
    pub recent: Arc<RecentIds>,
    pub limits: Limits,
}

/// Per-request rules taken from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The single endpoint's body, and each event of a batch.
    pub max_body_bytes: usize,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    pub retry_after_s: u32,
    pub address: AddressPolicy,
}

/// The API routes. `main` and the handler tests both mount exactly this.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(EVENTS_PATH)
            .route(web::post().to(post_event))
            .default_service(web::to(|| async {
                ApiError::MethodNotAllowed.into_response()
            })),
    )
    .service(
        web::resource(BATCH_PATH)
            .route(web::post().to(post_batch))
            .default_service(web::to(|| async {
                ApiError::MethodNotAllowed.into_response()
            })),
    )
    .route("/healthz", web::get().to(healthz))
    .route("/readyz", web::get().to(readyz))
    .route("/metrics", web::get().to(metrics))
    .default_service(web::to(|| async { ApiError::NotFound.into_response() }));
}

/// Serves the built page from `dir` at `/`. Mount after [`configure`].
pub fn serve_static(cfg: &mut web::ServiceConfig, dir: &std::path::Path) {
    cfg.service(actix_files::Files::new("/", dir).index_file("index.html"));
}

impl ApiError {
    pub(crate) fn into_response(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

async fn post_event(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limits = state.limits;
    let body = json_body(&req, payload, limits.max_body_bytes).await?;
    let event = decode_event(&body)?;
    let event_id = event.event_id;
    if state.recent.contains(&event_id, Instant::now()) {
        state.metrics.duplicates.inc();
        debug!(%event_id, "accepted already; not produced again");
        return Ok(HttpResponse::Accepted().json(Accepted { event_id }));
    }
    let payload = enrich(&state, &req, event)?;
    state
        .produce(event_id, payload)
        .await
        .map_err(|e| ApiError::from_sink(e, limits.retry_after_s))?;
    Ok(HttpResponse::Accepted().json(Accepted { event_id }))
}

/// The body of a request, up to `limit` bytes: 415 unless it is declared
/// as JSON, 413 beyond the limit.
pub(crate) async fn json_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<BytesMut, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(is_json_content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    read_body(req.headers(), payload, limit).await
}

/// A valid event as it goes to Kafka: with the server's time, the client's
/// address and its parsed user agent, serialised.
pub(crate) fn enrich(
    state: &AppState,
    req: &HttpRequest,
    event: ClientEvent,
) -> Result<Vec<u8>, ApiError> {
    // The header is what the browser really sent; the body's copy is only a
    // fallback for proxies that strip it.
    let ua = match req.headers().get(header::USER_AGENT) {
        Some(value) => state.ua.parse(&String::from_utf8_lossy(value.as_bytes())),
        None => state.ua.parse(&event.navigator.user_agent),
    };
    let peer: Option<IpAddr> = req.peer_addr().map(|a| a.ip());
    let forwarded = last_header(req.headers(), "x-forwarded-for");
    let client_ip = client_address(peer, forwarded, state.limits.address);
    let enriched = EnrichedEvent::new(event, state.clock.now(), client_ip, (*ua).clone());
    serde_json::to_vec(&enriched).map_err(|e| {
        warn!(error = %e, "could not serialise an enriched event");
        ApiError::Internal
    })
}

impl AppState {
    /// Sends one enriched event and waits for the partition leader's
    /// acknowledgement; remembers its id once it is in Kafka.
    pub(crate) async fn produce(&self, event_id: Uuid, payload: Vec<u8>) -> Result<(), SinkError> {
        if let Err(e) = self.sink.send(payload).await {
            self.metrics
                .produce_failures
                .with_label_values(&[e.cause()])
                .inc();
            debug!(%event_id, error = %e, "event not produced");
            return Err(e);
        }
        self.recent.insert(event_id, Instant::now());
        self.metrics.events_produced.inc();
        debug!(%event_id, "event produced");
        Ok(())
    }
}

/// Reads the body up to `limit` bytes; a declared or actual size beyond it
/// is a 413 without reading further.
async fn read_body(
    headers: &HeaderMap,
    mut payload: web::Payload,
    limit: usize,
) -> Result<BytesMut, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::MalformedJson(format!("could not read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn last_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(name).last().and_then(|v| v.to_str().ok())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.sink.ready().await {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })))
    } else {
        Err(ApiError::KafkaUnavailable {
            reason: "the Kafka cluster does not answer".into(),
            retry_after_s: state.limits.retry_after_s,
        })
    }
}

async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let depth = i64::try_from(state.sink.queue_depth()).unwrap_or(i64::MAX);
    state.metrics.queue_depth.set(depth);
    let text = state.metrics.render().map_err(|e| {
        warn!(error = %e, "could not render metrics");
        ApiError::Internal
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// Middleware: counts every request by route pattern and status, and times
/// it. Unmatched paths share one label so clients cannot grow the series.
pub async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let route = req.match_pattern().unwrap_or_else(|| "other".to_owned());
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Arc::clone(&s.metrics));
    let started = Instant::now();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics
            .requests
            .with_label_values(&[route.as_str(), res.status().as_str()])
            .inc();
        metrics
            .request_seconds
            .with_label_values(&[route.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}
