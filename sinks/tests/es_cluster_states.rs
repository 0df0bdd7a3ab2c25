//! `prism-es-sink` against the answers a real OpenSearch node gives only
//! in states a test cannot put it in on demand, so they come from the
//! scripted proxy in front of the shared node: credentials refused (a node
//! without the security plugin accepts every request; that plugin needs a
//! TLS setup of its own), a `_bulk` body refused whole (the sink writes only
//! valid JSON; a node refuses a whole body only when it cannot parse it),
//! items failing with 503 for long (a real node holds the request for its
//! whole bulk timeout, a minute, before answering so). And a retry of one
//! event that crosses midnight, on the node itself. The states a node can
//! be put in (a write block, a deleted index, the flood-stage watermark, a
//! full write queue, a kill -9) are in es_opensearch.rs. None of them may
//! put a good document in the dead-letter topic.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prism_event::EnrichedEvent;
use prism_testkit::read_all;
use serde_json::json;
use time::macros::datetime;

mod support;

use support::proxy::{Proxy, docs_in, refuse_items};
use support::search::Search;
use support::{dead_letter_reason, event, eventually, get, metric, now_events};

/// A `_bulk` answer refusing every document of `body` with `status`.
fn dead_letters(s: &Search) -> Vec<prism_testkit::Record> {
    read_all(&s.kafka.brokers(), &s.dlq(), Duration::from_secs(30))
}

#[test]
fn credentials_refused_at_start_up_stop_the_worker_at_once_with_the_reason() {
    for status in [401, 403] {
        let s = Search::new();
        let proxy = Proxy::start(&s.es.url, Box::new(|_: usize, _: &[u8]| None), None);
        proxy.refuse.store(status, Ordering::SeqCst);
        let mut sink = s.start_sink(Some(&proxy.url), &[]);
        let exit = sink.process.wait_exit(Duration::from_secs(15));
        assert!(
            exit.is_some_and(|e| !e.success()),
            "HTTP {status}: exits with an error instead of retrying: {exit:?}"
        );
        let log = sink.process.output();
        assert!(
            log.contains("refused our credentials") && log.contains("PRISM_ES_USER"),
            "{log}"
        );
    }
}

#[test]
fn credentials_refused_on_bulk_stop_the_worker_and_lose_nothing() {
    let s = Search::new();
    let proxy = Proxy::start(&s.es.url, Box::new(|_: usize, _: &[u8]| None), None);
    let mut first = s.start_sink(Some(&proxy.url), &[]);
    assert!(eventually(Duration::from_secs(30), || first.readyz() == 200));
    proxy.refuse.store(401, Ordering::SeqCst);
    let sent = now_events(50);
    s.produce(&sent);
    let exit = first.process.wait_exit(Duration::from_secs(30));
    assert!(exit.is_some_and(|e| !e.success()), "{exit:?}");
    assert!(
        first.process.output().contains("refused our credentials"),
        "{}",
        first.process.output()
    );
    assert_eq!(s.count(), 0);

    // Credentials fixed: a new worker loads everything, once.
    proxy.refuse.store(0, Ordering::SeqCst);
    let _second = s.start_sink(Some(&proxy.url), &[]);
    assert_eq!(s.wait_for_count(50, Duration::from_secs(60)), 50);
    s.assert_one_document_each(&sent);
    assert!(dead_letters(&s).is_empty());
}

