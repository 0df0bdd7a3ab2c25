//! What a worker does when it is given a partition: claim it, clean up
//! after the previous owner, and list the final files that may already hold
//! records it is about to read again.
//!
//! - **Bounded by time, not history.** Files written after the group's
//!   committed offset hold records whose Kafka timestamp is at least the
//!   first re-read record's, and an event is filed at most the clock-skew
//!   bound away from its receive time. Recovery lists only the `dt=/hour=`
//!   directories from that point (less the skew and an hour of margin for
//!   clocks between producers) onwards.
//! - **Compaction-aware.** `prism-lake compact` replaces a sealed
//!   partition-hour's JSON-lines files with one Parquet file covering
//!   their offsets; it counts as a final file like them.
//! - **Verified.** A final file written after the committed offset that is
//!   empty, or whose last byte is not a newline, is deleted and its records
//!   written again. Files are published with one rename (see
//!   [`super::publish`]); the check stays for files placed otherwise (an
//!   older version's HDFS rename through OpenDAL created an empty
//!   destination first, and a crash there left a 0-byte final file).
//! - **Fenced.** A worker stopped past its session timeout (a paused VM,
//!   SIGSTOP) may wake up holding an open file of a partition that now has
//!   another owner. Each owner writes a claim (`_claims/<topic>+<p>`) before
//!   it scans, and every writer checks its claim right before renaming, so
//!   the stale writer drops its file instead. Should a rename slip through
//!   the check anyway, a file whose range lies inside another file's of the
//!   same hour is deleted here, and partial overlaps are reported. (Files of
//!   different hours overlap by design: each holds its hour's records.)

use std::collections::HashMap;
use std::time::Duration;

use opendal::{EntryMode, ErrorKind, Operator};
use time::{Date, OffsetDateTime};
use tracing::{error, info, warn};

use super::io_error;
use super::layout::{Bucket, Format, TEMP_DIR, parse_data_file_name, temp_prefix};
use crate::event_time::event_time;
use crate::sink::{Incoming, TargetError};

/// Where claims live; Hive and Spark skip directories starting with `_`.
pub const CLAIM_DIR: &str = "_claims/";

/// Allowance for clocks that differ between producers.
const CLOCK_MARGIN: time::Duration = time::Duration::HOUR;

/// The earliest event time a file written after the committed offset can
/// be filed under, given the first record re-read from it.
pub fn look_back_from(first: &Incoming, max_skew: Duration) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let sent = first
        .timestamp_ms
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .unwrap_or(now);
    let filed = first
        .event
        .as_ref()
        .map_or(sent, |e| event_time(e, max_skew));
    sent.min(filed) - max_skew - CLOCK_MARGIN
}

/// A final file of the partition being recovered.
struct Found {
    path: String,
    first: i64,
    last: i64,
    format: Format,
}

/// A final file written from the committed offset on: every event of its
/// partition and hour with an offset in `first..=last` is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub bucket: Bucket,
    pub first: i64,
    pub last: i64,
}

/// Removes the partition's stale temporary files, repairs what a crash or a
/// stale writer left, and returns the partition's final files, filed at or
/// after `since`, that end at or after `committed` (the group's committed
/// offset): the only ones records read again can be in.
pub async fn written_since(
    op: &Operator,
    topic: &str,
    partition: i32,
    since: OffsetDateTime,
    committed: i64,
) -> Result<Vec<Written>, TargetError> {
    remove_temporaries(op, topic, partition).await?;
    let mut written = Vec::new();
    for (bucket, dir) in hour_dirs_since(op, topic, Bucket::of(since)).await? {
        let mut files = Vec::new();
        let mut compacted = Vec::new();
        for (path, name) in list(op, &dir, EntryMode::FILE).await? {
            if let Some((p, first, last, format)) = parse_data_file_name(topic, &name)
                && p == partition
            {
                let found = Found {
                    path,
                    first,
                    last,
                    format,
                };
                match format {
                    Format::JsonLines => files.push(found),
                    // Its JSON-lines originals, until prism-lake removes
                    // them, lie inside its range: they are not strays.
                    Format::Parquet => compacted.push(found),
                }
            }
        }
        remove_contained(op, &mut files).await?;
        files.extend(compacted);
        for file in files.into_iter().filter(|f| f.last >= committed) {
            // Written after the last commit: a crash may have cut it short.
            if file.format == Format::JsonLines && !intact(op, &file.path).await? {
                error!(path = %file.path, "removing an unfinished final file; its records will be written again");
                op.delete(&file.path).await.map_err(io_error)?;
                continue;
            }
            written.push(Written {
                bucket,
                first: file.first,
                last: file.last,
            });
        }
    }
    Ok(written)
}

async fn remove_temporaries(op: &Operator, topic: &str, partition: i32) -> Result<(), TargetError> {
    let prefix = temp_prefix(topic, partition);
    for (path, _) in list(op, TEMP_DIR, EntryMode::FILE).await? {
        if path.starts_with(&prefix) {
            info!(%path, "removing a stale temporary file");
            op.delete(&path).await.map_err(io_error)?;
        }
    }
    Ok(())
}

