//! `prism-server` as a real process against a real broker (tansu), read back
//! with a plain rdkafka consumer.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;
use prism_testkit::{Producer, Tansu, read_records, topic_partitions, unique};
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
    let tansu = Tansu::start();
    let topic = unique("select-color");
    let server = start_server(&tansu.brokers(), &topic, &[]);
    let sent = event("Kim Minji", "indigo");

    let res = post(&client(), &server, &sent);
    assert_eq!(res.status(), 202);
    let answer: Value = res.json().unwrap();
    assert_eq!(answer["event_id"], sent["event_id"]);

    let records = read_records(&tansu.brokers(), &topic, 1, Duration::from_secs(30));
    assert_eq!(records.len(), 1);
    let got: EnrichedEvent = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(got.event_id.to_string(), sent["event_id"].as_str().unwrap());
    assert_eq!(got.name, "Kim Minji");
    assert_eq!(got.color.as_str(), "indigo");
    assert_eq!(got.ua.browser.family, "Chrome");
    assert_eq!(got.ua.os.family, "Linux");
    assert_eq!(got.schema_version, prism_event::SCHEMA_VERSION);
    assert!((time::OffsetDateTime::now_utc() - got.received_at).abs() < time::Duration::minutes(1));
    assert_eq!(got.client_ip, Some("127.0.0.1".parse().unwrap()));
    // Navigator fields arrive untouched.
    let raw: Value = serde_json::from_slice(&records[0].payload).unwrap();
    assert_eq!(raw["navigator"], sent["navigator"]);
    drop(server);
}

#[test]
fn a_hundred_posts_land_once_each_spread_over_both_partitions() {
    let tansu = Tansu::start();
    let topic = unique("select-color");
    let server = start_server(&tansu.brokers(), &topic, &[]);
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

    let records = read_records(&tansu.brokers(), &topic, 100, Duration::from_secs(60));
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
    let tansu = Tansu::start();
    let topic = unique("select-color");
    assert_eq!(topic_partitions(&tansu.brokers(), &topic), None);

    let mut first = start_server(&tansu.brokers(), &topic, &[]);
    assert_eq!(topic_partitions(&tansu.brokers(), &topic), Some(2));
    assert!(
        first.process.terminate(Duration::from_secs(20)),
        "clean exit on SIGTERM"
    );

    let second = start_server(&tansu.brokers(), &topic, &[]);
    let ready = client()
        .get(format!("{}/readyz", second.url))
        .send()
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(topic_partitions(&tansu.brokers(), &topic), Some(2));
    assert!(
        second.process.output().contains("topic already exists"),
        "{}",
        second.process.output()
    );
}

#[test]
fn a_stopped_broker_gives_503_quickly_and_the_server_recovers_without_restart() {
    let mut tansu = Tansu::start();
    let topic = unique("select-color");
    let mut server = start_server(
        &tansu.brokers(),
        &topic,
        &[("PRISM_DELIVERY_TIMEOUT_MS", "3000")],
    );
    let client = client();
    assert_eq!(
        post(&client, &server, &event("before", "red")).status(),
        202
    );

    tansu.stop();
    let started = Instant::now();
    let res = post(&client, &server, &event("during", "orange"));
    let took = started.elapsed();
    assert_eq!(res.status(), 503);
    eprintln!("503 after the broker stopped took {took:?}");
    assert_eq!(res.headers()["retry-after"], "2");
    let body: prism_event::ErrorBody = res.json().unwrap();
    assert_eq!(body.error, prism_event::ErrorCode::Unavailable);
    assert!(
        took < Duration::from_secs(5),
        "503 within the delivery bound, took {took:?}"
    );
    assert_eq!(
        client
            .get(format!("{}/healthz", server.url))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .get(format!("{}/readyz", server.url))
            .send()
            .unwrap()
            .status(),
        503
    );
    assert!(server.process.is_running(), "the server must stay up");

    tansu.restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = event("after", "yellow");
    let mut status = 0;
    while Instant::now() < deadline {
        status = post(&client, &server, &after).status().as_u16();
        if status == 202 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(status, 202, "accepted again once the broker is back");
    assert_eq!(
        client
            .get(format!("{}/readyz", server.url))
            .send()
            .unwrap()
            .status(),
        200
    );

    let names: HashSet<String> = read_records(&tansu.brokers(), &topic, 2, Duration::from_secs(30))
        .iter()
        .map(|r| {
            serde_json::from_slice::<EnrichedEvent>(&r.payload)
                .unwrap()
                .name
        })
        .collect();
    assert!(
        names.contains("before") && names.contains("after"),
        "{names:?}"
    );
}
