//! Prism's sink workers. One consumer loop ([`consumer::run`]) reads
//! `select-color` in a consumer group, dead-letters records that are not
//! valid events, hands the rest to a [`Sink`], and stores offsets only once
//! the sink says they are durable. Each destination is a [`Sink`]:
//! [`hdfs::HdfsSink`] writes JSON-lines files in a Hive layout.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod backoff;
pub mod config;
pub mod consumer;
pub mod dlq;
pub mod hdfs;
pub mod http;
pub mod metrics;
pub mod sink;

pub use sink::{Durable, Incoming, Sink, TargetError};

/// Installs the `tracing` subscriber every sink binary uses (`RUST_LOG`,
/// default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}
