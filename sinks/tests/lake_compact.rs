//! `prism-lake compact` against the real programs, on a local directory
//! and on a real HDFS: sealed hours become one Parquet file per partition;
//! killed -9 at each step, it leaves one set of files trusted and finishes
//! on the next run; and `prism-hdfs-sink`, killed -9 and replayed from the
//! earliest offsets, writes nothing again over compacted hours.

use std::time::{Duration, Instant};

use prism_testkit::{ChildProcess, kafka_tool};

mod support;

use support::cluster::reset_offsets;
use support::lake_at::group_caught_up;
use support::sealed::{Hours, PER_HOUR, shared_hdfs};
use support::{LakeAt, Scenario, wait_until};

/// Where a run can be stopped (`PRISM_LAKE_PAUSE_AT`), in order.
const STEPS: [&str; 4] = [
    "parquet-staged",
    "parquet-placed",
    "manifest-versioned",
    "manifest-issued",
];

/// `YYYY-MM-DDTHH`, as `--hour` takes it.
fn hour_arg(t: time::OffsetDateTime) -> String {
    prism_sinks::audit::report::hour_name(t)
}

/// Starts `prism-lake ARGS` paused at `step` (it stops itself there),
/// waits until it is stopped, and kills it -9.
fn kill_at(h: &Hours<'_>, args: &[&str], step: &str) {
    let mut command = h.lake_command(args);
    command.env("PRISM_LAKE_PAUSE_AT", step);
    let log = std::env::temp_dir().join(format!("{}-compact-{step}.log", h.s.group));
    let mut run = ChildProcess::spawn("prism-lake", command, &log);
    let pid = run.pid().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // pid (comm) STATE ...: T once it has stopped itself.
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('T'))
        {
            break;
        }
        assert!(
            run.is_running(),
            "it ended before {step}:\n{}",
            run.output()
        );
        assert!(
            Instant::now() < deadline,
            "it never reached {step}:\n{}",
            run.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    run.kill();
}

/// Asserts hour `i` is compacted: only Parquet files, version 2, issued
/// once by the seal and once by the compaction.
fn assert_compacted(h: &Hours<'_>, i: usize) {
    h.assert_sealed(i, 2, PER_HOUR as u64);
    let files = h.data_files(i);
    assert!(
        !files.is_empty() && files.iter().all(|f| f.ends_with(".parquet")),
        "hour {i}: {files:?}"
    );
    let m = h.manifest(i).unwrap();
    assert_eq!(m["history"][1]["version"], 2, "{m:#}");
    assert!(m["history"][2].is_null(), "{m:#}");
}

/// Waits until the group has no member left (a worker killed -9 stays a
/// member until its session times out); then its offsets can be reset.
fn wait_until_group_empty(h: &Hours<'_>) {
    wait_until("the group to be empty", Duration::from_secs(60), || {
        let out = kafka_tool(
            "consumer-groups",
            &[
                "--bootstrap-server",
                &h.s.kafka.brokers(),
                "--describe",
                "--group",
                &h.s.group,
                "--state",
            ],
        );
        out.lines()
            .any(|l| l.split_whitespace().any(|w| w == "Empty"))
    });
}

fn compaction_survives_crashes_and_replays(h: &Hours<'_>) {
    let events: Vec<_> = (0..STEPS.len()).flat_map(|i| h.events(i)).collect();
    h.produce(&events);
    let mut sink = h.start_sink();
    h.wait_caught_up();
    let (out, code) = h.seal();
    assert_eq!(code, 0, "{out}");

    for (i, step) in STEPS.iter().enumerate() {
        let hour = hour_arg(h.hours[i]);
        kill_at(h, &["compact", "--hour", &hour], step);
        // Whatever the crash left on disk, the trusted files hold each
        // event once, and the seal tools leave the hour alone.
        h.assert_audit_exact();
        let (out, code) = h.seal();
        assert_eq!(code, 0, "after a crash at {step}: {out}");
        assert!(!out.contains("re-issued"), "after a crash at {step}: {out}");

        let (out, code) = h.run(&["compact", "--hour", &hour], &[]);
        assert_eq!(code, 0, "after a crash at {step}: {out}");
        assert_compacted(h, i);
        h.assert_audit_exact();
    }

    // The sink dies and its group goes back to the beginning: it reads
    // everything again and writes none of it twice.
    let before: Vec<Vec<String>> = (0..STEPS.len()).map(|i| h.data_files(i)).collect();
    sink.process.kill();
    wait_until_group_empty(h);
    reset_offsets(&h.s, &h.s.group, &["--to-earliest"]);
    assert!(!group_caught_up(&h.s, &h.s.group));
    let _sink = h.start_sink();
    h.wait_caught_up();
    let after: Vec<Vec<String>> = (0..STEPS.len()).map(|i| h.data_files(i)).collect();
    assert_eq!(after, before, "files written again after the replay");
    h.assert_audit_exact();
    // (The quiet hour after them may be sealed now, with no event.)
    let (out, code) = h.run(&["seal", "--compact"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("compacted now") && !out.contains("re-issued"),
        "nothing to compact or re-issue: {out}"
    );
}

#[test]
fn a_local_lake_compacts_through_crashes_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    compaction_survives_crashes_and_replays(&Hours::new(
        Scenario::new("prism-lake"),
        LakeAt::Dir(dir.path()),
        STEPS.len() as i64,
    ));
}

#[test]
fn an_hdfs_lake_compacts_through_crashes_and_replays() {
    let s = Scenario::new("prism-lake");
    let root = format!("/lake-{}", s.group);
    let lake = LakeAt::Hdfs {
        hdfs: shared_hdfs(),
        root: &root,
    };
    compaction_survives_crashes_and_replays(&Hours::new(s, lake, STEPS.len() as i64));
}
