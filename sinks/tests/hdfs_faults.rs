//! `prism-hdfs-sink` under faults injected for real: a lake root that
//! vanishes, workers that join, leave and are stopped past their session,
//! final files left empty or cut by a crash, old history, a broker that is
//! gone at shutdown, and a target call that hangs.
//!
//! Each scenario can be run against another build of the sink with
//! `PRISM_TEST_SINK_BIN_DIR` (how each was first seen failing).

use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;
use prism_sinks::hdfs::layout::{Bucket, file_name, parse_file_name};

mod support;

use support::lake::{Lake, Vanished};
use support::{Sink, assert_exactly_once, now_events, wait_until};

/// Waits until the worker's latest assignment (from its output) holds `n`
/// partitions.
fn wait_for_assignment(sink: &Sink, n: usize, timeout: Duration) {
    let held = || {
        let output = plain(&sink.process.output());
        let line = output
            .lines()
            .rfind(|l| l.contains("partitions assigned partitions=["))?
            .to_owned();
        let list = line.rsplit_once('[')?.1.split_once(']')?.0.to_owned();
        Some(list.split(',').filter(|p| !p.trim().is_empty()).count())
    };
    wait_until(&format!("an assignment of {n} partitions"), timeout, || {
        held() == Some(n)
    });
}

/// Text without ANSI colour sequences.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn a_lake_root_that_vanishes_during_rotations_duplicates_nothing() {
    let s = Lake::new();
    let _sink = s.start_sink(&[("PRISM_ROTATE_RECORDS", "200")]);
    let sent = now_events(8_000);
    std::thread::scope(|scope| {
        // About 1 000 events a second for 8 seconds.
        let load = scope.spawn(|| s.produce_steadily(&sent, 100, Duration::from_millis(100)));
        std::thread::sleep(Duration::from_secs(2));
        let gone = Vanished::new(s.root());
        std::thread::sleep(Duration::from_secs(4));
        drop(gone);
        load.join().unwrap();
    });
    s.assert_settles_exactly_once(&sent, Duration::from_secs(60));
}

#[test]
fn a_partition_assigned_during_an_outage_stays_paused_and_one_handed_back_resumes() {
    let s = Lake::new();
    let first = s.start_sink(&[]);
    let mut second = s.start_sink(&[]);
    wait_for_assignment(&second, 1, Duration::from_secs(30));
    let mut sent = now_events(100);
    s.produce_to_both(&sent);
    assert_eq!(s.wait_for_events(100, Duration::from_secs(30)), 100);

    // The target fails: both workers pause. The second leaves, and the
    // first is given its partition in the middle of the outage.
    let gone = Vanished::new(s.root());
    let more = now_events(100);
    s.produce_to_both(&more);
    sent.extend(more);
    wait_until("both workers to pause", Duration::from_secs(30), || {
        first.metric("prism_sink_target_up") == 0.0 && second.metric("prism_sink_target_up") == 0.0
    });
    assert!(second.process.terminate(Duration::from_secs(15)));
    wait_for_assignment(&first, 2, Duration::from_secs(30));
    let consumed = first.metric("prism_sink_records_consumed_total");
    let during = now_events(2_000);
    s.produce_to_both(&during);
    sent.extend(during);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        first.metric("prism_sink_records_consumed_total") - consumed,
        0.0,
        "a partition assigned during the outage is paused, not read into memory"
    );
    drop(gone);
    s.assert_settles_exactly_once(&sent, Duration::from_secs(60));

    // Paused again, a partition is handed to a newcomer and, once the
    // target is back and the newcomer leaves, handed back.
    let gone = Vanished::new(s.root());
    let more = now_events(100);
    s.produce_to_both(&more);
    sent.extend(more);
    wait_until("the worker to pause", Duration::from_secs(30), || {
        first.metric("prism_sink_target_up") == 0.0
    });
    let mut third = s.start_sink(&[]);
    wait_for_assignment(&third, 1, Duration::from_secs(30));
    drop(gone);
    wait_until("the target to be back", Duration::from_secs(30), || {
        first.metric("prism_sink_target_up") == 1.0
    });
    assert!(third.process.terminate(Duration::from_secs(15)));
    let after = now_events(200);
    s.produce_to_both(&after);
    sent.extend(after);
    s.assert_settles_exactly_once(&sent, Duration::from_secs(60));
}

