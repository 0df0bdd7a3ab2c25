//! Helpers both sink test suites share.
#![allow(dead_code)]

pub mod cluster;
pub mod hdfs_lake;
pub mod lake;
pub mod lake_at;
pub mod load;
pub mod proxy;
pub mod sealed;
pub mod search;

pub use lake_at::LakeAt;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use prism_event::{Device, EnrichedEvent, Navigator, Software, UserAgent};
use prism_testkit::{ChildProcess, Kafka, create_topic, free_port, produce, produce_to, unique};
use time::OffsetDateTime;
use uuid::Uuid;

pub const SKEW: Duration = Duration::from_secs(600);

/// An event pressed at `client_ts` by a browser whose clock says so: its
/// UUIDv7 id is minted at that time too, as the page does.
pub fn event(i: usize, client_ts: OffsetDateTime) -> EnrichedEvent {
    let minted = uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(client_ts.unix_timestamp()).unwrap_or(0),
        client_ts.nanosecond(),
    );
    EnrichedEvent {
        schema_version: prism_event::SCHEMA_VERSION,
        event_id: Uuid::new_v7(minted),
        name: format!("user {i}"),
        color: prism_event::Color::ALL[i % 7],
        client_ts,
        received_at: client_ts + time::Duration::seconds(1),
        client_ip: None,
        navigator: Navigator {
            user_agent: "Mozilla/5.0".into(),
            ..Navigator::default()
        },
        ua: UserAgent {
            browser: Software {
                family: "Chrome".into(),
                ..Software::default()
            },
            os: Software {
                family: "Linux".into(),
                ..Software::default()
            },
            device: Device {
                family: "Other".into(),
                ..Device::default()
            },
        },
    }
}

pub fn now_events(n: usize) -> Vec<EnrichedEvent> {
    (0..n)
        .map(|i| event(i, OffsetDateTime::now_utc()))
        .collect()
}

/// Polls `check` every 100 ms for up to `timeout`; whether it held.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !check() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Waits for `done` for up to `timeout`; fails the test naming `what`.
pub fn wait_until(what: &str, timeout: Duration, done: impl FnMut() -> bool) {
    assert!(eventually(timeout, done), "timed out waiting for {what}");
}

