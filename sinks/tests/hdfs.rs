//! `prism-hdfs-sink` as a real process: Apache Kafka, a temporary
//! directory for the lake.

use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;
use prism_sinks::event_time::event_time;
use prism_sinks::hdfs::layout::{Bucket, parse_file_name};
use prism_testkit::{produce, read_records};
use time::macros::datetime;

mod support;

use support::lake::Lake;
use support::{
    SKEW, assert_exactly_once, dead_letter_reason, event, get, metric, now_events, wait_until,
};

#[test]
fn every_event_lands_once_filed_by_event_time_in_the_hive_layout() {
    let s = Lake::new();
    let _sink = s.start_sink(&[]);
    let hours = [
        datetime!(2026-11-22 03:59:58 UTC),
        datetime!(2026-11-22 04:30:00 UTC),
        datetime!(2026-11-23 00:00:01 UTC),
    ];
    let mut sent: Vec<EnrichedEvent> = (0..300).map(|i| event(i, hours[i % 3])).collect();
    let mut wild = event(300, datetime!(2001-06-01 23:59:59 UTC));
    wild.received_at = datetime!(2026-11-22 05:10:00 UTC);
    sent.push(wild.clone());
    s.produce(&sent);

    assert_eq!(
        s.wait_for_events(sent.len(), Duration::from_secs(60)),
        sent.len()
    );
    let files = s.files();
    for (path, events) in &files {
        let name = path.rsplit('/').next().unwrap();
        let (partition, first, last) =
            parse_file_name(&s.topic, name).unwrap_or_else(|| panic!("bad name {path}"));
        assert!((0..2).contains(&partition) && first <= last, "{path}");
        assert!(events.len() as i64 <= last - first + 1, "{path}");
        for e in events {
            let dir = Bucket::of(event_time(e, SKEW)).dir(&s.topic);
            assert_eq!(format!("{dir}{name}"), *path, "filed by event time");
        }
    }
    assert!(
        files
            .iter()
            .any(|(p, _)| p.contains("/dt=2026-11-23/hour=00/"))
    );
    assert!(
        files
            .iter()
            .any(|(p, _)| p.contains("/dt=2026-11-22/hour=03/"))
    );
    let wild_file = files
        .iter()
        .find(|(_, es)| es.iter().any(|e| e.event_id == wild.event_id))
        .unwrap();
    assert!(
        wild_file.0.contains("/dt=2026-11-22/hour=05/"),
        "a wild client clock files under received_at: {}",
        wild_file.0
    );
    assert_exactly_once(&sent, &s.events());
}

#[test]
fn kill_9_five_times_mid_stream_loses_and_duplicates_nothing() {
    let s = Lake::new();
    let sent = now_events(3_000);
    let env = [
        ("PRISM_ROTATE_RECORDS", "40"),
        ("PRISM_ROTATE_AGE_MS", "300"),
    ];
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| {
            for chunk in sent.chunks(100) {
                s.produce(chunk);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        for round in 0..5 {
            let mut sink = s.start_sink(&env);
            std::thread::sleep(Duration::from_millis(1_500 + 300 * round));
            sink.process.kill();
        }
        producer.join().unwrap();
    });
    let before_final = s.events().len();
    let _sink = s.start_sink(&env);
    let landed = s.wait_for_events(sent.len(), Duration::from_secs(90));
    eprintln!("after 5 kills: {before_final} events had landed; after the final start: {landed}");
    assert!(before_final > 0, "the killed sinks made progress");
    s.assert_settles_exactly_once(&sent, Duration::from_secs(5));
}