#[test]
fn a_worker_stopped_past_its_session_drops_its_open_file_when_it_wakes() {
    let s = Lake::new();
    let stale = s.start_sink(&[
        ("PRISM_ROTATE_AGE_MS", "8000"),
        ("PRISM_ROTATE_RECORDS", "100000"),
    ]);
    let mut sent = now_events(100);
    s.produce_to_both(&sent);
    assert!(stale.wait_consumed(100, Duration::from_secs(30)));
    // Its files are open, not yet renamed: stop it past its session. The
    // new owner's files then cover longer ranges than the stale ones.
    stale.signal("-STOP");
    let more = now_events(100);
    s.produce_to_both(&more);
    sent.extend(more);
    let _owner = s.start_sink(&[]);
    assert_eq!(s.wait_for_events(200, Duration::from_secs(60)), 200);
    stale.signal("-CONT");
    wait_until("the stale worker to wake", Duration::from_secs(30), || {
        stale.process.output().contains("revoked")
    });
    s.assert_settles_exactly_once(&sent, Duration::from_secs(10));
}

#[test]
fn an_empty_or_cut_final_file_left_by_a_crash_is_written_again() {
    let s = Lake::new();
    let mut sink = s.start_sink(&[]);
    // Both partitions get records in both rounds: a crash can only cut a
    // file whose records are in the topic, and recovery runs when the first
    // of them is read again (a partition the producer's sticky partitioner
    // skipped would keep a planted file no crash could have left).
    let mut sent = now_events(100);
    s.produce_to_both(&sent);
    assert_eq!(s.wait_for_events(100, Duration::from_secs(30)), 100);
    assert!(sink.process.terminate(Duration::from_secs(15)));

    // What an interrupted commit leaves: the next range's final name, empty
    // (an HDFS rename cut short) or with half a line (a direct write).
    let dir = s
        .root()
        .join(Bucket::of(time::OffsetDateTime::now_utc()).dir(&s.topic));
    std::fs::create_dir_all(&dir).unwrap();
    for (partition, body) in [(0, &b""[..]), (1, &b"{\"schema_version\":1,\"event_"[..])] {
        let next = s
            .files()
            .iter()
            .filter_map(|(path, _)| parse_file_name(&s.topic, path.rsplit('/').next()?))
            .filter(|(p, _, _)| *p == partition)
            .map(|(_, _, last)| last + 1)
            .max()
            .unwrap_or(0);
        let name = file_name(&s.topic, partition, next, next + 59);
        std::fs::write(dir.join(name), body).unwrap();
    }
    let more = now_events(200);
    s.produce_to_both(&more);
    sent.extend(more);
    let _sink = s.start_sink(&[]);
    s.assert_settles_exactly_once(&sent, Duration::from_secs(60));
}

