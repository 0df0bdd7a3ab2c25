//! `prism-lake status`: recent hours, newest first: open (and why) or
//! sealed (which version, whether the files still match the manifest's
//! list), with their files and records.

use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;

use super::hour::{self, Listing};
use super::seal::{Outcome, readiness};
use super::{LakeConfig, LakeError, Store};
use crate::audit::report::hour_name;
use crate::hdfs::layout::Bucket;

#[derive(Debug, Clone, Serialize)]
pub struct HourStatus {
    #[serde(with = "time::serde::rfc3339")]
    pub hour: OffsetDateTime,
    /// `open`, `sealed` or `compacted`.
    pub state: &'static str,
    pub version: Option<u32>,
    pub files: usize,
    pub bytes: u64,
    /// From the manifest; unknown while the hour is open.
    pub records: Option<u64>,
    /// Why an open hour is open, or what changed in a sealed one.
    pub note: String,
}

/// The status of every recent hour.
pub async fn status(config: &LakeConfig, store: &Store) -> Result<Vec<HourStatus>, LakeError> {
    // Without Kafka the table still shows what the lake holds.
    let progress = tokio::task::block_in_place(|| config.progress());
    let mut rows = Vec::new();
    for hour in config.recent_hours() {
        let listing = hour::list(&store.op, &config.topic, Bucket::of(hour)).await?;
        let note = match (&listing.manifest, &progress) {
            (Some(_), _) => changes(&listing),
            (None, Ok(progress)) => {
                let end = hour + time::Duration::HOUR;
                let why =
                    tokio::task::block_in_place(|| match readiness(config, progress, hour)? {
                        None if listing.files.is_empty() && progress.nothing_before(end)? => {
                            Ok(Some(Outcome::BeforeRecords))
                        }
                        why => Ok::<_, LakeError>(why),
                    });
                match why {
                    Ok(Some(why)) => why.describe().trim_start_matches("open: ").to_owned(),
                    Ok(None) => "ready to seal".into(),
                    Err(e) => e.to_string(),
                }
            }
            (None, Err(e)) => e.to_string(),
        };
        rows.push(HourStatus {
            hour,
            state: state(&listing),
            version: listing.manifest.as_ref().map(|m| m.version),
            files: listing.files.len(),
            bytes: listing.files.iter().map(|f| f.bytes).sum(),
            records: listing.manifest.as_ref().map(|m| m.records),
            note,
        });
    }
    Ok(rows)
}

/// `open`, `sealed`, or `compacted` (sealed, every file Parquet).
fn state(listing: &Listing) -> &'static str {
    match &listing.manifest {
        None => "open",
        Some(m) if !m.names().is_empty() && m.names().iter().all(|n| n.ends_with(".parquet")) => {
            "compacted"
        }
        Some(_) => "sealed",
    }
}

/// For a sealed hour: files added or gone since its manifest.
fn changes(listing: &Listing) -> String {
    let Some(manifest) = &listing.manifest else {
        return String::new();
    };
    let listed = manifest.names();
    let present: std::collections::BTreeSet<&str> =
        listing.trusted().iter().map(|f| f.name.as_str()).collect();
    let added = present.difference(&listed).count();
    let gone = listed.difference(&present).count();
    match (added, gone, listing.success) {
        (0, 0, true) => String::new(),
        (0, 0, false) => format!("no {}", super::manifest::SUCCESS),
        _ => format!(
            "{added} files added and {gone} gone since the manifest; the next seal re-issues it"
        ),
    }
}

pub fn table(rows: &[HourStatus]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<14} {:<13} {:>6} {:>12} {:>10}  note",
        "hour (UTC)", "state", "files", "bytes", "records"
    );
    for row in rows {
        let state = match row.version {
            Some(v) => format!("{} v{v}", row.state),
            None => row.state.to_owned(),
        };
        let records = row.records.map_or("-".into(), |r| r.to_string());
        let line = format!(
            "{:<14} {state:<13} {:>6} {:>12} {records:>10}  {}",
            hour_name(row.hour),
            row.files,
            row.bytes,
            row.note
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_table_shows_state_version_and_why() {
        let rows = [
            HourStatus {
                hour: datetime!(2026-11-22 05:00 UTC),
                state: "open",
                version: None,
                files: 3,
                bytes: 4096,
                records: None,
                note: Outcome::TooEarly {
                    after: datetime!(2026-11-22 06:15 UTC),
                }
                .describe()
                .trim_start_matches("open: ")
                .to_owned(),
            },
            HourStatus {
                hour: datetime!(2026-11-22 04:00 UTC),
                state: "sealed",
                version: Some(2),
                files: 4,
                bytes: 8192,
                records: Some(1200),
                note: String::new(),
            },
        ];
        let table = table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        let words = |line: &str| {
            line.split_whitespace()
                .take(5)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(words(lines[1]), "2026-11-22T05 open 3 4096 -", "{table}");
        assert!(
            lines[1].ends_with("can be sealed after 2026-11-22T06:15Z"),
            "{table}"
        );
        assert_eq!(words(lines[2]), "2026-11-22T04 sealed v2 4 8192", "{table}");
        assert!(lines[2].ends_with(" 1200"), "{table}");
    }
}