#[test]
fn a_bulk_body_refused_whole_is_split_down_to_the_one_bad_document() {
    let s = Search::new();
    let fault = |_: usize, body: &[u8]| {
        docs_in(body).iter().any(|d| d["name"] == "poison").then(|| {
            (
                400,
                json!({"error": {"type": "x_content_parse_exception", "reason": "scripted: cannot parse"}, "status": 400}),
            )
        })
    };
    let proxy = Proxy::start(&s.es.url, Box::new(fault), None);
    let _sink = s.start_sink(
        Some(&proxy.url),
        &[
            ("PRISM_ES_BATCH_DOCS", "40"),
            ("PRISM_ES_BATCH_AGE_MS", "1000"),
        ],
    );
    let mut sent = now_events(40);
    sent[17].name = "poison".into();
    s.produce(&sent);

    let good: Vec<EnrichedEvent> = sent
        .iter()
        .filter(|e| e.name != "poison")
        .cloned()
        .collect();
    assert_eq!(s.wait_for_count(39, Duration::from_secs(60)), 39);
    s.assert_one_document_each(&good);
    let dead = dead_letters(&s);
    assert_eq!(dead.len(), 1, "only the bad document");
    assert_eq!(
        dead[0].payload,
        serde_json::to_vec(&sent[17]).unwrap(),
        "the record, byte for byte"
    );
    let reason = dead_letter_reason(&dead[0]);
    assert!(
        reason.contains("x_content_parse_exception"),
        "{:?}",
        dead[0].headers
    );
}

#[test]
fn items_failing_with_5xx_for_long_are_retried_and_their_age_is_shown() {
    let s = Search::new();
    let failing = Arc::new(AtomicBool::new(true));
    let is_failing = Arc::clone(&failing);
    let fault = move |_: usize, body: &[u8]| {
        is_failing.load(Ordering::SeqCst).then(|| {
            (
                200,
                refuse_items(
                    body,
                    503,
                    "unavailable_shards_exception",
                    "primary shard is not active",
                ),
            )
        })
    };
    let proxy = Proxy::start(&s.es.url, Box::new(fault), None);
    let sink = s.start_sink(Some(&proxy.url), &[]);
    let sent = now_events(20);
    s.produce(&sent);
    let gauge = "prism_sink_es_oldest_unresolved_seconds";
    assert!(
        eventually(Duration::from_secs(30), || sink.metric(gauge) >= 3.0),
        "the oldest unresolved record's age shows: {}",
        sink.metric(gauge)
    );
    failing.store(false, Ordering::SeqCst);
    assert_eq!(s.wait_for_count(20, Duration::from_secs(60)), 20);
    s.assert_one_document_each(&sent);
    assert!(eventually(Duration::from_secs(10), || sink.metric(gauge) == 0.0));
    assert!(dead_letters(&s).is_empty());
}

/// A browser whose clock is 20 minutes slow presses at 23:40 by its clock;
/// the producer receives the event at 23:59:30 and, the browser retrying
/// because it missed the answer, again at 00:10:30 the next day. The skew
/// rule files both attempts under their receive times, on two days: the
/// index must not follow it.
#[test]
fn a_retry_across_midnight_with_the_browser_clock_off_is_one_document() {
    let s = Search::new();
    let sink = s.start_sink(None, &[]);
    let pressed = datetime!(2026-11-20 23:40:00 UTC);
    let v7 = event(1, pressed);
    let mut v4 = event(2, pressed);
    v4.event_id = uuid::Uuid::new_v4();
    let mut attempts = Vec::new();
    for e in [&v7, &v4] {
        for received in [
            datetime!(2026-11-20 23:59:30 UTC),
            datetime!(2026-11-21 00:10:30 UTC),
        ] {
            attempts.push(EnrichedEvent {
                received_at: received,
                ..e.clone()
            });
        }
    }
    s.produce(&attempts);
    assert!(sink.wait_consumed(4, Duration::from_secs(60)));
    assert_eq!(s.wait_for_count(2, Duration::from_secs(60)), 2);
    assert!(eventually(Duration::from_secs(30), || metric(
        &sink.metrics,
        "prism_sink_es_duplicates_total"
    ) >= 2.0));
    let ids = s.doc_ids();
    assert_eq!(
        ids.keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        [
            format!("{}-2026.11.20/{}", s.es.prefix, v7.event_id),
            format!("{}-2026.11.20/{}", s.es.prefix, v4.event_id),
        ]
        .into_iter()
        .collect(),
        "one document each, in the day the browser pressed"
    );
    assert!(ids.values().all(|n| *n == 1));
    assert_eq!(get(&format!("{}/readyz", sink.metrics)).0, 200);
}