/// Events whose clocks alternate between two hours (a client sending
/// 23:59:59 and 00:00:01 by turns) make one file per partition and hour,
/// not one per event.
#[test]
fn alternating_hours_make_one_file_per_partition_and_hour() {
    let s = Lake::new();
    let _sink = s.start_sink(&[("PRISM_ROTATE_AGE_MS", "3000")]);
    let midnight = datetime!(2026-11-22 00:00:00 UTC);
    let sent: Vec<EnrichedEvent> = (0..400)
        .map(|i| {
            let side = if i % 2 == 0 { -1 } else { 1 };
            event(i, midnight + time::Duration::seconds(side))
        })
        .collect();
    s.produce(&sent);
    assert_eq!(
        s.wait_for_events(sent.len(), Duration::from_secs(60)),
        sent.len()
    );
    let files = s.files();
    assert!(
        files.len() <= 4,
        "{} files for 2 hours on 2 partitions: {:?}",
        files.len(),
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert_exactly_once(&sent, &s.events());
}

/// The same across six hours at once (more than a partition keeps open:
/// browser clocks up to five hours behind, allowed by a five-hour skew
/// bound), with the sink killed -9 three times mid-stream: every event once.
#[test]
fn interleaved_hours_survive_kill_9_exactly_once() {
    let s = Lake::new();
    let now = time::OffsetDateTime::now_utc();
    let sent: Vec<EnrichedEvent> = (0..2_400)
        .map(|i| {
            let behind = time::Duration::minutes(55 * (i % 6) as i64);
            EnrichedEvent {
                received_at: now,
                ..event(i, now - behind)
            }
        })
        .collect();
    let env = [
        ("PRISM_ROTATE_RECORDS", "40"),
        ("PRISM_ROTATE_AGE_MS", "300"),
        ("PRISM_MAX_CLOCK_SKEW_S", "18000"),
    ];
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| s.produce_steadily(&sent, 100, Duration::from_millis(100)));
        // Each sink is killed once it has written something, a little later
        // each round, mid-file for some hours and between files for others.
        for round in 0..3 {
            let landed = s.events().len();
            let mut sink = s.start_sink(&env);
            wait_until("the sink writes", Duration::from_secs(60), || {
                s.events().len() > landed
            });
            std::thread::sleep(Duration::from_millis(100 + 200 * round));
            sink.process.kill();
        }
        producer.join().unwrap();
    });
    let _sink = s.start_sink(&env);
    s.wait_for_events(sent.len(), Duration::from_secs(90));
    s.assert_settles_exactly_once(&sent, Duration::from_secs(5));
}

#[test]
fn files_rotate_by_count_and_by_age_on_a_quiet_topic() {
    let s = Lake::new();
    let _sink = s.start_sink(&[
        ("PRISM_ROTATE_RECORDS", "100"),
        ("PRISM_ROTATE_AGE_MS", "2000"),
    ]);
    let sent = now_events(450);
    s.produce(&sent);
    let produced_at = Instant::now();
    assert_eq!(
        s.wait_for_events(sent.len(), Duration::from_secs(30)),
        sent.len()
    );
    let visible_after = produced_at.elapsed();
    let sizes: Vec<usize> = s.files().iter().map(|(_, e)| e.len()).collect();
    assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    assert!(
        sizes.iter().filter(|n| **n == 100).count() >= 3,
        "count rotation: {sizes:?}"
    );
    // The tails never reach 100 records; only the age bound can close them.
    assert!(
        visible_after < Duration::from_secs(2 + 4),
        "tail visible after {visible_after:?}"
    );
    assert_exactly_once(&sent, &s.events());
}

#[test]
fn two_sinks_share_the_partitions_and_one_takes_over_when_the_other_stops() {
    let s = Lake::new();
    let mut first = s.start_sink(&[]);
    let second = s.start_sink(&[]);
    std::thread::sleep(Duration::from_secs(4));
    let mut sent = now_events(400);
    s.produce(&sent);
    assert_eq!(
        s.wait_for_events(sent.len(), Duration::from_secs(60)),
        sent.len()
    );
    let (a, b) = (
        metric(&first.metrics, "prism_sink_records_consumed_total"),
        metric(&second.metrics, "prism_sink_records_consumed_total"),
    );
    assert!(a > 0.0 && b > 0.0, "both workers consumed: {a} and {b}");

    assert!(
        first.process.terminate(Duration::from_secs(30)),
        "clean exit on SIGTERM"
    );
    let more = now_events(200);
    s.produce(&more);
    sent.extend(more);
    assert_eq!(
        s.wait_for_events(sent.len(), Duration::from_secs(60)),
        sent.len()
    );
    assert_exactly_once(&sent, &s.events());
}

