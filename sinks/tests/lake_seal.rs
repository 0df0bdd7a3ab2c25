//! `prism-lake seal` and `status` against the real programs: Apache Kafka,
//! `prism-hdfs-sink` writing a lake on a local directory or on a real HDFS
//! (`scripts/engine hdfs`, read back with Hadoop's own shell), and
//! `prism-audit`. Events of three past hours are produced with the Kafka
//! timestamps their producer would have given them, so the hours are over
//! and sealing depends only on the sink group's progress.

use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use prism_event::EnrichedEvent;
use prism_sinks::audit::start_of_hour;
use prism_sinks::hdfs::layout::Bucket;
use prism_testkit::{ChildProcess, Hdfs, produce, produce_at};
use serde_json::Value;
use time::OffsetDateTime;

mod support;

use support::{LakeAt, Scenario, Sink, event, group_caught_up, run_audit, wait_until};

const PER_HOUR: usize = 20;
/// The sinks' and the seal's skew bound in these tests, and no grace: the
/// hours' cutoffs lie in the past, only the group's progress matters.
const SKEW_S: &str = "60";

fn shared_hdfs() -> &'static Hdfs {
    static HDFS: OnceLock<Hdfs> = OnceLock::new();
    HDFS.get_or_init(Hdfs::start)
}

/// Three past hours of a topic, a lake and an HDFS sink group.
struct Hours<'a> {
    s: Scenario,
    lake: LakeAt<'a>,
    hours: [OffsetDateTime; 3],
}

impl<'a> Hours<'a> {
    fn new(s: Scenario, lake: LakeAt<'a>) -> Self {
        let now = start_of_hour(OffsetDateTime::now_utc());
        Self {
            s,
            lake,
            hours: [3, 2, 1].map(|n| now - time::Duration::hours(n)),
        }
    }

    /// `PER_HOUR` events of hour `i`, pressed a minute in and then every
    /// 30 s.
    fn events(&self, i: usize) -> Vec<EnrichedEvent> {
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
    fn produce(&self, events: &[EnrichedEvent]) {
        let records: Vec<(i64, Vec<u8>)> = events
            .iter()
            .map(|e| {
                let ms = (e.received_at.unix_timestamp_nanos() / 1_000_000) as i64;
                (ms, serde_json::to_vec(e).unwrap())
            })
            .collect();
        produce_at(&self.s.kafka.brokers(), &self.s.topic, &records);
    }

    fn start_sink(&self) -> Sink {
        self.s.start(
            "prism-hdfs-sink",
            &[
                ("PRISM_HDFS_TARGET", &self.lake.target()),
                ("PRISM_ROTATE_AGE_MS", "500"),
                ("PRISM_MAX_CLOCK_SKEW_S", SKEW_S),
            ],
        )
    }

    fn lake_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_prism-lake"));
        command
            .env("PRISM_KAFKA_BROKERS", self.s.kafka.brokers())
            .env("PRISM_TOPIC", &self.s.topic)
            .env("PRISM_GROUP", &self.s.group)
            .env("PRISM_HDFS_TARGET", self.lake.target())
            .env("PRISM_MAX_CLOCK_SKEW_S", SKEW_S)
            .env("PRISM_LAKE_GRACE_S", "0")
            .env("PRISM_LAKE_HOURS", "4")
            .env("PRISM_LAKE_TIMEOUT_MS", "10000")
            .args(args);
        command
    }

