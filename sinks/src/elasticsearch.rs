//! `prism-es-sink`: one document per event in a daily index behind the
//! `select-color` index template, `_bulk` with `create` and
//! `_id = event_id`, so browser retries and consumer replays never make a
//! second document (the index comes from the id, see
//! [`request::index_for`]).
//!
//! Laid out as Vector's `sinks/elasticsearch`: settings in [`config`], HTTP
//! and its typed errors in [`client`], encoding in [`request`], the verdict
//! on each answer in [`retry`], the bulk round trip in [`service`], start-up
//! and health in [`health`]. What is here batches records into requests,
//! keeps up to `PRISM_ES_CONCURRENCY` of them in flight while the next ones
//! fill (the cluster never waits for the sink to read and encode), and
//! reports offsets durable only when every document up to them is resolved:
//! indexed, already there (409), or dead-lettered. Anything else (throttled,
//! a server error, a write block, a missing index) is sent again while
//! consumption is paused; credentials the cluster refuses stop the worker.

pub mod client;
pub mod config;
pub mod health;
pub mod request;
pub mod retry;
pub mod service;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tracing::warn;

use self::client::{EsClient, EsError};
pub use self::config::EsConfig;
pub use self::health::TEMPLATE;
use self::request::{encode, index_for};
use self::service::{BulkOutcome, BulkService, Doc, EsMetrics};
use crate::dlq::DeadLetters;
use crate::event_time::event_time;
use crate::metrics::SinkMetrics;
use crate::sink::{Durable, Incoming, Sink, TargetError};

/// How often a send that keeps failing is reported at WARN with the age of
/// the oldest record it holds.
const WARN_EVERY: Duration = Duration::from_secs(60);

pub struct EsSink {
    service: Arc<BulkService>,
    config: EsConfig,
    /// Documents not yet in a request, in the order they were read.
    docs: Vec<Doc>,
    bytes: usize,
    /// When the oldest record not yet in a request arrived.
    first_at: Option<Instant>,
    /// Highest offset per partition read and not yet in a request.
    batch_offsets: BTreeMap<i32, i64>,
    /// Requests sent and not yet resolved, oldest first.
    sent: VecDeque<Sent>,
    durable: BTreeMap<i32, i64>,
    warned_at: Option<Instant>,
    /// A bulk task that ended without an outcome (it cannot, short of a
    /// panic): its documents are gone, so the worker must stop uncommitted.
    broken: Option<String>,
}

/// How long [`EsSink::settle`] waits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    None,
    Oldest,
    All,
}

/// One request: in flight, or handed back to be sent again.
struct Sent {
    task: Option<JoinHandle<BulkOutcome>>,
    /// Documents to send again (when `task` is `None`).
    again: Vec<Doc>,
    /// Partitions revoked while this request was out: what comes back for
    /// them is not sent again.
    revoked: BTreeSet<i32>,
    /// Per partition, the last offset read before this request was cut:
    /// durable once it and every older request are resolved.
    offsets: BTreeMap<i32, i64>,
    first_at: Instant,
}

impl EsSink {
    pub fn new(
        client: EsClient,
        dead_letters: Arc<DeadLetters>,
        config: &EsConfig,
        topic: &str,
        metrics: &SinkMetrics,
    ) -> Result<Self, prometheus::Error> {
        let metrics = EsMetrics::new(metrics)?;
        Ok(Self {
            service: Arc::new(BulkService::new(client, dead_letters, topic, metrics)),
            config: config.clone(),
            docs: Vec::new(),
            bytes: 0,
            first_at: None,
            batch_offsets: BTreeMap::new(),
            sent: VecDeque::new(),
            durable: BTreeMap::new(),
            warned_at: None,
            broken: None,
        })
    }

    /// See [`health::prepare`].
    pub async fn prepare(&self) -> Result<(), EsError> {
        health::prepare(self.service.client(), &self.config).await
    }

    /// A full request is waiting.
    fn full(&self) -> bool {
        !self.docs.is_empty()
            && (self.docs.len() >= self.config.batch_docs || self.bytes >= self.config.batch_bytes)
    }

    /// The oldest record waiting is old enough to be sent, full or not.
    fn aged(&self) -> bool {
        self.first_at
            .is_some_and(|t| t.elapsed() >= Duration::from_millis(self.config.batch_age_ms))
    }

    /// Takes the next request off the front of the waiting documents (at
    /// most `batch_docs` documents and `batch_bytes` bytes) and sends it.
    fn send_next(&mut self) {
        let mut take = 0;
        let mut bytes = 0;
        for doc in &self.docs {
            if take > 0
                && (take >= self.config.batch_docs
                    || bytes + doc.lines.len() > self.config.batch_bytes)
            {
                break;
            }
            bytes += doc.lines.len();
            take += 1;
        }
        let docs: Vec<Doc> = self.docs.drain(..take).collect();
        self.bytes -= bytes;
        let offsets = if self.docs.is_empty() {
            std::mem::take(&mut self.batch_offsets)
        } else {
            let mut last = BTreeMap::new();
            for d in &docs {
                last.insert(d.partition, d.offset);
            }
            last
        };
        let first_at = if self.docs.is_empty() {
            self.first_at.take()
        } else {
            self.first_at
        };
        self.sent.push_back(Sent {
            task: Some(launch(&self.service, docs)),
            again: Vec::new(),
            revoked: BTreeSet::new(),
            offsets,
            first_at: first_at.unwrap_or_else(Instant::now),
        });
    }

