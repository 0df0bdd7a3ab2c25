use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// One record read back from Kafka.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub payload: Vec<u8>,
    /// Header name and value (lossy UTF-8).
    pub headers: Vec<(String, String)>,
}

/// Reads `topic` from the beginning with a fresh consumer group until
/// `expected` records arrived or `timeout` passed; returns what it got.
pub fn read_records(brokers: &str, topic: &str, expected: usize, timeout: Duration) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", crate::unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        // The topic may be created after this subscription (a sink creates
        // its dead-letter topic at start-up): look again every half second
        // rather than librdkafka's five minutes.
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("create a consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut records = Vec::new();
    let deadline = Instant::now() + timeout;
    while records.len() < expected && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => records.push(record(&m)),
            Some(Err(e)) => eprintln!("consumer error (retrying): {e}"),
            None => {}
        }
    }
    consumer.unsubscribe();
    records
}

/// Every record of `topic` up to its current end, read with an assigned
/// (group-less) consumer; panics if the end is not reached within `timeout`.
pub fn read_all(brokers: &str, topic: &str, timeout: Duration) -> Vec<Record> {
    use rdkafka::{Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", crate::unique("audit"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("create a consumer");
    let partitions = topic_partitions(brokers, topic).expect("the topic exists") as i32;
    let mut ends = std::collections::HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("fetch watermarks");
        ends.insert(p, high);
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("add a partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut next: std::collections::HashMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
    let mut records = Vec::new();
    let deadline = Instant::now() + timeout;
    while next.iter().any(|(p, o)| *o < ends[p]) {
        assert!(
            Instant::now() < deadline,
            "read {} records of {topic}, not to its end",
            records.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                next.insert(m.partition(), m.offset() + 1);
                records.push(record(&m));
            }
            Some(Err(e)) => eprintln!("consumer error (retrying): {e}"),
            None => {}
        }
    }
    records
}

/// The partition count of `topic`, or `None` when it does not exist.
pub fn topic_partitions(brokers: &str, topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("create a client");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .expect("fetch metadata");
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .filter(|n| *n > 0)
}

/// Creates `topic` with `partitions` partitions (replication 1).
pub fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("create an admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new()));
    for r in results.expect("create_topics request") {
        r.expect("create the topic");
    }
}

/// Produces `payloads` to `topic` without keys (acks=1) and waits until all
/// are acknowledged.
pub fn produce(brokers: &str, topic: &str, payloads: &[Vec<u8>]) {
    produce_to(brokers, topic, None, payloads);
}

/// Like [`produce`], to one `partition` when given (the client's
/// partitioner otherwise).
pub fn produce_to(brokers: &str, topic: &str, partition: Option<i32>, payloads: &[Vec<u8>]) {
    let untimed: Vec<(Option<i64>, &[u8])> = payloads.iter().map(|p| (None, &p[..])).collect();
    produce_records(brokers, topic, partition, &untimed);
}

/// Like [`produce`], each record with its own timestamp (Unix ms), as a
/// producer that sent it then would have.
pub fn produce_at(brokers: &str, topic: &str, records: &[(i64, Vec<u8>)]) {
    let timed: Vec<(Option<i64>, &[u8])> =
        records.iter().map(|(t, p)| (Some(*t), &p[..])).collect();
    produce_records(brokers, topic, None, &timed);
}

fn produce_records(
    brokers: &str,
    topic: &str,
    partition: Option<i32>,
    records: &[(Option<i64>, &[u8])],
) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "1")
        .set("linger.ms", "5")
        .create()
        .expect("create a producer");
    for &(timestamp, payload) in records {
        loop {
            let mut record = BaseRecord::<(), [u8]>::to(topic).payload(payload);
            if let Some(p) = partition {
                record = record.partition(p);
            }
            if let Some(t) = timestamp {
                record = record.timestamp(t);
            }
            match producer.send(record) {
                Ok(()) => break,
                Err((e, _)) => {
                    // Queue full: let deliveries drain, then try again.
                    assert!(
                        e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull),
                        "produce: {e}"
                    );
                    producer.poll(Duration::from_millis(50));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("all records acknowledged");
}

fn record(m: &rdkafka::message::BorrowedMessage<'_>) -> Record {
    Record {
        partition: m.partition(),
        offset: m.offset(),
        payload: m.payload().unwrap_or_default().to_vec(),
        headers: m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                        (h.key.to_owned(), value.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
