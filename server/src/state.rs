//! What every request handler shares, and the steps both endpoints take
//! for each event: the client's key, enrichment, and the send to Kafka.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, web};
use prism_event::{ClientEvent, EnrichedEvent};
use tracing::{debug, warn};
use uuid::Uuid;

use crate::body::{Body, BodyRules, json_body};
use crate::clock::Clock;
use crate::enrich::{AddressPolicy, client_address};
use crate::error::ApiError;
use crate::limit::{Admitted, ClientKey, ClientLimiter};
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
    /// Each client's rate and share of the producer queue.
    pub clients: Arc<ClientLimiter>,
    pub body: BodyRules,
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

impl AppState {
    /// The client a request counts against: its address as recorded, but
    /// never anonymised (a /24 is many clients).
    pub fn client_of(&self, req: &HttpRequest) -> Option<ClientKey> {
        let policy = AddressPolicy {
            anonymize: false,
            ..self.limits.address
        };
        self.address_of(req, policy).map(ClientKey::of)
    }

    fn address_of(&self, req: &HttpRequest, policy: AddressPolicy) -> Option<IpAddr> {
        let peer = req.peer_addr().map(|a| a.ip());
        let forwarded = last_header(req.headers(), "x-forwarded-for");
        client_address(peer, forwarded, policy)
    }

    /// A valid event as it goes to Kafka: with the server's time, the
    /// client's address and its parsed user agent, serialised.
    pub fn enrich(&self, req: &HttpRequest, event: ClientEvent) -> Result<Vec<u8>, ApiError> {
        // The header is what the browser really sent; the body's copy is
        // only a fallback for proxies that strip it.
        let ua = match req.headers().get(header::USER_AGENT) {
            Some(value) => self.ua.parse(&String::from_utf8_lossy(value.as_bytes())),
            None => self.ua.parse(&event.navigator.user_agent),
        };
        let client_ip = self.address_of(req, self.limits.address);
        let enriched = EnrichedEvent::new(event, self.clock.now(), client_ip, (*ua).clone());
        serde_json::to_vec(&enriched).map_err(|e| {
            warn!(error = %e, "could not serialise an enriched event");
            ApiError::Internal
        })
    }

    /// Sends one enriched event and waits for the partition leader's
    /// acknowledgement; remembers its id once it is in Kafka.
    pub async fn produce(
        &self,
        event_id: Uuid,
        client: Option<ClientKey>,
        payload: Vec<u8>,
    ) -> Result<(), SinkError> {
        if let Err(e) = self.sink.send(payload).await {
            self.metrics
                .produce_failures
                .with_label_values(&[e.cause()])
                .inc();
            debug!(%event_id, error = %e, "event not produced");
            return Err(e);
        }
        self.recent.insert(event_id, client, Instant::now());
        self.metrics.events_produced.inc();
        debug!(%event_id, "event produced");
        Ok(())
    }
}

impl AppState {
    /// The request's client and its body, up to `limit` bytes: a client
    /// with no room left is refused before its body is read.
    pub async fn client_and_body(
        &self,
        req: &HttpRequest,
        payload: web::Payload,
        limit: usize,
    ) -> Result<(Option<ClientKey>, Body), ApiError> {
        let client = self.client_of(req);
        self.clients
            .has_room(client, Instant::now())
            .map_err(|r| self.limited(ApiError::from_refusal(r)))?;
        let body = json_body(req, payload, limit, client, &self.body)
            .await
            .map_err(|e| self.limited(e))?;
        Ok((client, body))
    }

    /// Takes `events` from the client's rate and queue share, or refuses
    /// them all; dropping the answer gives the share back.
    pub fn admit(&self, client: Option<ClientKey>, events: usize) -> Result<Admitted, ApiError> {
        self.clients
            .admit(client, events, Instant::now())
            .map_err(|r| self.limited(ApiError::from_refusal(r)))
    }

    /// Counts a request refused by one of the edge's limits.
    pub fn limited(&self, e: ApiError) -> ApiError {
        let reason = match &e {
            ApiError::RateLimited { .. } => "rate",
            ApiError::QueueShare { .. } => "queue_share",
            ApiError::TooManyConnections { .. } => "connections",
            ApiError::BodyTimeout { .. } => "body_timeout",
            ApiError::Busy { .. } => "body_budget",
            ApiError::BodyShare { .. } => "body_share",
            _ => return e,
        };
        self.metrics.limited.with_label_values(&[reason]).inc();
        e
    }
}

fn last_header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(name).last().and_then(|v| v.to_str().ok())
}
