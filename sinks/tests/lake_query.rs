//! The lake is usable with a tool analysts already have: the README's
//! DuckDB queries (`sql/*.sql`, quoted verbatim in the README) run against
//! what the HDFS sink wrote, before `prism-lake compact`, with one hour
//! compacted to Parquet and one still JSON lines, and with both compacted,
//! and give the counts that were sent each time.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use prism_event::EnrichedEvent;
use prism_sinks::hdfs::layout::Bucket;
use time::macros::datetime;

mod support;

use support::lake::Lake;
use support::{event, wait_until};

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Runs `sql/duckdb-lake-view.sql`, then the `sql/` file `file`, with
/// DuckDB's Python package in `dir`; the query's rows as `a|b|c` lines.
fn duckdb(dir: &Path, file: &str) -> Vec<String> {
    let sql = workspace().join("sql");
    let out = Command::new("python3")
        .current_dir(dir)
        .args([
            "-c",
            "import duckdb, sys\n\
             db = duckdb.connect()\n\
             db.execute(open(sys.argv[1]).read())\n\
             for row in db.sql(open(sys.argv[2]).read()).fetchall():\n    \
             print('|'.join(str(v) for v in row))",
        ])
        .arg(sql.join("duckdb-lake-view.sql"))
        .arg(sql.join(file))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "DuckDB (pip install duckdb; scripts/test installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_s_duckdb_queries_count_what_was_sent() {
    let lake = Lake::new();
    // Across midnight, so the hours include `hour=00`, which DuckDB reads
    // as text unless told its type.
    let hours = [
        datetime!(2026-01-01 23:00 UTC),
        datetime!(2026-01-02 00:00 UTC),
    ];
    let sent: Vec<EnrichedEvent> = hours
        .iter()
        .flat_map(|hour| {
            (0..30).map(move |i| event(i * i % 11, *hour + time::Duration::minutes(i as i64)))
        })
        .collect();
    let _sink = lake.start_sink(&[]);
    lake.produce(&sent);
    wait_until(
        "the lake holds every event",
        Duration::from_secs(60),
        || lake.events().len() == sent.len(),
    );
    // Sealing waits for the group's commits, not for the files.
    wait_until(
        "the group commits everything",
        Duration::from_secs(30),
        || support::lake_at::group_caught_up(&lake.s, &lake.group),
    );

    // The queries read `data/lake/topics/select-color/`, the embedded
    // run's layout; this test's topic has a unique name.
    let dir = tempfile::tempdir().unwrap();
    let topics = dir.path().join("data/lake/topics");
    std::fs::create_dir_all(&topics).unwrap();
    std::os::unix::fs::symlink(
        lake.root().join("topics").join(&lake.topic),
        topics.join("select-color"),
    )
    .unwrap();

    let mut per_hour: BTreeMap<(String, u8, String), usize> = BTreeMap::new();
    for e in &sent {
        let bucket = Bucket::of(e.client_ts);
        *per_hour
            .entry((bucket.date.to_string(), bucket.hour, e.color.to_string()))
            .or_default() += 1;
    }
    let mut expected: Vec<_> = per_hour.into_iter().collect();
    expected.sort_by(|((d1, h1, c1), n1), ((d2, h2, c2), n2)| {
        (d1, h1, std::cmp::Reverse(n1), c1).cmp(&(d2, h2, std::cmp::Reverse(n2), c2))
    });
    let expected: Vec<String> = expected
        .into_iter()
        .map(|((dt, hour, color), n)| format!("{dt}|{hour}|{color}|{n}"))
        .collect();
    let kinds = |root: &Path| {
        let mut kinds: Vec<String> = support::lake::files(root)
            .iter()
            .filter_map(|(rel, _)| rel.rsplit('.').next().map(str::to_owned))
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    };
    for compacted in 0..=hours.len() {
        if compacted > 0 {
            seal_and_compact(&lake, hours[compacted - 1]);
        }
        let expected_kinds = match compacted {
            0 => vec!["jsonl"],
            1 => vec!["jsonl", "parquet"],
            _ => vec!["parquet"],
        };
        assert_eq!(kinds(lake.root()), expected_kinds);
        assert_eq!(
            duckdb(dir.path(), "colours-per-hour.sql"),
            expected,
            "{compacted} hours compacted"
        );
        assert_eq!(
            duckdb(dir.path(), "top-browsers.sql"),
            [format!("Chrome|{}", sent.len())],
            "{compacted} hours compacted"
        );
    }
}

/// `prism-lake seal --compact --hour HOUR` on the test's lake.
fn seal_and_compact(lake: &Lake, hour: time::OffsetDateTime) {
    let out = Command::new(env!("CARGO_BIN_EXE_prism-lake"))
        .env("PRISM_KAFKA_BROKERS", lake.kafka.brokers())
        .env("PRISM_TOPIC", &lake.topic)
        .env("PRISM_GROUP", &lake.group)
        .env(
            "PRISM_HDFS_TARGET",
            format!("file://{}", lake.root().display()),
        )
        .args(["seal", "--compact", "--hour"])
        .arg(prism_sinks::audit::report::hour_name(hour))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("compacted now"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_readme_quotes_every_query_as_it_is_tested() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let files = std::fs::read_dir(workspace().join("sql")).unwrap();
    let mut quoted = 0;
    for file in files {
        let path = file.unwrap().path();
        let sql = std::fs::read_to_string(&path).unwrap();
        assert!(
            readme.contains(sql.trim_end()),
            "README.md does not quote {} as it is",
            path.display()
        );
        quoted += 1;
    }
    assert_eq!(quoted, 7, "the files in sql/");
}
