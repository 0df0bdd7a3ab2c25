//! `prism-es-sink` as a real process between Apache Kafka and a real
//! search node (one per test binary, each test its own indices): OpenSearch,
//! or Elasticsearch 7.10.2 with `PRISM_TEST_SEARCH_ENGINE=elasticsearch`
//! (scripts/test runs these contract tests and es_cluster_states.rs on
//! both). The
//! one fault a node cannot be made to produce on demand mid-stream comes
//! from a scripted proxy in front of it: a whole-cluster 503 outage (a node
//! answers 503 to a whole request only until its cluster state is
//! recovered, at start-up). The states a node of a test's own is put in
//! are in es_opensearch.rs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;
use prism_testkit::{Producer, SearchEngine, produce, read_records, workspace_bin};
use serde_json::{Value, json};
use time::macros::datetime;

mod support;

use support::proxy::Proxy;
use support::search::Search;
use support::{dead_letter_reason, event, get, now_events, wait_until};

#[test]
fn events_posted_through_the_producer_become_one_document_each_even_when_retried() {
    let s = Search::new();
    let _sink = s.start_sink(None, &[]);
    let server = Producer::start(
        &workspace_bin("prism-server"),
        &s.kafka.brokers(),
        &s.topic,
        &[],
    );
    let client = reqwest::blocking::Client::new();
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let firefox = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let mut ids = Vec::new();
    let mut expected_colors: HashMap<String, u64> = HashMap::new();
    for i in 0..30 {
        let id = uuid::Uuid::now_v7();
        let color = ["red", "blue", "violet"][i % 3];
        let ua = if i % 5 == 0 { firefox } else { chrome };
        let body = json!({
            "event_id": id, "name": format!("person {i}"), "color": color,
            "client_ts": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap(),
            "navigator": {"user_agent": ua, "language": "ko-KR", "timezone": "Asia/Seoul"}
        });
        // A third of the presses are sent twice, as a browser retry would.
        for _ in 0..(1 + usize::from(i % 3 == 0)) {
            let res = client
                .post(format!("{}/api/v1/events", server.url))
                .header("user-agent", ua)
                .json(&body)
                .send()
                .unwrap();
            assert_eq!(res.status(), 202);
        }
        *expected_colors.entry(color.to_owned()).or_default() += 1;
        ids.push(id);
    }
    assert_eq!(s.wait_for_count(30, Duration::from_secs(60)), 30);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(s.count(), 30, "no document for a retried post");

    // The engine the run asked for answers (`PRISM_TEST_SEARCH_ENGINE`).
    let version = s.es(reqwest::Method::GET, "/", None)["version"].clone();
    match SearchEngine::from_env() {
        SearchEngine::OpenSearch => assert_eq!(version["distribution"], "opensearch", "{version}"),
        SearchEngine::Elasticsearch7 => assert!(
            version["distribution"].is_null()
                && version["number"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("7.10.")),
            "{version}"
        ),
    }

    let template = s.es(
        reqwest::Method::GET,
        &format!("/_index_template/{}", s.es.prefix),
        None,
    );
    assert!(template["index_templates"][0]["index_template"]["template"]["mappings"]["properties"]["@timestamp"].is_object(), "{template}");

    let aggs = json!({"size": 0, "aggs": {
        "colors": {"terms": {"field": "color"}},
        "browsers": {"terms": {"field": "ua.browser.family"}}}});
    let answer = s.es(
        reqwest::Method::POST,
        &format!("/{}-*/_search", s.es.prefix),
        Some(aggs),
    );
    let buckets = |agg: &str| -> HashMap<String, u64> {
        answer["aggregations"][agg]["buckets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                (
                    b["key"].as_str().unwrap_or("").to_owned(),
                    b["doc_count"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    assert_eq!(buckets("colors"), expected_colors);
    assert_eq!(
        buckets("browsers"),
        HashMap::from([("Chrome".to_owned(), 24), ("Firefox".to_owned(), 6)])
    );
    let index = s.es.index_of(time::OffsetDateTime::now_utc());
    assert!(
        s.doc_ids()
            .keys()
            .all(|k| k.starts_with(&format!("{index}/"))),
        "today's index {index}: {:?}",
        s.doc_ids()
    );
}

#[test]
fn todays_index_exists_with_the_template_mapping_before_the_first_event() {
    let s = Search::new();
    let index = |t| s.es.index_of(t);
    let before = index(time::OffsetDateTime::now_utc());
    let sink = s.start_sink(None, &[]);
    // Ready once start-up (template, index) is over.
    wait_until("the sink to start", Duration::from_secs(60), || {
        sink.readyz() == 200
    });
    let after = index(time::OffsetDateTime::now_utc());
    let mappings = s.es(
        reqwest::Method::GET,
        &format!("/{}-*/_mapping", s.es.prefix),
        None,
    );
    let indices: Vec<&String> = mappings
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert!(
        indices.len() == 1 && (*indices[0] == before || *indices[0] == after),
        "{mappings}"
    );
    let properties = &mappings[indices[0].as_str()]["mappings"]["properties"];
    assert_eq!(properties["color"]["type"], "keyword", "{mappings}");
    assert_eq!(properties["@timestamp"]["type"], "date", "{mappings}");
    // Refreshed every second whether or not anyone searches.
    let settings = s.es(
        reqwest::Method::GET,
        &format!("/{}/_settings", indices[0]),
        None,
    );
    let index = &settings[indices[0].as_str()]["settings"]["index"];
    assert_eq!(index["refresh_interval"], "1s", "{settings}");
    assert_eq!(index["number_of_replicas"], "0", "{settings}");
    assert_eq!(s.count(), 0);
}

#[test]
fn a_record_the_mapping_refuses_is_dead_lettered_not_retried_and_the_rest_indexed_by_event_day() {
    let s = Search::new();
    let sink = s.start_sink(None, &[]);
    let sent: Vec<EnrichedEvent> = (0..5)
        .map(|i| event(i, datetime!(2026-11-20 23:59:58 UTC)))
        .collect();
    let mut payloads: Vec<Vec<u8>> = sent
        .iter()
        .map(|e| serde_json::to_vec(e).unwrap())
        .collect();
    let mut surprise: Value =
        serde_json::to_value(event(9, datetime!(2026-11-21 00:00:01 UTC))).unwrap();
    surprise["surprise"] = json!("a field nobody mapped");
    payloads.insert(2, serde_json::to_vec(&surprise).unwrap());
    produce(&s.kafka.brokers(), &s.topic, &payloads);

    assert_eq!(s.wait_for_count(5, Duration::from_secs(60)), 5);
    s.assert_one_document_each(&sent);
    assert!(
        s.doc_ids()
            .keys()
            .all(|k| k.starts_with(&format!("{}-2026.11.20/", s.es.prefix))),
        "{:?}",
        s.doc_ids()
    );

    let dead = read_records(&s.kafka.brokers(), &s.dlq(), 1, Duration::from_secs(30));
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, payloads[2], "the original record");
    let reason = dead_letter_reason(&dead[0]);
    assert!(
        reason.contains("strict_dynamic_mapping_exception"),
        "{reason}"
    );
    // The node's 400 for that item is final: it was never sent again.
    assert_eq!(sink.metric("prism_sink_es_retried_total"), 0.0);
}

/// Every record consumed is counted as exactly one outcome: indexed,
/// already there, or dead-lettered by reason (a poison record, an event
/// breaking the producer's rules, one the mapping refuses).
#[test]
fn each_record_is_counted_once_as_written_already_there_or_dead_lettered_by_reason() {
    let s = Search::new();
    let sink = s.start_sink(None, &[]);
    let sent = now_events(5);
    let mut payloads: Vec<Vec<u8>> = sent
        .iter()
        .map(|e| serde_json::to_vec(e).unwrap())
        .collect();
    payloads.push(payloads[0].clone());
    payloads.push(b"not an event".to_vec());
    let mut breaking = serde_json::to_value(event(7, time::OffsetDateTime::now_utc())).unwrap();
    breaking["navigator"]["screen"] = json!({"width": 1, "height": 2_147_483_648u64});
    payloads.push(serde_json::to_vec(&breaking).unwrap());
    let mut unmapped = serde_json::to_value(event(8, time::OffsetDateTime::now_utc())).unwrap();
    unmapped["surprise"] = json!("a field nobody mapped");
    payloads.push(serde_json::to_vec(&unmapped).unwrap());
    produce(&s.kafka.brokers(), &s.topic, &payloads);

    let outcome = |name: &str| sink.metric(name);
    let dead = |reason: &str| {
        outcome(&format!(
            "prism_sink_records_dead_lettered_total{{reason=\"{reason}\""
        ))
    };
    wait_until("every record resolved", Duration::from_secs(60), || {
        outcome("prism_sink_records_written_total")
            + outcome("prism_sink_records_already_there_total")
            + dead("not_an_event")
            + dead("breaks_rules")
            + dead("strict_dynamic_mapping_exception")
            >= 9.0
    });
    assert_eq!(outcome("prism_sink_records_consumed_total"), 9.0);
    assert_eq!(outcome("prism_sink_records_written_total"), 5.0);
    assert_eq!(outcome("prism_sink_records_already_there_total"), 1.0);
    assert_eq!(dead("not_an_event"), 1.0);
    assert_eq!(dead("breaks_rules"), 1.0);
    assert_eq!(dead("strict_dynamic_mapping_exception"), 1.0);
    assert_eq!(s.count(), 5);
    assert_eq!(
        read_records(&s.kafka.brokers(), &s.dlq(), 3, Duration::from_secs(30)).len(),
        3
    );
}

/// A password written into `PRISM_ES_URL` is used, but never logged and
/// never shown by `--help`; nor are `PRISM_KAFKA_OPTIONS` values.
#[test]
fn credentials_in_the_url_are_used_and_never_logged_or_printed() {
    let s = Search::new();
    let url = s.es.url.replacen("http://", "http://elastic:s3cret-pw@", 1);
    let sink = s.start_sink(Some(&url), &[]);
    let sent = now_events(1);
    s.produce(&sent);
    assert_eq!(s.wait_for_count(1, Duration::from_secs(60)), 1);
    let log = sink.process.output();
    assert!(log.contains("elasticsearch reachable"), "{log}");
    assert!(
        !log.contains("s3cret-pw"),
        "the password was logged:\n{log}"
    );
    assert!(
        log.contains("plain HTTP"),
        "no warning about plain HTTP:\n{log}"
    );

    let help = std::process::Command::new(support::sink_bin("prism-es-sink"))
        .arg("--help")
        .env("PRISM_ES_URL", &url)
        .env("PRISM_KAFKA_OPTIONS", "sasl.password=hunter2")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("PRISM_ES_URL"), "{help}");
    assert!(
        !help.contains("s3cret-pw") && !help.contains("hunter2"),
        "{help}"
    );
}

#[test]
fn a_503_outage_of_ten_seconds_loses_nothing() {
    let s = Search::new();
    // Ten seconds from the sink's first `_bulk`, not from the test's start:
    // how long the worker takes to join its group is not the fault.
    let first = std::sync::OnceLock::new();
    let fault = move |_: usize, _: &[u8]| {
        (first.get_or_init(Instant::now).elapsed() < Duration::from_secs(10))
            .then(|| (503, json!({"error": "unavailable"})))
    };
    let proxy = Proxy::start(&s.es.url, Box::new(fault), None);
    let sink = s.start_sink(Some(&proxy.url), &[]);
    let sent = now_events(200);
    s.produce(&sent);
    wait_until(
        "readyz 503 during the outage",
        Duration::from_secs(30),
        || get(&format!("{}/readyz", sink.metrics)).0 == 503,
    );
    assert_eq!(s.count(), 0, "nothing indexed during the outage");
    assert_eq!(s.wait_for_count(200, Duration::from_secs(60)), 200);
    s.assert_one_document_each(&sent);
    assert_eq!(get(&format!("{}/readyz", sink.metrics)).0, 200);
}

#[test]
fn kill_9_five_times_mid_stream_indexes_every_event_exactly_once() {
    let s = Search::new();
    let sent = now_events(2_000);
    let env = [
        ("PRISM_ES_BATCH_DOCS", "50"),
        ("PRISM_ES_BATCH_AGE_MS", "200"),
    ];
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| {
            for chunk in sent.chunks(25) {
                s.produce(chunk);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        for round in 0..5u64 {
            let mut sink = s.start_sink(None, &env);
            // Mid-stream: once this worker has written (its group formed and
            // handed it partitions), or once nothing is left to write, so
            // each kill lands while the worker is loading, not while it is
            // still joining.
            wait_until(
                &format!("round {round}: a write"),
                Duration::from_secs(60),
                || {
                    sink.metric("prism_sink_records_written_total") >= 1.0
                        || s.count() >= sent.len()
                },
            );
            std::thread::sleep(Duration::from_millis(150 * round));
            sink.process.kill();
        }
        producer.join().unwrap();
    });
    let before_final = s.count();
    let _sink = s.start_sink(None, &env);
    let landed = s.wait_for_count(sent.len(), Duration::from_secs(90));
    eprintln!("after 5 kills: {before_final} documents; after the final start: {landed}");
    assert!(before_final > 0, "the killed sinks made progress");
    std::thread::sleep(Duration::from_secs(1));
    s.assert_one_document_each(&sent);
}
