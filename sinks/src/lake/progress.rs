//! The topic's side of sealing: how far the HDFS sink group has made the
//! lake durable, read from Kafka (its committed offsets, the partitions'
//! ends, offsets by timestamp) and not from any worker, so it holds for any
//! number of workers, running or not.
//!
//! An event is filed at most the skew bound away from its `received_at`,
//! and a record's Kafka timestamp is its producer's send time, a moment
//! after `received_at`. So no record of hour `H` lies after the first
//! record stamped later than `H`'s end plus the skew bound plus a grace
//! period (for producers' clocks and retries): once the group's committed
//! offset has passed that record in every partition, or a partition has no
//! such record and the group has committed all of it, every record of `H`
//! the topic will show is in the lake.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use time::OffsetDateTime;

use super::LakeError;
use crate::audit::kafka::partitions_of;

fn kafka(e: KafkaError) -> LakeError {
    LakeError::Kafka(e.to_string())
}

/// One partition now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: i32,
    /// The group's committed offset: every record before it is in the lake.
    pub committed: Option<i64>,
    pub low: i64,
    pub high: i64,
}

pub struct Progress {
    consumer: BaseConsumer,
    topic: String,
    partitions: Vec<i32>,
    timeout: Duration,
}

impl Progress {
    /// A client that reads the `group`'s offsets without joining it.
    pub fn connect(
        brokers: &str,
        topic: &str,
        group: &str,
        options: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, LakeError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("socket.timeout.ms", timeout.as_millis().to_string());
        for (k, v) in options {
            client.set(k, v);
        }
        let consumer: BaseConsumer = client.create().map_err(kafka)?;
        let partitions =
            partitions_of(&consumer, brokers, topic, timeout).map_err(LakeError::Kafka)?;
        Ok(Self {
            consumer,
            topic: topic.to_owned(),
            partitions,
            timeout,
        })
    }

    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    fn list(&self, offset: Offset) -> Result<TopicPartitionList, LakeError> {
        let mut list = TopicPartitionList::new();
        for &p in &self.partitions {
            list.add_partition_offset(&self.topic, p, offset)
                .map_err(kafka)?;
        }
        Ok(list)
    }

    /// Every partition's committed offset and ends, now. Blocking.
    pub fn states(&self) -> Result<Vec<PartitionState>, LakeError> {
        let committed = self
            .consumer
            .committed_offsets(self.list(Offset::Invalid)?, self.timeout)
            .map_err(kafka)?;
        let mut states = Vec::with_capacity(self.partitions.len());
        for element in committed.elements() {
            let p = element.partition();
            element
                .error()
                .map_err(|e| LakeError::Kafka(format!("partition {p}: {e}")))?;
            let (low, high) = self
                .consumer
                .fetch_watermarks(&self.topic, p, self.timeout)
                .map_err(kafka)?;
            let committed = match element.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            states.push(PartitionState {
                partition: p,
                committed,
                low,
                high,
            });
        }
        states.sort_by_key(|s| s.partition);
        Ok(states)
    }

    /// Per partition, the first offset stamped at or after `t`, if any
    /// record is. Blocking.
    pub fn offsets_at(&self, t: OffsetDateTime) -> Result<HashMap<i32, Option<i64>>, LakeError> {
        let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let found = self
            .consumer
            .offsets_for_times(self.list(Offset::Offset(ms))?, self.timeout)
            .map_err(kafka)?;
        let mut offsets = HashMap::new();
        for element in found.elements() {
            let p = element.partition();
            element
                .error()
                .map_err(|e| LakeError::Kafka(format!("partition {p}: {e}")))?;
            let offset = match element.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            };
            offsets.insert(p, offset);
        }
        Ok(offsets)
    }
}

impl Progress {
    /// Whether the topic holds no record stamped before `t`: each partition
    /// is empty or its first record is stamped at or after `t` (the topic
    /// began later, or retention has removed what came before). Blocking.
    pub fn nothing_before(&self, t: OffsetDateTime) -> Result<bool, LakeError> {
        let at = self.offsets_at(t)?;
        Ok(starts_after(&self.states()?, &at))
    }
}

fn starts_after(states: &[PartitionState], at: &HashMap<i32, Option<i64>>) -> bool {
    states.iter().all(|s| {
        s.high <= s.low
            || at
                .get(&s.partition)
                .copied()
                .flatten()
                .is_some_and(|o| o <= s.low)
    })
}

/// Why an hour whose cutoff has passed cannot be sealed yet, partition by
/// partition; empty when it can. `beyond` is each partition's first offset
/// stamped after the cutoff ([`Progress::offsets_at`]).
pub fn waiting_for(states: &[PartitionState], beyond: &HashMap<i32, Option<i64>>) -> Vec<String> {
    let mut waiting = Vec::new();
    for s in states {
        let p = s.partition;
        if s.high <= s.low {
            continue; // Nothing in it, nothing to wait for.
        }
        let Some(committed) = s.committed else {
            waiting.push(format!(
                "partition {p}: the sink group has committed nothing"
            ));
            continue;
        };
        match beyond.get(&p).copied().flatten() {
            Some(first_after) if committed <= first_after => waiting.push(format!(
                "partition {p}: the sink group is at offset {committed}, the hour is done at {}",
                first_after + 1
            )),
            None if committed < s.high => waiting.push(format!(
                "partition {p}: the sink group is at offset {committed} of {}",
                s.high
            )),
            _ => {}
        }
    }
    waiting
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(partition: i32, committed: Option<i64>, high: i64) -> PartitionState {
        PartitionState {
            partition,
            committed,
            low: 0,
            high,
        }
    }

    #[test]
    fn an_hour_waits_until_every_partition_is_committed_past_its_end() {
        let beyond: HashMap<i32, Option<i64>> = [(0, Some(10)), (1, None), (2, None)].into();
        // Past the first later record in 0, all of 1, 2 empty.
        let done = [
            state(0, Some(11), 20),
            state(1, Some(5), 5),
            state(2, None, 0),
        ];
        assert!(waiting_for(&done, &beyond).is_empty());

        let lagging = [
            state(0, Some(10), 20),
            state(1, Some(4), 5),
            state(2, None, 0),
        ];
        assert_eq!(
            waiting_for(&lagging, &beyond),
            [
                "partition 0: the sink group is at offset 10, the hour is done at 11",
                "partition 1: the sink group is at offset 4 of 5"
            ]
        );
        // Partition 0 has records before the moment (its first after it is
        // offset 10): a quiet hour, not one before the topic.
        assert!(!starts_after(&done, &beyond));
        let later: HashMap<i32, Option<i64>> = [(0, Some(0)), (1, Some(0)), (2, None)].into();
        assert!(starts_after(&done, &later));

        let never = [state(0, None, 20)];
        assert_eq!(
            waiting_for(&never, &beyond),
            ["partition 0: the sink group has committed nothing"]
        );
    }
}
