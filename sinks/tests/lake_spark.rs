//! The lake on a real HDFS, queried as analysts with Hadoop tools query it:
//! Spark SQL (PySpark's `spark-sql`, through `scripts/spark-sql`) reads the
//! `dt=/hour=` directories as partitions, both as a Spark view
//! (`sql/spark-lake-view.sql`) and as the Hive external table of
//! `sql/hive-select-color.sql` (Hive's JSON SerDe, `MSCK REPAIR`), and the
//! README's queries count exactly what was sent; then, with one hour
//! compacted to Parquet by `prism-lake` and the other still JSON lines,
//! the view reads both and gives back every event as it was sent.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use prism_event::{EnrichedEvent, Navigator, Screen, UaBrand, UaData, Viewport};
use prism_sinks::hdfs::layout::Bucket;
use time::macros::datetime;

mod support;

use support::hdfs_lake::HdfsLake;
use support::lake_at::group_caught_up;
use support::{event, wait_until};

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// How long one `spark-sql` run may take (about 20 s here; the first run on
/// a machine also installs PySpark).
const SPARK_TIMEOUT_S: &str = "600";

/// `scripts/spark-sql [--hive] --lake LAKE sql/QUERY`: its rows, each a
/// list of columns.
fn spark_sql(lake: &str, hive: bool, query: &str) -> Vec<Vec<String>> {
    let mut command = Command::new("timeout");
    command
        .args(["--kill-after=10", SPARK_TIMEOUT_S])
        .arg(workspace().join("scripts/spark-sql"))
        .args(["--lake", lake]);
    if hive {
        command.arg("--hive");
    }
    let out = command
        .arg(workspace().join("sql").join(query))
        .output()
        .expect("run scripts/spark-sql");
    assert!(
        out.status.success(),
        "scripts/spark-sql {query} ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// What a browser that reports everything sends, so that the Hive table's
/// every nested column is read from the files.
fn full_navigator() -> Navigator {
    Navigator {
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0".into(),
        language: Some("ko-KR".into()),
        languages: Some(vec!["ko-KR".into(), "en".into()]),
        platform: Some("Linux x86_64".into()),
        vendor: Some(String::new()),
        cookie_enabled: Some(true),
        do_not_track: Some("1".into()),
        hardware_concurrency: Some(8),
        device_memory: Some(0.5),
        max_touch_points: Some(0),
        screen: Some(Screen {
            width: 2560,
            height: 1440,
            pixel_ratio: Some(1.5),
            color_depth: Some(24),
        }),
        viewport: Some(Viewport {
            width: 1280,
            height: 700,
        }),
        timezone: Some("Asia/Seoul".into()),
        timezone_offset_min: Some(-540),
        referrer: Some("https://example.com/?q=\"colour\"".into()),
        page_url: Some("http://127.0.0.1:8080/".into()),
        ua_data: Some(UaData {
            brands: vec![UaBrand {
                brand: "Chromium".into(),
                version: "131".into(),
            }],
            mobile: Some(false),
            platform: Some("Linux".into()),
        }),
    }
}

/// 60 presses across midnight (so `hour=00` is among the partitions), by
/// four browser families in unequal shares, two of them tied.
fn presses() -> Vec<EnrichedEvent> {
    let hours = [
        datetime!(2026-01-01 23:00 UTC),
        datetime!(2026-01-02 00:00 UTC),
    ];
    let families = ["Chrome", "Chrome", "Chrome", "Chrome", "Chrome"]
        .into_iter()
        .chain(["Firefox", "Firefox", "Firefox", "Safari", "Mobile Safari"]);
    let families: Vec<&str> = families.collect();
    let mut sent = Vec::new();
    for (h, hour) in hours.iter().enumerate() {
        for i in 0..30 {
            let n = h * 30 + i;
            let mut e = event(i * i % 11, *hour + time::Duration::minutes(i as i64));
            e.name = format!("Zoë \"{n}\" 🎨");
            e.ua.browser.family = families[n % families.len()].into();
            if n % 3 == 0 {
                e.navigator = full_navigator();
            }
            sent.push(e);
        }
    }
    sent
}

/// The colour-per-hour rows the queries should give: `(dt, hour, colour,
/// presses)`, ordered as the query orders them.
fn colours_per_hour(sent: &[EnrichedEvent]) -> Vec<(String, u8, String, u64)> {
    let mut per_hour: BTreeMap<(String, u8, String), u64> = BTreeMap::new();
    for e in sent {
        let bucket = Bucket::of(e.client_ts);
        *per_hour
            .entry((bucket.date.to_string(), bucket.hour, e.color.to_string()))
            .or_default() += 1;
    }
    let mut rows: Vec<_> = per_hour
        .into_iter()
        .map(|((dt, hour, color), n)| (dt, hour, color, n))
        .collect();
    rows.sort_by(|a, b| {
        (&a.0, a.1, std::cmp::Reverse(a.3), &a.2).cmp(&(&b.0, b.1, std::cmp::Reverse(b.3), &b.2))
    });
    rows
}

/// Spark's colour-per-hour rows, typed: the view's hour is an INT (`0`),
/// the Hive table's the directory's text (`00`).
fn typed(rows: Vec<Vec<String>>) -> Vec<(String, u8, String, u64)> {
    rows.into_iter()
        .map(|r| match r.as_slice() {
            [dt, hour, color, n] => (
                dt.clone(),
                hour.parse().unwrap_or_else(|_| panic!("hour {hour:?}")),
                color.clone(),
                n.parse().unwrap_or_else(|_| panic!("count {n:?}")),
            ),
            _ => panic!("not a colour-per-hour row: {r:?}"),
        })
        .collect()
}

#[test]
fn spark_sql_reads_the_lake_on_hdfs_as_a_view_and_as_the_hive_table_with_exact_counts() {
    let lake = HdfsLake::new();
    let _sink = lake.start_sink(&[("PRISM_ROTATE_RECORDS", "20")]);
    let sent = presses();
    lake.s.produce(&sent);
    lake.assert_settles_exactly_once(&sent, Duration::from_secs(120));

    let topic_dir = format!("{}{}/topics/{}", lake.hdfs.url(), lake.root, lake.s.topic);
    let expected = colours_per_hour(&sent);
    let browsers: Vec<Vec<String>> = [("Chrome", 30), ("Firefox", 18)]
        .into_iter()
        .chain([("Mobile Safari", 6), ("Safari", 6)])
        .map(|(b, n)| vec![b.to_owned(), n.to_string()])
        .collect();

    assert_eq!(
        typed(spark_sql(&topic_dir, false, "spark-colours-per-hour.sql")),
        expected,
        "the Spark view, colours per hour"
    );
    assert_eq!(
        spark_sql(&topic_dir, false, "spark-top-browsers.sql"),
        browsers,
        "the Spark view, top browsers"
    );
    let hive = spark_sql(&topic_dir, true, "spark-colours-per-hour.sql");
    assert!(
        hive.iter().any(|r| r[1] == "00"),
        "the Hive table's hour is the directory's text: {hive:?}"
    );
    assert_eq!(typed(hive), expected, "the Hive table, colours per hour");
    assert_eq!(
        spark_sql(&topic_dir, true, "spark-top-browsers.sql"),
        browsers,
        "the Hive table, top browsers"
    );

    // Every column of the table, nested ones included, read back through
    // Hive's SerDe: each event comes back as it was sent (a field the table
    // does not name, or names with the wrong type, would not).
    let dir = tempfile::tempdir().unwrap();
    let query = dir.path().join("events.sql");
    std::fs::write(
        &query,
        "SELECT to_json(struct(schema_version, event_id, name, color, client_ts, \
         received_at, client_ip, navigator, ua)) FROM select_color;",
    )
    .unwrap();
    let mut read: Vec<serde_json::Value> = spark_sql(&topic_dir, true, query.to_str().unwrap())
        .into_iter()
        .map(|r| serde_json::from_str(&r.join("\t")).unwrap_or_else(|e| panic!("{e}: {r:?}")))
        .collect();
    let mut sent: Vec<serde_json::Value> = sent
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    let by_id = |v: &serde_json::Value| v["event_id"].as_str().unwrap_or_default().to_owned();
    read.sort_by_key(by_id);
    sent.sort_by_key(by_id);
    assert_eq!(read, sent, "events read through the Hive table");

    // The first hour compacted, the second still JSON lines (the Hive
    // table's JSON SerDe reads JSON lines only: it is not asked again).
    wait_until(
        "the group commits everything",
        Duration::from_secs(60),
        || group_caught_up(&lake.s, &lake.s.group),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_prism-lake"))
        .env("PRISM_KAFKA_BROKERS", lake.s.kafka.brokers())
        .env("PRISM_TOPIC", &lake.s.topic)
        .env("PRISM_GROUP", &lake.s.group)
        .env(
            "PRISM_HDFS_TARGET",
            format!("{}{}", lake.hdfs.url(), lake.root),
        )
        .args(["seal", "--compact", "--hour", "2026-01-01T23"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("compacted now"),
        "{out:?}"
    );
    assert_eq!(
        typed(spark_sql(&topic_dir, false, "spark-colours-per-hour.sql")),
        expected,
        "the Spark view over Parquet and JSON lines, colours per hour"
    );
    assert_eq!(
        spark_sql(&topic_dir, false, "spark-top-browsers.sql"),
        browsers,
        "the Spark view over Parquet and JSON lines, top browsers"
    );
    std::fs::write(
        &query,
        "SELECT to_json(struct(event_id, name, color, navigator, ua)) FROM select_color;",
    )
    .unwrap();
    let mut read: Vec<serde_json::Value> = spark_sql(&topic_dir, false, query.to_str().unwrap())
        .into_iter()
        .map(|r| serde_json::from_str(&r.join("\t")).unwrap_or_else(|e| panic!("{e}: {r:?}")))
        .collect();
    read.sort_by_key(by_id);
    let sent: Vec<serde_json::Value> = sent
        .into_iter()
        .map(|e| {
            let keep = ["event_id", "name", "color", "navigator", "ua"];
            e.as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect();
    assert_eq!(
        read, sent,
        "events read through the view, half from Parquet"
    );
}