/// Files whose range lies inside another file's hold nothing that one does
/// not: delete them. Partial overlaps cannot be undone without offsets in
/// the lines; they are reported (duplicates that `prism-audit` will count).
async fn remove_contained(op: &Operator, files: &mut Vec<Found>) -> Result<(), TargetError> {
    files.sort_by_key(|f| (f.first, std::cmp::Reverse(f.last)));
    let mut kept: Vec<Found> = Vec::with_capacity(files.len());
    for file in files.drain(..) {
        match kept.last() {
            Some(k) if file.last <= k.last => {
                warn!(path = %file.path, covered_by = %k.path, "removing a file another file already covers");
                op.delete(&file.path).await.map_err(io_error)?;
            }
            Some(k) if file.first <= k.last => {
                error!(path = %file.path, overlaps = %k.path, "two final files overlap; their shared records are duplicated");
                kept.push(file);
            }
            _ => kept.push(file),
        }
    }
    *files = kept;
    Ok(())
}

/// A committed file is never empty and always ends with a newline.
async fn intact(op: &Operator, path: &str) -> Result<bool, TargetError> {
    let size = op.stat(path).await.map_err(io_error)?.content_length();
    if size == 0 {
        return Ok(false);
    }
    let last = op
        .read_with(path)
        .range(size - 1..size)
        .await
        .map_err(io_error)?;
    Ok(last.to_vec() == b"\n")
}

/// `topics/<topic>/dt=…/hour=…/` directories at or after `from`.
async fn hour_dirs_since(
    op: &Operator,
    topic: &str,
    from: Bucket,
) -> Result<Vec<(Bucket, String)>, TargetError> {
    let mut dirs = Vec::new();
    for (dt_path, dt_name) in list(op, &format!("topics/{topic}/"), EntryMode::DIR).await? {
        let Some(date) = dt_name.strip_prefix("dt=").and_then(parse_date) else {
            continue;
        };
        if date < from.date {
            continue;
        }
        for (hour_path, hour_name) in list(op, &dt_path, EntryMode::DIR).await? {
            let hour = hour_name
                .strip_prefix("hour=")
                .and_then(|h| h.parse::<u8>().ok());
            if let Some(hour) = hour
                && (Bucket { date, hour }) >= from
            {
                dirs.push((Bucket { date, hour }, hour_path));
            }
        }
    }
    Ok(dirs)
}

/// The entries of one kind directly under `dir` as (path, name); a missing
/// directory is empty.
async fn list(
    op: &Operator,
    dir: &str,
    kind: EntryMode,
) -> Result<Vec<(String, String)>, TargetError> {
    let entries = match op.list(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(e)),
    };
    Ok(entries
        .into_iter()
        .filter(|e| e.metadata().mode() == kind && e.path() != dir)
        .map(|e| {
            (
                e.path().to_owned(),
                e.name().trim_end_matches('/').to_owned(),
            )
        })
        .collect())
}

fn parse_date(s: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &format).ok()
}

/// Which partitions this worker holds, proven by a token in the target.
pub struct Claims {
    op: Operator,
    topic: String,
    instance: String,
    issued: u64,
    held: HashMap<i32, String>,
}

impl Claims {
    pub fn new(op: Operator, topic: &str) -> Self {
        Self {
            op,
            topic: topic.to_owned(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            issued: 0,
            held: HashMap::new(),
        }
    }

    /// Distinguishes this process's temporary files from another's.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn path(&self, partition: i32) -> String {
        format!("{CLAIM_DIR}{}+{partition}", self.topic)
    }

    async fn write(&self, partition: i32, token: &str) -> Result<(), TargetError> {
        self.op
            .write(&self.path(partition), token.as_bytes().to_vec())
            .await
            .map(|_| ())
            .map_err(io_error)
    }

    /// Writes a new claim on `partition`; any earlier holder is fenced.
    pub async fn claim(&mut self, partition: i32) -> Result<(), TargetError> {
        self.issued += 1;
        let token = format!("{}-{}", self.instance, self.issued);
        self.write(partition, &token).await?;
        self.held.insert(partition, token);
        Ok(())
    }

    /// Whether this worker's claim on `partition` still stands. A claim that
    /// vanished (the lake was rebuilt) is written again: only a newer
    /// owner's token fences.
    pub async fn still_mine(&self, partition: i32) -> Result<bool, TargetError> {
        let Some(token) = self.held.get(&partition) else {
            return Ok(false);
        };
        match self.op.read(&self.path(partition)).await {
            Ok(found) => Ok(found.to_vec() == token.as_bytes()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.write(partition, token).await?;
                Ok(true)
            }
            Err(e) => Err(io_error(e)),
        }
    }

    pub fn forget(&mut self, partition: i32) {
        self.held.remove(&partition);
    }
}
