pub mod watch;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer, PurgeConfig};
use tracing::{info, warn};

use self::watch::BrokerWatch;
use crate::config::Config;
use crate::sink::{EventSink, SinkError};

/// How long a readiness probe waits for broker metadata, and how often one
/// runs: `/readyz` answers from the last probe, never with a request of its
/// own.
const READY_TIMEOUT: Duration = Duration::from_secs(2);
const READY_EVERY: Duration = Duration::from_secs(1);

/// While every broker is down: how long one metadata request may wait for a
/// broker, and how often the mark is looked at otherwise.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Produces events to one topic with the project's policy: `acks=1`, no key
/// (librdkafka's sticky partitioner spreads them), default retries, no
/// compression, and a bounded delivery time and local queue so that a slow
/// or absent broker turns into quick 503s rather than hung requests; when
/// every broker is known to be down, at once.
pub struct KafkaSink {
    producer: FutureProducer<BrokerWatch>,
    watch: BrokerWatch,
    topic: String,
    delivery_timeout: Duration,
    /// The last readiness probe found the topic with its partitions.
    topic_ready: AtomicBool,
}

impl KafkaSink {
    pub fn new(config: &Config) -> Result<Self, KafkaError> {
        let watch = BrokerWatch::default();
        let producer = producer_config(config).create_with_context(watch.clone())?;
        Ok(Self {
            producer,
            watch,
            topic: config.topic.clone(),
            delivery_timeout: config.delivery_timeout(),
            topic_ready: AtomicBool::new(false),
        })
    }

    /// Runs for the life of the process: once librdkafka reports every
    /// broker down, fails what waits in the local queue at once (those
    /// requests get their 503 now, not after the delivery timeout), then asks
    /// for metadata until a broker answers.
    pub fn spawn_watch(self: &Arc<Self>) {
        let sink = Arc::clone(self);
        tokio::spawn(async move {
            let mut purged = false;
            loop {
                if !sink.watch.all_down() {
                    purged = false;
                    tokio::time::sleep(WATCH_EVERY).await;
                    continue;
                }
                if !purged {
                    let producer = sink.producer.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        producer.purge(PurgeConfig::default().queue());
                    })
                    .await;
                    purged = true;
                }
                if sink.broker_count(PROBE_TIMEOUT).await.is_ok() {
                    sink.watch.mark_up();
                    // A new outage, even right away, purges again.
                    purged = false;
                } else {
                    tokio::time::sleep(WATCH_EVERY).await;
                }
            }
        });
    }

    /// Runs for the life of the process: asks for the topic's metadata
    /// every second and keeps the answer for `/readyz`.
    pub fn spawn_readiness(self: &Arc<Self>) {
        let sink = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(READY_EVERY).await;
                let ready = sink.topic_has_partitions().await;
                sink.topic_ready.store(ready, Ordering::Relaxed);
            }
        });
    }

    async fn topic_has_partitions(&self) -> bool {
        let producer = self.producer.clone();
        let topic = self.topic.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), READY_TIMEOUT)
                .map(|m| {
                    m.topics()
                        .iter()
                        .any(|t| t.error().is_none() && !t.partitions().is_empty())
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    /// Waits until the cluster answers (up to `timeout`), then creates the
    /// topic if it is missing. Returns the number of brokers seen.
    pub async fn prepare(&self, config: &Config, timeout: Duration) -> Result<usize, KafkaError> {
        let brokers = self.wait_for_cluster(timeout).await?;
        ensure_topic(config, brokers).await?;
        self.topic_ready.store(true, Ordering::Relaxed);
        Ok(brokers)
    }

    async fn wait_for_cluster(&self, timeout: Duration) -> Result<usize, KafkaError> {
        use backon::{ExponentialBuilder, Retryable};
        let pacing = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(2))
            .with_jitter()
            .without_max_times()
            .with_total_delay(Some(timeout));
        (|| self.broker_count(READY_TIMEOUT))
            .retry(pacing)
            .notify(|e, wait| {
                warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "kafka cluster not reachable yet, retrying");
            })
            .await
    }

    async fn broker_count(&self, timeout: Duration) -> Result<usize, KafkaError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, timeout)
                .map(|m| m.brokers().len())
        })
        .await
        .unwrap_or(Err(KafkaError::Canceled))
    }

    /// Waits up to `timeout` for queued events to be acknowledged.
    pub async fn flush(&self, timeout: Duration) {
        let producer = self.producer.clone();
        let outcome = tokio::task::spawn_blocking(move || producer.flush(timeout)).await;
        match outcome {
            Ok(Ok(())) => info!("producer flushed"),
            Ok(Err(e)) => {
                warn!(error = %e, in_flight = self.producer.in_flight_count(), "producer flush incomplete")
            }
            Err(e) => warn!(error = %e, "producer flush task failed"),
        }
    }
}

