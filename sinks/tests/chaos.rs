//! The chaos test: page-shaped load through `prism-server` (each client
//! re-sends the same event id until it gets its 202) while, in turn, both
//! targets fail and come back (the lake is on a real HDFS: its NameNode,
//! later its DataNode, is killed -9 and started again; the search engine is
//! a real OpenSearch node, killed -9 and started again on its data, and
//! later given a write block), every sink worker is killed -9 and
//! restarted, a second worker of each sink joins, is stopped past its
//! session timeout and leaves, the node throttles, fails items and answers
//! slowly (the fault proxy in front of it: a node cannot be made to do
//! these on demand), and the broker is killed and restarted. After a
//! bounded settle time every record in Kafka must be in the lake exactly as
//! often as it is in Kafka, and every event id in the index exactly once.
//!
//! The test is the supervisor too: a worker that exits by itself (as a
//! stalled one must) is started again, and counted.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use prism_sinks::audit::start_of_hour;
use prism_testkit::{Hdfs, HdfsDaemon, Producer, SearchNode, read_all, workspace_bin};
use serde_json::{Value, json};

mod support;

use support::load::Load;
use support::proxy::{Proxy, docs_in};
use support::search::Indices;
use support::{Audit, LakeAt, Scenario, Sink, ids_of, run_audit, stores_hold};

/// How the fault proxy treats `_bulk` requests.
const HEALTHY: u8 = 0;
const ITEMS_429: u8 = 1;
const WHOLE_429: u8 = 2;

const LOAD: Duration = Duration::from_secs(68);
const SETTLE: Duration = Duration::from_secs(90);

/// The workers of one sink: a primary that is killed and restarted, and a
/// secondary that joins, stops and leaves.
struct Workers {
    bin: &'static str,
    env: Vec<(String, String)>,
    primary: Sink,
    secondary: Option<Sink>,
    restarts: usize,
}

impl Workers {
    fn start(s: &Scenario, bin: &'static str, env: Vec<(String, String)>) -> Self {
        let primary = start(s, bin, &env);
        Self {
            bin,
            env,
            primary,
            secondary: None,
            restarts: 0,
        }
    }

    fn kill_and_restart(&mut self, s: &Scenario) {
        self.primary.process.kill();
        self.primary = start(s, self.bin, &self.env);
    }

    fn join(&mut self, s: &Scenario) {
        self.secondary = Some(start(s, self.bin, &self.env));
    }

    fn signal_secondary(&self, signal: &str) {
        if let Some(w) = &self.secondary {
            w.signal(signal);
        }
    }

    fn leave(&mut self) {
        if let Some(mut w) = self.secondary.take() {
            w.process.terminate(Duration::from_secs(15));
        }
    }

    /// Starts again any worker that exited by itself.
    fn supervise(&mut self, s: &Scenario) {
        if !self.primary.process.is_running() {
            eprintln!("chaos: {} exited by itself; starting it again", self.bin);
            self.restarts += 1;
            self.primary = start(s, self.bin, &self.env);
        }
        if let Some(w) = &mut self.secondary
            && !w.process.is_running()
        {
            eprintln!(
                "chaos: a second {} exited by itself; starting it again",
                self.bin
            );
            self.restarts += 1;
            *w = start(s, self.bin, &self.env);
        }
    }
}

/// Sets or lifts `index.blocks.write` on every index of `indices`.
fn write_block(indices: &Indices, on: bool) {
    let answer = indices.call(
        reqwest::Method::PUT,
        &format!("/{}-*/_settings", indices.prefix),
        Some(json!({"index.blocks.write": on})),
    );
    assert_eq!(answer["acknowledged"], true, "write block {on}: {answer}");
}

fn start(s: &Scenario, bin: &str, env: &[(String, String)]) -> Sink {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.start(bin, &env)
}

