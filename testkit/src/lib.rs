//! Real programs for integration tests: Apache Kafka (one node or a
//! cluster, through `scripts/engine`), HDFS (a NameNode and a DataNode,
//! and Hadoop's shell), OpenSearch or Elasticsearch nodes, child processes that are killed when dropped or
//! when the test binary exits, a plain rdkafka consumer to read topics
//! back, `prism-server` as a process, and chromedriver for browser tests.
//!
//! Tests fail loudly when a needed program is missing; they never skip.

mod broker;
mod chrome;
mod hdfs;
mod kafka;
mod process;
mod producer;
mod search;
mod tools;

pub use broker::Kafka;
pub use chrome::{CHROMIUM_ARGS, ChromeDriver};
pub use hdfs::{Hdfs, HdfsDaemon};
pub use kafka::{
    Record, create_topic, produce, produce_at, produce_to, read_all, read_records, topic_partitions,
};
pub use process::{ChildProcess, free_port, free_ports, wait_for_port, workspace_bin};
pub use producer::Producer;
pub use search::{SearchEngine, SearchNode};
pub use tools::{PartitionState, TopicState, describe_topic, kafka_tool};

/// A name nobody else in this test run uses: topics and consumer groups are
/// fresh per test so tests never see each other's data.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}
