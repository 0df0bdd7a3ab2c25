//! Prism's sink workers. One consumer loop ([`consumer::run`]) reads
//! `select-color` in a consumer group, dead-letters records that are not
//! valid events, hands the rest to a [`Sink`], and stores offsets only once
//! the sink says they are durable. Each destination is a [`Sink`]:
//! [`hdfs::HdfsSink`] writes JSON-lines files in a Hive layout,
//! [`elasticsearch::EsSink`] indexes documents with `_bulk`. [`audit`]
//! measures what reached each destination.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod backoff;
pub mod config;
pub mod consumer;
pub mod dlq;
pub mod elasticsearch;
pub mod event_time;
pub mod hdfs;
pub mod http;
pub mod lake;
pub mod metrics;
pub mod sink;

pub use sink::{Durable, Incoming, Sink, TargetError};

/// Installs the `tracing` subscriber every sink binary uses (`RUST_LOG`,
/// default `info`); colours only on a terminal, never into a log file.
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

/// The `tracing` subscriber of the command-line tools: as
/// [`init_tracing`], to stderr, so their output on stdout stays parseable.
pub fn init_cli_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Turns true on the first SIGINT or SIGTERM.
pub fn shutdown_signal() -> std::io::Result<tokio::sync::watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        let _ = stop.send(true);
    });
    Ok(stopped)
}

/// What a sink binary does once its sink is built: run the consumer loop
/// until a signal, and leave cleanly. The binary serves `/metrics`,
/// `/healthz` and `/readyz` ([`http::serve`]) before anything that may
/// wait, so a worker waiting for its target at start-up is seen alive and
/// not ready.
pub async fn run_worker<S: Sink>(
    consumer: &config::ConsumerConfig,
    group: &str,
    metrics: std::sync::Arc<metrics::SinkMetrics>,
    sink: S,
) -> Result<(), Box<dyn std::error::Error>> {
    let stopped = shutdown_signal()?;
    consumer::run(consumer, group, sink, metrics, stopped).await?;
    Ok(())
}

/// Ends a sink binary: success, or the error logged and a failure code.
/// Exits at once rather than returning, so no thread still waiting on an
/// absent broker or target can hold the process past its shutdown budget.
pub fn exit(binary: &str, result: Result<(), Box<dyn std::error::Error>>) -> ! {
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            tracing::error!(error = %e, "{binary} failed");
            std::process::exit(1)
        }
    }
}