#[test]
fn under_every_fault_in_turn_each_record_lands_once_in_the_lake_and_in_elasticsearch() {
    let started = Instant::now();
    let wall_start = time::OffsetDateTime::now_utc();
    let s = Scenario::with_own_broker("prism-chaos");
    let fs = Hdfs::start();
    let root = format!("/lake-{}", s.group);
    let lake = LakeAt::Hdfs {
        hdfs: &fs,
        root: &root,
    };
    // A node of its own: the test kills it.
    let node = SearchNode::start();
    let indices = Indices::new(&node.url(), &s.group);
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    let fault_mode = Arc::clone(&mode);
    let fault = move |_: usize, _: &[u8]| match fault_mode.load(Ordering::SeqCst) {
        WHOLE_429 => Some((429, json!({"error": "too many requests"}))),
        _ => None,
    };
    let rewrite_mode = Arc::clone(&mode);
    let rewrite = move |body: &[u8], mut answer: Value| {
        if rewrite_mode.load(Ordering::SeqCst) == ITEMS_429 {
            // Every other item is reported throttled (it was indexed all the
            // same, so its retry meets a 409).
            for i in (0..docs_in(body).len()).step_by(2) {
                answer["items"][i] = json!({"create": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}});
            }
        }
        answer
    };
    let proxy = Proxy::start(&node.url(), Box::new(fault), Some(Box::new(rewrite)));
    let server = Producer::start(
        &workspace_bin("prism-server"),
        &s.kafka.brokers(),
        &s.topic,
        &[("PRISM_DELIVERY_TIMEOUT_MS", "3000")],
    );

    // `PRISM_CHAOS_KAFKA_OPTIONS=debug=cgrp` shows the group protocol in the
    // workers' logs (keep them with `PRISM_TEST_LOGS=dir`).
    let debug = std::env::var("PRISM_CHAOS_KAFKA_OPTIONS").ok();
    let common = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        [
            ("PRISM_STALL_TIMEOUT_S", "30"),
            ("PRISM_RETRY_MAX_MS", "1000"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(debug.iter().flat_map(|d| {
            [
                ("PRISM_KAFKA_OPTIONS".to_owned(), d.clone()),
                ("RUST_LOG".to_owned(), "info,librdkafka=debug".to_owned()),
            ]
        }))
        .collect()
    };
    let target = lake.target();
    let (hdfs_group, es_group) = (format!("{}-hdfs", s.group), format!("{}-es", s.group));
    let mut hdfs = Workers::start(
        &s,
        "prism-hdfs-sink",
        common(&[
            ("PRISM_GROUP", &hdfs_group),
            ("PRISM_HDFS_TARGET", &target),
            ("PRISM_ROTATE_RECORDS", "50"),
            ("PRISM_ROTATE_AGE_MS", "5000"),
            ("PRISM_HDFS_TIMEOUT_MS", "5000"),
        ]),
    );
    let mut es = Workers::start(
        &s,
        "prism-es-sink",
        common(&[
            ("PRISM_GROUP", &es_group),
            ("PRISM_ES_URL", &proxy.url),
            ("PRISM_ES_INDEX_PREFIX", &indices.prefix),
            ("PRISM_ES_REPLICAS", "0"),
            ("PRISM_ES_BATCH_DOCS", "200"),
            ("PRISM_ES_BATCH_AGE_MS", "300"),
            ("PRISM_ES_TIMEOUT_MS", "5000"),
        ]),
    );

    let load = Load::start(&server.url, 3, LOAD + Duration::from_secs(30));
    {
        let t0 = Instant::now();
        let at = |secs: u64, what: &str| {
            let when = t0 + Duration::from_secs(secs);
            while Instant::now() < when {
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("chaos: t={secs:>2}s {what}");
        };

        at(5, "kill -9 the NameNode and the OpenSearch node");
        fs.kill(HdfsDaemon::NameNode);
        node.kill();
        at(
            10,
            "both start again (the NameNode in safe mode until the DataNode reports)",
        );
        node.spawn();
        fs.restart(HdfsDaemon::NameNode);
        hdfs.supervise(&s);
        es.supervise(&s);

        at(13, "kill -9 both sinks, start them again");
        hdfs.kill_and_restart(&s);
        es.kill_and_restart(&s);

        at(18, "a second worker of each sink joins");
        hdfs.join(&s);
        es.join(&s);

        at(
            24,
            "the proxy throttles every other item; kill -9 the DataNode",
        );
        mode.store(ITEMS_429, Ordering::SeqCst);
        fs.kill(HdfsDaemon::DataNode);
        at(
            28,
            "the proxy answers slowly (1.5 s); the DataNode starts again",
        );
        mode.store(HEALTHY, Ordering::SeqCst);
        fs.restart(HdfsDaemon::DataNode);
        proxy.delay_ms.store(1500, Ordering::SeqCst);
        at(32, "the proxy throttles whole requests");
        proxy.delay_ms.store(0, Ordering::SeqCst);
        mode.store(WHOLE_429, Ordering::SeqCst);
        at(
            35,
            "a write block on the indices (once the node is up); SIGSTOP the second workers",
        );
        mode.store(HEALTHY, Ordering::SeqCst);
        node.wait_ready(Duration::from_secs(120));
        write_block(&indices, true);
        hdfs.signal_secondary("-STOP");
        es.signal_secondary("-STOP");
        at(44, "the write block is lifted; SIGCONT the second workers");
        write_block(&indices, false);
        hdfs.signal_secondary("-CONT");
        es.signal_secondary("-CONT");

        at(47, "kill the broker");
        s.kafka.stop();
        at(52, "start the broker again");
        s.kafka.restart();
        hdfs.supervise(&s);
        es.supervise(&s);

        // At once, while the groups are still forming again after the
        // restart: a member may leave at any moment.
        at(53, "the second workers leave");
        hdfs.leave();
        es.leave();
        at(63, "kill -9 both sinks, start them again");
        hdfs.kill_and_restart(&s);
        es.kill_and_restart(&s);
        at(LOAD.as_secs(), "the load stops");
    }
    let acked = load.stop().acked;

    // Settle: until every acknowledged id is in both stores, or the bound.
    let load_ended = Instant::now();
    let deadline = load_ended + SETTLE;
    loop {
        hdfs.supervise(&s);
        es.supervise(&s);
        if stores_hold(lake, Some(&indices), &acked) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let settled_after = load_ended.elapsed();
    // A duplicate may still be on its way: give it a moment to show.
    std::thread::sleep(Duration::from_secs(3));

    let records = read_all(&s.kafka.brokers(), &s.topic, Duration::from_secs(60));
    let in_kafka: HashSet<String> = ids_of(&records).into_iter().collect();
    let acked_not_in_kafka = acked.iter().filter(|id| !in_kafka.contains(*id)).count();

    // The stores against the topic, hour by hour, as an operator would
    // check them: prism-audit over every hour of the run.
    let from = start_of_hour(wall_start);
    let to = start_of_hour(time::OffsetDateTime::now_utc()) + time::Duration::HOUR;
    let (table, _) = run_audit(&s, lake, Some(&indices), from, to, &[]);
    let audit = Audit::run(&s, lake, Some(&indices), from, to);
    eprintln!(
        "chaos: {} acknowledged, {} records in Kafka ({} ids); restarts by the supervisor: \
         hdfs {}, es {}; settled {:.1} s after the load; {:.0} s in all\n{table}",
        acked.len(),
        records.len(),
        in_kafka.len(),
        hdfs.restarts,
        es.restarts,
        settled_after.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    if let Some(dir) = std::env::var_os("PRISM_TEST_LOGS") {
        for (n, log) in s.kafka.logs().iter().enumerate() {
            let to = std::path::Path::new(&dir).join(format!("kafka-{n}.log"));
            let _ = std::fs::copy(log, to);
        }
    }
    assert_eq!(
        audit.total("kafka", "records"),
        records.len() as u64,
        "every record in Kafka falls in an audited hour"
    );
    let differences = audit.differences(&["lake", "elasticsearch"]);
    assert!(
        differences.iter().all(|(_, n)| *n == 0) && acked_not_in_kafka == 0,
        "{differences:?}, acknowledged but not in Kafka: {acked_not_in_kafka}"
    );
}
