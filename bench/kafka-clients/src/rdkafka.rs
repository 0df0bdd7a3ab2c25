//! librdkafka through the rdkafka crate, configured as prism-server and
//! the sinks configure it today.
use std::time::Duration;

use futures_util::FutureExt;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};

use crate::{Error, Polled};

pub const NAME: &str = "rdkafka";

/// The most records one poll hands back, as the Java client's default
/// `max.poll.records`.
const MAX_POLL_RECORDS: usize = 500;

pub struct Producer(FutureProducer);

impl Producer {
    pub async fn new(brokers: &str, set: &[(String, String)]) -> Result<Self, Error> {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", brokers)
            .set("acks", "1")
            .set("compression.codec", "none");
        for (k, v) in set {
            cc.set(k, v);
        }
        Ok(Self(cc.create()?))
    }

    pub async fn send(&self, topic: &str, payload: &[u8]) -> Result<(), Error> {
        let record = FutureRecord::<(), [u8]>::to(topic).payload(payload);
        self.0
            .send(record, Duration::ZERO)
            .await
            .map_err(|(e, _)| e)?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.0.flush(Duration::from_secs(10));
    }
}

pub struct Consumer(StreamConsumer);

impl Consumer {
    pub async fn new(
        brokers: &str,
        topic: &str,
        group: &str,
        set: &[(String, String)],
    ) -> Result<Self, Error> {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", brokers)
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false");
        for (k, v) in set {
            cc.set(k, v);
        }
        let consumer: StreamConsumer = cc.create()?;
        consumer.subscribe(&[topic])?;
        Ok(Self(consumer))
    }

    /// Waits up to `timeout` for a record, then takes what else is ready.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Polled, Error> {
        let mut polled = Polled {
            records: 0,
            bytes: 0,
        };
        let first = match tokio::time::timeout(timeout, self.0.recv()).await {
            Ok(received) => received?,
            Err(_) => return Ok(polled),
        };
        polled.add(first.payload_len());
        while polled.records < MAX_POLL_RECORDS as u64 {
            match self.0.recv().now_or_never() {
                Some(received) => polled.add(received?.payload_len()),
                None => break,
            }
        }
        Ok(polled)
    }

    pub async fn close(self) {}
}

impl Polled {
    fn add(&mut self, bytes: usize) {
        self.records += 1;
        self.bytes += bytes as u64;
    }
}
