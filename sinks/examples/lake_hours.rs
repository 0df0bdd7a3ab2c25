//! Benchmark helper for the lake: the events of HOURS whole past hours at
//! RATE events per second, produced as fast as the broker takes them, each
//! stamped (client time, receive time, Kafka timestamp) as a producer
//! under that steady load would have stamped it. The hours end at the
//! start of the previous hour, so their seal cutoffs (end + skew bound +
//! grace, 15 minutes by default) have passed.
//! `lake_hours BROKERS TOPIC RATE HOURS`; prints the first hour.
use std::time::Duration;

use rdkafka::producer::{BaseRecord, Producer};

#[path = "common/mod.rs"]
mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, brokers, topic, rate, hours] = args.as_slice() else {
        return Err("usage: lake_hours BROKERS TOPIC RATE HOURS".into());
    };
    let (rate, hours): (u64, i64) = (rate.parse()?, hours.parse()?);
    prism_sinks::dlq::ensure_topic(brokers, topic, &[]).await?;
    let producer = common::producer(brokers)?;
    let now = prism_sinks::audit::start_of_hour(time::OffsetDateTime::now_utc());
    let first = now - time::Duration::hours(hours + 1);
    let n = rate * 3600 * hours as u64;
    for i in 0..n {
        let pressed = first + time::Duration::nanoseconds((i * 1_000_000_000 / rate) as i64);
        let mut event = common::sample_event(i as usize, pressed);
        event.received_at = pressed + time::Duration::milliseconds(40);
        let stamp = (event.received_at.unix_timestamp_nanos() / 1_000_000) as i64;
        let payload = serde_json::to_vec(&event)?;
        common::send(
            &producer,
            BaseRecord::to(topic)
                .payload(payload.as_slice())
                .timestamp(stamp),
        )?;
    }
    producer.flush(Duration::from_secs(300))?;
    println!("{}", prism_sinks::audit::report::hour_name(first));
    Ok(())
}
