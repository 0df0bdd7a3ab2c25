use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use prism_event::{Accepted, BATCH_PATH, EVENTS_PATH};
use tracing::debug;

use crate::batch::post_batch;
use crate::decode::decode_event;
use crate::error::ApiError;
use crate::limit::ConnectionSlot;
use crate::state::AppState;

/// The public routes. `main` and the handler tests both mount exactly this.
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
    .default_service(web::to(|| async { ApiError::NotFound.into_response() }));
}

/// The operators' routes, on their own listener (`PRISM_ADMIN_BIND`):
/// readiness and metrics are nobody else's business.
pub fn configure_admin(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
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
        self.error_response()
    }
}

async fn post_event(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limits = state.limits;
    let (client, body) = state
        .client_and_body(&req, payload, limits.max_body_bytes)
        .await?;
    let event = decode_event(&body)?;
    drop(body);
    let event_id = event.event_id;
    if state.recent.contains(&event_id, Instant::now()) {
        state.metrics.duplicates.inc();
        debug!(%event_id, "accepted already; not produced again");
        return Ok(HttpResponse::Accepted().json(Accepted { event_id }));
    }
    let _admitted = state.admit(client, 1)?;
    let payload = state.enrich(&req, event)?;
    state
        .produce(event_id, client, payload)
        .await
        .map_err(|e| ApiError::from_sink(e, limits.retry_after_s))?;
    Ok(HttpResponse::Accepted().json(Accepted { event_id }))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.sink.ready() {
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
    let held = i64::try_from(state.body.budget.held()).unwrap_or(i64::MAX);
    state.metrics.body_bytes_held.set(held);
    let seen = crate::logging::protocol_errors();
    let counted = state.metrics.protocol_errors.get();
    state
        .metrics
        .protocol_errors
        .inc_by(seen.saturating_sub(counted));
    let text = state.metrics.render().map_err(|e| {
        tracing::warn!(error = %e, "could not render metrics");
        ApiError::Internal
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

/// Middleware: a connection beyond its client's share of connections gets
/// 429 on its first request and is closed.
pub async fn admit_connection(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let over = req
        .conn_data::<ConnectionSlot>()
        .is_some_and(|slot| slot.over);
    if over {
        let e = match req.app_data::<web::Data<AppState>>() {
            Some(state) => state.limited(ApiError::TooManyConnections {
                retry_after_s: state.limits.retry_after_s,
            }),
            None => ApiError::TooManyConnections { retry_after_s: 1 },
        };
        return Ok(req.into_response(e.into_response()).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
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
