//! `prism-audit` against what the real sinks wrote: Apache Kafka, a lake
//! directory and OpenSearch, three past hours of events. A clean run
//! reports nothing missing; then a lake file is deleted in one hour,
//! documents in another, and a line duplicated (plus one the topic never
//! had) in a third, and each shows up in its own hour with exact counts.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use prism_event::EnrichedEvent;
use prism_sinks::audit::start_of_hour;
use prism_sinks::hdfs::layout::Bucket;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

mod support;

use support::lake::files;
use support::search::Indices;
use support::{Scenario, event, run_audit, wait_until};

const PER_HOUR: usize = 40;

struct Pipeline {
    s: Scenario,
    es: Indices,
    lake: tempfile::TempDir,
    /// The three hours the events fall in, oldest first.
    hours: [OffsetDateTime; 3],
    sent: Vec<EnrichedEvent>,
}

impl Pipeline {
    /// Both sinks load three past hours of events, produced with the Kafka
    /// timestamps their producer would have given them.
    fn loaded() -> Self {
        let s = Scenario::new("prism-audit");
        let es = Indices::on_shared_node();
        let lake = tempfile::tempdir().unwrap();
        let now = start_of_hour(OffsetDateTime::now_utc());
        let hours = [3, 2, 1].map(|n| now - time::Duration::hours(n));
        let sent: Vec<EnrichedEvent> = hours
            .iter()
            .flat_map(|hour| {
                (0..PER_HOUR)
                    .map(move |i| event(i, *hour + time::Duration::seconds(60 + 30 * i as i64)))
            })
            .collect();
        s.produce_received(&sent);
        let target = format!("file://{}", lake.path().display());
        let hdfs_group = format!("{}-hdfs", s.group);
        let es_group = format!("{}-es", s.group);
        let _hdfs = s.start(
            "prism-hdfs-sink",
            &[
                ("PRISM_GROUP", &hdfs_group),
                ("PRISM_HDFS_TARGET", &target),
                ("PRISM_ROTATE_AGE_MS", "500"),
            ],
        );
        let _es = support::cluster::es_sink(&s, &es, &es_group);
        let total = sent.len();
        wait_until(
            "the lake holds every event",
            Duration::from_secs(60),
            || {
                files(lake.path())
                    .iter()
                    .map(|(_, e)| e.len())
                    .sum::<usize>()
                    == total
            },
        );
        wait_until(
            "the index holds every event",
            Duration::from_secs(60),
            || es.doc_ids().len() == total,
        );
        Self {
            s,
            es,
            lake,
            hours,
            sent,
        }
    }

    /// Runs the audit over the three hours; its JSON report and exit code.
    fn audit(&self) -> (Value, i32) {
        let (stdout, code) = run_audit(
            &self.s,
            self.lake.path(),
            Some(&self.es),
            self.hours[0],
            self.hours[2] + time::Duration::HOUR,
            &["--format", "json", "--samples", "50"],
        );
        let report = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("not a JSON report ({e}): {stdout}"));
        (report, code)
    }

    /// The first final file of hour `i` (by name), and its events.
    fn first_file(&self, i: usize) -> (PathBuf, Vec<EnrichedEvent>) {
        let dir = Bucket::of(self.hours[i]).dir(&self.s.topic);
        let (rel, events) = files(self.lake.path())
            .into_iter()
            .filter(|(rel, _)| rel.starts_with(&dir))
            .min_by(|a, b| a.0.cmp(&b.0))
            .unwrap_or_else(|| panic!("no file in {dir}"));
        (self.lake.path().join(rel), events)
    }
}

/// `counts` of one store in one hour of the report, by field name.
fn counts(report: &Value, hour: usize, store: &str) -> [u64; 6] {
    let c = &report["hours"][hour][store];
    [
        "records",
        "ids",
        "duplicates",
        "more_than_kafka",
        "missing",
        "not_in_kafka",
    ]
    .map(|k| {
        c[k].as_u64()
            .unwrap_or_else(|| panic!("{store}.{k} in {c}"))
    })
}

