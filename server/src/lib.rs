//! `prism-server`, the edge producer: `POST /api/v1/events` validates a
//! [`prism_event::ClientEvent`], enriches it (server time, client address,
//! parsed user agent) and produces it to Kafka, answering 202 only once the
//! partition leader has acknowledged it; `POST /api/v1/batch` does the same
//! for an array of them, with one result each. A retry of an event accepted
//! recently is acknowledged without being produced again.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod batch;
pub mod body;
pub mod clock;
pub mod config;
pub mod decode;
pub mod enrich;
pub mod error;
pub mod kafka;
pub mod limit;
pub mod logging;
pub mod metrics;
pub mod page;
pub mod recent;
pub mod routes;
pub mod sink;
pub mod state;
pub mod ua;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tracing::{info, warn};

pub use config::Config;
pub use routes::{admit_connection, configure, configure_admin, record_request, serve_static};
pub use state::{AppState, Limits};

/// How long a stopping server waits for in-flight requests, then for the
/// producer to flush.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    UaRules(#[from] ua::UaRulesError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("settings: {0}")]
    Settings(String),
}

/// Runs the server on `listener` (the API and the page) and `admin`
/// (readiness and metrics) until SIGINT/SIGTERM, then stops accepting,
/// finishes in-flight requests and flushes the producer.
pub async fn run(
    config: Config,
    listener: TcpListener,
    admin: TcpListener,
) -> Result<(), StartError> {
    config.check().map_err(StartError::Settings)?;
    let static_dir = Some(config.static_dir.clone()).filter(|d| d.join("index.html").is_file());
    let index = match &static_dir {
        Some(dir) => Some(std::fs::read_to_string(dir.join("index.html"))?),
        None => None,
    };
    let policy = page::content_security_policy(index.as_deref());
    if static_dir.is_none() {
        warn!(
            dir = %config.static_dir.display(),
            "no built page there (run `trunk build --release`); serving the API only"
        );
    }
    let ua = Arc::new(ua::UaParser::new(config.ua_cache_entries)?);
    let metrics = Arc::new(metrics::Metrics::new()?);
    let kafka = Arc::new(kafka::KafkaSink::new(&config)?);
    let brokers = kafka.prepare(&config, config.startup_timeout()).await?;
    info!(brokers, topic = %config.topic, "kafka cluster reachable");
    kafka.spawn_watch();
    kafka.spawn_readiness();

    let state = web::Data::new(AppState {
        sink: kafka.clone(),
        ua,
        clock: Arc::new(clock::SystemClock),
        metrics,
        recent: Arc::new(recent::RecentIds::new(
            config.dedupe_entries,
            config.dedupe_per_client(),
            config.dedupe_max_age(),
        )),
        clients: Arc::new(limit::ClientLimiter::new(
            config.client_limits(),
            config.clients_tracked,
        )),
        body: body::BodyRules {
            timeout: Duration::from_millis(config.body_timeout_ms),
            idle_timeout: Duration::from_millis(config.body_idle_timeout_ms),
            budget: body::BodyBudget::new(config.body_budget_bytes, config.client_body_bytes()),
            retry_after_s: config.retry_after_s,
        },
        limits: Limits {
            max_body_bytes: config.max_body_bytes,
            batch_max_events: config.batch_max_events,
            batch_max_bytes: config.batch_max_bytes,
            retry_after_s: config.retry_after_s,
            address: enrich::AddressPolicy {
                trust_forwarded: config.trust_forwarded,
                anonymize: config.anonymize_ip,
            },
        },
    });
    let address = listener.local_addr()?;
    let admin_address = admin.local_addr()?;
    let workers = match config.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Counted from accept to close: a connection over its client's share
    // is marked here and refused on its first request.
    // Behind a proxy every connection comes from the proxy: counting them
    // per peer would throttle everyone at once.
    let per_peer = if config.trust_forwarded {
        info!("PRISM_TRUST_FORWARDED is on: connections are not counted per peer");
        0
    } else {
        config.client_max_connections
    };
    let connections = limit::ConnectionCounts::new(per_peer);
    let api_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(api_state.clone())
            .wrap(from_fn(page::json_errors))
            .wrap(page::security_headers(&policy))
            .wrap(from_fn(admit_connection))
            .wrap(from_fn(record_request))
            .configure(configure)
            .configure(|cfg| {
                if let Some(dir) = &static_dir {
                    serve_static(cfg, dir);
                }
            })
    })
    .on_connect(move |connection, data| {
        let peer = connection
            .downcast_ref::<actix_web::rt::net::TcpStream>()
            .and_then(|stream| stream.peer_addr().ok());
        if let Some(slot) = peer.and_then(|p| connections.open(p.ip())) {
            data.insert(slot);
        }
    })
    .workers(workers)
    .max_connections(config.max_connections.div_ceil(workers))
    .shutdown_timeout(SHUTDOWN_GRACE.as_secs());
    let admin_server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(configure_admin)
    })
    .workers(1)
    .shutdown_timeout(1);
    info!(%address, %admin_address, "prism-server listening");
    futures_util::future::try_join(
        server.listen(listener)?.run(),
        admin_server.listen(admin)?.run(),
    )
    .await?;

    info!("stopped accepting requests; flushing the producer");
    kafka.flush(SHUTDOWN_GRACE).await;
    Ok(())
}
