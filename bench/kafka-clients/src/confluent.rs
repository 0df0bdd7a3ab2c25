//! Confluent's pure-Rust client (confluent-kafka 1.0), with the settings
//! prism-server would give it: its defaults, acks=1.
use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use confluent_kafka::common::serialization::{ByteArraySerializer, BytesDeserializer};
use confluent_kafka::consumer::{Consumer as _, ConsumerConfig, KafkaConsumer};
use confluent_kafka::producer::{
    Callback, KafkaProducer, Producer as _, ProducerConfig, ProducerRecord, RecordMetadata,
};
use tokio::sync::oneshot;

use crate::{Error, Polled};

pub const NAME: &str = "confluent-kafka";

struct Delivered(oneshot::Sender<Result<(), Error>>);

impl Callback for Delivered {
    fn on_completion(
        self: Box<Self>,
        _: Option<&RecordMetadata>,
        error: Option<&confluent_kafka::common::Error>,
    ) {
        let _ = self
            .0
            .send(error.map_or(Ok(()), |e| Err(e.to_string().into())));
    }
}

pub struct Producer(KafkaProducer<Vec<u8>, Vec<u8>>);

impl Producer {
    pub async fn new(brokers: &str, set: &[(String, String)]) -> Result<Self, Error> {
        let mut props = HashMap::from([
            ("bootstrap.servers".to_string(), brokers.to_string()),
            ("acks".to_string(), "1".to_string()),
        ]);
        props.extend(set.iter().cloned());
        let producer = KafkaProducer::new(
            ProducerConfig::new(&props)?,
            ByteArraySerializer::default(),
            ByteArraySerializer::default(),
        )?;
        Ok(Self(producer))
    }

    /// Each send learns its outcome from a completion callback through a
    /// oneshot channel, as rdkafka's delivery futures do; awaiting the
    /// returned `KafkaFuture` instead costs more (every record of a batch
    /// waits on the batch's shared result).
    pub async fn send(&self, topic: &str, payload: &[u8]) -> Result<(), Error> {
        let record = ProducerRecord::<&[u8], &[u8]>::new(topic.to_string(), Some(payload));
        let (tx, rx) = oneshot::channel();
        self.0.send(record, Some(Box::new(Delivered(tx)))).await?;
        rx.await
            .map_err(|_| "the producer dropped the delivery callback")?
    }

    pub async fn close(self) {
        let _ = self.0.close_with_timeout(Duration::from_secs(10)).await;
    }
}

/// Keys and values as the client hands them over: refcounted slices of
/// the fetched buffer, no copy.
pub struct Consumer(KafkaConsumer<Bytes, Bytes>);

impl Consumer {
    pub async fn new(
        brokers: &str,
        topic: &str,
        group: &str,
        set: &[(String, String)],
    ) -> Result<Self, Error> {
        let mut props = HashMap::from([
            ("bootstrap.servers".to_string(), brokers.to_string()),
            ("group.id".to_string(), group.to_string()),
            ("group.protocol".to_string(), "consumer".to_string()),
            ("auto.offset.reset".to_string(), "earliest".to_string()),
            ("enable.auto.commit".to_string(), "false".to_string()),
        ]);
        props.extend(set.iter().cloned());
        let mut consumer = KafkaConsumer::new(
            ConsumerConfig::new(&props)?,
            BytesDeserializer::default(),
            BytesDeserializer::default(),
        )?;
        consumer
            .subscribe_with_topics(vec![topic.to_string()])
            .await?;
        Ok(Self(consumer))
    }

    pub async fn poll(&mut self, timeout: Duration) -> Result<Polled, Error> {
        let records = self.0.poll(timeout).await?;
        let mut polled = Polled {
            records: 0,
            bytes: 0,
        };
        for record in &records {
            polled.records += 1;
            polled.bytes += record.value().map_or(0, |v| v.len() as u64);
        }
        Ok(polled)
    }

    pub async fn close(mut self) {
        let _ = self.0.close().await;
    }
}
