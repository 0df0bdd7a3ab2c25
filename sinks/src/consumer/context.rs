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

/// Why a worker that is alive makes no progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stall {
    /// Records wait on assigned, unpaused partitions, yet none arrives.
    Fetch { lag: i64 },
    /// The worker has been joining its group (no assignment) all along.
    Join { state: String },
}

impl std::fmt::Display for Stall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stall::Fetch { lag } => write!(
                f,
                "{lag} records wait on assigned, unpaused partitions but none arrives"
            ),
            Stall::Join { state } => write!(
                f,
                "the consumer group join does not complete (join state `{state}`)"
            ),
        }
    }
}

/// What the latest statistics said about progress.
#[derive(Default)]
struct Progress {
    /// Records on assigned partitions beyond what was handed to the loop.
    lag: i64,
    /// Since when `lag` has been above zero without a break.
    lagging_since: Option<Instant>,
    /// The group join state, and since when it has not been `steady`.
    join_state: String,
    joining_since: Option<Instant>,
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

    /// A stall that has lasted at least `after` according to fresh
    /// statistics taken while a broker was up. `fetching` is false while
    /// the loop is paused or busy, when no records are expected.
    pub fn stall(&self, after: Duration, fetching: bool) -> Option<Stall> {
        self.progress.lock().ok()?.stall(after, fetching)
    }
}

impl Progress {
    fn stall(&self, after: Duration, fetching: bool) -> Option<Stall> {
        let fresh = self
            .at
            .is_some_and(|t| t.elapsed() < Duration::from_secs(15));
        if !fresh || !self.broker_up {
            return None;
        }
        let lasted = |since: Option<Instant>| since.is_some_and(|t| t.elapsed() >= after);
        if lasted(self.joining_since) {
            return Some(Stall::Join {
                state: self.join_state.clone(),
            });
        }
        (fetching && lasted(self.lagging_since)).then_some(Stall::Fetch { lag: self.lag })
    }
}

/// When a condition that holds now started: kept while it lasts.
fn since(holds: bool, started: Option<Instant>) -> Option<Instant> {
    match (holds, started) {
        (true, Some(t)) => Some(t),
        (true, None) => Some(Instant::now()),
        (false, _) => None,
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
        self.metrics.kafka_up.set(i64::from(broker_up));
        let join_state = stats.cgrp.map(|g| g.join_state).unwrap_or_default();
        if let Ok(mut progress) = self.progress.lock() {
            progress.lagging_since = since(lag > 0, progress.lagging_since);
            progress.joining_since = since(
                !join_state.is_empty() && join_state != "steady",
                progress.joining_since,
            );
            progress.join_state = join_state;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ago(secs: u64) -> Option<Instant> {
        Instant::now().checked_sub(Duration::from_secs(secs))
    }

    fn progress() -> Progress {
        Progress {
            lag: 0,
            lagging_since: None,
            join_state: "steady".into(),
            joining_since: None,
            broker_up: true,
            at: ago(1),
        }
    }

    const AFTER: Duration = Duration::from_secs(30);

    #[test]
    fn a_join_that_never_completes_is_a_stall_even_while_paused() {
        let joining = Progress {
            join_state: "wait-join".into(),
            joining_since: ago(31),
            ..progress()
        };
        assert_eq!(
            joining.stall(AFTER, false),
            Some(Stall::Join {
                state: "wait-join".into()
            })
        );
        let brief = Progress {
            joining_since: ago(5),
            ..joining
        };
        assert_eq!(brief.stall(AFTER, true), None, "a rebalance takes a while");
    }

    #[test]
    fn lag_with_no_records_is_a_stall_only_while_fetching() {
        let lagging = Progress {
            lag: 42,
            lagging_since: ago(31),
            ..progress()
        };
        assert_eq!(lagging.stall(AFTER, true), Some(Stall::Fetch { lag: 42 }));
        assert_eq!(lagging.stall(AFTER, false), None, "paused or busy");
    }

    #[test]
    fn nothing_is_a_stall_while_the_broker_is_down_or_the_statistics_are_old() {
        let lagging = Progress {
            lag: 42,
            lagging_since: ago(31),
            joining_since: ago(31),
            ..progress()
        };
        let down = Progress {
            broker_up: false,
            ..lagging
        };
        assert_eq!(down.stall(AFTER, true), None);
        let old = Progress {
            broker_up: true,
            at: ago(60),
            ..down
        };
        assert_eq!(old.stall(AFTER, true), None);
    }
}