fn sample(report: &Value, hour: usize, store: &str) -> HashSet<Uuid> {
    report["hours"][hour][store]["missing_sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn the_audit_reports_each_loss_and_duplicate_in_its_hour_and_nothing_else() {
    let p = Pipeline::loaded();
    let n = PER_HOUR as u64;

    let (clean, code) = p.audit();
    assert_eq!(code, 0, "a clean run exits 0: {clean}");
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    assert_eq!(clean["from"], rfc3339(p.hours[0]), "{clean}");
    assert_eq!(clean["to"], rfc3339(p.hours[2] + time::Duration::HOUR));
    for hour in 0..3 {
        assert_eq!(clean["hours"][hour]["kafka"]["records"], n, "{clean}");
        assert_eq!(counts(&clean, hour, "lake"), [n, n, 0, 0, 0, 0], "{clean}");
        assert_eq!(counts(&clean, hour, "elasticsearch"), [n, n, 0, 0, 0, 0]);
    }

    // Hour 0: a lake file is lost.
    let (lost_file, events) = p.first_file(0);
    let lost: HashSet<Uuid> = events.iter().map(|e| e.event_id).collect();
    std::fs::remove_file(&lost_file).unwrap();
    // Hour 1: two documents are deleted.
    let deleted: Vec<&EnrichedEvent> = p.sent[PER_HOUR..].iter().take(2).collect();
    for e in &deleted {
        let index = p.es.index_of(e.client_ts);
        let res = reqwest::blocking::Client::new()
            .delete(format!(
                "{}/{index}/_doc/{}?refresh=true",
                p.es.url, e.event_id
            ))
            .send()
            .unwrap();
        assert!(res.status().is_success(), "delete: {}", res.status());
    }
    // Hour 2: a line is written twice, and one the topic never had appears.
    let (file, _) = p.first_file(2);
    let text = std::fs::read_to_string(&file).unwrap();
    let first = text.lines().next().unwrap();
    let stranger = serde_json::to_string(&event(99, p.hours[2])).unwrap();
    std::fs::write(&file, format!("{text}{first}\n{stranger}\n")).unwrap();

    let (report, code) = p.audit();
    assert_eq!(code, 1, "missing events exit 1: {report}");
    let m = lost.len() as u64;
    assert!(m > 0);
    assert_eq!(counts(&report, 0, "lake"), [n - m, n - m, 0, 0, m, 0]);
    assert_eq!(sample(&report, 0, "lake"), lost);
    assert_eq!(counts(&report, 0, "elasticsearch"), [n, n, 0, 0, 0, 0]);

    assert_eq!(counts(&report, 1, "lake"), [n, n, 0, 0, 0, 0]);
    assert_eq!(
        counts(&report, 1, "elasticsearch"),
        [n - 2, n - 2, 0, 0, 2, 0]
    );
    assert_eq!(
        sample(&report, 1, "elasticsearch"),
        deleted.iter().map(|e| e.event_id).collect()
    );

    assert_eq!(counts(&report, 2, "lake"), [n + 2, n + 1, 1, 1, 0, 1]);
    assert_eq!(counts(&report, 2, "elasticsearch"), [n, n, 0, 0, 0, 0]);
}

/// An empty range audits nothing, and says so: it must not pass for a clean
/// audit (it printed a header and "missing in all: 0", exit 0). Refused
/// before anything is reached, so no engine is needed.
#[test]
fn an_empty_range_is_refused_with_exit_2() {
    for (from, to) in [
        ("2026-11-22T21", "2026-11-22T21"),
        ("2026-11-22T21", "2026-11-22T20"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_prism-audit"))
            .args(["--from", from, "--to", to])
            .env("PRISM_KAFKA_BROKERS", "127.0.0.1:1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{from}..{to}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            stderr.contains(&format!(
                "empty range: --to {to} is not after --from {from}"
            )),
            "{stderr}"
        );
    }
}
