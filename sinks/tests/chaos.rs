//! The chaos test: page-shaped load through `prism-server` (each client
//! re-sends the same event id until it gets its 202) while, in turn, both
//! targets fail and come back, every sink worker is killed -9 and
//! restarted, a second worker of each sink joins, is stopped past its
//! session timeout and leaves, Elasticsearch throttles, fails items and
//! answers slowly, and the broker is killed and restarted. After a bounded
//! settle time every record in Kafka must be in the lake exactly as often
//! as it is in Kafka, and every event id in Elasticsearch exactly once.
//!
//! The test is the supervisor too: a worker that exits by itself (as a
//! stalled one must) is started again, and counted.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;
use prism_sinks::audit::start_of_hour;
use prism_testkit::{Osmem, Producer, read_all, workspace_bin};
use serde_json::{Value, json};

mod support;

use support::lake::{Vanished, files};
use support::proxy::{Proxy, docs_in};
use support::search::doc_ids;
use support::{Scenario, Sink, run_audit};

/// How the fault proxy treats `_bulk` requests.
const HEALTHY: u8 = 0;
const DOWN_503: u8 = 1;
const ITEMS_429: u8 = 2;
const WHOLE_429: u8 = 3;

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

fn start(s: &Scenario, bin: &str, env: &[(String, String)]) -> Sink {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    s.start(bin, &env)
}

/// One browser-like client: a new event, sent until it is acknowledged.
fn client(url: &str, n: usize, stop: &AtomicBool, acked: &Mutex<Vec<String>>) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let colors = [
        "red", "orange", "yellow", "green", "blue", "indigo", "violet",
    ];
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let give_up = Instant::now() + LOAD + Duration::from_secs(30);
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let id = uuid::Uuid::now_v7().to_string();
        let body = json!({
            "event_id": id, "name": format!("chaos {n}-{i}"), "color": colors[i % 7],
            "client_ts": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap(),
            "navigator": {"user_agent": ua, "language": "en-US", "timezone": "UTC"}
        });
        while Instant::now() < give_up {
            let answer = http
                .post(format!("{url}/api/v1/events"))
                .header("user-agent", ua)
                .json(&body)
                .send();
            if answer.is_ok_and(|r| r.status() == 202) {
                acked.lock().unwrap().push(id.clone());
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(40));
    }
}

fn event_ids(events: impl IntoIterator<Item = EnrichedEvent>) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for e in events {
        *ids.entry(e.event_id.to_string()).or_insert(0) += 1;
    }
    ids
}

