//! A lake on a real HDFS (`scripts/engine hdfs`), read back with Hadoop's
//! own shell and with prism-audit over `hdfs://`.

use std::time::Duration;

use prism_event::EnrichedEvent;
use prism_testkit::Hdfs;

use super::{Audit, Scenario, Sink, assert_exactly_once, wait_until};

/// How long a sink's call to the target may take in these tests: a hung
/// daemon is a failure after this, not a hang.
const TARGET_TIMEOUT_MS: &str = "3000";

/// A lake on a real HDFS, under `/lake-<group>`.
pub struct HdfsLake {
    pub s: Scenario,
    pub hdfs: Hdfs,
    pub root: String,
}

impl HdfsLake {
    pub fn new() -> Self {
        let s = Scenario::new("prism-hdfs");
        let root = format!("/lake-{}", s.group);
        Self {
            s,
            hdfs: Hdfs::start(),
            root,
        }
    }

    pub fn start_sink(&self, env: &[(&str, &str)]) -> Sink {
        let target = format!("{}{}", self.hdfs.url(), self.root);
        let mut all = vec![
            ("PRISM_HDFS_TARGET", target.as_str()),
            ("PRISM_ROTATE_AGE_MS", "1000"),
            ("PRISM_HDFS_TIMEOUT_MS", TARGET_TIMEOUT_MS),
        ];
        all.extend_from_slice(env);
        self.s.start("prism-hdfs-sink", &all)
    }

    /// Every event in the lake's final files, as `hdfs dfs -cat` reads them;
    /// panics on a line that is not an event.
    pub fn events(&self) -> Vec<EnrichedEvent> {
        let glob = format!("{}/topics/{}/dt=*/hour=*/*.jsonl", self.root, self.s.topic);
        let out = self.hdfs.dfs(&["-cat", &glob]);
        if !out.status.success() {
            // No file matches the glob yet.
            return Vec::new();
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not an event ({e}): {l}")))
            .collect()
    }

    /// The files under `_tmp/`, as `hdfs dfs -ls -R` lists them.
    pub fn staged_files(&self) -> Vec<String> {
        let out = self
            .hdfs
            .dfs(&["-ls", "-R", &format!("{}/_tmp", self.root)]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('-'))
            .map(str::to_owned)
            .collect()
    }

    /// `prism-audit` over the hours around now, the lake read over
    /// `hdfs://`, Elasticsearch left out.
    pub fn audit(&self) -> Audit {
        let now = time::OffsetDateTime::now_utc();
        let hour = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_prism-audit"))
            .env("PRISM_KAFKA_BROKERS", self.s.kafka.brokers())
            .env("PRISM_TOPIC", &self.s.topic)
            .env(
                "PRISM_HDFS_TARGET",
                format!("{}{}", self.hdfs.url(), self.root),
            )
            .args([
                "--es-url",
                "none",
                "--format",
                "json",
                "--samples",
                "1000000",
            ])
            .args(["--from", &hour(now - time::Duration::hours(2))])
            .args(["--to", &hour(now + time::Duration::hours(1))])
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "prism-audit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Audit(serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Waits until every sent event is in the lake, then asserts each is
    /// there exactly once.
    pub fn assert_settles_exactly_once(&self, sent: &[EnrichedEvent], timeout: Duration) {
        wait_until(
            &format!("{} events in the lake", sent.len()),
            timeout,
            || self.events().len() >= sent.len(),
        );
        assert_exactly_once(sent, &self.events());
    }
}
