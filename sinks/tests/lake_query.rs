//! The lake is usable with a tool analysts already have: the README's
//! DuckDB queries (`sql/*.sql`, quoted verbatim in the README) run against
//! what the HDFS sink wrote and give the counts that were sent.

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

/// Runs a `sql/` file with DuckDB's Python package in `dir`; its rows as
/// `a|b|c` lines.
fn duckdb(dir: &Path, file: &str) -> Vec<String> {
    let sql = workspace().join("sql").join(file);
    let out = Command::new("python3")
        .current_dir(dir)
        .args([
            "-c",
            "import duckdb, sys\n\
             for row in duckdb.sql(open(sys.argv[1]).read()).fetchall():\n    \
             print('|'.join(str(v) for v in row))",
        ])
        .arg(&sql)
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
    assert_eq!(duckdb(dir.path(), "colours-per-hour.sql"), expected);
    assert_eq!(
        duckdb(dir.path(), "top-browsers.sql"),
        [format!("Chrome|{}", sent.len())]
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
    assert_eq!(quoted, 6, "the files in sql/");
}
