use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

/// Prism's edge producer: accepts colour events over HTTP, validates and
/// enriches them, and produces them to Kafka.
#[derive(Debug, Clone, Parser)]
#[command(name = "prism-server", version, about)]
pub struct Config {
    /// Address to listen on for HTTP, `host:port`.
    #[arg(long, env = "PRISM_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Kafka bootstrap servers, a comma-separated list of `host:port`.
    #[arg(long, env = "PRISM_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,

    /// Topic the events are produced to; created at start-up if missing.
    #[arg(long, env = "PRISM_TOPIC", default_value = "select-color")]
    pub topic: String,

    /// Partitions of the topic when Prism creates it.
    #[arg(long, env = "PRISM_PARTITIONS", default_value_t = 2)]
    pub partitions: i32,

    /// Replication factor when Prism creates the topic. Default: 2 when the
    /// cluster has at least 2 brokers, else 1.
    #[arg(long, env = "PRISM_REPLICATION_FACTOR")]
    pub replication_factor: Option<i32>,

    /// Directory served at `/`: the page as Trunk builds it. When it holds
    /// no `index.html` the API still runs and a warning says no page is
    /// served.
    #[arg(long, env = "PRISM_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Largest accepted request body, in bytes; larger bodies get 413.
    #[arg(long, env = "PRISM_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Take the client address from the last `X-Forwarded-For` entry (the
    /// one the nearest proxy appended) instead of the TCP peer. Only enable
    /// behind a proxy you run.
    #[arg(long, env = "PRISM_TRUST_FORWARDED", action = ArgAction::Set, default_value_t = false)]
    pub trust_forwarded: bool,

    /// Record the client address with its host part zeroed (IPv4 to /24,
    /// IPv6 to /48).
    #[arg(long, env = "PRISM_ANONYMIZE_IP", action = ArgAction::Set, default_value_t = false)]
    pub anonymize_ip: bool,

    /// Most events in one `POST /api/v1/batch`; more is a 413.
    #[arg(long, env = "PRISM_BATCH_MAX_EVENTS", default_value_t = 500)]
    pub batch_max_events: usize,

    /// Largest batch body, in bytes; larger is a 413. Each event in it is
    /// also held to `max_body_bytes`.
    #[arg(long, env = "PRISM_BATCH_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub batch_max_bytes: usize,

    /// Event ids remembered as accepted, so a retry of one is acknowledged
    /// without producing it again; 0 turns this off. About 100 bytes each.
    #[arg(long, env = "PRISM_DEDUPE_ENTRIES", default_value_t = 100_000)]
    pub dedupe_entries: usize,

    /// Seconds an accepted event id is remembered (at most
    /// `dedupe_entries` of them).
    #[arg(long, env = "PRISM_DEDUPE_MAX_AGE_S", default_value_t = 600)]
    pub dedupe_max_age_s: u64,

    /// Milliseconds an event may wait for the partition leader's
    /// acknowledgement before the request fails with 503
    /// (librdkafka `message.timeout.ms`).
    #[arg(long, env = "PRISM_DELIVERY_TIMEOUT_MS", default_value_t = 5_000)]
    pub delivery_timeout_ms: u64,

    /// Most events waiting in the producer's local queue; beyond it requests
    /// get 503 at once (librdkafka `queue.buffering.max.messages`).
    #[arg(long, env = "PRISM_QUEUE_MAX_MESSAGES", default_value_t = 100_000)]
    pub queue_max_messages: u32,

    /// Seconds to wait at start-up for the Kafka cluster to answer.
    #[arg(long, env = "PRISM_STARTUP_TIMEOUT_S", default_value_t = 30)]
    pub startup_timeout_s: u64,

    /// Seconds a 503 answer asks the client to wait (`Retry-After`).
    #[arg(long, env = "PRISM_RETRY_AFTER_S", default_value_t = 2)]
    pub retry_after_s: u32,

    /// User agents kept parsed in memory (entries).
    #[arg(long, env = "PRISM_UA_CACHE_ENTRIES", default_value_t = 10_000)]
    pub ua_cache_entries: usize,

    /// HTTP worker threads; 0 means one per CPU core.
    #[arg(long, env = "PRISM_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Extra librdkafka producer setting as `key=value` (e.g.
    /// `security.protocol=SASL_SSL`); repeat the flag, or separate entries
    /// with commas in the environment variable. Applied last, so it can
    /// override any setting above.
    #[arg(long = "kafka-option", env = "PRISM_KAFKA_OPTIONS", value_delimiter = ',', value_parser = parse_key_value)]
    pub kafka_options: Vec<(String, String)>,
}

impl Config {
    pub fn delivery_timeout(&self) -> Duration {
        Duration::from_millis(self.delivery_timeout_ms)
    }

    pub fn startup_timeout(&self) -> Duration {
        Duration::from_secs(self.startup_timeout_s)
    }

    pub fn dedupe_max_age(&self) -> Duration {
        Duration::from_secs(self.dedupe_max_age_s)
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("expected key=value, got `{s}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::try_parse_from(["prism-server"]).unwrap();
        assert_eq!(config.bind, "127.0.0.1:8080");
        assert_eq!(config.topic, "select-color");
        assert_eq!(config.partitions, 2);
        assert_eq!(config.max_body_bytes, 65_536);
        assert_eq!(config.batch_max_events, 500);
        assert_eq!(config.batch_max_bytes, 1_048_576);
        assert_eq!(config.dedupe_entries, 100_000);
        assert!(!config.trust_forwarded);
    }

    #[test]
    fn it_accepts_repeated_kafka_options_and_rejects_malformed_ones() {
        let config = Config::try_parse_from([
            "prism-server",
            "--kafka-option",
            "security.protocol=SASL_SSL",
            "--kafka-option",
            "sasl.mechanism=PLAIN",
        ])
        .unwrap();
        assert_eq!(config.kafka_options.len(), 2);
        assert_eq!(
            config.kafka_options[1],
            ("sasl.mechanism".into(), "PLAIN".into())
        );
        assert!(Config::try_parse_from(["prism-server", "--kafka-option", "novalue"]).is_err());
    }
}