#[test]
fn recovery_ignores_files_older_than_the_records_it_reads_again() {
    let s = Lake::new();
    // Years-old history of an earlier topic of the same name, with offsets
    // far beyond today's (a topic deleted and created again).
    let old = s
        .root()
        .join(format!("topics/{}/dt=2024-01-01/hour=00", s.topic));
    std::fs::create_dir_all(&old).unwrap();
    for p in 0..2 {
        let line = serde_json::to_vec(&now_events(1)[0]).unwrap();
        std::fs::write(
            old.join(file_name(&s.topic, p, 999_999_000, 999_999_999)),
            [line, b"\n".to_vec()].concat(),
        )
        .unwrap();
    }
    let _sink = s.start_sink(&[]);
    let sent = now_events(100);
    s.produce(&sent);
    s.wait_for_events(102, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let today: Vec<EnrichedEvent> = s
        .files()
        .into_iter()
        .filter(|(path, _)| !path.contains("/dt=2024-01-01/"))
        .flat_map(|(_, events)| events)
        .collect();
    assert_exactly_once(&sent, &today);
}

#[test]
fn a_stop_with_the_broker_gone_takes_at_most_the_shutdown_budget() {
    let s = Lake::with_own_broker();
    let mut sink = s.start_sink(&[]);
    let sent = now_events(50);
    s.produce(&sent);
    assert_eq!(s.wait_for_events(50, Duration::from_secs(30)), 50);
    s.s.kafka.stop();
    std::thread::sleep(Duration::from_secs(1));
    let asked = Instant::now();
    let clean = sink.process.terminate(Duration::from_secs(20));
    let took = asked.elapsed();
    assert!(
        clean && took < Duration::from_secs(12),
        "stopped cleanly: {clean}, after {took:?} (budget 10 s)"
    );
}

/// Readiness covers both ends of a sink: with no broker to read from it
/// loads nothing, and says so; once a broker answers again it is ready and
/// loads what came meanwhile.
#[test]
fn readiness_is_503_while_the_broker_is_down_and_200_once_it_is_back() {
    let s = Lake::with_own_broker();
    let sink = s.start_sink(&[]);
    s.produce(&now_events(20));
    assert_eq!(s.wait_for_events(20, Duration::from_secs(30)), 20);
    assert_eq!(sink.readyz(), 200);
    assert_eq!(sink.metric("prism_sink_kafka_up"), 1.0);

    s.s.kafka.stop();
    wait_until(
        "readyz 503 with the broker down",
        Duration::from_secs(30),
        || sink.readyz() == 503,
    );
    assert_eq!(sink.metric("prism_sink_kafka_up"), 0.0);

    s.s.kafka.restart();
    wait_until(
        "readyz 200 with the broker back",
        Duration::from_secs(30),
        || sink.readyz() == 200,
    );
    s.produce(&now_events(20));
    assert_eq!(s.wait_for_events(40, Duration::from_secs(60)), 40);
}

#[test]
fn a_target_call_that_hangs_counts_as_a_failure_and_loading_resumes() {
    let s = Lake::new();
    let sink = s.start_sink(&[("PRISM_HDFS_TIMEOUT_MS", "1000")]);
    // Both partitions get records in both rounds: a crash can only cut a
    // file whose records are in the topic, and recovery runs when the first
    // of them is read again (a partition the producer's sticky partitioner
    // skipped would keep a planted file no crash could have left).
    let mut sent = now_events(100);
    s.produce_to_both(&sent);
    assert_eq!(s.wait_for_events(100, Duration::from_secs(30)), 100);

    // A FIFO in place of each partition's claim: opening it blocks until a
    // writer comes, like a call to a namenode that never answers.
    let fifos: Vec<PathBuf> = (0..2)
        .map(|p| s.root().join(format!("_claims/{}+{p}", s.topic)))
        .collect();
    for fifo in &fifos {
        std::fs::remove_file(fifo).unwrap();
        let made = std::process::Command::new("mkfifo").arg(fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", fifo.display());
    }
    let more = now_events(100);
    s.produce(&more);
    sent.extend(more);
    wait_until(
        "the hung call to fail the target",
        Duration::from_secs(30),
        || sink.metric("prism_sink_target_up") == 0.0,
    );
    assert_eq!(sink.readyz(), 503);

    // Take the FIFOs away, then release the calls still blocked on them.
    for (i, fifo) in fifos.iter().enumerate() {
        let aside = s.root().join(format!("hung-{i}"));
        std::fs::rename(fifo, &aside).unwrap();
        release_fifo(&aside);
    }
    s.assert_settles_exactly_once(&sent, Duration::from_secs(60));
    assert_eq!(sink.readyz(), 200);
}

/// Opens a FIFO for writing without blocking and closes it: every reader
/// blocked in `open` gets an empty read.
fn release_fifo(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(0o4000) // O_NONBLOCK
        .open(path);
}