#[test]
fn under_every_fault_in_turn_each_record_lands_once_in_the_lake_and_in_elasticsearch() {
    let started = Instant::now();
    let wall_start = time::OffsetDateTime::now_utc();
    let mut s = Scenario::new("prism-chaos");
    let lake = tempfile::tempdir().unwrap();
    let osmem = Osmem::start();
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    let fault_mode = Arc::clone(&mode);
    let fault = move |_: usize, _: &[u8]| match fault_mode.load(Ordering::SeqCst) {
        DOWN_503 => Some((503, json!({"error": "unavailable"}))),
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
    let proxy = Proxy::start(osmem.url(), Box::new(fault), Some(Box::new(rewrite)));
    let server = Producer::start(
        &workspace_bin("prism-server"),
        &s.tansu.brokers(),
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
    let target = format!("file://{}", lake.path().display());
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
            ("PRISM_ES_BATCH_DOCS", "200"),
            ("PRISM_ES_BATCH_AGE_MS", "300"),
            ("PRISM_ES_TIMEOUT_MS", "5000"),
        ]),
    );

    let stop = AtomicBool::new(false);
    let acked = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for n in 0..3 {
            let (url, stop, acked) = (&server.url, &stop, &acked);
            scope.spawn(move || client(url, n, stop, acked));
        }
        let t0 = Instant::now();
        let at = |secs: u64, what: &str| {
            let when = t0 + Duration::from_secs(secs);
            while Instant::now() < when {
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("chaos: t={secs:>2}s {what}");
        };

        at(5, "the lake vanishes, Elasticsearch answers 503");
        let gone = Vanished::new(lake.path());
        mode.store(DOWN_503, Ordering::SeqCst);
        at(10, "both targets are back");
        drop(gone);
        mode.store(HEALTHY, Ordering::SeqCst);
        hdfs.supervise(&s);
        es.supervise(&s);

        at(13, "kill -9 both sinks, start them again");
        hdfs.kill_and_restart(&s);
        es.kill_and_restart(&s);

        at(18, "a second worker of each sink joins");
        hdfs.join(&s);
        es.join(&s);

        at(24, "Elasticsearch throttles every other item");
        mode.store(ITEMS_429, Ordering::SeqCst);
        at(28, "Elasticsearch answers slowly (1.5 s)");
        mode.store(HEALTHY, Ordering::SeqCst);
        proxy.delay_ms.store(1500, Ordering::SeqCst);
        at(32, "Elasticsearch throttles whole requests");
        proxy.delay_ms.store(0, Ordering::SeqCst);
        mode.store(WHOLE_429, Ordering::SeqCst);
        at(35, "Elasticsearch is fine; SIGSTOP the second workers");
        mode.store(HEALTHY, Ordering::SeqCst);
        hdfs.signal_secondary("-STOP");
        es.signal_secondary("-STOP");
        at(44, "SIGCONT the second workers");
        hdfs.signal_secondary("-CONT");
        es.signal_secondary("-CONT");

        at(47, "kill the broker");
        s.tansu.stop();
        at(52, "start the broker again");
        s.tansu.restart();
        hdfs.supervise(&s);
        es.supervise(&s);

        // The second workers leave once their groups have formed again
        // after the restart: tansu 0.6 can wedge a group for good when its
        // leader sends LeaveGroup while the group is still forming (it
        // keeps the departed leader; see the README).
        at(60, "the second workers leave");
        hdfs.leave();
        es.leave();
        at(63, "kill -9 both sinks, start them again");
        hdfs.kill_and_restart(&s);
        es.kill_and_restart(&s);
        at(LOAD.as_secs(), "the load stops");
        stop.store(true, Ordering::SeqCst);
    });
    let acked: HashSet<String> = acked.into_inner().unwrap().into_iter().collect();

    // Settle: until every acknowledged id is in both stores, or the bound.
    let load_ended = Instant::now();
    let deadline = load_ended + SETTLE;
    loop {
        hdfs.supervise(&s);
        es.supervise(&s);
        let in_lake = event_ids(files(lake.path()).into_iter().flat_map(|(_, e)| e));
        let in_es: HashSet<String> = doc_ids(osmem.url())
            .keys()
            .map(|k| k.rsplit('/').next().unwrap_or("").to_owned())
            .collect();
        let waiting = acked
            .iter()
            .filter(|id| !in_lake.contains_key(*id) || !in_es.contains(*id))
            .count();
        if waiting == 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let settled_after = load_ended.elapsed();
    // A duplicate may still be on its way: give it a moment to show.
    std::thread::sleep(Duration::from_secs(3));

    let records = read_all(&s.tansu.brokers(), &s.topic, Duration::from_secs(60));
    let in_kafka: HashSet<String> = records
        .iter()
        .map(|r| {
            let event: EnrichedEvent = serde_json::from_slice(&r.payload).unwrap();
            event.event_id.to_string()
        })
        .collect();
    let acked_not_in_kafka = acked.iter().filter(|id| !in_kafka.contains(*id)).count();

    // The stores against the topic, hour by hour, as an operator would
    // check them: prism-audit over every hour of the run.
    let from = start_of_hour(wall_start);
    let to = start_of_hour(time::OffsetDateTime::now_utc()) + time::Duration::HOUR;
    let (table, _) = run_audit(&s, lake.path(), osmem.url(), from, to, &[]);
    let (json, _) = run_audit(
        &s,
        lake.path(),
        osmem.url(),
        from,
        to,
        &["--format", "json"],
    );
    let report: Value = serde_json::from_str(&json).unwrap();
    let total = |store: &str, field: &str| -> u64 {
        report["hours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h[store][field].as_u64().unwrap())
            .sum()
    };
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
        for (n, log) in s.tansu.logs().iter().enumerate() {
            let to = std::path::Path::new(&dir).join(format!("tansu-{n}.log"));
            let _ = std::fs::copy(log, to);
        }
    }
    assert_eq!(
        total("kafka", "records"),
        records.len() as u64,
        "every record in Kafka falls in an audited hour"
    );
    assert_eq!(
        [
            total("lake", "missing"),
            total("lake", "more_than_kafka"),
            total("lake", "not_in_kafka"),
            total("lake", "bad_lines"),
            total("elasticsearch", "missing"),
            total("elasticsearch", "duplicates"),
            total("elasticsearch", "not_in_kafka"),
            acked_not_in_kafka as u64,
        ],
        [0; 8],
        "lake: missing, copies beyond Kafka's, unknown, bad lines; Elasticsearch: missing, \
         doubled, unknown; acknowledged but not in Kafka"
    );
}
