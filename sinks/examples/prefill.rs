//! Benchmark helper: fills a topic with N enriched events as fast as the
//! broker takes them, creating the topic (2 partitions) if missing.
//! `prefill BROKERS TOPIC N`
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;
use rdkafka::producer::{BaseRecord, Producer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, brokers, topic, n] = args.as_slice() else {
        return Err("usage: prefill BROKERS TOPIC N".into());
    };
    let n: usize = n.parse()?;
    // Two partitions, like the real topic.
    prism_sinks::dlq::ensure_topic(brokers, topic, &[]).await?;
    let producer = common::producer(brokers)?;
    let now = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    for i in 0..n {
        let event = common::sample_event(i, now);
        let payload = serde_json::to_vec(&event)?;
        common::send(&producer, BaseRecord::to(topic).payload(payload.as_slice()))?;
    }
    producer.flush(Duration::from_secs(300))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "prefilled {n} events in {secs:.1} s ({:.0} events/s)",
        n as f64 / secs
    );
    Ok(())
}
