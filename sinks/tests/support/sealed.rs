//! Past hours of events in a lake, loaded by a real `prism-hdfs-sink` from
//! Apache Kafka, for `prism-lake`'s tests: the events are produced with
//! the Kafka timestamps their producer would have given them, so the hours
//! are over and sealing depends only on the sink group's progress.

use std::process::{Command, Output};
use std::sync::OnceLock;

use prism_event::EnrichedEvent;
use prism_sinks::audit::start_of_hour;
use prism_sinks::hdfs::layout::Bucket;
use prism_testkit::Hdfs;
use serde_json::Value;
use time::OffsetDateTime;

use super::lake_at::group_caught_up;
use super::{LakeAt, Scenario, Sink, event, run_audit, wait_until};

pub const PER_HOUR: usize = 20;
/// The sinks' and the seal's skew bound in these tests, and no grace: the
/// hours' cutoffs lie in the past, only the group's progress matters.
pub const SKEW_S: &str = "60";

pub fn shared_hdfs() -> &'static Hdfs {
    static HDFS: OnceLock<Hdfs> = OnceLock::new();
    HDFS.get_or_init(Hdfs::start)
}

/// `n` past hours of a topic, a lake and an HDFS sink group.
pub struct Hours<'a> {
    pub s: Scenario,
    pub lake: LakeAt<'a>,
    /// Oldest first; the last one ended an hour before this one began, so
    /// its cutoff (end + skew bound) has passed even when the test starts
    /// at the top of an hour.
    pub hours: Vec<OffsetDateTime>,
}

impl<'a> Hours<'a> {
    pub fn new(s: Scenario, lake: LakeAt<'a>, n: i64) -> Self {
        let now = start_of_hour(OffsetDateTime::now_utc());
        Self {
            s,
            lake,
            hours: (2..=n + 1)
                .rev()
                .map(|k| now - time::Duration::hours(k))
                .collect(),
        }
    }

    /// `PER_HOUR` events of hour `i`, pressed a minute in and then every
    /// 30 s.
    pub fn events(&self, i: usize) -> Vec<EnrichedEvent> {
        (0..PER_HOUR)
            .map(|n| {
                event(
                    n,
                    self.hours[i] + time::Duration::seconds(60 + 30 * n as i64),
                )
            })
            .collect()
    }

    /// Produces `events` stamped with their receipt, as the server does.
    pub fn produce(&self, events: &[EnrichedEvent]) {
        self.s.produce_received(events);
    }

    /// Waits until the sink group has committed every record.
    pub fn wait_caught_up(&self) {
        wait_until(
            "the group commits everything",
            std::time::Duration::from_secs(60),
            || group_caught_up(&self.s, &self.s.group),
        );
    }

    pub fn start_sink(&self) -> Sink {
        self.s.start(
            "prism-hdfs-sink",
            &[
                ("PRISM_HDFS_TARGET", &self.lake.target()),
                ("PRISM_ROTATE_AGE_MS", "500"),
                ("PRISM_MAX_CLOCK_SKEW_S", SKEW_S),
            ],
        )
    }

