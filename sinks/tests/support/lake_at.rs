//! Where a test's lake is, and what tests ask of it on either kind: its
//! events, its files, whether the sink group has committed everything.

use std::collections::HashMap;
use std::time::Duration;

use prism_event::EnrichedEvent;
use prism_testkit::Hdfs;

use super::{Scenario, lake};

/// Where a test's lake is: a local directory, or a root on a real HDFS.
#[derive(Clone, Copy)]
pub enum LakeAt<'a> {
    Dir(&'a std::path::Path),
    Hdfs { hdfs: &'a Hdfs, root: &'a str },
}

impl<'a> From<&'a std::path::Path> for LakeAt<'a> {
    fn from(dir: &'a std::path::Path) -> Self {
        LakeAt::Dir(dir)
    }
}

impl LakeAt<'_> {
    /// The sinks' and prism-audit's `PRISM_HDFS_TARGET` for it.
    pub fn target(&self) -> String {
        match self {
            LakeAt::Dir(dir) => format!("file://{}", dir.display()),
            LakeAt::Hdfs { hdfs, root } => format!("{}{root}", hdfs.url()),
        }
    }

    /// How often each event id is in the lake's final files (on HDFS, as
    /// `hdfs dfs -cat` reads them).
    pub fn event_ids(&self) -> HashMap<String, usize> {
        match self {
            LakeAt::Dir(dir) => lake::event_ids(dir),
            LakeAt::Hdfs { hdfs, root } => {
                let out = hdfs.dfs(&["-cat", &format!("{root}/topics/*/dt=*/hour=*/*.jsonl")]);
                let mut ids = HashMap::new();
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    if let Ok(e) = serde_json::from_str::<EnrichedEvent>(line) {
                        *ids.entry(e.event_id.to_string()).or_insert(0) += 1;
                    }
                }
                ids
            }
        }
    }

    /// The bytes of `rel` (a path from the lake's root), if it is a file;
    /// on HDFS as `hdfs dfs -cat` reads it.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        match self {
            LakeAt::Dir(dir) => std::fs::read(dir.join(rel)).ok(),
            LakeAt::Hdfs { hdfs, root } => {
                let out = hdfs.dfs(&["-cat", &format!("{root}/{rel}")]);
                out.status.success().then_some(out.stdout)
            }
        }
    }

    /// The names of the files directly in the directory `rel`.
    pub fn names(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = match self {
            LakeAt::Dir(dir) => std::fs::read_dir(dir.join(rel))
                .map(|entries| {
                    entries
                        .flatten()
                        .filter(|e| e.path().is_file())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default(),
            LakeAt::Hdfs { hdfs, root } => {
                let out = hdfs.dfs(&["-ls", &format!("{root}/{rel}")]);
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| l.starts_with('-'))
                    .filter_map(|l| l.rsplit('/').next().map(str::to_owned))
                    .collect()
            }
        };
        names.sort();
        names
    }

    /// Deletes the file `rel`.
    pub fn remove(&self, rel: &str) {
        match self {
            LakeAt::Dir(dir) => std::fs::remove_file(dir.join(rel)).unwrap(),
            LakeAt::Hdfs { hdfs, root } => {
                let out = hdfs.dfs(&["-rm", &format!("{root}/{rel}")]);
                assert!(out.status.success(), "hdfs dfs -rm {rel}: {out:?}");
            }
        }
    }
}

/// Whether `group` has committed every record of `s`'s topic: the lake
/// holds all of it, by the group's own account in Kafka.
pub fn group_caught_up(s: &Scenario, group: &str) -> bool {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", s.kafka.brokers())
        .set("group.id", group)
        .create()
        .unwrap();
    let timeout = Duration::from_secs(10);
    let mut list = rdkafka::TopicPartitionList::new();
    for p in 0..2 {
        list.add_partition(&s.topic, p);
    }
    let Ok(committed) = consumer.committed_offsets(list, timeout) else {
        return false;
    };
    committed.elements().iter().all(|e| {
        let (_, high) = consumer
            .fetch_watermarks(&s.topic, e.partition(), timeout)
            .unwrap();
        high == 0 || e.offset() == rdkafka::Offset::Offset(high)
    })
}
