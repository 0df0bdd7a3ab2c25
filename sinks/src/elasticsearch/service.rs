//! One `_bulk` round trip and what became of it: sent, answered, every item
//! resolved (indexed, already there, dead-lettered) or handed back to be
//! sent again, the request split when the cluster refuses it as a whole.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};
use tracing::{debug, warn};

use super::client::EsClient;
use super::request::{BulkResponse, record_of};
use super::retry::{ItemOutcome, RequestOutcome, item_outcome, request_error, request_outcome};
use crate::backoff::Backoff;
use crate::dlq::DeadLetters;
use crate::metrics::SinkMetrics;

/// One document waiting for `_bulk`: its two NDJSON lines and where the
/// record's own fields start in them (for the dead-letter topic). Never
/// copied: it moves from the batch to a request and back.
pub struct Doc {
    pub partition: i32,
    pub offset: i64,
    pub lines: Vec<u8>,
    pub fields_at: usize,
}

/// How long one request's documents refused for load are sent again from
/// its own task before the worker pauses for them.
const THROTTLED_FOR_AT_MOST: Duration = Duration::from_secs(10);

/// What became of the documents of one bulk request.
pub enum BulkOutcome {
    /// Every item resolved except `retry`, to be sent again; `why` says
    /// what held the first of them back.
    Done {
        retry: Vec<Doc>,
        why: Option<String>,
        /// Every document in `retry` was refused only for load (429: a
        /// full write queue), not for a block or a failure.
        throttled: bool,
    },
    /// The request failed as a whole; all of it goes again.
    Failed { docs: Vec<Doc>, error: String },
}

impl BulkOutcome {
    /// Two halves of a split request as one outcome.
    fn merge(self, other: BulkOutcome) -> BulkOutcome {
        match (self, other) {
            (
                BulkOutcome::Done {
                    retry: mut x,
                    why,
                    throttled,
                },
                BulkOutcome::Done {
                    retry: y,
                    why: other_why,
                    throttled: other_throttled,
                },
            ) => {
                let throttled = (x.is_empty() || throttled) && (y.is_empty() || other_throttled);
                x.extend(y);
                BulkOutcome::Done {
                    retry: x,
                    why: why.or(other_why),
                    throttled,
                }
            }
            (BulkOutcome::Failed { mut docs, error }, other)
            | (other, BulkOutcome::Failed { mut docs, error }) => {
                match other {
                    BulkOutcome::Done { retry, .. } => docs.extend(retry),
                    BulkOutcome::Failed { docs: more, .. } => docs.extend(more),
                }
                BulkOutcome::Failed { docs, error }
            }
        }
    }
}

/// The sink's own counters, next to the shared ones.
pub struct EsMetrics {
    /// The shared counters of outcomes, counted here item by item.
    written: IntCounter,
    already_there: IntCounter,
    dead_lettered: IntCounterVec,
    pub duplicates: IntCounter,
    pub retried: IntCounter,
    pub blocked: IntCounterVec,
    pub oldest_unresolved: IntGauge,
    bulk_seconds: Histogram,
}

impl EsMetrics {
    pub fn new(metrics: &SinkMetrics) -> Result<Self, prometheus::Error> {
        let m = Self {
            written: metrics.written.clone(),
            already_there: metrics.already_there.clone(),
            dead_lettered: metrics.dead_lettered.clone(),
            duplicates: IntCounter::new(
                "es_duplicates_total",
                "Documents already indexed (409 on create): retries and replays",
            )?,
            retried: IntCounter::new("es_retried_total", "Bulk items or requests sent again")?,
            blocked: IntCounterVec::new(
                Opts::new(
                    "es_blocked_total",
                    "Items or requests refused because the cluster takes no writes for now",
                ),
                &["kind"],
            )?,
            oldest_unresolved: IntGauge::new(
                "es_oldest_unresolved_seconds",
                "Age of the oldest record not yet resolved while sends fail; 0 when none",
            )?,
            bulk_seconds: Histogram::with_opts(
                HistogramOpts::new("es_bulk_duration_seconds", "Latency of one _bulk request")
                    .buckets(vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    ]),
            )?,
        };
        metrics.register(Box::new(m.duplicates.clone()))?;
        metrics.register(Box::new(m.retried.clone()))?;
        metrics.register(Box::new(m.blocked.clone()))?;
        metrics.register(Box::new(m.oldest_unresolved.clone()))?;
        metrics.register(Box::new(m.bulk_seconds.clone()))?;
        Ok(m)
    }
}

