//! The topic's side: every record whose event falls in one hour.
//!
//! A record's Kafka timestamp is the producer's send time, a moment after
//! its `received_at`; its event is filed at most the skew bound away from
//! `received_at`. So the records of hour `H` lie between the offsets for
//! `H - skew - slack` and `H + 1 h + skew + slack`: the reader seeks each
//! partition to the first and stops at the second (or the end).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{AuditError, Ids};
use crate::event_time::event_time;
use crate::hdfs::layout::Bucket;

pub struct TopicReader {
    consumer: BaseConsumer,
    topic: String,
    partitions: Vec<i32>,
    max_skew: Duration,
    slack: Duration,
    timeout: Duration,
}

fn kafka(e: KafkaError) -> AuditError {
    AuditError::Kafka(e.to_string())
}

/// Which topic to read, and how far around an hour.
#[derive(Debug, Clone, Copy)]
pub struct TopicSpec<'a> {
    pub brokers: &'a str,
    pub topic: &'a str,
    /// Extra librdkafka settings (SASL, TLS).
    pub options: &'a [(String, String)],
    /// The sinks' clock-skew bound.
    pub max_skew: Duration,
    /// How much further to read, for records whose Kafka timestamp strays
    /// from `received_at`.
    pub slack: Duration,
    pub timeout: Duration,
}

impl TopicReader {
    pub fn new(spec: TopicSpec<'_>) -> Result<Self, AuditError> {
        // Its own group id, never committed: the audit moves no one's
        // offsets.
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", spec.brokers)
            .set(
                "group.id",
                format!("prism-audit-{}", Uuid::new_v4().simple()),
            )
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("socket.timeout.ms", spec.timeout.as_millis().to_string());
        for (k, v) in spec.options {
            client.set(k, v);
        }
        let consumer: BaseConsumer = client.create().map_err(kafka)?;
        let partitions = partitions_of(&consumer, spec.brokers, spec.topic, spec.timeout)
            .map_err(AuditError::Kafka)?;
        Ok(Self {
            consumer,
            topic: spec.topic.to_owned(),
            partitions,
            max_skew: spec.max_skew,
            slack: spec.slack,
            timeout: spec.timeout,
        })
    }

    /// The ids of the events filed in `hour`, with how many records carry
    /// each. Records that are not events (the sinks dead-letter them) are
    /// passed over. Blocking: call it off the async workers.
    pub fn ids_in(&mut self, hour: OffsetDateTime) -> Result<Ids, AuditError> {
        let margin = self.max_skew + self.slack;
        let from_ms = unix_ms(hour - margin);
        let until_ms = unix_ms(hour + time::Duration::HOUR + margin);
        let bucket = Bucket::of(hour);

        let mut wanted = TopicPartitionList::new();
        for &p in &self.partitions {
            wanted
                .add_partition_offset(&self.topic, p, Offset::Offset(from_ms))
                .map_err(kafka)?;
        }
        let starts = self
            .consumer
            .offsets_for_times(wanted, self.timeout)
            .map_err(kafka)?;
        let mut assignment = TopicPartitionList::new();
        // Partitions still being read, with their high watermark.
        let mut open = HashMap::new();
        for element in starts.elements() {
            let p = element.partition();
            // A partition whose offset lookup failed must not pass for an
            // empty one: its events would only show as "not in Kafka".
            element
                .error()
                .map_err(|e| AuditError::Kafka(format!("partition {p}: {e}")))?;
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.topic, p, self.timeout)
                .map_err(kafka)?;
            if let Offset::Offset(start) = element.offset()
                && start < high
            {
                assignment
                    .add_partition_offset(&self.topic, p, Offset::Offset(start))
                    .map_err(kafka)?;
                open.insert(p, high);
            }
        }
        let mut found = Ids::new();
        if open.is_empty() {
            return Ok(found);
        }
        self.consumer.assign(&assignment).map_err(kafka)?;
        // The last hour paused what it finished with.
        self.consumer.resume(&assignment).map_err(kafka)?;
        // Only records of partitions still open count as progress: a closed
        // partition is paused, so it cannot hide a stalled one.
        let mut last_progress = Instant::now();
        while !open.is_empty() {
            if last_progress.elapsed() > self.timeout {
                return Err(AuditError::Kafka(format!(
                    "no records for {:?} while partitions {open:?} were still unread",
                    self.timeout
                )));
            }
            let Some(polled) = self.consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = match polled {
                Ok(message) => message,
                Err(KafkaError::PartitionEOF(p)) => {
                    self.close(&mut open, p)?;
                    continue;
                }
                Err(e) => return Err(kafka(e)),
            };
            let p = message.partition();
            let Some(&high) = open.get(&p) else {
                continue;
            };
            last_progress = Instant::now();
            // Past the window: producers whose clocks differ by less than
            // the slack cannot put a later record of this hour behind it.
            if message
                .timestamp()
                .to_millis()
                .is_some_and(|t| t > until_ms)
            {
                self.close(&mut open, p)?;
                continue;
            }
            if message.offset() + 1 >= high {
                self.close(&mut open, p)?;
            }
            // Decoded as the sinks decode it: what they dead-letter is not
            // counted here either.
            let event = message
                .payload()
                .and_then(|bytes| serde_json::from_slice::<EnrichedEvent>(bytes).ok());
            if let Some(event) = event
                && Bucket::of(event_time(&event, self.max_skew)) == bucket
            {
                *found.entry(event.event_id).or_default() += 1;
            }
        }
        self.consumer
            .assign(&TopicPartitionList::new())
            .map_err(kafka)?;
        Ok(found)
    }
}

impl TopicReader {
    /// Stops reading partition `p` for this hour.
    fn close(&self, open: &mut HashMap<i32, i64>, p: i32) -> Result<(), AuditError> {
        open.remove(&p);
        let mut paused = TopicPartitionList::new();
        paused.add_partition(&self.topic, p);
        self.consumer.pause(&paused).map_err(kafka)
    }
}

/// The topic's partitions, in order; an error when it has none (a topic
/// that is not there must not pass for an empty one).
pub fn partitions_of(
    consumer: &BaseConsumer,
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| e.to_string())?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic {topic} not found on {brokers}"));
    }
    partitions.sort_unstable();
    Ok(partitions)
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
