//! One Kafka client, measured the way Prism uses it. Built with exactly one
//! of the features `rdkafka` or `confluent` (scripts/bench-kafka-clients
//! builds both, each in its own target directory).
//!
//! ```text
//! kafka-client-bench produce BROKERS TOPIC IN_FLIGHT LIMIT [--bytes B] [--set KEY=VALUE]...
//! kafka-client-bench consume BROKERS TOPIC N [--set KEY=VALUE]...
//! ```
//! `produce` keeps IN_FLIGHT sends outstanding (acks=1, no key, the
//! client's default partitioner and compression), as prism-server does with
//! that many requests in progress, until LIMIT (`30s`, or a record count).
//! `consume` reads N records of a pre-filled topic in a fresh consumer
//! group from the earliest offset; its clock starts at the first record.
//! Each prints one `key=value` line, with the process's peak RSS.

#[cfg(all(feature = "rdkafka", feature = "confluent"))]
compile_error!("build with exactly one of the features `rdkafka` and `confluent`");
#[cfg(not(any(feature = "rdkafka", feature = "confluent")))]
compile_error!("build with one of the features `rdkafka` or `confluent`");

#[cfg(feature = "confluent")]
#[path = "confluent.rs"]
mod client;
#[cfg(feature = "rdkafka")]
#[path = "rdkafka.rs"]
mod client;

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long a produce run lasts.
#[derive(Clone, Copy)]
enum Limit {
    Time(Duration),
    Records(u64),
}

impl Limit {
    fn parse(text: &str) -> Result<Self, Error> {
        Ok(match text.strip_suffix('s') {
            Some(secs) => Limit::Time(Duration::from_secs(secs.parse()?)),
            None => Limit::Records(text.parse()?),
        })
    }

    fn allows(self, started: Instant, sent: u64) -> bool {
        match self {
            Limit::Time(d) => started.elapsed() < d,
            Limit::Records(n) => sent < n,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (positional, options) = split_options(&args)?;
    match positional.as_slice() {
        ["produce", brokers, topic, in_flight, limit] => {
            let bytes = options.bytes.unwrap_or(700);
            produce(
                brokers,
                topic,
                in_flight.parse()?,
                Limit::parse(limit)?,
                bytes,
                &options.set,
            )
            .await
        }
        ["consume", brokers, topic, n] => consume(brokers, topic, n.parse()?, &options.set).await,
        _ => Err(USAGE.into()),
    }
}

const USAGE: &str = "usage: kafka-client-bench produce BROKERS TOPIC IN_FLIGHT LIMIT [--bytes B] [--set KEY=VALUE]...\n       kafka-client-bench consume BROKERS TOPIC N [--set KEY=VALUE]...";

#[derive(Default)]
struct Options {
    bytes: Option<usize>,
    set: Vec<(String, String)>,
}

fn split_options(args: &[String]) -> Result<(Vec<&str>, Options), Error> {
    let mut positional = Vec::new();
    let mut options = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bytes" => options.bytes = Some(it.next().ok_or(USAGE)?.parse()?),
            "--set" => {
                let pair = it.next().ok_or(USAGE)?;
                let (k, v) = pair.split_once('=').ok_or("--set takes KEY=VALUE")?;
                options.set.push((k.to_string(), v.to_string()));
            }
            other => positional.push(other),
        }
    }
    Ok((positional, options))
}

async fn produce(
    brokers: &str,
    topic: &str,
    in_flight: usize,
    limit: Limit,
    bytes: usize,
    set: &[(String, String)],
) -> Result<(), Error> {
    let producer = client::Producer::new(brokers, set).await?;
    let payload = sample_payload(bytes);
    // One send first, so neither client's clock includes its start-up.
    producer.send(topic, &payload).await?;

    let mut pending = FuturesUnordered::new();
    let mut latencies = Vec::new();
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut first_error = None;
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    loop {
        while pending.len() < in_flight && limit.allows(started, sent) {
            sent += 1;
            let producer = &producer;
            let payload = &payload;
            pending.push(async move {
                let t = Instant::now();
                let outcome = producer.send(topic, payload).await;
                (outcome, t.elapsed())
            });
        }
        match pending.next().await {
            Some((Ok(()), latency)) => latencies.push(latency),
            Some((Err(e), _)) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
            None => break,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = first_error {
        eprintln!("first failed send: {e}");
    }
    latencies.sort();
    let ms = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "produce client={} in_flight={in_flight} bytes={bytes} records={} failed={failed} seconds={secs:.2} records_per_s={:.0} p50_ms={:.2} p99_ms={:.2} cpu_us_per_record={:.2} peak_rss_mb={:.1}",
        client::NAME,
        latencies.len(),
        latencies.len() as f64 / secs,
        ms(0.50),
        ms(0.99),
        (cpu_seconds() - cpu_before) * 1e6 / latencies.len().max(1) as f64,
        peak_rss_mb(),
    );
    drop(pending);
    producer.close().await;
    Ok(())
}

async fn consume(
    brokers: &str,
    topic: &str,
    n: u64,
    set: &[(String, String)],
) -> Result<(), Error> {
    let group = format!("kafka-client-bench-{}", std::process::id());
    let mut consumer = client::Consumer::new(brokers, topic, &group, set).await?;
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut started = None;
    // A fresh group's first records come after its first assignment; the
    // whole run is bounded so a broken client cannot hang the benchmark.
    let deadline = Instant::now() + Duration::from_secs(600);
    while records < n {
        if Instant::now() > deadline {
            return Err(format!("read {records} of {n} records within 600 s").into());
        }
        let batch = consumer.poll(Duration::from_millis(500)).await?;
        if batch.records > 0 {
            started.get_or_insert_with(Instant::now);
        }
        records += batch.records;
        bytes += batch.bytes;
    }
    let secs = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!(
        "consume client={} records={records} mb={:.1} seconds={secs:.2} records_per_s={:.0} cpu_us_per_record={:.2} peak_rss_mb={:.1}",
        client::NAME,
        bytes as f64 / 1e6,
        records as f64 / secs,
        cpu_seconds() * 1e6 / records.max(1) as f64,
        peak_rss_mb(),
    );
    consumer.close().await;
    Ok(())
}

/// What one poll returned.
pub struct Polled {
    pub records: u64,
    pub bytes: u64,
}

/// A JSON object of `bytes` bytes, shaped like an enriched event.
fn sample_payload(bytes: usize) -> Vec<u8> {
    let head = br#"{"event_id":"0192f0c4-7d1e-7c3a-9b8e-3c1d2e4f5a6b","name":"Ada","color":"blue","filler":""#;
    let mut payload = head.to_vec();
    payload.resize(bytes.saturating_sub(2).max(head.len()), b'x');
    payload.extend_from_slice(br#""}"#);
    payload
}

/// The CPU time (user and system) the process has used, in seconds: the
/// client's cost per record, on a machine whose cores it shares with the
/// broker.
fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, after the command in parentheses;
    // the kernel counts them in ticks of 1/100 s on Linux.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// The process's peak resident set (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