#[test]
fn an_unwritable_target_pauses_loading_and_nothing_is_lost() {
    let s = Lake::new();
    let sink = s.start_sink(&[]);
    let mut sent = now_events(100);
    s.produce(&sent);
    assert_eq!(s.wait_for_events(100, Duration::from_secs(30)), 100);

    // A regular file where the temporary directory belongs: every write
    // fails, even for root.
    let tmp = s.lake.path().join("_tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::write(&tmp, b"in the way").unwrap();
    let more = now_events(100);
    s.produce(&more);
    sent.extend(more);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(s.events().len(), 100, "nothing can be written meanwhile");
    assert_eq!(
        get(&format!("{}/readyz", sink.metrics)).0,
        503,
        "not ready while the target fails"
    );
    assert_eq!(metric(&sink.metrics, "prism_sink_target_up"), 0.0);

    std::fs::remove_file(&tmp).unwrap();
    assert_eq!(
        s.wait_for_events(sent.len(), Duration::from_secs(30)),
        sent.len()
    );
    assert_eq!(get(&format!("{}/readyz", sink.metrics)).0, 200);
    assert_exactly_once(&sent, &s.events());
}

/// Records written to the topic by something other than prism-server: a
/// pretty-printed event still makes one line of the lake, and an event that
/// breaks the producer's rules (a value no store holds) is dead-lettered
/// byte for byte instead of loaded.
#[test]
fn a_pretty_printed_event_is_one_line_and_one_breaking_the_edge_rules_is_dead_lettered() {
    let s = Lake::new();
    let sink = s.start_sink(&[]);
    let good = now_events(3);
    let mut breaking = serde_json::to_value(&good[1]).unwrap();
    breaking["navigator"]["hardware_concurrency"] = serde_json::json!(4_294_967_295u64);
    let breaking = serde_json::to_vec(&breaking).unwrap();
    let payloads = vec![
        serde_json::to_vec_pretty(&good[0]).unwrap(),
        breaking.clone(),
        serde_json::to_vec(&good[2]).unwrap(),
    ];
    assert!(payloads[0].iter().filter(|b| **b == b'\n').count() > 10);
    produce(&s.kafka.brokers(), &s.topic, &payloads);
    assert_eq!(s.wait_for_events(2, Duration::from_secs(30)), 2);
    let loaded = [good[0].clone(), good[2].clone()];
    assert_exactly_once(&loaded, &s.events());
    assert_eq!(s.bad_lines(), 0, "every line of the lake is one event");

    let dead = read_records(&s.kafka.brokers(), &s.dlq(), 1, Duration::from_secs(30));
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, breaking, "dead-lettered byte for byte");
    let reason = dead_letter_reason(&dead[0]);
    assert!(
        reason.contains("navigator.hardware_concurrency"),
        "{reason}"
    );
    // Each record counted once, by outcome.
    wait_until("the outcomes counted", Duration::from_secs(30), || {
        sink.metric("prism_sink_records_written_total") >= 2.0
    });
    assert_eq!(sink.metric("prism_sink_records_written_total"), 2.0);
    assert_eq!(
        sink.metric(r#"prism_sink_records_dead_lettered_total{reason="breaks_rules""#),
        1.0
    );
    assert_eq!(sink.metric("prism_sink_records_already_there_total"), 0.0);
}

#[test]
fn a_poison_record_goes_to_the_dead_letter_topic_and_the_flow_continues() {
    let s = Lake::new();
    let _sink = s.start_sink(&[]);
    let good = now_events(2);
    let payloads = vec![
        serde_json::to_vec(&good[0]).unwrap(),
        b"this is not JSON".to_vec(),
        br#"{"schema_version":1,"name":"no id"}"#.to_vec(),
        serde_json::to_vec(&good[1]).unwrap(),
    ];
    produce(&s.kafka.brokers(), &s.topic, &payloads);
    assert_eq!(s.wait_for_events(2, Duration::from_secs(30)), 2);
    assert_exactly_once(&good, &s.events());

    let dead = read_records(
        &s.kafka.brokers(),
        &format!("{}-dlq", s.topic),
        2,
        Duration::from_secs(30),
    );
    assert_eq!(dead.len(), 2);
    let bodies: Vec<&[u8]> = dead.iter().map(|r| r.payload.as_slice()).collect();
    assert!(bodies.contains(&b"this is not JSON".as_slice()));
    for r in &dead {
        assert!(
            dead_letter_reason(r).contains("not a valid enriched event"),
            "{:?}",
            r.headers
        );
        assert!(
            r.headers
                .iter()
                .any(|(k, v)| k == "prism-source-topic" && *v == s.topic)
        );
    }
}
