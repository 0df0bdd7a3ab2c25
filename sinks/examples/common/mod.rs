//! The synthetic events the sink benchmarks use, and how they send them.

use prism_event::{Device, EnrichedEvent, Navigator, Software, UserAgent};
use time::OffsetDateTime;

/// Event number `i`, stamped `now`: realistic size and shape.
pub fn sample_event(i: usize, now: OffsetDateTime) -> EnrichedEvent {
    EnrichedEvent {
        schema_version: prism_event::SCHEMA_VERSION,
        event_id: uuid::Uuid::now_v7(),
        name: format!("user {i}"),
        color: prism_event::Color::ALL[i % 7],
        client_ts: now,
        received_at: now,
        client_ip: Some([127, 0, 0, 1].into()),
        navigator: Navigator {
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".into(),
            language: Some("ko-KR".into()),
            timezone: Some("Asia/Seoul".into()),
            ..Navigator::default()
        },
        ua: UserAgent {
            browser: Software { family: "Chrome".into(), major: Some("131".into()), ..Software::default() },
            os: Software { family: "Linux".into(), ..Software::default() },
            device: Device { family: "Other".into(), ..Device::default() },
        },
    }
}

/// Sends `record`, waiting for deliveries to drain while the producer's
/// queue is full.
#[allow(dead_code)] // Not every example that shares this module sends.
pub fn send(
    producer: &rdkafka::producer::BaseProducer,
    mut record: rdkafka::producer::BaseRecord<'_, (), [u8]>,
) -> Result<(), rdkafka::error::KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => break,
            Err((e, back))
                if e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
            {
                record = back;
                producer.poll(std::time::Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e),
        }
    }
    producer.poll(std::time::Duration::ZERO);
    Ok(())
}

/// A producer for filling a topic fast: acks=1, large batches.
#[allow(dead_code)] // Not every example that shares this module sends.
pub fn producer(
    brokers: &str,
) -> Result<rdkafka::producer::BaseProducer, rdkafka::error::KafkaError> {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "1")
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .create()
}
