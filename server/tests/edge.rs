//! The edge as an attacker meets it: `prism-server` as a real process on a
//! real broker, spoken to over raw sockets where a well-behaved HTTP client
//! would hide the attack (stalled and dripping bodies, many connections,
//! one client taking more than its share).

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use prism_testkit::{Kafka, read_all, unique};
use reqwest::blocking::Client;
use serde_json::{Value, json};

#[path = "support/raw.rs"]
mod raw;

use raw::{
    answer_then_close, budget_server, connect, event, eventually, metric, one_answer, post_head,
    stalled_upload, start, wait_held,
};

#[test]
fn a_body_that_stalls_or_drips_is_cut_at_its_deadline_and_the_connection_closed() {
    let server = start(
        &unique("edge-slow"),
        &[
            ("PRISM_BODY_TIMEOUT_MS", "2000"),
            ("PRISM_BODY_IDLE_TIMEOUT_MS", "500"),
        ],
    );

    // Stalled: 11 bytes of a declared 1 000, then nothing.
    let mut stalled = connect(&server);
    write!(
        stalled,
        "{}{{\"event_id\"",
        post_head("/api/v1/events", 1000)
    )
    .unwrap();
    let (status, text) = answer_then_close(&mut stalled);
    assert_eq!(status, 408, "{text}");
    assert!(text.contains(r#""error":"request_timeout""#), "{text}");

    // Dripping: a byte every 200 ms never pauses long enough for the idle
    // limit, but the whole body is late.
    let mut dripping = connect(&server);
    write!(dripping, "{}", post_head("/api/v1/events", 1000)).unwrap();
    let mut writer = dripping.try_clone().unwrap();
    let drip = std::thread::spawn(move || {
        let mut sent = 0;
        while sent < 100 && writer.write_all(b" ").is_ok() {
            sent += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        sent
    });
    let (status, text) = answer_then_close(&mut dripping);
    assert_eq!(status, 408, "{text}");
    let sent = drip.join().unwrap();
    assert!(sent < 100, "the server read all {sent} drips");
    assert_eq!(
        metric(
            &server,
            r#"prism_requests_limited_total{limit="body_timeout"}"#
        ),
        2.0
    );

    // A body that arrives in time is served as ever.
    let res = Client::new()
        .post(format!("{}/api/v1/events", server.url))
        .json(&event())
        .send()
        .unwrap();
    assert_eq!(res.status(), 202);
}

#[test]
fn bodies_beyond_the_shared_budget_get_503_until_the_held_ones_leave() {
    const BATCH_BYTES: usize = 256 * 1024;
    // Every upload here comes from one address: the whole budget is its
    // share, so what fills is the budget itself.
    let server = budget_server("edge-budget", BATCH_BYTES, "1");
    // Four uploads of nearly a whole batch each, stalled before the end.
    let held: Vec<TcpStream> = (0..4)
        .map(|_| stalled_upload(&server, BATCH_BYTES, BATCH_BYTES - 4096))
        .collect();
    let holding = 4.0 * (BATCH_BYTES - 4096) as f64;
    assert!(
        eventually(Duration::from_secs(10), || metric(
            &server,
            "prism_body_bytes_held"
        ) >= holding),
        "the server never held the four stalled bodies"
    );

    // A fifth does not fit: refused, retryable, and closed.
    let mut fifth = connect(&server);
    write!(fifth, "{}", post_head("/api/v1/batch", BATCH_BYTES)).unwrap();
    fifth.write_all(&[b' '; 64 * 1024]).unwrap();
    let (status, text) = answer_then_close(&mut fifth);
    assert_eq!(status, 503, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: "),
        "{text}"
    );
    assert!(text.contains(r#""error":"unavailable""#), "{text}");

    // Their clients leave: the bytes are given back and batches pass again.
    drop(held);
    assert!(
        eventually(Duration::from_secs(10), || metric(
            &server,
            "prism_body_bytes_held"
        ) == 0.0),
        "the stalled bodies were never given back"
    );
    let res = Client::new()
        .post(format!("{}/api/v1/batch", server.url))
        .json(&json!([event(), event()]))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: prism_event::BatchAnswer = res.json().unwrap();
    assert!(answer.results.iter().all(|r| r.is_accepted()), "{answer:?}");
}

#[test]
fn one_client_holds_at_most_its_share_of_the_body_budget_and_others_are_served() {
    const BATCH_BYTES: usize = 256 * 1024;
    let server = budget_server("edge-body-share", BATCH_BYTES, "0.25");
    // One stalled upload fills this client's quarter...
    let held = stalled_upload(&server, BATCH_BYTES, BATCH_BYTES - 4096);
    assert!(
        wait_held(&server, BATCH_BYTES - 4096),
        "the server never held the stalled body"
    );
    // ...so its next one is refused as its own excess,
    let mut second = stalled_upload(&server, BATCH_BYTES, 64 * 1024);
    let (status, text) = answer_then_close(&mut second);
    assert_eq!(status, 429, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: "),
        "{text}"
    );
    // ...while another client's batch is served.
    let other = Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let res = other
        .post(format!("{}/api/v1/batch", server.url))
        .json(&json!([event()]))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        metric(
            &server,
            r#"prism_requests_limited_total{limit="body_share"}"#
        ),
        1.0
    );
    drop(held);
}

#[test]
fn connections_beyond_a_clients_share_get_429_and_are_closed() {
    let server = start(
        &unique("edge-conns"),
        &[("PRISM_CLIENT_MAX_CONNECTIONS", "3")],
    );
    let health = "GET /healthz HTTP/1.1\r\nHost: prism\r\n\r\n";
    // Three kept-alive connections, each proven counted by an answer.
    let mut open: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(health.as_bytes()).unwrap();
            assert_eq!(one_answer(&mut s).0, 200);
            s
        })
        .collect();

    let mut fourth = connect(&server);
    fourth.write_all(health.as_bytes()).unwrap();
    let (status, text) = answer_then_close(&mut fourth);
    assert_eq!(status, 429, "{text}");
    assert!(text.contains(r#""error":"rate_limited""#), "{text}");

    // Another client is not affected.
    let other = Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    assert_eq!(
        other
            .get(format!("{}/healthz", server.url))
            .send()
            .unwrap()
            .status(),
        200
    );

    // One of the three closes: a new connection fits again once the server
    // has seen it close.
    drop(open.pop());
    assert!(
        eventually(Duration::from_secs(5), || {
            let mut s = connect(&server);
            s.write_all(health.as_bytes()).unwrap();
            one_answer(&mut s).0 == 200
        }),
        "a closed connection was never given back"
    );
    for s in &mut open {
        s.write_all(health.as_bytes()).unwrap();
        assert_eq!(one_answer(s).0, 200, "the first three stay served");
    }
}

/// Behind a proxy every connection comes from the proxy: the per-peer cap
/// is off, or it would throttle every user at once.
#[test]
fn behind_a_trusted_proxy_connections_are_not_capped_per_peer() {
    let server = start(
        &unique("edge-proxy"),
        &[
            ("PRISM_CLIENT_MAX_CONNECTIONS", "2"),
            ("PRISM_TRUST_FORWARDED", "true"),
        ],
    );
    let health = "GET /healthz HTTP/1.1\r\nHost: prism\r\n\r\n";
    let _open: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(health.as_bytes()).unwrap();
            assert_eq!(one_answer(&mut s).0, 200);
            s
        })
        .collect();
}

#[test]
fn a_client_over_its_rate_gets_429_with_retry_after_and_others_are_served() {
    let kafka = Kafka::shared();
    let topic = unique("edge-rate");
    let server = start(
        &topic,
        &[
            ("PRISM_CLIENT_EVENTS_PER_S", "1"),
            ("PRISM_CLIENT_BURST", "5"),
            ("PRISM_BATCH_MAX_EVENTS", "5"),
        ],
    );
    let flooder = Client::new();
    let batch: Vec<Value> = (0..5).map(|_| event()).collect();
    let res = flooder
        .post(format!("{}/api/v1/batch", server.url))
        .json(&batch)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);

    // The batch weighed 5 events: the bucket is empty.
    let refused = event();
    let res = flooder
        .post(format!("{}/api/v1/events", server.url))
        .json(&refused)
        .send()
        .unwrap();
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    let body: prism_event::ErrorBody = res.json().unwrap();
    assert_eq!(body.error, prism_event::ErrorCode::RateLimited);

    let other = Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let res = other
        .post(format!("{}/api/v1/events", server.url))
        .json(&event())
        .send()
        .unwrap();
    assert_eq!(res.status(), 202, "another client is served");

    // Told when to come back, the flooder is served again.
    std::thread::sleep(Duration::from_secs(wait));
    let res = flooder
        .post(format!("{}/api/v1/events", server.url))
        .json(&refused)
        .send()
        .unwrap();
    assert_eq!(res.status(), 202);

    // Exactly what was acknowledged is in Kafka, once each.
    let records = read_all(&kafka.brokers(), &topic, Duration::from_secs(30));
    assert_eq!(records.len(), 7);
    let refused_id = refused["event_id"].as_str().unwrap().as_bytes().to_vec();
    let carrying = |id: &[u8]| {
        records
            .iter()
            .filter(|r| r.payload.windows(id.len()).any(|w| w == id))
            .count()
    };
    assert_eq!(carrying(&refused_id), 1);
}