impl EsMetrics {
    pub fn count_dead_letter(&self, reason: &str) {
        self.dead_lettered.with_label_values(&[reason]).inc();
    }
}

/// Sends bulk requests and resolves their answers.
pub struct BulkService {
    client: EsClient,
    dead_letters: Arc<DeadLetters>,
    topic: String,
    pub metrics: EsMetrics,
    /// Set when the cluster refuses our credentials: the worker stops.
    refused: OnceLock<String>,
}

impl BulkService {
    pub fn new(
        client: EsClient,
        dead_letters: Arc<DeadLetters>,
        topic: &str,
        metrics: EsMetrics,
    ) -> Self {
        Self {
            client,
            dead_letters,
            topic: topic.to_owned(),
            metrics,
            refused: OnceLock::new(),
        }
    }

    pub fn client(&self) -> &EsClient {
        &self.client
    }

    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Why the cluster refuses this worker's writes for good, if it does.
    pub fn refused(&self) -> Option<&str> {
        self.refused.get().map(String::as_str)
    }

    /// Sends `docs` and resolves them; what the cluster refuses only for
    /// load (items answered 429: its write queue is full) is sent again
    /// from here after a short, growing, jittered pause, for up to
    /// [`THROTTLED_FOR_AT_MOST`]. A burst of concurrent requests that
    /// overflows the queue then costs each refused request a pause of its
    /// own instead of pausing the whole worker once per refused request.
    pub async fn send_patiently(&self, docs: Vec<Doc>) -> BulkOutcome {
        let started = Instant::now();
        let mut pauses = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        let mut outcome = self.send(docs).await;
        loop {
            match outcome {
                BulkOutcome::Done {
                    retry,
                    throttled: true,
                    ..
                } if !retry.is_empty() && started.elapsed() < THROTTLED_FOR_AT_MOST => {
                    self.metrics.retried.inc_by(retry.len() as u64);
                    tokio::time::sleep(pauses.next_delay()).await;
                    outcome = self.send(retry).await;
                }
                other => return other,
            }
        }
    }

