//! Kafka `select-color` → Elasticsearch or OpenSearch, one document per
//! event in a daily index.

use std::sync::Arc;

use clap::Parser;
use prism_sinks::config::ConsumerConfig;
use prism_sinks::dlq::DeadLetters;
use prism_sinks::elasticsearch::client::EsClient;
use prism_sinks::elasticsearch::{EsConfig, EsSink};
use prism_sinks::metrics::SinkMetrics;

/// Loads `select-color` into Elasticsearch/OpenSearch: daily indices
/// `select-color-YYYY.MM.DD` behind the `select-color` index template,
/// `_bulk` `create` with `_id = event_id`, refused documents to the
/// dead-letter topic.
#[derive(Debug, Parser)]
#[command(name = "prism-es-sink", version, about)]
struct Cli {
    #[command(flatten)]
    consumer: ConsumerConfig,
    #[command(flatten)]
    es: EsConfig,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    prism_sinks::init_tracing();
    prism_sinks::exit("prism-es-sink", run(cli).await)
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let c = &cli.consumer;
    let metrics = Arc::new(SinkMetrics::new("elasticsearch")?);
    prism_sinks::http::serve(&c.metrics_bind, Arc::clone(&metrics)).await?;
    // Not ready until the cluster has answered and taken the template.
    metrics.target_up.set(0);
    let timeout = std::time::Duration::from_millis(cli.es.request_timeout_ms);
    let client = EsClient::new(&cli.es.connection, timeout)?;
    prism_sinks::dlq::ensure_topic(&c.kafka_brokers, &c.dlq_topic, &c.kafka_options).await?;
    let dead_letters = Arc::new(DeadLetters::new(
        &c.kafka_brokers,
        &c.dlq_topic,
        &c.kafka_options,
    )?);
    let sink = EsSink::new(client, dead_letters, &cli.es, &c.topic, &metrics)?;
    sink.prepare().await?;
    metrics.target_up.set(1);
    prism_sinks::run_worker(c, &cli.es.group, metrics, sink).await
}
