//! Speaking to `prism-server` as an attacker would: raw sockets where a
//! well-behaved HTTP client would hide the attack, and the server's own
//! metrics to wait on.
#![allow(dead_code)] // each test file uses its own part

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use prism_testkit::{Kafka, Producer, unique};
use serde_json::{Value, json};

pub const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

pub fn start(topic: &str, env: &[(&str, &str)]) -> Producer {
    Producer::start(
        env!("CARGO_BIN_EXE_prism-server").as_ref(),
        &Kafka::shared().brokers(),
        topic,
        env,
    )
}

pub fn event() -> Value {
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
pub fn connect(server: &Producer) -> TcpStream {
    let address = server.url.trim_start_matches("http://");
    let stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

pub fn post_head(path: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: prism\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

/// Everything the server sends until it closes the connection: its status
/// and the whole text.
pub fn answer_then_close(stream: &mut TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    if let Err(e) = stream.read_to_end(&mut bytes) {
        // A reset after the answer still counts: the answer is what matters.
        assert!(!bytes.is_empty(), "no answer, connection not closed: {e}");
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (status_of(&text), text)
}

pub fn status_of(text: &str) -> u16 {
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"))
}

/// One answer on a kept-alive connection: its status, the connection left
/// open for the next request.
pub fn one_answer(stream: &mut TcpStream) -> (u16, String) {
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

pub fn metric(server: &Producer, name: &str) -> f64 {
    let text = reqwest::blocking::get(format!("{}/metrics", server.admin))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// Polls `condition` every 20 ms until it holds or `within` has passed.
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
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

/// A server whose body budget holds four batches of `batch_bytes`, one
/// client's share of it being `share`, and whose body deadlines are far
/// off: uploads stall until the test lets them go.
pub fn budget_server(topic: &str, batch_bytes: usize, share: &str) -> Producer {
    start(
        &unique(topic),
        &[
            ("PRISM_BODY_BUDGET_BYTES", &(4 * batch_bytes).to_string()),
            ("PRISM_BATCH_MAX_BYTES", &batch_bytes.to_string()),
            ("PRISM_CLIENT_BODY_SHARE", share),
            ("PRISM_BODY_TIMEOUT_MS", "60000"),
            ("PRISM_BODY_IDLE_TIMEOUT_MS", "60000"),
        ],
    )
}

/// A batch upload declaring `declared` bytes that sends `sent` of them and
/// stalls.
pub fn stalled_upload(server: &Producer, declared: usize, sent: usize) -> TcpStream {
    let mut s = connect(server);
    write!(s, "{}", post_head("/api/v1/batch", declared)).unwrap();
    // The server may refuse and close before all is sent: its answer says.
    let _ = s.write_all(&vec![b' '; sent]);
    s
}

/// Waits until the server holds at least `bytes` of bodies.
pub fn wait_held(server: &Producer, bytes: usize) -> bool {
    eventually(Duration::from_secs(10), || {
        metric(server, "prism_body_bytes_held") >= bytes as f64
    })
}
