//! Helpers both sink test suites share.
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use prism_event::{Device, EnrichedEvent, Navigator, Software, UserAgent};
use time::OffsetDateTime;
use uuid::Uuid;

pub const SKEW: Duration = Duration::from_secs(600);

pub fn event(i: usize, client_ts: OffsetDateTime) -> EnrichedEvent {
    EnrichedEvent {
        schema_version: prism_event::SCHEMA_VERSION,
        event_id: Uuid::now_v7(),
        name: format!("user {i}"),
        color: prism_event::Color::ALL[i % 7],
        client_ts,
        received_at: client_ts + time::Duration::seconds(1),
        client_ip: None,
        navigator: Navigator {
            user_agent: "Mozilla/5.0".into(),
            ..Navigator::default()
        },
        ua: UserAgent {
            browser: Software {
                family: "Chrome".into(),
                ..Software::default()
            },
            os: Software {
                family: "Linux".into(),
                ..Software::default()
            },
            device: Device {
                family: "Other".into(),
                ..Device::default()
            },
        },
    }
}

pub fn now_events(n: usize) -> Vec<EnrichedEvent> {
    (0..n)
        .map(|i| event(i, OffsetDateTime::now_utc()))
        .collect()
}

pub fn get(url: &str) -> (u16, String) {
    match reqwest::blocking::get(url) {
        Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

pub fn metric(base: &str, name: &str) -> f64 {
    let (_, text) = get(&format!("{base}/metrics"));
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Asserts each event is present exactly once and nothing else is.
pub fn assert_exactly_once(sent: &[EnrichedEvent], landed: &[EnrichedEvent]) {
    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for e in landed {
        *counts.entry(e.event_id).or_default() += 1;
    }
    let duplicates = counts.values().filter(|c| **c > 1).count();
    let lost = sent
        .iter()
        .filter(|e| !counts.contains_key(&e.event_id))
        .count();
    assert_eq!(
        (lost, duplicates),
        (0, 0),
        "lost, duplicated (of {} sent, {} landed)",
        sent.len(),
        landed.len()
    );
    assert_eq!(landed.len(), sent.len());
}

/// A sink binary's command with what every test run shares: the broker,
/// topic, dead-letter topic, group, metrics port, short session timeout and
/// retry cap. `env` comes last, so a test can override any of it.
pub fn sink_command(
    bin: &str,
    brokers: &str,
    topic: &str,
    group: &str,
    metrics_port: u16,
    env: &[(&str, &str)],
) -> Command {
    let mut command = Command::new(bin);
    command
        .env("PRISM_KAFKA_BROKERS", brokers)
        .env("PRISM_TOPIC", topic)
        .env("PRISM_DLQ_TOPIC", format!("{topic}-dlq"))
        .env("PRISM_GROUP", group)
        .env("PRISM_METRICS_BIND", format!("127.0.0.1:{metrics_port}"))
        .env("PRISM_SESSION_TIMEOUT_MS", "6000")
        .env("PRISM_RETRY_MAX_MS", "1000")
        .env("RUST_LOG", "info");
    for (k, v) in env {
        command.env(k, v);
    }
    command
}