    /// Runs `prism-lake seal` once: its stdout and exit code.
    fn seal(&self) -> (String, i32) {
        let out: Output = self.lake_command(&["seal"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let code = out.status.code().unwrap_or(-1);
        assert!(
            code < 2,
            "prism-lake seal failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (stdout, code)
    }

    /// `prism-lake status --format json`, by hour name.
    fn status(&self, i: usize) -> Value {
        let out = self
            .lake_command(&["status", "--format", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "prism-lake status: {out:?}");
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let hour = self.hours[i]
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        rows.into_iter()
            .find(|r| r["hour"] == hour.as_str())
            .unwrap_or_else(|| panic!("no row for {hour}"))
    }

    fn dir(&self, i: usize) -> String {
        Bucket::of(self.hours[i]).dir(&self.s.topic)
    }

    fn manifest(&self, i: usize) -> Option<Value> {
        let bytes = self.lake.read(&format!("{}_manifest.json", self.dir(i)))?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    fn sealed(&self, i: usize) -> bool {
        self.lake
            .read(&format!("{}_SUCCESS", self.dir(i)))
            .is_some()
    }

    /// The hour's data files, by name.
    fn data_files(&self, i: usize) -> Vec<String> {
        let mut names = self.lake.names(&self.dir(i));
        names.retain(|n| !n.starts_with('_'));
        names
    }

    /// Asserts hour `i` is sealed at `version` with `records` events, and
    /// its manifest lists exactly the hour's files.
    fn assert_sealed(&self, i: usize, version: u64, records: u64) {
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

    /// `prism-audit` over the three hours: its JSON report and exit code.
    fn audit(&self) -> (Value, i32) {
        let (json, code) = run_audit(
            &self.s,
            self.lake,
            None,
            self.hours[0],
            self.hours[2] + time::Duration::HOUR,
            &["--format", "json", "--max-clock-skew-s", SKEW_S],
        );
        (serde_json::from_str(&json).unwrap(), code)
    }

    /// The audit's `lake.sealed` of each hour.
    fn audited_seals(&self) -> (Vec<Value>, i32) {
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

/// A lagging sink keeps its hours open while the finished ones are
/// sealed; caught up, they are sealed too; a late record re-issues its
/// hour's manifest; a lake that lost events is never sealed.
fn seals_only_complete_hours(h: &Hours<'_>) {
    let [first, second, third] = [0, 1, 2].map(|i| h.events(i));
    let (early, late) = third.split_at(PER_HOUR / 2);
    h.produce(&[&first[..], &second[..], early].concat());
    let sink = h.start_sink();
    wait_until(
        "the group commits everything",
        Duration::from_secs(60),
        || group_caught_up(&h.s, &h.s.group),
    );

    // The sink stalls; the rest of the third hour arrives meanwhile.
    sink.signal("-STOP");
    h.produce(late);
    let (out, code) = h.seal();
    assert_eq!(code, 0, "{out}");
    h.assert_sealed(0, 1, PER_HOUR as u64);
    h.assert_sealed(1, 1, PER_HOUR as u64);
    assert!(
        !h.sealed(2) && h.manifest(2).is_none(),
        "the third hour is still being written"
    );
    let status = h.status(2);
    assert_eq!(status["state"], "open");
    assert!(
        status["note"]
            .as_str()
            .unwrap()
            .contains("the sink group is at offset"),
        "{status:#}"
    );
    assert_eq!(h.status(0)["state"], "sealed");

    sink.signal("-CONT");
    wait_until(
        "the group commits everything",
        Duration::from_secs(60),
        || group_caught_up(&h.s, &h.s.group),
    );
    let (out, code) = h.seal();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("sealed now: 20 records"), "{out}");
    h.assert_sealed(2, 1, PER_HOUR as u64);
    let (seals, code) = h.audited_seals();
    assert_eq!(code, 0);
    for seal in &seals {
        assert_eq!(
            (seal["version"].as_u64(), seal["matches"].as_bool()),
            (Some(1), Some(true)),
            "{seals:?}"
        );
    }

    // A record of the first hour that arrives late (a producer that
    // retried for long): written as usual, and then the manifest re-issued.
    let before = h.data_files(0);
    let straggler = event(99, h.hours[0] + time::Duration::minutes(30));
    produce(
        &h.s.kafka.brokers(),
        &h.s.topic,
        &[serde_json::to_vec(&straggler).unwrap()],
    );
    wait_until("the straggler's file", Duration::from_secs(60), || {
        h.data_files(0).len() > before.len() && group_caught_up(&h.s, &h.s.group)
    });
    let (seals, code) = h.audited_seals();
    assert_eq!(
        (code, seals[0]["matches"].as_bool()),
        (1, Some(false)),
        "until it is re-issued: {seals:?}"
    );
    let (out, code) = h.seal();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("manifest re-issued as v2: 21 records"),
        "{out}"
    );
    h.assert_sealed(0, 2, PER_HOUR as u64 + 1);
    let m = h.manifest(0).unwrap();
    let added: Vec<&str> = m["history"][1]["added"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let new: Vec<String> = h
        .data_files(0)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    assert_eq!(added, new, "{m:#}");
    assert_eq!(h.audited_seals().1, 0);

    // A file of the second hour is lost: the group is past it, so only
    // the comparison with the topic can tell, and it refuses.
    let lost = h.data_files(1)[0].clone();
    h.lake.remove(&format!("{}{lost}", h.dir(1)));
    let (out, code) = h.seal();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT sealed"), "{out}");
    assert_eq!(
        h.manifest(1).unwrap()["version"],
        1,
        "the manifest is not re-issued"
    );
    let (seals, code) = h.audited_seals();
    assert_eq!((code, seals[1]["matches"].as_bool()), (1, Some(false)));
    drop(sink);
}

/// Three `prism-lake seal --every 100ms` loops race each other while the
/// sink loads: every hour ends up sealed once, version 1, matching, and
/// no temporary file is left behind.
fn seals_safely_from_several_instances(h: &Hours<'_>) {
    // Produced first: hours without a record in the topic are complete
    // (empty) once their cutoff has passed, and would be sealed as such.
    let events: Vec<EnrichedEvent> = (0..3).flat_map(|i| h.events(i)).collect();
    h.produce(&events);
    let mut sealers: Vec<ChildProcess> = (0..3)
        .map(|n| {
            let log = std::env::temp_dir().join(format!("{}-sealer-{n}.log", h.s.group));
            ChildProcess::spawn(
                "prism-lake",
                h.lake_command(&["seal", "--every", "100ms"]),
                &log,
            )
        })
        .collect();
    let _sink = h.start_sink();
    wait_until("every hour sealed", Duration::from_secs(90), || {
        (0..3).all(|i| h.sealed(i))
    });
    for sealer in &mut sealers {
        assert!(
            sealer.terminate(Duration::from_secs(10)),
            "a sealer did not stop on SIGTERM"
        );
    }
    for i in 0..3 {
        h.assert_sealed(i, 1, PER_HOUR as u64);
    }
    let (seals, code) = h.audited_seals();
    assert_eq!(code, 0, "{seals:?}");
    assert!(seals.iter().all(|s| s["matches"] == true), "{seals:?}");
    let staged = h.lake.names("_tmp/");
    assert!(
        staged.iter().all(|n| !n.starts_with("prism-lake.")),
        "left behind: {staged:?}"
    );
}

#[test]
fn a_local_lake_seals_only_complete_hours() {
    let dir = tempfile::tempdir().unwrap();
    seals_only_complete_hours(&Hours::new(
        Scenario::new("prism-lake"),
        LakeAt::Dir(dir.path()),
    ));
}

#[test]
fn a_local_lake_is_sealed_safely_by_several_instances() {
    let dir = tempfile::tempdir().unwrap();
    seals_safely_from_several_instances(&Hours::new(
        Scenario::new("prism-lake"),
        LakeAt::Dir(dir.path()),
    ));
}

#[test]
fn an_hdfs_lake_seals_only_complete_hours() {
    let s = Scenario::new("prism-lake");
    let root = format!("/lake-{}", s.group);
    let lake = LakeAt::Hdfs {
        hdfs: shared_hdfs(),
        root: &root,
    };
    seals_only_complete_hours(&Hours::new(s, lake));
}

#[test]
fn an_hdfs_lake_is_sealed_safely_by_several_instances() {
    let s = Scenario::new("prism-lake");
    let root = format!("/lake-{}", s.group);
    let lake = LakeAt::Hdfs {
        hdfs: shared_hdfs(),
        root: &root,
    };
    seals_safely_from_several_instances(&Hours::new(s, lake));
}
