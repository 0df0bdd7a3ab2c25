//! Raw produce baseline for the HTTP benchmark: the same enriched payload,
//! produced straight to the broker with rdkafka and the server's producer
//! settings (acks=1, no key, no compression), with a fixed number of sends
//! in flight, as the HTTP load generator keeps a fixed number of
//! connections busy.
//!
//! `cargo run --profile release-native -p prism-server --example produce_baseline -- BROKERS TOPIC SECONDS IN_FLIGHT`

use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use prism_event::{ClientEvent, EnrichedEvent};
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, brokers, topic, seconds, in_flight] = args.as_slice() else {
        return Err("usage: produce_baseline BROKERS TOPIC SECONDS IN_FLIGHT".into());
    };
    let duration = Duration::from_secs(seconds.parse()?);
    let in_flight: usize = in_flight.parse()?;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "1")
        .set("compression.codec", "none")
        .set("message.timeout.ms", "5000")
        .create()?;
    let payload = serde_json::to_vec(&sample_event()?)?;

    let mut pending = FuturesUnordered::new();
    let mut latencies = Vec::new();
    let (mut ok, mut failed) = (0u64, 0u64);
    let started = Instant::now();
    loop {
        while pending.len() < in_flight && started.elapsed() < duration {
            let producer = producer.clone();
            let topic = topic.clone();
            let payload = payload.clone();
            pending.push(async move {
                let sent = Instant::now();
                let record = FutureRecord::<(), [u8]>::to(&topic).payload(&payload);
                let outcome = producer.send(record, Duration::ZERO).await;
                (outcome.is_ok(), sent.elapsed())
            });
        }
        match pending.next().await {
            Some((true, latency)) => {
                ok += 1;
                latencies.push(latency);
            }
            Some((false, _)) => failed += 1,
            None => break,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    println!(
        "baseline_events_per_s={:.0} ok={ok} failed={failed} p50_ms={:.2} p99_ms={:.2} in_flight={in_flight}",
        ok as f64 / elapsed,
        pct(0.50).map_or(0.0, |d| d.as_secs_f64() * 1e3),
        pct(0.99).map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    Ok(())
}

/// The enriched form of the benchmark's HTTP request body.
fn sample_event() -> Result<EnrichedEvent, Box<dyn std::error::Error>> {
    let client: ClientEvent = serde_json::from_str(include_str!("../../bench/event.json"))?;
    let parser = prism_server::ua::UaParser::new(1)?;
    let ua = parser.parse_uncached(&client.navigator.user_agent);
    Ok(EnrichedEvent::new(
        client,
        time::OffsetDateTime::now_utc(),
        Some([127, 0, 0, 1].into()),
        ua,
    ))
}
