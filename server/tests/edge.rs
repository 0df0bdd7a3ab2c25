//! The edge as an attacker meets it: `prism-server` as a real process on a
//! real broker, spoken to over raw sockets where a well-behaved HTTP client
//! would hide the attack (stalled and dripping bodies, many connections).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use prism_testkit::{Kafka, Producer, read_all, unique};
use reqwest::blocking::Client;
use serde_json::{Value, json};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn start(topic: &str, env: &[(&str, &str)]) -> Producer {
    Producer::start(
        env!("CARGO_BIN_EXE_prism-server").as_ref(),
        &Kafka::shared().brokers(),
        topic,
        env,
    )
}

fn event() -> Value {
    json!({
        "event_id": uuid::Uuid::now_v7(),
        "name": "Kim Minji",
        "color": "violet",
        "client_ts": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        "navigator": {"user_agent": CHROME}
    })
}

/// A connection to the server's public port; every read gives up after
/// 20 s, so a server that never answers fails the test instead of hanging it.
fn connect(server: &Producer) -> TcpStream {
    let address = server.url.trim_start_matches("http://");
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

fn post_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: prism\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// Everything the server sends until it closes the connection: its status
/// and the whole text.
fn answer_then_close(stream: &mut TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    if let Err(e) = stream.read_to_end(&mut bytes) {
        // A reset after the answer still counts: the answer is what matters.
        assert!(!bytes.is_empty(), "no answer, connection not closed: {e}");
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (status_of(&text), text)
}

fn status_of(text: &str) -> u16 {
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"))
}

/// One answer on a kept-alive connection: its status, the connection left
/// open for the next request.
fn one_answer(stream: &mut TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed mid-answer");
        bytes.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&bytes).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (status_of(&head), head + &String::from_utf8_lossy(&body))
}

fn metric(server: &Producer, name: &str) -> f64 {
    let text = reqwest::blocking::get(format!("{}/metrics", server.admin))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// Polls `condition` every 20 ms until it holds or `within` has passed.
fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

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
    let server = start(
        &unique("edge-budget"),
        &[
            ("PRISM_BODY_BUDGET_BYTES", &(4 * BATCH_BYTES).to_string()),
            ("PRISM_BATCH_MAX_BYTES", &BATCH_BYTES.to_string()),
            ("PRISM_BODY_TIMEOUT_MS", "60000"),
            ("PRISM_BODY_IDLE_TIMEOUT_MS", "60000"),
            // Every upload here comes from one address: the whole budget
            // is its share, so what fills is the budget itself.
            ("PRISM_CLIENT_BODY_SHARE", "1"),
        ],
    );
    // Four uploads of nearly a whole batch each, stalled before the end.
    let held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect(&server);
            write!(s, "{}", post_head("/api/v1/batch", BATCH_BYTES)).unwrap();
            s.write_all(&[b' '; BATCH_BYTES - 4096]).unwrap();
            s
        })
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
    let server = start(
        &unique("edge-body-share"),
        &[
            ("PRISM_BODY_BUDGET_BYTES", &(4 * BATCH_BYTES).to_string()),
            ("PRISM_BATCH_MAX_BYTES", &BATCH_BYTES.to_string()),
            ("PRISM_CLIENT_BODY_SHARE", "0.25"),
            ("PRISM_BODY_TIMEOUT_MS", "60000"),
            ("PRISM_BODY_IDLE_TIMEOUT_MS", "60000"),
        ],
    );
    // One stalled upload fills this client's quarter...
    let mut held = connect(&server);
    write!(held, "{}", post_head("/api/v1/batch", BATCH_BYTES)).unwrap();
    held.write_all(&[b' '; BATCH_BYTES - 4096]).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || metric(
            &server,
            "prism_body_bytes_held"
        ) >= (BATCH_BYTES - 4096) as f64),
        "the server never held the stalled body"
    );
    // ...so its next one is refused as its own excess,
    let mut second = connect(&server);
    write!(second, "{}", post_head("/api/v1/batch", BATCH_BYTES)).unwrap();
    let _ = second.write_all(&[b' '; 64 * 1024]);
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