    /// Resolves requests from the oldest: makes their offsets durable, or
    /// keeps what must be sent again and fails. `Wait::Oldest` waits for the
    /// oldest request and takes whatever else is finished; `Wait::All`
    /// waits for every one. A request handed back is sent again, and waited
    /// for, first. A task stays in its request while awaited, so a
    /// cancelled call loses nothing.
    async fn settle(&mut self, mut wait: Wait) -> Result<(), TargetError> {
        while let Some(front) = self.sent.front_mut() {
            let task = match &mut front.task {
                Some(task) if wait == Wait::None && !task.is_finished() => return Ok(()),
                Some(task) => task,
                None => front
                    .task
                    .insert(launch(&self.service, std::mem::take(&mut front.again))),
            };
            let joined = task.await;
            front.task = None;
            let outcome = match joined {
                Ok(outcome) => outcome,
                Err(e) => {
                    let why = format!("a bulk request task ended without an answer: {e}");
                    self.broken = Some(why.clone());
                    return Err(TargetError(why));
                }
            };
            let (mut again, why) = match outcome {
                BulkOutcome::Done { retry, why, .. } => (retry, why.unwrap_or_default()),
                BulkOutcome::Failed { docs, error } => (docs, error),
            };
            // What came back for a partition revoked meanwhile is the new
            // owner's to send.
            again.retain(|d| !front.revoked.contains(&d.partition));
            if !again.is_empty() {
                return Err(self.keep_unresolved(again, &why));
            }
            let Some(done) = self.sent.pop_front() else {
                break;
            };
            self.durable
                .extend(done.offsets.into_iter().map(|(p, o)| (p, o + 1)));
            if wait == Wait::Oldest {
                wait = Wait::None;
            }
        }
        self.warned_at = None;
        self.service.metrics.oldest_unresolved.set(0);
        Ok(())
    }

    /// Documents to send again: kept with their request, counted, and
    /// reported at WARN once a minute with the age of the oldest record held.
    fn keep_unresolved(&mut self, again: Vec<Doc>, why: &str) -> TargetError {
        let count = again.len();
        let age = self
            .sent
            .front()
            .map_or(Duration::ZERO, |s| s.first_at.elapsed());
        if let Some(front) = self.sent.front_mut() {
            front.again = again;
        }
        let metrics = &self.service.metrics;
        metrics.retried.inc_by(count as u64);
        metrics
            .oldest_unresolved
            .set(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
        if age >= WARN_EVERY && self.warned_at.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            warn!(
                documents = count,
                oldest_s = age.as_secs(),
                error = why,
                "elasticsearch has not taken these documents for over a minute; still retrying, nothing is dropped"
            );
            self.warned_at = Some(Instant::now());
        }
        TargetError(format!("{count} documents to send again: {why}"))
    }
}

/// Sends `docs` as one request on its own task (none when there are none:
/// a request that only completes offsets of records with no document).
fn launch(service: &Arc<BulkService>, docs: Vec<Doc>) -> JoinHandle<BulkOutcome> {
    let service = Arc::clone(service);
    tokio::spawn(async move {
        if docs.is_empty() {
            return BulkOutcome::Done {
                retry: docs,
                why: None,
                throttled: false,
            };
        }
        service.send_patiently(docs).await
    })
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
        // Requests in flight finish (a document indexed twice is a 409);
        // their offsets for the partition are the new owner's business.
        for sent in &mut self.sent {
            sent.offsets.remove(&partition);
            sent.again.retain(|d| d.partition != partition);
            sent.revoked.insert(partition);
        }
    }

    async fn push(&mut self, record: &Incoming) -> Result<(), TargetError> {
        // A record that is not an event was dead-lettered by the consumer
        // loop; only its offset counts here.
        if let Ok(event) = &record.event {
            let index = index_for(&self.config.index_prefix, event);
            let time = event_time(event, Duration::from_secs(self.config.max_clock_skew_s));
            match encode(&record.payload, event, &index, time) {
                Ok((lines, fields_at)) => {
                    self.bytes += lines.len();
                    self.docs.push(Doc {
                        partition: record.partition,
                        offset: record.offset,
                        lines,
                        fields_at,
                    });
                }
                Err(reason) => {
                    // Cannot happen for a record that decoded as an event, but
                    // if it does, the record is kept as a dead letter.
                    self.service
                        .dead_letters()
                        .send(
                            &record.payload,
                            &reason,
                            (self.service.topic(), record.partition, record.offset),
                        )
                        .await?;
                    self.service.metrics.count_dead_letter("unencodable");
                }
            }
        }
        self.first_at.get_or_insert_with(Instant::now);
        self.batch_offsets.insert(record.partition, record.offset);
        Ok(())
    }

    async fn flush(&mut self, force: bool) -> Result<(), TargetError> {
        self.settle(Wait::None).await?;
        let slots = self.config.concurrency.max(1);
        let everything = force || self.aged();
        while self.full() || (everything && self.first_at.is_some()) {
            if self.sent.len() >= slots {
                // Every slot busy: wait for the oldest request.
                self.settle(Wait::Oldest).await?;
                continue;
            }
            self.send_next();
        }
        if force {
            self.settle(Wait::All).await?;
        }
        Ok(())
    }

    async fn probe(&self) -> Result<(), TargetError> {
        health::probe(self.service.client())
            .await
            .map_err(|e| TargetError(e.to_string()))
    }

    fn refused(&self) -> Option<String> {
        self.broken
            .clone()
            .or_else(|| self.service.refused().map(str::to_owned))
    }

    fn take_durable(&mut self) -> Durable {
        Durable {
            offsets: std::mem::take(&mut self.durable).into_iter().collect(),
            // Counted item by item as the answers come (indexed, already
            // there, dead-lettered): see `BulkService`.
            events: 0,
            already_there: 0,
        }
    }
}
