//! `prism-lake seal` and `status` against the real programs: Apache Kafka,
//! `prism-hdfs-sink` writing a lake on a local directory or on a real HDFS
//! (`scripts/engine hdfs`, read back with Hadoop's own shell), and
//! `prism-audit`, over three past hours of events ([`support::sealed`]).

use std::time::Duration;

use prism_event::EnrichedEvent;
use prism_testkit::{ChildProcess, produce};
use serde_json::Value;

mod support;

use support::lake_at::group_caught_up;
use support::sealed::{Hours, PER_HOUR, shared_hdfs};
use support::{LakeAt, Scenario, event, wait_until};

/// A lagging sink keeps its hours open while the finished ones are
/// sealed; caught up, they are sealed too; a late record re-issues its
/// hour's manifest; a lake that lost events is never sealed.
fn seals_only_complete_hours(h: &Hours<'_>) {
    let [first, second, third] = [0, 1, 2].map(|i| h.events(i));
    let (early, late) = third.split_at(PER_HOUR / 2);
    h.produce(&[&first[..], &second[..], early].concat());
    let sink = h.start_sink();
    h.wait_caught_up();

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
    // The hour before the topic's first record proves nothing: open, and
    // no directory is made for it.
    let before = h.hours[0] - time::Duration::HOUR;
    let status = h.status_of(before);
    assert_eq!(
        (status["state"].as_str(), status["note"].as_str()),
        (Some("open"), Some("before the topic's first record")),
        "{status:#}"
    );
    let dir = prism_sinks::hdfs::layout::Bucket::of(before).dir(&h.s.topic);
    assert!(h.lake.names(&dir).is_empty(), "{dir} was made");

    sink.signal("-CONT");
    h.wait_caught_up();
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

/// Three `prism-lake seal --compact --every 100ms` loops race each other
/// while the sink loads: every hour ends up sealed once (version 1) and
/// compacted once (version 2), matching, every event in it once, and no
/// temporary file is left behind.
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
                h.lake_command(&["seal", "--compact", "--every", "100ms"]),
                &log,
            )
        })
        .collect();
    let _sink = h.start_sink();
    wait_until("every hour compacted", Duration::from_secs(90), || {
        (0..3).all(|i| h.manifest(i).is_some_and(|m| m["version"] == 2))
    });
    for sealer in &mut sealers {
        assert!(
            sealer.terminate(Duration::from_secs(10)),
            "a sealer did not stop on SIGTERM"
        );
    }
    for i in 0..3 {
        h.assert_sealed(i, 2, PER_HOUR as u64);
        let files = h.data_files(i);
        assert!(
            files.iter().all(|f| f.ends_with(".parquet")),
            "hour {i}: {files:?}"
        );
        let m = h.manifest(i).unwrap();
        let versions: Vec<u64> = m["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["version"].as_u64().unwrap())
            .collect();
        assert_eq!(versions, [1, 2], "issued once each: {m:#}");
    }
    h.assert_audit_exact();
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
        3,
    ));
}

#[test]
fn a_local_lake_is_sealed_safely_by_several_instances() {
    let dir = tempfile::tempdir().unwrap();
    seals_safely_from_several_instances(&Hours::new(
        Scenario::new("prism-lake"),
        LakeAt::Dir(dir.path()),
        3,
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
    seals_only_complete_hours(&Hours::new(s, lake, 3));
}

#[test]
fn an_hdfs_lake_is_sealed_safely_by_several_instances() {
    let s = Scenario::new("prism-lake");
    let root = format!("/lake-{}", s.group);
    let lake = LakeAt::Hdfs {
        hdfs: shared_hdfs(),
        root: &root,
    };
    seals_safely_from_several_instances(&Hours::new(s, lake, 3));
}