fn producer_config(config: &Config) -> ClientConfig {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.kafka_brokers)
        .set("client.id", "prism-server")
        .set("acks", "1")
        .set("compression.codec", "none")
        .set("message.timeout.ms", config.delivery_timeout_ms.to_string())
        .set(
            "queue.buffering.max.messages",
            config.queue_max_messages.to_string(),
        )
        // Reconnect attempts back off from 100 ms to at most a second (the
        // default grows to 10 s): a restarted broker is used again within
        // about a second, and a dead one gets one attempt a second.
        .set("reconnect.backoff.max.ms", "1000")
        // Partitions added to the topic (it grows with volume) are used
        // within this time, not librdkafka's five minutes.
        .set("topic.metadata.refresh.interval.ms", "10000");
    for (key, value) in &config.kafka_options {
        cc.set(key, value);
    }
    cc
}

async fn ensure_topic(config: &Config, brokers: usize) -> Result<(), KafkaError> {
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.kafka_brokers);
    for (key, value) in config
        .kafka_options
        .iter()
        .filter(|(k, _)| is_connection_setting(k))
    {
        cc.set(key, value);
    }
    let admin: AdminClient<DefaultClientContext> = cc.create()?;
    let replication = config
        .replication_factor
        .unwrap_or(if brokers >= 2 { 2 } else { 1 });
    let topic = NewTopic::new(
        &config.topic,
        config.partitions,
        TopicReplication::Fixed(replication),
    );
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics([&topic], &options).await?;
    for result in results {
        match result {
            Ok(name) => {
                info!(topic = %name, partitions = config.partitions, replication, "created topic")
            }
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                info!(topic = %name, "topic already exists")
            }
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(())
}

/// Pass-through settings the admin client needs too (it must reach the same
/// cluster); producer-only settings would make it complain.
fn is_connection_setting(key: &str) -> bool {
    ["security.", "sasl.", "ssl.", "client.dns", "broker.address"]
        .iter()
        .any(|p| key.starts_with(p))
}

#[async_trait]
impl EventSink for KafkaSink {
    async fn send(&self, payload: Vec<u8>) -> Result<(), SinkError> {
        if self.watch.all_down() {
            return Err(SinkError::BrokersDown);
        }
        let record = FutureRecord::<(), [u8]>::to(&self.topic).payload(&payload);
        // Never wait for queue space: a full queue is a burst we cannot
        // absorb, and the client is better told to retry than left hanging.
        let delivery = self
            .producer
            .send_result(record)
            .map_err(|(e, _)| classify(&e))?;
        // librdkafka fails the message after `message.timeout.ms`; the outer
        // bound only guards against a lost callback.
        match tokio::time::timeout(self.delivery_timeout + Duration::from_secs(1), delivery).await {
            Ok(Ok(Ok(_))) => {
                if self.watch.all_down() {
                    self.watch.mark_up();
                }
                // A leader acknowledged: the topic is there.
                self.topic_ready.store(true, Ordering::Relaxed);
                Ok(())
            }
            Ok(Ok(Err((e, _)))) => Err(classify(&e)),
            Ok(Err(_canceled)) => Err(SinkError::Unavailable("producer is shutting down".into())),
            Err(_elapsed) => Err(SinkError::Unavailable("delivery timed out".into())),
        }
    }

    fn ready(&self) -> bool {
        !self.watch.all_down() && self.topic_ready.load(Ordering::Relaxed)
    }

    fn queue_depth(&self) -> usize {
        usize::try_from(self.producer.in_flight_count()).unwrap_or(0)
    }
}

/// Maps a producer error onto what the client can do about it.
fn classify(e: &KafkaError) -> SinkError {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::QueueFull) => SinkError::QueueFull,
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
            SinkError::TooLarge
        }
        Some(RDKafkaErrorCode::MessageTimedOut) => {
            SinkError::Unavailable("no acknowledgement from the partition leader in time".into())
        }
        Some(RDKafkaErrorCode::PurgeQueue) => SinkError::BrokersDown,
        _ => SinkError::Unavailable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_producer_follows_the_project_policy() {
        let config =
            Config::try_parse_from(["prism-server", "--kafka-option", "linger.ms=20"]).unwrap();
        let cc = producer_config(&config);
        assert_eq!(cc.get("acks"), Some("1"));
        assert_eq!(cc.get("compression.codec"), Some("none"));
        assert_eq!(cc.get("message.timeout.ms"), Some("5000"));
        assert_eq!(cc.get("linger.ms"), Some("20"));
        assert_eq!(
            cc.get("partitioner"),
            None,
            "keep librdkafka's default partitioner"
        );
        assert_eq!(cc.get("retries"), None, "keep librdkafka's default retries");
        assert_eq!(cc.get("reconnect.backoff.max.ms"), Some("1000"));
        assert_eq!(
            cc.get("topic.metadata.refresh.interval.ms"),
            Some("10000"),
            "new partitions are picked up without a restart"
        );
    }

    #[test]
    fn producer_errors_map_to_what_the_client_can_do() {
        let full = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
        assert_eq!(classify(&full), SinkError::QueueFull);
        let big = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert_eq!(classify(&big), SinkError::TooLarge);
        let gone = KafkaError::MessageProduction(RDKafkaErrorCode::AllBrokersDown);
        assert!(matches!(classify(&gone), SinkError::Unavailable(_)));
    }
}
