//! Kafka `select-color` → JSON-lines files in a Hive layout on HDFS or a
//! local directory.

use std::sync::Arc;

use clap::Parser;
use prism_sinks::config::ConsumerConfig;
use prism_sinks::hdfs::target::Target;
use prism_sinks::hdfs::{HdfsConfig, HdfsSink};
use prism_sinks::metrics::SinkMetrics;

/// Loads `select-color` into HDFS-style storage: one JSON event per line,
/// `topics/<topic>/dt=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first>+<last>.jsonl`.
#[derive(Debug, Parser)]
#[command(name = "prism-hdfs-sink", version, about)]
struct Cli {
    #[command(flatten)]
    consumer: ConsumerConfig,
    #[command(flatten)]
    hdfs: HdfsConfig,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    prism_sinks::init_tracing();
    prism_sinks::exit("prism-hdfs-sink", run(cli).await)
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let target = Target::parse(&cli.hdfs.target)?;
    tracing::info!(?target, "target");
    let metrics = Arc::new(SinkMetrics::new("hdfs")?);
    prism_sinks::http::serve(&cli.consumer.metrics_bind, Arc::clone(&metrics)).await?;
    let op = target.operator(cli.hdfs.timeout())?;
    let publisher = target.publisher(&op, cli.hdfs.timeout())?;
    let sink = HdfsSink::new(op, publisher, &cli.consumer.topic, &cli.hdfs);
    prism_sinks::run_worker(&cli.consumer, &cli.hdfs.group, metrics, sink).await
}
