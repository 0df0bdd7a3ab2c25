//! `prism-hdfs-sink` on a real HDFS: Apache Hadoop's NameNode and DataNode
//! (`scripts/engine hdfs`), each a process of its own that a test kills,
//! restarts, stops or puts in safe mode; the lake read back with Hadoop's
//! own shell (`scripts/hdfs dfs`), as an analyst's job would see it.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use prism_testkit::{Hdfs, HdfsDaemon};

mod support;

use support::hdfs_lake::HdfsLake;
use support::{Sink, get, metric, now_events, wait_until};

/// One HDFS at a time: each test runs its own two JVMs, and the machine
/// has two cores.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static HDFS: Mutex<()> = Mutex::new(());
    HDFS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until the sink's `/readyz` answers `status`.
fn wait_for_readyz(sink: &Sink, status: u16, what: &str) {
    wait_until(what, Duration::from_secs(60), || {
        get(&format!("{}/readyz", sink.metrics)).0 == status
    });
}

/// On a fresh lake and sink: loads 300 events, breaks the target with
/// `fault`, produces 300 more (which cannot be written: the sink must say
/// so on `/readyz`), mends it with `mend`, and asserts that all of it lands
/// exactly once.
fn load_through(fault: impl FnOnce(&HdfsLake), mend: impl FnOnce(&HdfsLake)) {
    let _one = one_at_a_time();
    let lake = HdfsLake::new();
    let sink = lake.start_sink(&[("PRISM_ROTATE_RECORDS", "100")]);
    let mut sent = now_events(300);
    lake.s.produce(&sent);
    lake.assert_settles_exactly_once(&sent, Duration::from_secs(120));
    fault(&lake);
    let more = now_events(300);
    lake.s.produce(&more);
    sent.extend(more);
    wait_for_readyz(&sink, 503, "/readyz 503 while the target fails");
    assert_eq!(metric(&sink.metrics, "prism_sink_target_up"), 0.0);
    mend(&lake);
    lake.assert_settles_exactly_once(&sent, Duration::from_secs(180));
    wait_for_readyz(&sink, 200, "/readyz 200 once the target is back");
}

/// Every event lands once, as Hadoop's shell and prism-audit (over
/// `hdfs://`) read the lake, and each final file appears in one NameNode
/// call, a rename from `_tmp/`: never created first (an empty final file,
/// seen by a reader or left by a crash) nor deleted first (a missing one).
#[test]
fn every_event_lands_once_each_file_published_by_one_rename() {
    let _one = one_at_a_time();
    let lake = HdfsLake::new();
    let _sink = lake.start_sink(&[("PRISM_ROTATE_RECORDS", "100")]);
    let sent = now_events(1_000);
    lake.s.produce(&sent);
    lake.assert_settles_exactly_once(&sent, Duration::from_secs(120));
    assert_eq!(
        lake.staged_files(),
        Vec::<String>::new(),
        "files left staged"
    );

    let audit = lake.audit();
    assert_eq!(audit.total("lake", "records"), 1_000);
    assert_eq!(audit.total("kafka", "records"), 1_000);
    assert!(
        audit.differences(&["lake"]).iter().all(|(_, n)| *n == 0),
        "{:?}",
        audit.differences(&["lake"])
    );

    let finals = format!("{}/topics/", lake.root);
    let calls: Vec<String> = lake
        .hdfs
        .audit()
        .into_iter()
        .filter(|l| l.contains(&format!("src={finals}")) || l.contains(&format!("dst={finals}")))
        .filter(|l| {
            !l.contains("cmd=getfileinfo")
                && !l.contains("cmd=listStatus")
                && !l.contains("cmd=open")
        })
        .collect();
    let renames = calls
        .iter()
        .filter(|l| l.contains("cmd=rename") && l.contains(&format!("src={}/_tmp/", lake.root)))
        .count();
    let others: Vec<&String> = calls
        .iter()
        .filter(|l| !l.contains("cmd=rename") && !l.contains("cmd=mkdirs"))
        .collect();
    assert!(
        others.is_empty(),
        "final paths touched by other calls than a rename:\n{others:#?}"
    );
    assert!(
        renames >= 1_000 / 100,
        "{renames} renames for 1 000 events in files of 100:\n{calls:#?}"
    );
}

/// The sink killed -9 four times while it writes (each time once it has
/// published a file and more records are arriving): what a dead writer
/// left under `_tmp` (a file under construction, its lease held by a client
/// that is gone) does not block the next owner, and nothing is lost or
/// written twice.
#[test]
fn a_sink_killed_9_mid_stream_again_and_again_loses_and_duplicates_nothing() {
    let _one = one_at_a_time();
    let lake = HdfsLake::new();
    let env = [
        ("PRISM_ROTATE_RECORDS", "40"),
        ("PRISM_ROTATE_AGE_MS", "300"),
    ];
    let mut sent = Vec::new();
    for _ in 0..4 {
        let round = now_events(300);
        let mut sink = lake.start_sink(&env);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                lake.s
                    .produce_steadily(&round, 30, Duration::from_millis(300))
            });
            wait_until("a file published", Duration::from_secs(90), || {
                metric(&sink.metrics, "prism_sink_records_written_total") >= 40.0
            });
            sink.process.kill();
        });
        sent.extend(round);
    }
    let _sink = lake.start_sink(&env);
    lake.assert_settles_exactly_once(&sent, Duration::from_secs(180));
    assert_eq!(
        lake.staged_files(),
        Vec::<String>::new(),
        "stale files under _tmp"
    );
}

