//! `prism-server` as a real process against a real broker (Apache Kafka), read back
//! with a plain rdkafka consumer.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;
use prism_testkit::{Kafka, Producer, Record, read_all, read_records, topic_partitions, unique};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn start_server(brokers: &str, topic: &str, env: &[(&str, &str)]) -> Producer {
    Producer::start(
        env!("CARGO_BIN_EXE_prism-server").as_ref(),
        brokers,
        topic,
        env,
    )
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn event(name: &str, color: &str) -> Value {
    json!({
        "event_id": uuid::Uuid::now_v7(),
        "name": name,
        "color": color,
        "client_ts": "2026-11-22T04:00:00.123Z",
        "navigator": {
            "user_agent": CHROME,
            "language": "ko-KR",
            "languages": ["ko-KR", "en-US"],
            "screen": {"width": 1920, "height": 1080, "pixel_ratio": 2.0, "color_depth": 24},
            "viewport": {"width": 1280, "height": 720},
            "timezone": "Asia/Seoul",
            "timezone_offset_min": -540,
            "ua_data": {"brands": [{"brand": "Chromium", "version": "131"}], "mobile": false, "platform": "Linux"}
        }
    })
}

/// The `name` of each enriched event read back.
fn names(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            serde_json::from_slice::<EnrichedEvent>(&r.payload)
                .unwrap()
                .name
        })
        .collect()
}

fn post(client: &Client, server: &Producer, body: &Value) -> reqwest::blocking::Response {
    client
        .post(format!("{}/api/v1/events", server.url))
        .header("user-agent", CHROME)
        .json(body)
        .send()
        .unwrap()
}

#[test]
fn a_posted_event_is_read_back_from_kafka_enriched() {
    let kafka = Kafka::shared();
    let topic = unique("select-color");
    let server = start_server(&kafka.brokers(), &topic, &[]);
    let sent = event("Kim Minji", "indigo");

    let res = post(&client(), &server, &sent);
    assert_eq!(res.status(), 202);
    let answer: Value = res.json().unwrap();
    assert_eq!(answer["event_id"], sent["event_id"]);

    let records = read_records(&kafka.brokers(), &topic, 1, Duration::from_secs(30));
    assert_eq!(records.len(), 1);
    let got: EnrichedEvent = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(got.event_id.to_string(), sent["event_id"].as_str().unwrap());
    assert_eq!(got.name, "Kim Minji");
    assert_eq!(got.color.as_str(), "indigo");
    assert_eq!(got.ua.browser.family, "Chrome");
    assert_eq!(got.ua.os.family, "Linux");
    assert_eq!(got.schema_version, prism_event::SCHEMA_VERSION);
    assert!((time::OffsetDateTime::now_utc() - got.received_at).abs() < time::Duration::minutes(1));
    // Anonymised by default: the /24 of 127.0.0.1.
    assert_eq!(got.client_ip, Some("127.0.0.0".parse().unwrap()));
    // Navigator fields arrive untouched.
    let raw: Value = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(raw["navigator"], sent["navigator"]);
    drop(server);
}