#[test]
fn readiness_and_metrics_are_served_only_on_the_admin_listener_and_cost_no_broker_call() {
    let server = start(&unique("edge-admin"), &[]);
    let client = Client::new();
    for path in ["/readyz", "/metrics"] {
        let public = client.get(format!("{}{path}", server.url)).send().unwrap();
        assert_eq!(public.status(), 404, "{path} on the public listener");
        let admin = client
            .get(format!("{}{path}", server.admin))
            .send()
            .unwrap();
        assert_eq!(admin.status(), 200, "{path} on the admin listener");
    }

    // 400 readiness probes from 40 clients at once: answered from state
    // kept in the background, so the server starts no thread for them.
    let pid = server.process.pid().unwrap();
    let threads = || {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Threads:")?.trim().parse::<usize>().ok())
            .unwrap()
    };
    let before = threads();
    let admin = server.admin.clone();
    let probes: Vec<_> = (0..40)
        .map(|_| {
            let admin = admin.clone();
            std::thread::spawn(move || {
                let client = Client::new();
                (0..10)
                    .filter(|_| {
                        client
                            .get(format!("{admin}/readyz"))
                            .send()
                            .is_ok_and(|r| r.status() == 200)
                    })
                    .count()
            })
        })
        .collect();
    let ready: usize = probes.into_iter().map(|p| p.join().unwrap()).sum();
    assert_eq!(ready, 400);
    let after = threads();
    assert!(
        after <= before + 2,
        "threads went from {before} to {after} for readiness probes"
    );
}

#[test]
fn help_never_prints_the_values_of_secret_settings() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_prism-server"))
        .arg("--help")
        .env("PRISM_KAFKA_OPTIONS", "sasl.password=hunter2")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("PRISM_KAFKA_OPTIONS"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");
}

#[test]
fn malformed_requests_are_counted_and_logged_at_most_once_a_second() {
    let server = start(&unique("edge-garbage"), &[]);
    let started = Instant::now();
    for _ in 0..200 {
        let mut s = connect(&server);
        s.write_all(b"GARBAGE \x01\x02 NOT HTTP\r\n\r\n").unwrap();
        let (status, _) = answer_then_close(&mut s);
        assert_eq!(status, 400);
    }
    let seconds = started.elapsed().as_secs() + 1;
    assert_eq!(metric(&server, "prism_http_protocol_errors_total"), 200.0);
    let logged = server.process.output().matches("stream error").count() as u64;
    assert!(
        (1..=seconds + 1).contains(&logged),
        "{logged} protocol errors logged in {seconds} s"
    );
}

#[test]
fn the_page_carries_security_headers_and_static_errors_are_json() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(
        dist.path().join("index.html"),
        "<html><head><script type=\"module\">start();</script></head><body></body></html>",
    )
    .unwrap();
    let server = start(
        &unique("edge-page"),
        &[("PRISM_STATIC_DIR", dist.path().to_str().unwrap())],
    );
    let client = Client::new();
    let page = client.get(format!("{}/", server.url)).send().unwrap();
    assert_eq!(page.status(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let policy = header("content-security-policy");
    // sha256("start();"), computed apart: `printf 'start();' | sha256sum`.
    assert!(
        policy.contains("'sha256-E6jQvrT2ZivWG9GJ4AAEZf4MhI7l3QkLroW4hgvUT4c='"),
        "{policy}"
    );
    assert!(policy.contains("'wasm-unsafe-eval'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("referrer-policy"), "no-referrer");

    for (method, path, status) in [
        ("GET", "/missing.js", 404),
        ("POST", "/", 405),
        ("GET", "/.hidden", 404),
        ("GET", "/%2e%2e/%2e%2e/etc/passwd", 404),
    ] {
        let res = client
            .request(method.parse().unwrap(), format!("{}{path}", server.url))
            .send()
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{method} {path}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        let body: prism_event::ErrorBody = res
            .json()
            .unwrap_or_else(|e| panic!("{method} {path}: not the JSON error shape: {e}"));
        assert!(!body.message.is_empty());
    }
}