/// The `prism-error` header of a dead letter: why it was refused.
pub fn dead_letter_reason(record: &prism_testkit::Record) -> String {
    record
        .headers
        .iter()
        .find(|(k, _)| k == prism_sinks::dlq::ERROR_HEADER)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

pub fn get(url: &str) -> (u16, String) {
    match reqwest::blocking::get(url) {
        Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

pub fn metric(base: &str, name: &str) -> f64 {
    let (_, text) = get(&format!("{base}/metrics"));
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Asserts each event is present exactly once and nothing else is.
pub fn assert_exactly_once(sent: &[EnrichedEvent], landed: &[EnrichedEvent]) {
    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for e in landed {
        *counts.entry(e.event_id).or_default() += 1;
    }
    let duplicates = counts.values().filter(|c| **c > 1).count();
    let lost = sent
        .iter()
        .filter(|e| !counts.contains_key(&e.event_id))
        .count();
    assert_eq!(
        (lost, duplicates),
        (0, 0),
        "lost, duplicated (of {} sent, {} landed)",
        sent.len(),
        landed.len()
    );
    assert_eq!(landed.len(), sent.len());
}

/// A sink binary: the one this package built, or the same name in
/// `$PRISM_TEST_SINK_BIN_DIR` (to run a scenario against another build,
/// e.g. the previous release, and see it fail).
pub fn sink_bin(name: &str) -> String {
    if let Ok(dir) = std::env::var("PRISM_TEST_SINK_BIN_DIR") {
        return format!("{dir}/{name}");
    }
    match name {
        "prism-hdfs-sink" => env!("CARGO_BIN_EXE_prism-hdfs-sink").to_owned(),
        _ => env!("CARGO_BIN_EXE_prism-es-sink").to_owned(),
    }
}

/// A sink worker as a real process, with its metrics endpoint.
pub struct Sink {
    pub process: ChildProcess,
    pub metrics: String,
}

impl Sink {
    pub fn readyz(&self) -> u16 {
        get(&format!("{}/readyz", self.metrics)).0
    }

    pub fn metric(&self, name: &str) -> f64 {
        metric(&self.metrics, name)
    }

    /// Waits until the worker has read `n` records from Kafka.
    pub fn wait_consumed(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.metric("prism_sink_records_consumed_total") >= n as f64 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGSTOP or SIGCONT.
    pub fn signal(&self, signal: &str) {
        self.process.signal(signal);
    }
}

/// What every sink scenario shares: a Kafka broker, a fresh topic with two
/// partitions and a fresh group, and a directory for the workers' logs.
pub struct Scenario {
    pub kafka: Arc<Kafka>,
    pub topic: String,
    pub group: String,
    logs: tempfile::TempDir,
    starts: AtomicU32,
}

impl Scenario {
    /// A scenario on the broker this test binary shares.
    pub fn new(group: &str) -> Self {
        Self::on(Kafka::shared(), group)
    }

    /// A scenario on a broker of its own, for a test that stops it.
    pub fn with_own_broker(group: &str) -> Self {
        Self::on(Arc::new(Kafka::start()), group)
    }

    pub fn on(kafka: Arc<Kafka>, group: &str) -> Self {
        let s = Self::for_server(kafka, group);
        create_topic(&s.kafka.brokers(), &s.topic, 2);
        s
    }

    /// A scenario whose topic does not exist yet: `prism-server` creates it
    /// with its own partition and replication rule.
    pub fn for_server(kafka: Arc<Kafka>, group: &str) -> Self {
        let topic = unique("select-color");
        Self {
            kafka,
            topic,
            group: unique(group),
            logs: tempfile::tempdir().unwrap(),
            starts: AtomicU32::new(0),
        }
    }

    pub fn dlq(&self) -> String {
        format!("{}-dlq", self.topic)
    }

    /// Starts the sink binary `bin` on this broker, topic and group with a
    /// short session timeout and retry cap; `env` comes last, so a test can
    /// override any of it.
    pub fn start(&self, bin: &str, env: &[(&str, &str)]) -> Sink {
        let n = self.starts.fetch_add(1, Ordering::Relaxed) + 1;
        let port = free_port();
        let mut command = Command::new(sink_bin(bin));
        command
            .env("PRISM_KAFKA_BROKERS", self.kafka.brokers())
            .env("PRISM_TOPIC", &self.topic)
            .env("PRISM_DLQ_TOPIC", self.dlq())
            .env("PRISM_GROUP", &self.group)
            .env("PRISM_METRICS_BIND", format!("127.0.0.1:{port}"))
            .env("PRISM_SESSION_TIMEOUT_MS", "6000")
            .env("PRISM_RETRY_MAX_MS", "1000")
            .env("RUST_LOG", "info");
        for (k, v) in env {
            command.env(k, v);
        }
        // `PRISM_TEST_LOGS=dir` keeps every worker's output for a post-mortem.
        let dir = std::env::var_os("PRISM_TEST_LOGS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| self.logs.path().to_owned());
        let log = dir.join(format!("{}-{bin}-{n}.log", self.group));
        Sink {
            process: ChildProcess::spawn(bin, command, &log),
            metrics: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn produce(&self, events: &[EnrichedEvent]) {
        let payloads: Vec<Vec<u8>> = events
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect();
        produce(&self.kafka.brokers(), &self.topic, &payloads);
    }

    /// Produces `events`, each stamped with its `received_at` as the
    /// server that received it would have stamped it.
    pub fn produce_received(&self, events: &[EnrichedEvent]) {
        let records: Vec<(i64, Vec<u8>)> = events
            .iter()
            .map(|e| {
                let ms = (e.received_at.unix_timestamp_nanos() / 1_000_000) as i64;
                (ms, serde_json::to_vec(e).unwrap())
            })
            .collect();
        prism_testkit::produce_at(&self.kafka.brokers(), &self.topic, &records);
    }

    /// Produces `events` half to partition 0, half to partition 1, so every
    /// worker of the group has some.
    pub fn produce_to_both(&self, events: &[EnrichedEvent]) {
        let payloads: Vec<Vec<u8>> = events
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect();
        let (a, b) = payloads.split_at(payloads.len() / 2);
        produce_to(&self.kafka.brokers(), &self.topic, Some(0), a);
        produce_to(&self.kafka.brokers(), &self.topic, Some(1), b);
    }

    /// Produces `events` in chunks of `chunk` every `every`, as a steady load.
    pub fn produce_steadily(&self, events: &[EnrichedEvent], chunk: usize, every: Duration) {
        for part in events.chunks(chunk) {
            self.produce(part);
            std::thread::sleep(every);
        }
    }
}

/// Runs `prism-audit` over `[from, to)` against this broker and topic, the
/// lake at `lake` and the indices `es` (none: `PRISM_ES_URL=none`), with
/// `args` added; its output and exit code.
pub fn run_audit<'a>(
    s: &Scenario,
    lake: impl Into<LakeAt<'a>>,
    es: Option<&search::Indices>,
    from: OffsetDateTime,
    to: OffsetDateTime,
    args: &[&str],
) -> (String, i32) {
    let hour = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_prism-audit"));
    command
        .env("PRISM_KAFKA_BROKERS", s.kafka.brokers())
        .env("PRISM_TOPIC", &s.topic)
        .env("PRISM_HDFS_TARGET", lake.into().target())
        .env("PRISM_ES_URL", "none");
    for (k, v) in es.map(search::Indices::env).into_iter().flatten() {
        command.env(k, v);
    }
    let out = command
        .args(["--from", &hour(from), "--to", &hour(to)])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "prism-audit failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout, out.status.code().unwrap_or(-1))
}

/// The event id of each record (all of them events).
pub fn ids_of(records: &[prism_testkit::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let e: EnrichedEvent = serde_json::from_slice(&r.payload).unwrap();
            e.event_id.to_string()
        })
        .collect()
}

/// Whether the lake at `lake` (and the indices `es`, when given) hold
/// every one of `ids`.
pub fn stores_hold<'a>(
    lake: impl Into<LakeAt<'a>>,
    es: Option<&search::Indices>,
    ids: &std::collections::HashSet<String>,
) -> bool {
    let in_lake = lake.into().event_ids();
    let in_es = es.map(search::Indices::event_ids);
    ids.iter()
        .all(|id| in_lake.contains_key(id) && in_es.as_ref().is_none_or(|es| es.contains(id)))
}

/// `prism-audit`'s JSON report over `[from, to)`, with every missing id.
pub struct Audit(pub serde_json::Value);

impl Audit {
    pub fn run<'a>(
        s: &Scenario,
        lake: impl Into<LakeAt<'a>>,
        es: Option<&search::Indices>,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Self {
        let args = ["--format", "json", "--samples", "1000000"];
        let (json, _) = run_audit(s, lake, es, from, to, &args);
        Self(serde_json::from_str(&json).unwrap())
    }

    fn hours(&self) -> &[serde_json::Value] {
        self.0["hours"].as_array().map_or(&[], Vec::as_slice)
    }

    /// `field` of `store` (`kafka`, `lake`, `elasticsearch`) summed over
    /// the hours.
    pub fn total(&self, store: &str, field: &str) -> u64 {
        self.hours()
            .iter()
            .map(|h| h[store][field].as_u64().unwrap())
            .sum()
    }

    /// The ids the topic has and `store` lacks.
    pub fn missing(&self, store: &str) -> std::collections::HashSet<String> {
        self.hours()
            .iter()
            .flat_map(|h| {
                h[store]["missing_sample"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|id| id.as_str().map(str::to_owned))
            .collect()
    }

    /// Every count that says a store differs from the topic, by name; all
    /// zero when the stores hold each record of the topic as often.
    pub fn differences(&self, stores: &[&str]) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for store in stores {
            let last = match *store {
                "lake" => "bad_lines",
                _ => "duplicates",
            };
            for field in ["missing", "more_than_kafka", "not_in_kafka", last] {
                out.push((format!("{store}.{field}"), self.total(store, field)));
            }
        }
        out
    }
}