    pub fn lake_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_prism-lake"));
        command
            .env("PRISM_KAFKA_BROKERS", self.s.kafka.brokers())
            .env("PRISM_TOPIC", &self.s.topic)
            .env("PRISM_GROUP", &self.s.group)
            .env("PRISM_HDFS_TARGET", self.lake.target())
            .env("PRISM_MAX_CLOCK_SKEW_S", SKEW_S)
            .env("PRISM_LAKE_GRACE_S", "0")
            // The hours, the one before them, the two after (the current
            // one and the last), and one more should the test cross the
            // top of an hour.
            .env("PRISM_LAKE_HOURS", (self.hours.len() + 4).to_string())
            .env("PRISM_LAKE_TIMEOUT_MS", "10000")
            .args(args);
        command
    }

    /// Runs `prism-lake ARGS` once, with `env` added: its stdout and exit
    /// code (fails the test on exit 2, an error).
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> (String, i32) {
        let out: Output = self
            .lake_command(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code < 2,
            "prism-lake {args:?} failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (stdout, code)
    }

    /// Runs `prism-lake seal` once: its stdout and exit code.
    pub fn seal(&self) -> (String, i32) {
        self.run(&["seal"], &[])
    }

    /// `prism-lake status --format json`, by hour name.
    pub fn status(&self, i: usize) -> Value {
        self.status_of(self.hours[i])
    }

    /// `prism-lake status --format json`'s row for `hour`.
    pub fn status_of(&self, hour: OffsetDateTime) -> Value {
        let out = self
            .lake_command(&["status", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "prism-lake status: {out:?}");
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let hour = hour
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        rows.into_iter()
            .find(|r| r["hour"] == hour.as_str())
            .unwrap_or_else(|| panic!("no row for {hour}"))
    }

    pub fn dir(&self, i: usize) -> String {
        Bucket::of(self.hours[i]).dir(&self.s.topic)
    }

    pub fn manifest(&self, i: usize) -> Option<Value> {
        let bytes = self.lake.read(&format!("{}_manifest.json", self.dir(i)))?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    pub fn sealed(&self, i: usize) -> bool {
        self.lake
            .read(&format!("{}_SUCCESS", self.dir(i)))
            .is_some()
    }

    /// The hour's data files, by name.
    pub fn data_files(&self, i: usize) -> Vec<String> {
        let mut names = self.lake.names(&self.dir(i));
        names.retain(|n| !n.starts_with('_'));
        names
    }

    /// Asserts hour `i` is sealed at `version` with `records` events, and
    /// its manifest lists exactly the hour's files.
    pub fn assert_sealed(&self, i: usize, version: u64, records: u64) {
        assert!(self.sealed(i), "hour {i} has no _SUCCESS");
        let m = self.manifest(i).unwrap();
        assert_eq!(
            (m["version"].as_u64(), m["records"].as_u64()),
            (Some(version), Some(records)),
            "hour {i}: {m:#}"
        );
        let mut listed: Vec<String> = m["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["files"].as_array().unwrap().iter())
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect();
        listed.sort();
        assert_eq!(listed, self.data_files(i), "hour {i}: the manifest's files");
        assert_eq!(
            m["partitions"].as_array().unwrap().len(),
            2,
            "every partition listed"
        );
    }

    /// `prism-audit` over the hours: its JSON report and exit code.
    pub fn audit(&self) -> (Value, i32) {
        let (json, code) = run_audit(
            &self.s,
            self.lake,
            None,
            self.hours[0],
            self.hours[self.hours.len() - 1] + time::Duration::HOUR,
            &["--format", "json", "--max-clock-skew-s", SKEW_S],
        );
        (serde_json::from_str(&json).unwrap(), code)
    }

    /// Asserts the audit finds each event of the topic in the lake exactly
    /// once, in every hour, each sealed with a manifest that matches.
    pub fn assert_audit_exact(&self) {
        let (report, code) = self.audit();
        for hour in report["hours"].as_array().unwrap() {
            let lake = &hour["lake"];
            let counts: Vec<u64> = ["missing", "duplicates", "more_than_kafka", "bad_lines"]
                .iter()
                .map(|f| lake[f].as_u64().unwrap())
                .collect();
            assert_eq!(counts, [0, 0, 0, 0], "{hour:#}");
            assert_eq!(lake["records"], hour["kafka"]["records"], "{hour:#}");
            assert_eq!(lake["sealed"]["matches"], true, "{hour:#}");
        }
        assert_eq!(code, 0, "{report:#}");
    }

    /// The audit's `lake.sealed` of each hour.
    pub fn audited_seals(&self) -> (Vec<Value>, i32) {
        let (report, code) = self.audit();
        let seals = report["hours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["lake"]["sealed"].clone())
            .collect();
        (seals, code)
    }
}
