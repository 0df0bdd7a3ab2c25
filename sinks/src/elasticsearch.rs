//! `prism-es-sink`: one document per event in a daily index behind the
//! `select-color` index template, `_bulk` with `create` and
//! `_id = event_id`, so browser retries and consumer replays never make a
//! second document.
//!
//! Offsets are reported durable only when every item of a batch is
//! resolved: indexed, already there (409), or dead-lettered. Throttled
//! items (429) are retried alone; a failed request (5xx, timeout, no
//! connection) is retried whole while consumption is paused; a request too
//! large (413) is split in two.

pub mod client;
pub mod request;
pub mod retry;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, StreamExt};
use prometheus::{Histogram, HistogramOpts, IntCounter};
use tracing::{debug, info, warn};

use self::client::EsClient;
use self::request::{BulkResponse, encode, index_name};
use self::retry::{ItemOutcome, RequestOutcome, item_outcome, request_outcome};
use crate::dlq::DeadLetters;
use crate::event_time::event_time;
use crate::metrics::SinkMetrics;
use crate::sink::{Durable, Incoming, Sink, TargetError};

/// The index template installed at start-up (`sinks/src/elasticsearch/template.json`).
pub const TEMPLATE: &str = include_str!("elasticsearch/template.json");

/// The Elasticsearch sink's own settings.
#[derive(Debug, Clone, Args)]
pub struct EsConfig {
    /// Consumer group.
    #[arg(long, env = "PRISM_GROUP", default_value = "prism-es")]
    pub group: String,

    /// Elasticsearch or OpenSearch base URL.
    #[arg(
        long = "es-url",
        env = "PRISM_ES_URL",
        default_value = "http://127.0.0.1:9200"
    )]
    pub url: String,

    /// User for HTTP basic authentication.
    #[arg(long = "es-user", env = "PRISM_ES_USER")]
    pub user: Option<String>,

    /// Password for HTTP basic authentication.
    #[arg(
        long = "es-password",
        env = "PRISM_ES_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// API key (the base64 `id:key` form); takes precedence over user and
    /// password.
    #[arg(long = "es-api-key", env = "PRISM_ES_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// PEM file with an extra CA certificate to trust.
    #[arg(long = "es-ca-cert", env = "PRISM_ES_CA_CERT")]
    pub ca_cert: Option<std::path::PathBuf>,

    /// Index name prefix: documents go to `<prefix>-YYYY.MM.DD`, the
    /// template matches `<prefix>-*`.
    #[arg(long, env = "PRISM_ES_INDEX_PREFIX", default_value = "select-color")]
    pub index_prefix: String,

    /// Send a bulk request once this many documents are waiting.
    #[arg(long, env = "PRISM_ES_BATCH_DOCS", default_value_t = 1_000)]
    pub batch_docs: usize,

    /// Send a bulk request once this many bytes are waiting.
    #[arg(long, env = "PRISM_ES_BATCH_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub batch_bytes: usize,

    /// Send what is waiting this many milliseconds after its first record.
    #[arg(long, env = "PRISM_ES_BATCH_AGE_MS", default_value_t = 1_000)]
    pub batch_age_ms: u64,

    /// Bulk requests in flight at once.
    #[arg(long, env = "PRISM_ES_CONCURRENCY", default_value_t = 2)]
    pub concurrency: usize,

    /// Milliseconds before a bulk request counts as failed.
    #[arg(long, env = "PRISM_ES_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Index an event under `received_at` instead of `client_ts` when the
    /// two differ by more than this many seconds.
    #[arg(long, env = "PRISM_MAX_CLOCK_SKEW_S", default_value_t = 600)]
    pub max_clock_skew_s: u64,
}

/// One document waiting for `_bulk`.
#[derive(Clone)]
struct Doc {
    partition: i32,
    offset: i64,
    lines: Arc<[u8]>,
    payload: Arc<[u8]>,
}

/// The sink's own counters, next to the shared ones.
struct EsMetrics {
    duplicates: IntCounter,
    retried: IntCounter,
    bulk_seconds: Histogram,
}

pub struct EsSink {
    client: EsClient,
    dead_letters: Arc<DeadLetters>,
    config: EsConfig,
    topic: String,
    docs: Vec<Doc>,
    bytes: usize,
    first_at: Option<Instant>,
    /// Highest offset per partition taken into the current batch.
    batch_offsets: BTreeMap<i32, i64>,
    durable: BTreeMap<i32, i64>,
    written: u64,
    metrics: EsMetrics,
}

enum Chunk {
    /// Every item resolved except these, which must be sent again.
    Done { retry: Vec<Doc> },
    /// The request failed; all of it must be sent again.
    Failed { docs: Vec<Doc>, error: String },
}