#[test]
fn a_hundred_posts_land_once_each_spread_over_both_partitions() {
    let kafka = Kafka::shared();
    let topic = unique("select-color");
    let server = start_server(&kafka.brokers(), &topic, &[]);
    let colors = [
        "red", "orange", "yellow", "green", "blue", "indigo", "violet",
    ];

    // Four clients at once, as a burst would arrive.
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let server = &server;
                s.spawn(move || {
                    let client = client();
                    (0..25)
                        .map(|i| {
                            let body = event(&format!("user {t}-{i}"), colors[(t * 25 + i) % 7]);
                            assert_eq!(post(&client, server, &body).status(), 202);
                            body["event_id"].as_str().unwrap().to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let records = read_records(&kafka.brokers(), &topic, 100, Duration::from_secs(60));
    let mut per_partition = BTreeMap::new();
    let mut seen = HashSet::new();
    for r in &records {
        *per_partition.entry(r.partition).or_insert(0) += 1;
        let e: EnrichedEvent = serde_json::from_slice(&r.payload).unwrap();
        seen.insert(e.event_id.to_string());
    }
    assert_eq!(records.len(), 100, "per partition: {per_partition:?}");
    assert_eq!(seen, ids.into_iter().collect::<HashSet<_>>());
    assert_eq!(
        per_partition.len(),
        2,
        "both partitions used: {per_partition:?}"
    );
    eprintln!("records per partition: {per_partition:?}");
}

#[test]
fn the_topic_is_created_with_two_partitions_and_a_second_start_is_a_no_op() {
    let kafka = Kafka::shared();
    let topic = unique("select-color");
    assert_eq!(topic_partitions(&kafka.brokers(), &topic), None);

    let mut first = start_server(&kafka.brokers(), &topic, &[]);
    assert_eq!(topic_partitions(&kafka.brokers(), &topic), Some(2));
    assert!(
        first.process.terminate(Duration::from_secs(20)),
        "clean exit on SIGTERM"
    );

    let second = start_server(&kafka.brokers(), &topic, &[]);
    let ready = client()
        .get(format!("{}/readyz", second.admin))
        .send()
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(topic_partitions(&kafka.brokers(), &topic), Some(2));
    assert!(
        second.process.output().contains("topic already exists"),
        "{}",
        second.process.output()
    );
}

/// Posts `event` until the answer is `status` or `within` has passed; how
/// long that took, or `None`.
fn first(
    client: &Client,
    server: &Producer,
    status: u16,
    within: Duration,
) -> Option<(Duration, reqwest::blocking::Response)> {
    let started = Instant::now();
    while started.elapsed() < within {
        let res = post(client, server, &event("probe", "green"));
        if res.status().as_u16() == status {
            return Some((started.elapsed(), res));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn a_killed_broker_gives_503_at_once_and_a_restarted_one_202_within_two_seconds() {
    let kafka = Kafka::start();
    let topic = unique("select-color");
    // The default delivery timeout (5 s): the 503 must come from knowing the
    // brokers are down, not from waiting it out.
    let mut server = start_server(&kafka.brokers(), &topic, &[]);
    let client = client();
    assert_eq!(
        post(&client, &server, &event("before", "red")).status(),
        202
    );

    kafka.stop();
    let (took, res) = first(&client, &server, 503, Duration::from_secs(10))
        .expect("a 503 while the broker is down");
    eprintln!("first 503 {took:?} after the broker was killed");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert_eq!(res.headers()["retry-after"], "2");
    let body: prism_event::ErrorBody = res.json().unwrap();
    assert_eq!(body.error, prism_event::ErrorCode::Unavailable);
    // Every later request while down is refused at once.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(
            post(&client, &server, &event("during", "orange")).status(),
            503
        );
        slowest = slowest.max(started.elapsed());
    }
    eprintln!("slowest of 20 posts while down: {slowest:?}");
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
    let started = Instant::now();
    let ready = client
        .get(format!("{}/readyz", server.admin))
        .send()
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "readyz answers at once"
    );
    let health = client
        .get(format!("{}/healthz", server.url))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(server.process.is_running(), "the server must stay up");

    kafka.restart();
    let after = event("after", "yellow");
    let (took, _) = first(&client, &server, 202, Duration::from_secs(30))
        .expect("accepted again once the broker is back");
    eprintln!("first 202 {took:?} after the broker listened again");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert_eq!(post(&client, &server, &after).status(), 202);
    assert_eq!(
        client
            .get(format!("{}/readyz", server.admin))
            .send()
            .unwrap()
            .status(),
        200
    );

    let names: HashSet<String> = names(&read_records(
        &kafka.brokers(),
        &topic,
        3,
        Duration::from_secs(30),
    ))
    .into_iter()
    .collect();
    assert!(
        names.contains("before") && names.contains("after") && !names.contains("during"),
        "{names:?}"
    );
}

/// A broker that stops answering without closing its connections (SIGSTOP)
/// is the ambiguous case: nothing says it is gone, so a request waits for
/// the delivery bound, and no longer.
#[test]
fn a_hung_broker_gives_503_after_the_delivery_bound() {
    let kafka = Kafka::start();
    let topic = unique("select-color");
    let server = start_server(
        &kafka.brokers(),
        &topic,
        &[("PRISM_DELIVERY_TIMEOUT_MS", "2000")],
    );
    let client = client();
    assert_eq!(
        post(&client, &server, &event("before", "red")).status(),
        202
    );
    kafka.signal("-STOP");
    let started = Instant::now();
    let res = post(&client, &server, &event("during", "orange"));
    let took = started.elapsed();
    kafka.signal("-CONT");
    let status = res.status();
    assert_eq!(
        status,
        503,
        "after {took:?}: {}",
        res.text().unwrap_or_default()
    );
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(4000),
        "the delivery bound (2 s), took {took:?}"
    );
}

#[test]
fn a_retried_event_is_one_record_in_the_topic_through_either_endpoint() {
    let kafka = Kafka::shared();
    let topic = unique("select-color");
    let server = start_server(&kafka.brokers(), &topic, &[]);
    let client = client();
    let (first, second) = (event("first", "red"), event("second", "blue"));
    for _ in 0..2 {
        assert_eq!(post(&client, &server, &first).status(), 202);
    }
    let batch = |events: Value| {
        let res = client
            .post(format!("{}/api/v1/batch", server.url))
            .header("user-agent", CHROME)
            .json(&events)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        let answer: prism_event::BatchAnswer = res.json().unwrap();
        assert!(answer.results.iter().all(|r| r.is_accepted()), "{answer:?}");
    };
    batch(json!([first, second, second]));
    batch(json!([second]));
    assert_eq!(post(&client, &server, &second).status(), 202);

    let names = names(&read_all(&kafka.brokers(), &topic, Duration::from_secs(30)));
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["first", "second"], "{names:?}");
    let metrics = client
        .get(format!("{}/metrics", server.admin))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "prism_events_duplicate_total 5"),
        "{metrics}"
    );
}
