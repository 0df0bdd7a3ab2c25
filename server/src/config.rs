use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};

use crate::limit::ClientLimits;

/// Prism's edge producer: accepts colour events over HTTP, validates and
/// enriches them, and produces them to Kafka.
#[derive(Debug, Clone, Parser)]
#[command(name = "prism-server", version, about)]
pub struct Config {
    /// Address to listen on for HTTP, `host:port`.
    #[arg(long, env = "PRISM_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,

    /// Address of the operators' listener, `host:port`: `/readyz`,
    /// `/metrics` and `/healthz`. Keep it off the internet.
    #[arg(long, env = "PRISM_ADMIN_BIND", default_value = "127.0.0.1:9180")]
    pub admin_bind: String,

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
    /// IPv6 to /48); `false` records it whole. The per-client limits always
    /// use the whole address.
    #[arg(long, env = "PRISM_ANONYMIZE_IP", action = ArgAction::Set, default_value_t = true)]
    pub anonymize_ip: bool,

    /// Milliseconds a request body may take to arrive whole; slower is a
    /// 408 and the connection is closed.
    #[arg(long, env = "PRISM_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,

    /// Milliseconds a request body may pause between two reads.
    #[arg(long, env = "PRISM_BODY_IDLE_TIMEOUT_MS", default_value_t = 5_000)]
    pub body_idle_timeout_ms: u64,

    /// Bytes of request bodies held in memory at once, all requests
    /// together; beyond it a request gets 503 with `Retry-After`.
    #[arg(long, env = "PRISM_BODY_BUDGET_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub body_budget_bytes: usize,

    /// Share of `body_budget_bytes` one client's bodies may hold at once;
    /// beyond it 429.
    #[arg(long, env = "PRISM_CLIENT_BODY_SHARE", default_value_t = 0.25)]
    pub client_body_share: f64,

    /// Open connections at most, all clients together; beyond it new
    /// connections wait in the listen queue. A connection sending a body
    /// costs up to about 140 KiB of buffers: 512 keep a flood of them under
    /// the server's 150 MB.
    #[arg(long, env = "PRISM_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,

    /// Open connections of one client (TCP peer) at most; a connection
    /// beyond it gets 429 and is closed. 0 turns this off; so does
    /// `trust_forwarded` (behind a proxy, the proxy is the one peer).
    #[arg(long, env = "PRISM_CLIENT_MAX_CONNECTIONS", default_value_t = 64)]
    pub client_max_connections: usize,

    /// Events per second one client may send, sustained (a batch counts
    /// its events); beyond it 429 with `Retry-After`. 0 turns this off.
    #[arg(long, env = "PRISM_CLIENT_EVENTS_PER_S", default_value_t = 100)]
    pub client_events_per_s: u32,

    /// Events one client may send at once before its rate applies; at
    /// least `batch_max_events`.
    #[arg(long, env = "PRISM_CLIENT_BURST", default_value_t = 1_000)]
    pub client_burst: u32,

    /// Share of the producer queue (`queue_max_messages`) one client's
    /// events may fill; beyond it 429. 0 turns this off.
    #[arg(long, env = "PRISM_CLIENT_QUEUE_SHARE", default_value_t = 0.1)]
    pub client_queue_share: f64,

    /// Clients whose rate is remembered (about 150 bytes each).
    #[arg(long, env = "PRISM_CLIENTS_TRACKED", default_value_t = 100_000)]
    pub clients_tracked: usize,

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

    /// Share of `dedupe_entries` one client's ids may take; beyond it that
    /// client's own oldest ids are forgotten first.
    #[arg(long, env = "PRISM_DEDUPE_CLIENT_SHARE", default_value_t = 0.05)]
    pub dedupe_client_share: f64,

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
    #[arg(long = "kafka-option", env = "PRISM_KAFKA_OPTIONS", hide_env_values = true, value_delimiter = ',', value_parser = parse_key_value)]
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

    /// Settings that cannot work together, said before anything starts.
    pub fn check(&self) -> Result<(), String> {
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be between 0 and 1, got {v}"))
            }
        };
        share("PRISM_CLIENT_QUEUE_SHARE", self.client_queue_share)?;
        share("PRISM_DEDUPE_CLIENT_SHARE", self.dedupe_client_share)?;
        share("PRISM_CLIENT_BODY_SHARE", self.client_body_share)?;
        if self.client_body_bytes() < self.batch_max_bytes {
            return Err(format!(
                "PRISM_CLIENT_BODY_SHARE ({}) of PRISM_BODY_BUDGET_BYTES ({}) must hold at \
                 least one batch (PRISM_BATCH_MAX_BYTES, {})",
                self.client_body_share, self.body_budget_bytes, self.batch_max_bytes
            ));
        }
        if self.client_events_per_s > 0 && (self.client_burst as usize) < self.batch_max_events {
            return Err(format!(
                "PRISM_CLIENT_BURST ({}) must be at least PRISM_BATCH_MAX_EVENTS ({}), \
                 or a full batch could never pass",
                self.client_burst, self.batch_max_events
            ));
        }
        if self.body_budget_bytes < self.batch_max_bytes {
            return Err(format!(
                "PRISM_BODY_BUDGET_BYTES ({}) must hold at least one batch \
                 (PRISM_BATCH_MAX_BYTES, {})",
                self.body_budget_bytes, self.batch_max_bytes
            ));
        }
        Ok(())
    }

    /// The per-client rules.
    pub fn client_limits(&self) -> ClientLimits {
        let queue = f64::from(self.queue_max_messages) * self.client_queue_share;
        ClientLimits {
            events_per_s: f64::from(self.client_events_per_s),
            burst: f64::from(self.client_burst),
            max_in_flight: if self.client_queue_share > 0.0 {
                (queue as usize).max(1)
            } else {
                0
            },
        }
    }

    /// Bytes of bodies one client may hold at once.
    pub fn client_body_bytes(&self) -> usize {
        ((self.body_budget_bytes as f64) * self.client_body_share) as usize
    }

    /// Ids one client may have remembered.
    pub fn dedupe_per_client(&self) -> usize {
        ((self.dedupe_entries as f64) * self.dedupe_client_share) as usize
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
        assert!(config.anonymize_ip);
        assert_eq!(config.admin_bind, "127.0.0.1:9180");
        assert_eq!(config.check(), Ok(()));
    }

    #[test]
    fn settings_that_cannot_work_together_are_refused() {
        let parse = |args: &[&str]| {
            Config::try_parse_from(std::iter::once("prism-server").chain(args.iter().copied()))
                .unwrap()
        };
        let small_burst = parse(&["--client-burst", "10"]).check().unwrap_err();
        assert!(small_burst.contains("PRISM_CLIENT_BURST"), "{small_burst}");
        // No rate limit: the burst does not matter.
        let off = parse(&["--client-burst", "10", "--client-events-per-s", "0"]);
        assert_eq!(off.check(), Ok(()));
        let share = parse(&["--client-queue-share", "1.5"]).check().unwrap_err();
        assert!(share.contains("PRISM_CLIENT_QUEUE_SHARE"), "{share}");
        let budget = parse(&["--body-budget-bytes", "1000"]).check().unwrap_err();
        assert!(budget.contains("PRISM_BODY_BUDGET_BYTES"), "{budget}");
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
