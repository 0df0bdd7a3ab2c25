use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tracing::{info, warn};

use crate::metrics::SinkMetrics;

/// Serves `/metrics`, `/healthz` (process up) and `/readyz` (a broker is
/// connected and the target accepts writes) until the process ends.
pub async fn serve(bind: &str, metrics: Arc<SinkMetrics>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(metrics);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    info!(address = %listener.local_addr()?, "serving /metrics, /healthz, /readyz");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "metrics server stopped");
        }
    });
    Ok(())
}

async fn render(State(metrics): State<Arc<SinkMetrics>>) -> impl IntoResponse {
    match metrics.render() {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            e.to_string(),
        ),
    }
}

/// Ready while the worker can load: a broker to read from and a target to
/// write to.
async fn ready(State(metrics): State<Arc<SinkMetrics>>) -> impl IntoResponse {
    match (metrics.kafka_up.get(), metrics.target_up.get()) {
        (1, 1) => (StatusCode::OK, "ready"),
        (1, _) => (StatusCode::SERVICE_UNAVAILABLE, "target unavailable"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "no Kafka broker reachable"),
    }
}
