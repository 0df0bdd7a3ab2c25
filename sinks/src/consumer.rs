//! The consumer loop both sink workers share.
//!
//! Records are read in a consumer group with `enable.auto.offset.store`
//! off: an offset is stored (and then committed) only after the sink says
//! everything before it is durable. While the target fails, consumption is
//! paused and the same call is retried with back-off, so lag grows and
//! nothing is dropped.
//!
//! Group changes are handled by generation: every rebalance bumps an epoch,
//! each record carries the epoch it was received in, and a revocation drops
//! only the records received before it, so records of a partition handed
//! straight back are kept. Pausing follows the assignment: a partition
//! assigned while the target fails is paused at once, one assigned while
//! it works is resumed (librdkafka keeps a pause across reassignment).

mod context;
mod shutdown;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use prism_event::EnrichedEvent;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tracing::{error, info, warn};

use self::context::{GroupChange, LoopContext, Stall};
use crate::backoff::Backoff;
use crate::config::ConsumerConfig;
use crate::dlq::DeadLetters;
use crate::metrics::SinkMetrics;
use crate::sink::{Incoming, Sink, TargetError};

/// How a record that is no event is dead-lettered, and its metric label.
const NOT_AN_EVENT: &str = "not a valid enriched event";
/// How an event that breaks the producer's rules is dead-lettered.
const BREAKS_RULES: &str = "breaks the producer's rules";

/// The metric label of a dead-letter reason the consumer loop gives.
fn reason_label(reason: &str) -> &'static str {
    if reason.starts_with(BREAKS_RULES) {
        "breaks_rules"
    } else {
        "not_an_event"
    }
}

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
    #[error(
        "partition {0} was claimed by another worker but the group still assigns it here; exiting so the group is formed afresh"
    )]
    FencedButAssigned(i32),
    #[error("stalled for {secs} s: {stall}; exiting so a supervisor restarts the worker")]
    Stalled { stall: Stall, secs: u64 },
    #[error("{0}; exiting: retrying cannot fix this")]
    Refused(String),
}

/// A record waiting for the sink, with the group epoch it was received in.
struct Pending {
    epoch: u64,
    record: Incoming,
    /// Already copied to the dead-letter topic (a retry must not copy it
    /// again).
    dead_lettered: bool,
}

/// Where an assigned partition stands in this worker.
struct PartitionState {
    /// The epoch of the assignment; older records are stale.
    assigned_in: u64,
    /// `None` until the sink recovered the partition; then the offset below
    /// which records are already in the target, if it knows one.
    resume_from: Option<Option<i64>>,
    /// Since when another worker has claimed the partition: its records
    /// are dropped until the group assigns it here again.
    fenced: Option<Instant>,
}