    /// Sends one request and resolves its items; splits it when the cluster
    /// refuses it as a whole for its size (413) or its content (400).
    pub fn send(&self, docs: Vec<Doc>) -> BoxFuture<'_, BulkOutcome> {
        async move {
            let mut body = Vec::with_capacity(docs.iter().map(|d| d.lines.len()).sum());
            for doc in &docs {
                body.extend_from_slice(&doc.lines);
            }
            let started = Instant::now();
            let answer = match self.client.bulk(body).await {
                Ok(answer) => answer,
                Err(e) => {
                    let error = e.to_string();
                    return BulkOutcome::Failed { docs, error };
                }
            };
            self.metrics
                .bulk_seconds
                .observe(started.elapsed().as_secs_f64());
            let text = || String::from_utf8_lossy(&answer.body).into_owned();
            match request_outcome(answer.status, &answer.body) {
                RequestOutcome::Items => self.resolve(docs, &answer.body).await,
                RequestOutcome::Split | RequestOutcome::Isolate if docs.len() > 1 => {
                    debug!(
                        docs = docs.len(),
                        status = answer.status,
                        "bulk request refused whole; splitting"
                    );
                    let mut left = docs;
                    let right = left.split_off(left.len() / 2);
                    let (a, b) = futures_util::join!(self.send(left), self.send(right));
                    a.merge(b)
                }
                RequestOutcome::Shrink if docs.len() > 1 => {
                    debug!(
                        docs = docs.len(),
                        "bulk request over the indexing-pressure limit; sending it in halves"
                    );
                    // One half at a time: the limit counts every request
                    // in flight.
                    let mut left = docs;
                    let right = left.split_off(left.len() / 2);
                    let a = self.send(left).await;
                    let b = self.send(right).await;
                    a.merge(b)
                }
                RequestOutcome::Split => {
                    // One document alone is too large: it can never be indexed.
                    self.dead_letter_alone(
                        docs,
                        "request_too_large",
                        "a single document exceeds the bulk size limit",
                    )
                    .await
                }
                RequestOutcome::Isolate => {
                    let (kind, reason) = error_of(&answer.body);
                    self.dead_letter_alone(docs, &kind, &reason).await
                }
                RequestOutcome::Blocked => {
                    self.metrics
                        .blocked
                        .with_label_values(&["cluster_block"])
                        .inc();
                    let error = format!("the cluster refuses writes: {}", text());
                    BulkOutcome::Failed { docs, error }
                }
                RequestOutcome::Refused => {
                    let error = format!(
                        "elasticsearch refused our credentials (HTTP {}): {}",
                        answer.status,
                        text()
                    );
                    let _ = self.refused.set(error.clone());
                    BulkOutcome::Failed { docs, error }
                }
                RequestOutcome::Retry | RequestOutcome::Shrink => {
                    let error = format!("bulk answered HTTP {}: {}", answer.status, text());
                    BulkOutcome::Failed { docs, error }
                }
            }
        }
        .boxed()
    }

    async fn resolve(&self, docs: Vec<Doc>, body: &[u8]) -> BulkOutcome {
        let response: BulkResponse = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                let error = format!("unreadable bulk answer: {e}");
                return BulkOutcome::Failed { docs, error };
            }
        };
        if response.items.len() != docs.len() {
            let error = format!(
                "bulk answered {} items for {} documents",
                response.items.len(),
                docs.len()
            );
            return BulkOutcome::Failed { docs, error };
        }
        let mut retry = Vec::new();
        let mut why = None;
        let mut throttled = true;
        for (doc, item) in docs.into_iter().zip(response.items) {
            let result = item.create;
            let (kind, reason) = result.error.map(|e| (e.kind, e.reason)).unwrap_or_default();
            let outcome = item_outcome(result.status, &kind);
            if matches!(
                outcome,
                ItemOutcome::Retry | ItemOutcome::Blocked | ItemOutcome::Refused
            ) {
                why.get_or_insert_with(|| format!("HTTP {} {kind}: {reason}", result.status));
                throttled &= outcome == ItemOutcome::Retry && result.status == 429;
            }
            match outcome {
                ItemOutcome::Indexed => self.metrics.written.inc(),
                ItemOutcome::Duplicate => {
                    self.metrics.duplicates.inc();
                    self.metrics.already_there.inc();
                }
                ItemOutcome::Retry => retry.push(doc),
                ItemOutcome::Blocked => {
                    let label = if result.status == 404 {
                        "index_not_found"
                    } else {
                        "cluster_block"
                    };
                    self.metrics.blocked.with_label_values(&[label]).inc();
                    retry.push(doc);
                }
                ItemOutcome::Refused => {
                    let _ = self.refused.set(format!(
                        "elasticsearch refused our credentials (HTTP {} {kind}): {reason}",
                        result.status
                    ));
                    retry.push(doc);
                }
                ItemOutcome::DeadLetter => {
                    let kind = if kind.is_empty() {
                        format!("http_{}", result.status)
                    } else {
                        kind
                    };
                    if let Err(error) = self.dead_letter(&doc, &kind, &reason).await {
                        warn!(%error, "could not dead-letter a refused document; will retry it");
                        retry.push(doc);
                    }
                }
            }
        }
        BulkOutcome::Done {
            retry,
            why,
            throttled,
        }
    }

    /// A request of one document the cluster refuses as a whole.
    async fn dead_letter_alone(&self, docs: Vec<Doc>, kind: &str, reason: &str) -> BulkOutcome {
        match docs.first() {
            Some(doc) => match self.dead_letter(doc, kind, reason).await {
                Ok(()) => BulkOutcome::Done {
                    retry: Vec::new(),
                    why: None,
                    throttled: false,
                },
                Err(error) => BulkOutcome::Failed { docs, error },
            },
            None => BulkOutcome::Done {
                retry: docs,
                why: None,
                throttled: false,
            },
        }
    }

    async fn dead_letter(&self, doc: &Doc, kind: &str, reason: &str) -> Result<(), String> {
        warn!(
            partition = doc.partition,
            offset = doc.offset,
            kind,
            reason,
            "elasticsearch refused a document"
        );
        let why = format!("{kind}: {reason}");
        let record = record_of(&doc.lines, doc.fields_at);
        self.dead_letters
            .send(&record, &why, (&self.topic, doc.partition, doc.offset))
            .await
            .map_err(|e| e.0)?;
        // The engine's error type: a small set it defines, never the
        // record's content.
        self.metrics.count_dead_letter(kind);
        Ok(())
    }
}

/// `error.type` and `error.reason` of a request-level error answer, or
/// what stands in for them.
fn error_of(body: &[u8]) -> (String, String) {
    let error = request_error(body);
    let kind = if error.kind.is_empty() {
        "http_400".to_owned()
    } else {
        error.kind
    };
    let reason = if error.reason.is_empty() {
        String::from_utf8_lossy(body).into_owned()
    } else {
        error.reason
    };
    (kind, reason)
}
