use std::time::Duration;

use clap::Args;

/// What every sink worker needs to consume the topic.
#[derive(Debug, Clone, Args)]
pub struct ConsumerConfig {
    /// Kafka bootstrap servers, a comma-separated list of `host:port`.
    #[arg(long, env = "PRISM_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,

    /// Topic to consume.
    #[arg(long, env = "PRISM_TOPIC", default_value = "select-color")]
    pub topic: String,

    /// Topic that records which are not valid events are copied to, with the
    /// reason in the `prism-error` header.
    #[arg(long, env = "PRISM_DLQ_TOPIC", default_value = "select-color-dlq")]
    pub dlq_topic: String,

    /// Address for `/metrics`, `/healthz` and `/readyz`, `host:port`.
    #[arg(long, env = "PRISM_METRICS_BIND", default_value = "127.0.0.1:9464")]
    pub metrics_bind: String,

    /// Milliseconds without heartbeats before the group gives this worker's
    /// partitions to another (`session.timeout.ms`).
    #[arg(long, env = "PRISM_SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    pub session_timeout_ms: u32,

    /// Longest wait between retries while the target is failing, in
    /// milliseconds.
    #[arg(long, env = "PRISM_RETRY_MAX_MS", default_value_t = 30_000)]
    pub retry_max_ms: u64,

    /// Longest time a stop (SIGTERM, Ctrl-C) may take, in milliseconds: the
    /// final flush and the final commit share it; what misses it is read
    /// again by the next owner.
    #[arg(long, env = "PRISM_SHUTDOWN_TIMEOUT_MS", default_value_t = 10_000)]
    pub shutdown_timeout_ms: u64,

    /// Exit with an error when records have waited on assigned, unpaused
    /// partitions for this many seconds while nothing arrived (a stuck
    /// consumer), so a supervisor restarts the worker; 0 never exits.
    #[arg(long, env = "PRISM_STALL_TIMEOUT_S", default_value_t = 120)]
    pub stall_timeout_s: u64,

    /// Extra librdkafka setting as `key=value` for the consumer and the
    /// dead-letter producer (e.g. `security.protocol=SASL_SSL`); repeat the
    /// flag, or separate entries with commas in the environment variable.
    #[arg(long = "kafka-option", env = "PRISM_KAFKA_OPTIONS", hide_env_values = true, value_delimiter = ',', value_parser = parse_key_value)]
    pub kafka_options: Vec<(String, String)>,
}

impl ConsumerConfig {
    pub fn retry_max(&self) -> Duration {
        Duration::from_millis(self.retry_max_ms)
    }

    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.session_timeout_ms))
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    pub fn stall_timeout(&self) -> Option<Duration> {
        (self.stall_timeout_s > 0).then(|| Duration::from_secs(self.stall_timeout_s))
    }
}

pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!("expected key=value, got `{s}`")),
    }
}