/// Runs `sink` until `shutdown` turns true, then makes the current batch
/// durable and leaves the group, within the configured shutdown budget.
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
    let context = LoopContext::new(&config.topic, tx, Arc::clone(&metrics));
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.kafka_brokers)
        .set("group.id", group)
        .set("client.id", format!("prism-{}-sink", sink.name()))
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", config.session_timeout_ms.to_string())
        // New partitions of the topic are picked up within this time.
        .set("topic.metadata.refresh.interval.ms", "10000")
        // Back within a second of a broker's return, not librdkafka's ten.
        .set("reconnect.backoff.max.ms", "1000")
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
        last_record: Instant::now(),
        metrics,
        dead_letters,
    };
    let stall_after = config.stall_timeout();

    // Set when a shutdown interrupted the sink mid-call: its buffers may be
    // half-written, so nothing more is flushed or stored.
    let mut interrupted = false;
    loop {
        state.apply_group_changes(&changes, &mut sink);
        if state.retry_at.is_none_or(|at| Instant::now() >= at) {
            let started = Instant::now();
            let outcome = tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    interrupted = true;
                    break;
                }
                outcome = state.work(&mut sink, false) => outcome,
            };
            // Nothing written is no proof the target is back: ask it.
            let outcome = match outcome {
                Ok(()) if consumer.context().paused.load(Ordering::SeqCst) => sink.probe().await,
                other => other,
            };
            state.handle_fenced(&mut sink);
            match outcome {
                Ok(()) => state.succeeded(&consumer),
                Err(e) => state.failed(&consumer, e),
            }
            state.store_offsets(&consumer, &mut sink, started);
            if let Some(why) = sink.refused() {
                return Err(RunError::Refused(why));
            }
        }
        if let Some(p) = state.fenced_too_long(2 * config.session_timeout()) {
            return Err(RunError::FencedButAssigned(p));
        }
        if let Some(stall) = stall_after
            && let Some(stalled) = state.stalled(consumer.context(), stall)
        {
            return Err(RunError::Stalled {
                stall: stalled,
                secs: stall.as_secs(),
            });
        }
        let wait = state.retry_at.map_or(TICK, |at| {
            at.saturating_duration_since(Instant::now()).min(TICK)
        });
        tokio::select! {
            _ = shutdown.changed() => break,
            received = tokio::time::timeout(wait, consumer.recv()) => match received {
                Ok(Ok(message)) => {
                    state.receive(&message, consumer.context());
                    // Take what is already fetched without waiting, so the
                    // per-iteration work is shared by many records.
                    while state.pending.len() < MAX_PENDING {
                        match consumer.recv().now_or_never() {
                            Some(Ok(message)) => state.receive(&message, consumer.context()),
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

    let deadline = Instant::now() + config.shutdown_timeout();
    if interrupted {
        warn!("stopped in the middle of a write; what was not committed will be read again");
    } else {
        state.apply_group_changes(&changes, &mut sink);
        state.final_flush(&mut sink, deadline).await;
        state.store_offsets(&consumer, &mut sink, Instant::now());
    }
    shutdown::close(consumer, deadline).await;
    Ok(())
}

struct LoopState {
    topic: String,
    partitions: HashMap<i32, PartitionState>,
    pending: VecDeque<Pending>,
    backoff: Backoff,
    retry_at: Option<Instant>,
    last_record: Instant,
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
                GroupChange::Revoked { partitions, epoch } => {
                    info!(?partitions, "partitions revoked");
                    for p in partitions {
                        self.partitions.remove(&p);
                        self.pending
                            .retain(|r| r.record.partition != p || r.epoch >= epoch);
                        sink.revoke(p);
                    }
                }
                GroupChange::Assigned { partitions, epoch } => {
                    info!(?partitions, "partitions assigned");
                    for p in partitions {
                        self.partitions.insert(
                            p,
                            PartitionState {
                                assigned_in: epoch,
                                resume_from: None,
                                fenced: None,
                            },
                        );
                    }
                }
            }
        }
        self.metrics.pending.set(self.pending.len() as i64);
    }

    fn receive(&mut self, message: &rdkafka::message::BorrowedMessage<'_>, context: &LoopContext) {
        self.metrics.consumed.inc();
        self.last_record = Instant::now();
        let payload = message.payload().unwrap_or_default().to_vec();
        let event = serde_json::from_slice::<EnrichedEvent>(&payload)
            .map_err(|e| format!("{NOT_AN_EVENT}: {e}"))
            .and_then(|event| match event.check() {
                Ok(()) => Ok(event),
                Err(e) => Err(format!("{BREAKS_RULES}: {e}")),
            });
        self.pending.push_back(Pending {
            epoch: context.epoch.load(Ordering::SeqCst),
            record: Incoming {
                partition: message.partition(),
                offset: message.offset(),
                timestamp_ms: message.timestamp().to_millis(),
                event,
                payload,
            },
            dead_lettered: false,
        });
    }

    /// Hands every pending record to the sink, then flushes what is due.
    /// On error the record that failed stays first in line, and the sink is
    /// as it was before that record.
    async fn work<S: Sink>(&mut self, sink: &mut S, force: bool) -> Result<(), TargetError> {
        let mut dead_in_batch = 0usize;
        while let Some(pending) = self.pending.front_mut() {
            let record = &pending.record;
            let p = record.partition;
            let state = match self.partitions.get_mut(&p) {
                Some(s) if pending.epoch >= s.assigned_in && s.fenced.is_none() => s,
                // Not (or no longer) ours: the owner reads it from its offset.
                _ => {
                    self.pending.pop_front();
                    continue;
                }
            };
            let resume_from = match state.resume_from {
                Some(r) => r,
                None => {
                    let r = sink.recover(record).await?;
                    info!(partition = p, resume_from = ?r, "partition ready");
                    state.resume_from = Some(r);
                    r
                }
            };
            if resume_from.is_some_and(|r| record.offset < r) {
                self.metrics.skipped.inc();
                self.metrics.already_there.inc();
                self.pending.pop_front();
                continue;
            }
            if let Err(reason) = &record.event
                && !pending.dead_lettered
            {
                self.dead_letters
                    .send(&record.payload, reason, (&self.topic, p, record.offset))
                    .await?;
                pending.dead_lettered = true;
                if dead_in_batch == 0 {
                    warn!(partition = p, offset = record.offset, %reason, "dead-lettered a record");
                }
                dead_in_batch += 1;
                self.metrics
                    .dead_lettered
                    .with_label_values(&[reason_label(reason)])
                    .inc();
            }
            sink.push(&pending.record).await?;
            self.pending.pop_front();
        }
        if dead_in_batch > 1 {
            warn!(count = dead_in_batch, "dead-lettered records in this batch");
        }
        sink.flush(force).await
    }

    /// Partitions another worker claimed: stop handling them here.
    fn handle_fenced<S: Sink>(&mut self, sink: &mut S) {
        for p in sink.take_fenced() {
            warn!(
                partition = p,
                "another worker owns this partition now; dropping what was buffered for it"
            );
            self.metrics.fenced.inc();
            if let Some(state) = self.partitions.get_mut(&p) {
                state.fenced.get_or_insert_with(Instant::now);
            }
            self.pending.retain(|r| r.record.partition != p);
        }
    }

    fn succeeded(&mut self, consumer: &StreamConsumer<LoopContext>) {
        if consumer.context().paused.swap(false, Ordering::SeqCst) {
            if let Ok(assignment) = consumer.assignment() {
                let _ = consumer.resume(&assignment);
            }
            info!(
                retries = self.backoff.attempts(),
                "target is back; resuming consumption"
            );
            self.metrics.target_up.set(1);
        }
        self.backoff.reset();
        self.retry_at = None;
    }

    fn failed(&mut self, consumer: &StreamConsumer<LoopContext>, error: TargetError) {
        let delay = self.backoff.next_delay();
        warn!(error = %error, attempt = self.backoff.attempts(), retry_in_ms = delay.as_millis() as u64, "target failed; pausing consumption");
        if !consumer.context().paused.swap(true, Ordering::SeqCst) {
            if let Ok(assignment) = consumer.assignment() {
                let _ = consumer.pause(&assignment);
            }
            self.metrics.target_up.set(0);
        }
        self.retry_at = Some(Instant::now() + delay);
    }

    /// A partition fenced for longer than a rebalance takes is still
    /// assigned here: the group and the claims disagree.
    fn fenced_too_long(&self, after: Duration) -> Option<i32> {
        self.partitions
            .iter()
            .find(|(_, s)| s.fenced.is_some_and(|t| t.elapsed() > after))
            .map(|(p, _)| *p)
    }

    /// Whether the worker is alive but stuck for at least `after`: its
    /// group join never completes, or records wait on assigned, unpaused
    /// partitions while a broker is up and none arrives (states librdkafka
    /// does not leave by itself).
    fn stalled(&self, context: &LoopContext, after: Duration) -> Option<Stall> {
        let fetching = !context.paused.load(Ordering::SeqCst)
            && self.pending.is_empty()
            && self.last_record.elapsed() >= after;
        context.stall(after, fetching)
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
        self.metrics.written.inc_by(durable.events);
        self.metrics.already_there.inc_by(durable.already_there);
        self.metrics.skipped.inc_by(durable.already_there);
        if durable.offsets.is_empty() {
            return;
        }
        self.metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        let mut tpl = TopicPartitionList::new();
        for (p, next) in durable.offsets {
            if self.partitions.get(&p).is_some_and(|s| s.fenced.is_none()) {
                let _ = tpl.add_partition_offset(&self.topic, p, Offset::Offset(next));
            }
        }
        if tpl.count() > 0
            && let Err(e) = consumer.store_offsets(&tpl)
        {
            error!(error = %e, "storing offsets failed (partition no longer assigned?)");
        }
    }
}

#[cfg(test)]
mod tests;
