//! The consumer loop both sink workers share.
//!
//! Records are read in a consumer group with `enable.auto.offset.store`
//! off: an offset is stored (and then committed) only after the sink says
//! everything before it is durable. While the target fails, consumption is
//! paused and the same call is retried with back-off, so lag grows and
//! nothing is dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use prism_event::EnrichedEvent;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::config::ConsumerConfig;
use crate::dlq::DeadLetters;
use crate::metrics::SinkMetrics;
use crate::sink::{Incoming, Sink, TargetError};

/// How often age-based work (rotation, time-based batches) is checked when
/// no records arrive.
const TICK: Duration = Duration::from_millis(200);

/// Records taken from the consumer per loop iteration, at most.
const MAX_PENDING: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

enum GroupChange {
    Assigned(Vec<i32>),
    Revoked(Vec<i32>),
}

/// Forwards rebalances to the loop and consumer lag to the metrics; it
/// never blocks librdkafka's thread.
struct LoopContext {
    topic: String,
    changes: std::sync::Mutex<mpsc::Sender<GroupChange>>,
    metrics: Arc<SinkMetrics>,
}

impl ClientContext for LoopContext {
    fn stats(&self, stats: Statistics) {
        let Some(topic) = stats.topics.get(&self.topic) else {
            return;
        };
        for (id, p) in &topic.partitions {
            if *id >= 0 && p.consumer_lag >= 0 {
                self.metrics
                    .lag
                    .with_label_values(&[&id.to_string()])
                    .set(p.consumer_lag);
            }
        }
    }
}

impl ConsumerContext for LoopContext {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            self.send(GroupChange::Revoked(partitions_of(tpl, &self.topic)));
        }
    }

    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.send(GroupChange::Assigned(partitions_of(tpl, &self.topic)));
        }
    }
}

impl LoopContext {
    fn send(&self, change: GroupChange) {
        if let Ok(tx) = self.changes.lock() {
            let _ = tx.send(change);
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList, topic: &str) -> Vec<i32> {
    tpl.elements()
        .iter()
        .filter(|e| e.topic() == topic)
        .map(|e| e.partition())
        .collect()
}

/// Where a partition stands in this worker.
struct PartitionState {
    /// Records below this offset are already in the target; skip them.
    resume_from: Option<i64>,
}

/// Runs `sink` until `shutdown` turns true, then makes the current batch
/// durable, commits and leaves the group.
pub async fn run<S: Sink>(
    config: &ConsumerConfig,
    group: &str,
    mut sink: S,
    metrics: Arc<SinkMetrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), RunError> {
    crate::dlq::ensure_topic(
        &config.kafka_brokers,
        &config.dlq_topic,
        &config.kafka_options,
    )
    .await?;
    let dead_letters = DeadLetters::new(
        &config.kafka_brokers,
        &config.dlq_topic,
        &config.kafka_options,
    )?;
    let (tx, changes) = mpsc::channel();
    let context = LoopContext {
        topic: config.topic.clone(),
        changes: std::sync::Mutex::new(tx),
        metrics: Arc::clone(&metrics),
    };
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.kafka_brokers)
        .set("group.id", group)
        .set("client.id", format!("prism-{}-sink", sink.name()))
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", config.session_timeout_ms.to_string())
        .set("statistics.interval.ms", "5000");
    for (k, v) in &config.kafka_options {
        cc.set(k, v);
    }
    let consumer: StreamConsumer<LoopContext> = cc.create_with_context(context)?;
    consumer.subscribe(&[&config.topic])?;
    info!(topic = %config.topic, group, sink = sink.name(), "consuming");

    let mut state = LoopState {
        topic: config.topic.clone(),
        partitions: HashMap::new(),
        pending: VecDeque::new(),
        backoff: Backoff::new(Duration::from_millis(200), config.retry_max()),
        retry_at: None,
        paused: false,
        metrics,
        dead_letters,
    };

    loop {
        state.apply_group_changes(&changes, &mut sink);
        if state.retry_at.is_none_or(|at| Instant::now() >= at) {
            let started = Instant::now();
            match state.work(&mut sink, false).await {
                Ok(()) => state.succeeded(&consumer),
                Err(e) => state.failed(&consumer, e),
            }
            state.store_offsets(&consumer, &mut sink, started);
        }
        let wait = state.retry_at.map_or(TICK, |at| {
            at.saturating_duration_since(Instant::now()).min(TICK)
        });
        tokio::select! {
            _ = shutdown.changed() => break,
            received = tokio::time::timeout(wait, consumer.recv()) => match received {
                Ok(Ok(message)) => {
                    state.receive(&message);
                    // Take what is already fetched without waiting, so the
                    // per-iteration work is shared by many records.
                    while state.pending.len() < MAX_PENDING {
                        match consumer.recv().now_or_never() {
                            Some(Ok(message)) => state.receive(&message),
                            _ => break,
                        }
                    }
                }
                Ok(Err(e)) => warn!(error = %e, "kafka consumer error"),
                Err(_elapsed) => {}
            },
        }
        if *shutdown.borrow() {
            break;
        }
    }

    info!("stopping: making the current batch durable");
    state.apply_group_changes(&changes, &mut sink);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match state.work(&mut sink, true).await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                warn!(error = %e, "final flush failed, retrying");
                tokio::time::sleep(state.backoff.next_delay()).await;
            }
            Err(e) => {
                warn!(error = %e, "giving up the final flush; the records will be read again");
                break;
            }
        }
    }
    state.store_offsets(&consumer, &mut sink, Instant::now());
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        debug!(error = %e, "final commit");
    }
    consumer.unsubscribe();
    info!("left the group");
    Ok(())
}

