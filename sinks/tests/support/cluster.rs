//! What the three-node cluster tests share: the cluster, the processes on
//! it, Kafka's own tools read back, and waiting for the stores.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prism_sinks::audit::start_of_hour;
use prism_testkit::{
    Kafka, Producer, Record, TopicState, describe_topic, kafka_tool, read_all, workspace_bin,
};
use time::OffsetDateTime;

use super::load::{Load, Outcome};
use super::search::Indices;
use super::{Audit, Scenario, Sink, get, ids_of, stores_hold, wait_until};

/// One cluster at a time on this machine.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static CLUSTER: Mutex<()> = Mutex::new(());
    CLUSTER.lock().unwrap_or_else(|p| p.into_inner())
}

/// A three-node cluster and a topic that `prism-server` will create.
pub fn cluster(group: &str) -> Scenario {
    Scenario::for_server(Arc::new(Kafka::cluster(3)), group)
}

pub fn start_server(s: &Scenario, env: &[(&str, &str)]) -> Producer {
    Producer::start(
        &workspace_bin("prism-server"),
        &s.kafka.brokers(),
        &s.topic,
        env,
    )
}

pub fn lake_sink(s: &Scenario, lake: &Path, group: &str) -> Sink {
    s.start(
        "prism-hdfs-sink",
        &[
            ("PRISM_GROUP", group),
            ("PRISM_HDFS_TARGET", &format!("file://{}", lake.display())),
            ("PRISM_ROTATE_AGE_MS", "1000"),
        ],
    )
}

pub fn es_sink(s: &Scenario, es: &Indices, group: &str) -> Sink {
    let mut env = es.sink_env(None);
    env.push(("PRISM_GROUP", group));
    s.start("prism-es-sink", &env)
}

/// Waits until every partition has a leader and all its replicas in sync.
pub fn fully_replicated(s: &Scenario) -> TopicState {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = describe_topic(&s.kafka.brokers(), &s.topic);
        if state.fully_replicated() {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "not fully replicated within 120 s: {state:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the lake holds each of `ids` (and the indices `es`, when
/// given, too).
pub fn settle(lake: &Path, es: Option<&Indices>, ids: &HashSet<String>) {
    wait_until(
        "both stores to hold every record",
        Duration::from_secs(120),
        || stores_hold(lake, es, ids),
    );
}

/// Once the lake (and the indices `es`, when given) hold every one of `ids`:
/// prism-audit's counts of how each store differs from the topic over the
/// run's hours, all zero when they hold each record as often as the topic.
pub fn settled_differences(
    s: &Scenario,
    lake: &Path,
    es: Option<&Indices>,
    ids: &HashSet<String>,
    started: OffsetDateTime,
) -> Vec<(String, u64)> {
    settle(lake, es, ids);
    let (from, to) = hours_since(started);
    let audit = Audit::run(s, lake, es, from, to);
    match es {
        Some(_) => audit.differences(&["lake", "elasticsearch"]),
        None => audit.differences(&["lake"]),
    }
}

/// The run's hours, from the hour it started to the one after now.
pub fn hours_since(start: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    (
        start_of_hour(start),
        start_of_hour(OffsetDateTime::now_utc()) + time::Duration::HOUR,
    )
}

/// Every record of the topic, its ids, and how many acknowledged events
/// the topic lacks.
pub fn topic_against(s: &Scenario, outcome: &Outcome) -> (Vec<Record>, HashSet<String>, usize) {
    let records = read_all(&s.kafka.brokers(), &s.topic, Duration::from_secs(60));
    let in_kafka: HashSet<String> = ids_of(&records).into_iter().collect();
    let lost = outcome.acked.difference(&in_kafka).count();
    (records, in_kafka, lost)
}

/// Only 202 and 503 answers, and each of them an HTTP answer.
pub fn assert_only_202_or_503(outcome: &Outcome) {
    assert!(
        outcome.statuses.keys().all(|s| *s == 202 || *s == 503),
        "answers by status (0: none): {:?}",
        outcome.statuses
    );
}

/// `kafka-consumer-groups --describe` rows of `group`: partition, lag.
pub fn group_lag(s: &Scenario, group: &str) -> HashMap<i32, i64> {
    let out = kafka_tool(
        "consumer-groups",
        &[
            "--bootstrap-server",
            &s.kafka.brokers(),
            "--describe",
            "--group",
            group,
        ],
    );
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 6 && f[0] == group && f[1] == s.topic)
        .filter_map(|f| Some((f[2].parse().ok()?, f[5].parse().ok()?)))
        .collect()
}

pub fn reset_offsets(s: &Scenario, group: &str, how: &[&str]) {
    let brokers = s.kafka.brokers();
    let mut args = vec![
        "--bootstrap-server",
        &brokers,
        "--reset-offsets",
        "--group",
        group,
        "--topic",
        &s.topic,
        "--execute",
    ];
    args.extend_from_slice(how);
    kafka_tool("consumer-groups", &args);
}

/// Takes node `node` down with `down` while the load goes on, checks that
/// the server keeps acknowledging (`acks` more events) and says it is ready
/// while the cluster serves, then starts the node again.
pub fn node_down_under_load(
    s: &Scenario,
    server: &Producer,
    load: &Load,
    node: usize,
    acks: usize,
    down: impl FnOnce(&Kafka, usize),
) {
    fully_replicated(s);
    down(&s.kafka, node);
    load.wait_for_more(acks, Duration::from_secs(60));
    assert_eq!(get(&format!("{}/readyz", server.admin)).0, 200);
    s.kafka.start_node(node);
}

/// Once every replica is back in sync and the load has gone on a little:
/// stops the load; every answer was a 202 or a 503.
pub fn finish_load(s: &Scenario, load: Load) -> Outcome {
    fully_replicated(s);
    load.wait_for_more(50, Duration::from_secs(60));
    let outcome = load.stop();
    assert_only_202_or_503(&outcome);
    outcome
}