/// The NameNode killed -9 and started again: it comes back in safe mode
/// (until the DataNode reports its blocks), writes are refused until then,
/// and the sink resumes by itself.
#[test]
fn a_namenode_killed_and_restarted_pauses_loading_and_loses_nothing() {
    load_through(
        |l| l.hdfs.kill(HdfsDaemon::NameNode),
        |l| l.hdfs.restart(HdfsDaemon::NameNode),
    );
}

/// An operator's `dfsadmin -safemode enter`: the file system is read-only
/// until `-safemode leave`.
#[test]
fn safe_mode_entered_by_an_operator_pauses_loading_until_it_is_left() {
    let admin = |l: &HdfsLake, action: &str| {
        let out = l.hdfs.dfsadmin(&["-safemode", action]);
        assert!(out.status.success(), "dfsadmin -safemode {action}: {out:?}");
    };
    load_through(|l| admin(l, "enter"), |l| admin(l, "leave"));
}

/// The DataNode killed -9 while files are being written (the write
/// pipeline breaks mid-block) and started again on its blocks: nothing
/// half-written is trusted.
#[test]
fn a_datanode_killed_mid_write_and_restarted_loses_and_duplicates_nothing() {
    let _one = one_at_a_time();
    let lake = HdfsLake::new();
    let sink = lake.start_sink(&[("PRISM_ROTATE_RECORDS", "20")]);
    let sent = now_events(1_000);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            lake.s
                .produce_steadily(&sent, 20, Duration::from_millis(100))
        });
        wait_until("files being written", Duration::from_secs(60), || {
            metric(&sink.metrics, "prism_sink_records_written_total") >= 100.0
        });
        lake.hdfs.kill(HdfsDaemon::DataNode);
        wait_for_readyz(&sink, 503, "/readyz 503 without a datanode");
        lake.hdfs.restart(HdfsDaemon::DataNode);
    });
    lake.assert_settles_exactly_once(&sent, Duration::from_secs(180));
    wait_for_readyz(&sink, 200, "/readyz 200 once the target is back");
}

/// A NameNode that hangs (SIGSTOP: its port open, no answers) past the
/// sink's target timeout is a target failure the sink reports and waits
/// out, not a hang.
#[test]
fn a_hung_namenode_is_a_target_failure_not_a_hang() {
    load_through(
        |l| l.hdfs.signal(HdfsDaemon::NameNode, "-STOP"),
        |l| l.hdfs.signal(HdfsDaemon::NameNode, "-CONT"),
    );
}

/// A worker stopped past its session (SIGSTOP) with files open wakes after
/// the new owner has written the same records: its claim on the real HDFS
/// is no longer its own, so it drops its files instead of publishing them.
#[test]
fn a_worker_stopped_past_its_session_is_fenced_by_its_claim_when_it_wakes() {
    let _one = one_at_a_time();
    let lake = HdfsLake::new();
    let stale = lake.start_sink(&[
        ("PRISM_ROTATE_AGE_MS", "8000"),
        ("PRISM_ROTATE_RECORDS", "100000"),
    ]);
    let mut sent = now_events(100);
    lake.s.produce_to_both(&sent);
    assert!(stale.wait_consumed(100, Duration::from_secs(60)));
    // Its files are open, not yet renamed: stop it past its session.
    stale.signal("-STOP");
    let more = now_events(100);
    lake.s.produce_to_both(&more);
    sent.extend(more);
    let _owner = lake.start_sink(&[]);
    lake.assert_settles_exactly_once(&sent, Duration::from_secs(120));
    stale.signal("-CONT");
    wait_until(
        "the stale worker to be fenced",
        Duration::from_secs(60),
        || {
            metric(&stale.metrics, "prism_sink_partitions_fenced_total") > 0.0
                || stale.process.output().contains("revoked")
        },
    );
    lake.assert_settles_exactly_once(&sent, Duration::from_secs(30));
}

/// A file an operator writes with Hadoop's shell (`scripts/hdfs dfs -put`)
/// gets one replica, as the engine has one DataNode: with Hadoop's default
/// of three, every such block would stay under-replicated.
#[test]
fn a_file_put_with_hadoop_s_shell_has_one_replica() {
    let _one = one_at_a_time();
    let hdfs = Hdfs::start();
    let local = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(local.path(), "one line\n").unwrap();
    let put = hdfs.dfs(&["-put", local.path().to_str().unwrap(), "/put.txt"]);
    assert!(put.status.success(), "dfs -put: {put:?}");
    let stat = hdfs.dfs(&["-stat", "%r", "/put.txt"]);
    assert!(stat.status.success(), "dfs -stat: {stat:?}");
    assert_eq!(String::from_utf8_lossy(&stat.stdout).trim(), "1");
}