struct LoopState {
    topic: String,
    partitions: HashMap<i32, PartitionState>,
    pending: VecDeque<Incoming>,
    backoff: Backoff,
    retry_at: Option<Instant>,
    paused: bool,
    metrics: Arc<SinkMetrics>,
    dead_letters: DeadLetters,
}

impl LoopState {
    fn apply_group_changes<S: Sink>(
        &mut self,
        changes: &mpsc::Receiver<GroupChange>,
        sink: &mut S,
    ) {
        while let Ok(change) = changes.try_recv() {
            match change {
                GroupChange::Revoked(partitions) => {
                    for p in partitions {
                        info!(partition = p, "partition revoked");
                        self.partitions.remove(&p);
                        self.pending.retain(|r| r.partition != p);
                        sink.revoke(p);
                    }
                }
                GroupChange::Assigned(partitions) => {
                    info!(?partitions, "partitions assigned");
                }
            }
        }
    }

    fn receive(&mut self, message: &rdkafka::message::BorrowedMessage<'_>) {
        self.metrics.consumed.inc();
        let payload = message.payload().unwrap_or_default().to_vec();
        let event = serde_json::from_slice::<EnrichedEvent>(&payload)
            .map_err(|e| format!("not a valid enriched event: {e}"));
        self.pending.push_back(Incoming {
            partition: message.partition(),
            offset: message.offset(),
            event,
            payload,
        });
    }

    /// Hands every pending record to the sink, then flushes what is due.
    /// On error the record that failed stays first in line.
    async fn work<S: Sink>(&mut self, sink: &mut S, force: bool) -> Result<(), TargetError> {
        let mut dead_in_batch = 0usize;
        while let Some(record) = self.pending.front() {
            let p = record.partition;
            let resume_from = match self.partitions.get(&p) {
                Some(state) => state.resume_from,
                None => {
                    let resume_from = sink.recover(p).await?;
                    info!(partition = p, ?resume_from, "partition ready");
                    self.partitions.insert(p, PartitionState { resume_from });
                    resume_from
                }
            };
            if resume_from.is_some_and(|r| record.offset < r) {
                self.metrics.skipped.inc();
                self.pending.pop_front();
                continue;
            }
            if let Err(reason) = &record.event {
                self.dead_letters
                    .send(&record.payload, reason, (&self.topic, p, record.offset))
                    .await?;
                if dead_in_batch == 0 {
                    warn!(partition = p, offset = record.offset, %reason, "dead-lettered a record");
                }
                dead_in_batch += 1;
                self.metrics.dead_lettered.inc();
            }
            sink.push(record).await?;
            self.pending.pop_front();
        }
        if dead_in_batch > 1 {
            warn!(count = dead_in_batch, "dead-lettered records in this batch");
        }
        sink.flush(force).await
    }

    fn succeeded(&mut self, consumer: &StreamConsumer<LoopContext>) {
        if self.paused {
            if let Ok(assignment) = consumer.assignment() {
                let _ = consumer.resume(&assignment);
            }
            info!(
                retries = self.backoff.attempts(),
                "target is back; resuming consumption"
            );
            self.paused = false;
            self.metrics.target_up.set(1);
        }
        self.backoff.reset();
        self.retry_at = None;
    }

    fn failed(&mut self, consumer: &StreamConsumer<LoopContext>, error: TargetError) {
        let delay = self.backoff.next_delay();
        warn!(error = %error, attempt = self.backoff.attempts(), retry_in_ms = delay.as_millis() as u64, "target failed; pausing consumption");
        if !self.paused {
            if let Ok(assignment) = consumer.assignment() {
                let _ = consumer.pause(&assignment);
            }
            self.paused = true;
            self.metrics.target_up.set(0);
        }
        self.retry_at = Some(Instant::now() + delay);
    }

    /// Stores what the sink made durable; librdkafka commits stored offsets
    /// every second (and once more on shutdown).
    fn store_offsets<S: Sink>(
        &mut self,
        consumer: &StreamConsumer<LoopContext>,
        sink: &mut S,
        started: Instant,
    ) {
        let durable = sink.take_durable();
        if durable.offsets.is_empty() {
            return;
        }
        self.metrics.written.inc_by(durable.events);
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        let mut tpl = TopicPartitionList::new();
        for (p, next) in durable.offsets {
            if self.partitions.contains_key(&p) {
                let _ = tpl.add_partition_offset(&self.topic, p, Offset::Offset(next));
            }
        }
        if tpl.count() > 0
            && let Err(e) = consumer.store_offsets(&tpl)
        {
            debug!(error = %e, "storing offsets (partition no longer assigned?)");
        }
    }
}
