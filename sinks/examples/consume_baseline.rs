//! Raw baseline for the sink benchmark: an rdkafka consumer that appends
//! each record's bytes and a newline to one file, no batching logic, until
//! N records are read. `consume_baseline BROKERS TOPIC N FILE`
use std::io::Write;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, brokers, topic, n, file] = args.as_slice() else {
        return Err("usage: consume_baseline BROKERS TOPIC N FILE".into());
    };
    let n: usize = n.parse()?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("baseline-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    let mut read = 0usize;
    let mut started = None;
    while read < n {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                started.get_or_insert_with(Instant::now);
                out.write_all(m.payload().unwrap_or_default())?;
                out.write_all(b"\n")?;
                read += 1;
            }
            Some(Err(e)) => eprintln!("consumer error: {e}"),
            None => {}
        }
    }
    out.flush()?;
    out.get_ref().sync_all()?;
    let secs = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!(
        "baseline_events_per_s={:.0} events={read} seconds={secs:.2}",
        read as f64 / secs
    );
    Ok(())
}
