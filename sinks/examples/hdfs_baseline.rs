//! Raw baseline for the HDFS sink benchmark on a real HDFS: an rdkafka
//! consumer that writes each record's bytes and a newline into files of
//! FILE_RECORDS records with hdfs-native, each created under `_tmp/`,
//! closed and renamed into place: the NameNode calls the sink makes per
//! file (create, add a block, complete, rename), without its claims,
//! recovery, event-time layout or offset commits. Reads N records.
//! `hdfs_baseline BROKERS TOPIC N NAMENODE DIR FILE_RECORDS`
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdfs_native::{Client, ClientBuilder, WriteOptions};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;

/// Longest wait for any one call, as the sink's `PRISM_HDFS_TIMEOUT_MS`.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, brokers, topic, n, namenode, dir, file_records] = args.as_slice() else {
        return Err("usage: hdfs_baseline BROKERS TOPIC N NAMENODE DIR FILE_RECORDS".into());
    };
    let n: usize = n.parse()?;
    let file_records: usize = file_records.parse()?;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("hdfs-baseline-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    let client = ClientBuilder::new().with_url(namenode).build()?;
    bounded(client.mkdirs(&format!("{dir}/_tmp"), 0o755, true)).await?;

    let (mut read, mut files) = (0usize, 0usize);
    let mut body = Vec::new();
    let mut in_file = 0usize;
    let mut started = None;
    while read < n {
        let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv()).await??;
        started.get_or_insert_with(Instant::now);
        body.extend_from_slice(message.payload().unwrap_or_default());
        body.push(b'\n');
        read += 1;
        in_file += 1;
        if in_file == file_records || read == n {
            publish(&client, dir, files, std::mem::take(&mut body)).await?;
            files += 1;
            in_file = 0;
        }
    }
    let secs = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!(
        "baseline_events_per_s={:.0} events={read} files={files} seconds={secs:.2}",
        read as f64 / secs
    );
    Ok(())
}

/// Writes one file under `_tmp/` and renames it into place.
async fn publish(
    client: &Client,
    dir: &str,
    index: usize,
    body: Vec<u8>,
) -> Result<(), Box<dyn std::error::Error>> {
    let temp = format!("{dir}/_tmp/{index}.tmp");
    let mut writer = bounded(client.create(&temp, WriteOptions::default())).await?;
    bounded(writer.write_bytes(Bytes::from(body))).await?;
    bounded(writer.close()).await?;
    bounded(client.rename(&temp, &format!("{dir}/{index}.jsonl"), false)).await?;
    Ok(())
}

async fn bounded<T>(
    call: impl Future<Output = hdfs_native::Result<T>>,
) -> Result<T, Box<dyn std::error::Error>> {
    Ok(tokio::time::timeout(CALL_TIMEOUT, call).await??)
}