impl EsSink {
    pub fn new(
        client: EsClient,
        dead_letters: Arc<DeadLetters>,
        config: &EsConfig,
        topic: &str,
        metrics: &SinkMetrics,
    ) -> Result<Self, prometheus::Error> {
        let es_metrics = EsMetrics {
            duplicates: IntCounter::new(
                "es_duplicates_total",
                "Documents already indexed (409 on create): retries and replays",
            )?,
            retried: IntCounter::new("es_retried_total", "Bulk items or requests sent again")?,
            bulk_seconds: Histogram::with_opts(
                HistogramOpts::new("es_bulk_duration_seconds", "Latency of one _bulk request")
                    .buckets(vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                    ]),
            )?,
        };
        metrics.register(Box::new(es_metrics.duplicates.clone()))?;
        metrics.register(Box::new(es_metrics.retried.clone()))?;
        metrics.register(Box::new(es_metrics.bulk_seconds.clone()))?;
        Ok(Self {
            client,
            dead_letters,
            config: config.clone(),
            topic: topic.to_owned(),
            docs: Vec::new(),
            bytes: 0,
            first_at: None,
            batch_offsets: BTreeMap::new(),
            durable: BTreeMap::new(),
            written: 0,
            metrics: es_metrics,
        })
    }

    /// Waits until the cluster answers `GET /` (logging why not at each
    /// retry), then installs the index template and creates today's index.
    pub async fn prepare(&self) -> Result<(), String> {
        use backon::Retryable;
        let version = (|| self.client.ping())
            .retry(crate::backoff::exponential(
                Duration::from_millis(500),
                Duration::from_secs(10),
            ))
            .notify(|e, wait| {
                warn!(url = %self.config.url, error = %e, retry_in_ms = wait.as_millis() as u64, "elasticsearch is not reachable; retrying");
            })
            .await?;
        info!(url = %self.config.url, %version, "elasticsearch reachable");
        let template =
            TEMPLATE.replace("select-color-*", &format!("{}-*", self.config.index_prefix));
        self.client
            .put_template(&self.config.index_prefix, template.as_bytes())
            .await?;
        info!(template = %self.config.index_prefix, "index template installed");
        // Today's index, empty, so a dashboard opened before the first press
        // finds every field it charts. Loading does not depend on it.
        let today = index_name(&self.config.index_prefix, time::OffsetDateTime::now_utc());
        match self.client.create_index(&today).await {
            Ok(()) => info!(index = %today, "today's index is there"),
            Err(e) => warn!(index = %today, error = %e, "could not create today's index"),
        }
        Ok(())
    }

    /// Full requests for every in-flight slot, or the oldest record is old
    /// enough.
    fn due(&self) -> bool {
        let slots = self.config.concurrency.max(1);
        self.docs.len() >= self.config.batch_docs * slots
            || self.bytes >= self.config.batch_bytes * slots
            || self
                .first_at
                .is_some_and(|t| t.elapsed() >= Duration::from_millis(self.config.batch_age_ms))
    }

    /// Sends one chunk and resolves its items; splits on 413.
    fn send(&self, docs: Vec<Doc>) -> BoxFuture<'_, Chunk> {
        async move {
            let mut body = Vec::with_capacity(docs.iter().map(|d| d.lines.len()).sum());
            for doc in &docs {
                body.extend_from_slice(&doc.lines);
            }
            let started = Instant::now();
            let answer = match self.client.bulk(body).await {
                Ok(answer) => answer,
                Err(error) => return Chunk::Failed { docs, error },
            };
            self.metrics
                .bulk_seconds
                .observe(started.elapsed().as_secs_f64());
            match request_outcome(answer.status) {
                RequestOutcome::Retry => {
                    let error = format!("bulk answered HTTP {}", answer.status);
                    Chunk::Failed { docs, error }
                }
                RequestOutcome::Split if docs.len() > 1 => {
                    debug!(docs = docs.len(), "bulk request too large; splitting");
                    let mut left = docs;
                    let right = left.split_off(left.len() / 2);
                    let (a, b) = futures_util::join!(self.send(left), self.send(right));
                    merge(a, b)
                }
                RequestOutcome::Split => {
                    // One document alone is too large: it can never be indexed.
                    match self
                        .dead_letter(
                            &docs[0],
                            "request_too_large",
                            "a single document exceeds the bulk size limit",
                        )
                        .await
                    {
                        Ok(()) => Chunk::Done { retry: Vec::new() },
                        Err(error) => Chunk::Failed { docs, error },
                    }
                }
                RequestOutcome::Items => self.resolve(docs, &answer.body).await,
            }
        }
        .boxed()
    }

    async fn resolve(&self, docs: Vec<Doc>, body: &[u8]) -> Chunk {
        let response: BulkResponse = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return Chunk::Failed {
                    docs,
                    error: format!("unreadable bulk answer: {e}"),
                };
            }
        };
        if response.items.len() != docs.len() {
            let error = format!(
                "bulk answered {} items for {} documents",
                response.items.len(),
                docs.len()
            );
            return Chunk::Failed { docs, error };
        }
        let mut retry = Vec::new();
        for (doc, item) in docs.into_iter().zip(response.items) {
            let result = item.create;
            match item_outcome(result.status) {
                ItemOutcome::Indexed => {}
                ItemOutcome::Duplicate => self.metrics.duplicates.inc(),
                ItemOutcome::Retry => retry.push(doc),
                ItemOutcome::DeadLetter => {
                    let (kind, reason) = result
                        .error
                        .map(|e| (e.kind, e.reason))
                        .unwrap_or_else(|| (format!("http_{}", result.status), String::new()));
                    if let Err(error) = self.dead_letter(&doc, &kind, &reason).await {
                        warn!(%error, "could not dead-letter a refused document; will retry it");
                        retry.push(doc);
                    }
                }
            }
        }
        Chunk::Done { retry }
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
        self.dead_letters
            .send(&doc.payload, &why, (&self.topic, doc.partition, doc.offset))
            .await
            .map_err(|e| e.0)
    }
}

