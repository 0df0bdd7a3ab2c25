//! librdkafka's callbacks: group changes to the loop, statistics to the
//! metrics and the stall check. They never block librdkafka's thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;
use tracing::warn;

use crate::metrics::SinkMetrics;

pub enum GroupChange {
    Assigned { partitions: Vec<i32>, epoch: u64 },
    Revoked { partitions: Vec<i32>, epoch: u64 },
}

/// What the latest statistics said about progress.
#[derive(Default)]
struct Progress {
    /// Records on assigned partitions beyond what was handed to the loop.
    lag: i64,
    /// Since when `lag` has been above zero without a break.
    lagging_since: Option<Instant>,
    /// Whether some broker was up at that time.
    broker_up: bool,
    at: Option<Instant>,
}

pub struct LoopContext {
    topic: String,
    changes: Mutex<mpsc::Sender<GroupChange>>,
    metrics: Arc<SinkMetrics>,
    /// Bumped on every revocation and assignment; each record carries the
    /// value current when it was received.
    pub epoch: AtomicU64,
    /// Consumption is paused because the target fails; a partition
    /// assigned meanwhile is paused too.
    pub paused: AtomicBool,
    progress: Mutex<Progress>,
}

impl LoopContext {
    pub fn new(topic: &str, changes: mpsc::Sender<GroupChange>, metrics: Arc<SinkMetrics>) -> Self {
        Self {
            topic: topic.to_owned(),
            changes: Mutex::new(changes),
            metrics,
            epoch: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            progress: Mutex::new(Progress::default()),
        }
    }

    fn send(&self, change: GroupChange) {
        if let Ok(tx) = self.changes.lock() {
            let _ = tx.send(change);
        }
    }

    /// The lag, if records have been waiting for at least `after` according
    /// to fresh statistics taken while a broker was up.
    pub fn stalled_lag(&self, after: Duration) -> Option<i64> {
        let progress = self.progress.lock().ok()?;
        let fresh = progress
            .at
            .is_some_and(|t| t.elapsed() < Duration::from_secs(15));
        let long = progress.lagging_since.is_some_and(|t| t.elapsed() >= after);
        (fresh && long && progress.broker_up).then_some(progress.lag)
    }
}

fn partitions_of(tpl: &TopicPartitionList, topic: &str) -> Vec<i32> {
    tpl.elements()
        .iter()
        .filter(|e| e.topic() == topic)
        .map(|e| e.partition())
        .collect()
}

impl ClientContext for LoopContext {
    fn stats(&self, stats: Statistics) {
        let broker_up = stats
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        let mut lag = 0;
        if let Some(topic) = stats.topics.get(&self.topic) {
            for (id, p) in &topic.partitions {
                if *id < 0 || !p.desired {
                    continue;
                }
                if p.consumer_lag >= 0 {
                    self.metrics
                        .lag
                        .with_label_values(&[&id.to_string()])
                        .set(p.consumer_lag);
                }
                // Where the loop stands: the next record it would get.
                let position = [p.app_offset, p.committed_offset, p.lo_offset]
                    .into_iter()
                    .find(|o| *o >= 0);
                if let Some(position) = position
                    && p.hi_offset > position
                {
                    lag += p.hi_offset - position;
                }
            }
        }
        if let Ok(mut progress) = self.progress.lock() {
            progress.lagging_since = match (lag > 0, progress.lagging_since) {
                (true, Some(since)) => Some(since),
                (true, None) => Some(Instant::now()),
                (false, _) => None,
            };
            progress.lag = lag;
            progress.broker_up = broker_up;
            progress.at = Some(Instant::now());
        }
    }
}

impl ConsumerContext for LoopContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
                let partitions = partitions_of(tpl, &self.topic);
                self.send(GroupChange::Revoked { partitions, epoch });
            }
            Rebalance::Error(e) => warn!(error = %e, "rebalance failed"),
            Rebalance::Assign(_) => {}
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            // librdkafka remembers a pause across reassignment: make each
            // new partition follow the loop's current state instead.
            let outcome = if self.paused.load(Ordering::SeqCst) {
                consumer.pause(tpl)
            } else {
                consumer.resume(tpl)
            };
            if let Err(e) = outcome {
                warn!(error = %e, "could not set the pause state of assigned partitions");
            }
            let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
            let partitions = partitions_of(tpl, &self.topic);
            self.send(GroupChange::Assigned { partitions, epoch });
        }
    }
}
