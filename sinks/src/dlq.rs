use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::sink::TargetError;

/// Header naming why a record was dead-lettered.
pub const ERROR_HEADER: &str = "prism-error";

/// Copies records that are not valid events to the dead-letter topic with
/// the reason and their origin in headers.
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn new(
        brokers: &str,
        topic: &str,
        options: &[(String, String)],
    ) -> Result<Self, KafkaError> {
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", brokers)
            .set("client.id", "prism-sink-dlq")
            .set("acks", "all")
            .set("message.timeout.ms", "10000");
        for (k, v) in options {
            cc.set(k, v);
        }
        Ok(Self {
            producer: cc.create()?,
            topic: topic.to_owned(),
        })
    }

    /// Sends one record and waits for the acknowledgement.
    pub async fn send(
        &self,
        payload: &[u8],
        reason: &str,
        source: (&str, i32, i64),
    ) -> Result<(), TargetError> {
        let (topic, partition, offset) = source;
        let (partition, offset) = (partition.to_string(), offset.to_string());
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: ERROR_HEADER,
                value: Some(reason),
            })
            .insert(Header {
                key: "prism-source-topic",
                value: Some(topic),
            })
            .insert(Header {
                key: "prism-source-partition",
                value: Some(&partition),
            })
            .insert(Header {
                key: "prism-source-offset",
                value: Some(&offset),
            });
        let record = FutureRecord::<(), [u8]>::to(&self.topic)
            .payload(payload)
            .headers(headers);
        self.producer
            .send(record, Duration::from_secs(5))
            .await
            .map(|_| ())
            .map_err(|(e, _)| TargetError(format!("dead-letter topic {}: {e}", self.topic)))
    }
}

/// Creates the dead-letter topic if it is missing (the broker may not
/// auto-create topics); an existing topic is left alone.
pub async fn ensure_topic(
    brokers: &str,
    topic: &str,
    options: &[(String, String)],
) -> Result<(), KafkaError> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::error::RDKafkaErrorCode;

    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", brokers);
    for (k, v) in options.iter().filter(|(k, _)| is_connection_setting(k)) {
        cc.set(k, v);
    }
    let admin: AdminClient<DefaultClientContext> = cc.create()?;
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))?;
    let replication = if metadata.brokers().len() >= 2 { 2 } else { 1 };
    let new = NewTopic::new(topic, 2, TopicReplication::Fixed(replication));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics([&new], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(())
}

/// Pass-through settings an admin client needs to reach the same cluster.
fn is_connection_setting(key: &str) -> bool {
    ["security.", "sasl.", "ssl.", "client.dns", "broker.address"]
        .iter()
        .any(|p| key.starts_with(p))
}