fn merge(a: Chunk, b: Chunk) -> Chunk {
    match (a, b) {
        (Chunk::Done { retry: mut x }, Chunk::Done { retry: y }) => {
            x.extend(y);
            Chunk::Done { retry: x }
        }
        (Chunk::Failed { mut docs, error }, other) | (other, Chunk::Failed { mut docs, error }) => {
            match other {
                Chunk::Done { retry } => docs.extend(retry),
                Chunk::Failed { docs: more, .. } => docs.extend(more),
            }
            Chunk::Failed { docs, error }
        }
    }
}

#[async_trait]
impl Sink for EsSink {
    fn name(&self) -> &'static str {
        "elasticsearch"
    }

    async fn recover(&mut self, _first: &Incoming) -> Result<Option<i64>, TargetError> {
        // `create` with `_id = event_id` makes replays harmless: trust the
        // committed offset.
        Ok(None)
    }

    fn revoke(&mut self, partition: i32) {
        self.docs.retain(|d| d.partition != partition);
        self.batch_offsets.remove(&partition);
        self.durable.remove(&partition);
        self.bytes = self.docs.iter().map(|d| d.lines.len()).sum();
    }

    async fn push(&mut self, record: &Incoming) -> Result<(), TargetError> {
        self.first_at.get_or_insert_with(Instant::now);
        self.batch_offsets.insert(record.partition, record.offset);
        let Ok(event) = &record.event else {
            return Ok(());
        };
        let time = event_time(event, Duration::from_secs(self.config.max_clock_skew_s));
        let index = index_name(&self.config.index_prefix, time);
        match encode(&record.payload, event, &index, time) {
            Ok(lines) => {
                self.bytes += lines.len();
                self.docs.push(Doc {
                    partition: record.partition,
                    offset: record.offset,
                    lines: lines.into(),
                    payload: record.payload.clone().into(),
                });
            }
            Err(reason) => {
                // Cannot happen for a record that decoded as an event, but
                // if it does, the record is kept as a dead letter.
                self.dead_letters
                    .send(
                        &record.payload,
                        &reason,
                        (&self.topic, record.partition, record.offset),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn flush(&mut self, force: bool) -> Result<(), TargetError> {
        if self.first_at.is_none() || !(force || self.due()) {
            return Ok(());
        }
        let docs = std::mem::take(&mut self.docs);
        let sent = docs.len();
        let mut chunks = Vec::new();
        let mut current = Vec::new();
        let mut bytes = 0;
        for doc in docs {
            if !current.is_empty()
                && (current.len() >= self.config.batch_docs
                    || bytes + doc.lines.len() > self.config.batch_bytes)
            {
                chunks.push(std::mem::take(&mut current));
                bytes = 0;
            }
            bytes += doc.lines.len();
            current.push(doc);
        }
        if !current.is_empty() {
            chunks.push(current);
        }
        let outcomes: Vec<Chunk> = stream::iter(chunks.into_iter().map(|c| self.send(c)))
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut again = Vec::new();
        let mut errors = Vec::new();
        for outcome in outcomes {
            match outcome {
                Chunk::Done { retry } => again.extend(retry),
                Chunk::Failed { docs, error } => {
                    again.extend(docs);
                    errors.push(error);
                }
            }
        }
        if again.is_empty() {
            self.written += sent as u64;
            self.durable.extend(
                std::mem::take(&mut self.batch_offsets)
                    .into_iter()
                    .map(|(p, o)| (p, o + 1)),
            );
            self.first_at = None;
            self.bytes = 0;
            return Ok(());
        }
        self.metrics.retried.inc_by(again.len() as u64);
        let retry_count = again.len();
        self.written += (sent - retry_count) as u64;
        self.bytes = again.iter().map(|d| d.lines.len()).sum();
        self.docs = again;
        let why = errors
            .first()
            .cloned()
            .unwrap_or_else(|| "throttled (429)".to_owned());
        Err(TargetError(format!(
            "{retry_count} of {sent} documents to send again: {why}"
        )))
    }

    async fn probe(&self) -> Result<(), TargetError> {
        self.client.ping().await.map(|_| ()).map_err(TargetError)
    }

    fn take_durable(&mut self) -> Durable {
        Durable {
            offsets: std::mem::take(&mut self.durable).into_iter().collect(),
            events: std::mem::take(&mut self.written),
        }
    }
}
