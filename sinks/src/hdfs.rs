//! `prism-hdfs-sink`: events as JSON lines in a Hive layout, each file
//! holding the events of one partition and one hour within its offset
//! range (`<topic>+<partition>+<first>+<last>.jsonl`): every event of that
//! partition and hour whose offset lies in the range is in the file.
//!
//! A partition keeps one open file per hour, up to [`MAX_OPEN_HOURS`] of
//! them, so events whose clocks jump between hours (a client alternating
//! 23:59:59 and 00:00:01) make one file per hour and rotation, not one per
//! event.
//!
//! Commit protocol: a file is written under [`layout::TEMP_DIR`], the
//! partition's claim is checked, the file is renamed into place. A
//! partition's offsets are durable up to the first record of its oldest
//! file still open. On assignment the worker claims the partition and lists
//! the files written since the group's committed offset; a record read
//! again whose hour has a final file covering its offset is already in the
//! lake and is skipped, so a crash between a rename and a commit never
//! duplicates a line. See [`recovery`] for what recovery trusts and how far
//! back it looks.

pub mod layout;
pub mod publish;
pub mod recovery;
pub mod target;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args;
use opendal::Operator;
use tracing::debug;

use self::layout::{Bucket, TEMP_DIR, file_name};
use self::publish::Publisher;
use self::recovery::{Claims, Written};
use crate::event_time::event_time;
use crate::sink::{Durable, Incoming, Sink, TargetError};

/// The HDFS sink's own settings.
#[derive(Debug, Clone, Args)]
pub struct HdfsConfig {
    /// Consumer group.
    #[arg(long, env = "PRISM_GROUP", default_value = "prism-hdfs")]
    pub group: String,

    /// Where files go: `file:///abs/path` (or a plain path) or
    /// `hdfs://namenode:8020/path` (native RPC).
    #[arg(long, env = "PRISM_HDFS_TARGET", default_value = "./data/lake")]
    pub target: String,

    /// Close a file after this many records.
    #[arg(long, env = "PRISM_ROTATE_RECORDS", default_value_t = 10_000)]
    pub rotate_records: usize,

    /// Close a file once it reaches this many bytes.
    #[arg(long, env = "PRISM_ROTATE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub rotate_bytes: usize,

    /// Close a file this many milliseconds after its first record, even if
    /// nothing else arrives (a quiet topic must not keep data invisible).
    #[arg(long, env = "PRISM_ROTATE_AGE_MS", default_value_t = 60_000)]
    pub rotate_age_ms: u64,

    /// File an event under `received_at` instead of the browser's
    /// `client_ts` when the two differ by more than this many seconds.
    #[arg(long, env = "PRISM_MAX_CLOCK_SKEW_S", default_value_t = 600)]
    pub max_clock_skew_s: u64,

    /// Longest wait for one call to the target (a write, a rename, a
    /// listing), in milliseconds; a call that takes longer counts as a
    /// target failure.
    #[arg(long, env = "PRISM_HDFS_TIMEOUT_MS", default_value_t = 30_000)]
    pub timeout_ms: u64,
}

impl HdfsConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Files a partition keeps open at once, one per hour; a record for
/// another hour closes the oldest. Events are filed under their client's
/// clock only within the clock-skew bound of their receipt (else under the
/// receipt), so live traffic spans two hours at most; the rest is room for
/// late records.
pub const MAX_OPEN_HOURS: usize = 4;

/// An open file: one partition, one hour.
struct OpenFile {
    bucket: Bucket,
    first: i64,
    last: i64,
    lines: usize,
    body: Vec<u8>,
    opened: Instant,
}

impl OpenFile {
    fn new(bucket: Bucket, offset: i64) -> Self {
        Self {
            bucket,
            first: offset,
            last: offset,
            lines: 0,
            body: Vec::new(),
            opened: Instant::now(),
        }
    }
}

pub struct HdfsSink {
    op: Operator,
    publisher: Publisher,
    topic: String,
    rotate_records: usize,
    rotate_bytes: usize,
    rotate_age: Duration,
    max_skew: Duration,
    claims: Claims,
    open: BTreeMap<(i32, Bucket), OpenFile>,
    /// The last offset handed to the sink, per partition.
    pushed: HashMap<i32, i64>,
    /// Final files found on assignment, per partition: what a record read
    /// again may already be in.
    found: HashMap<i32, Vec<Written>>,
    durable: BTreeMap<i32, i64>,
    fenced: Vec<i32>,
    written: u64,
    already_there: u64,
}

impl HdfsSink {
    pub fn new(op: Operator, publisher: Publisher, topic: &str, config: &HdfsConfig) -> Self {
        Self {
            claims: Claims::new(op.clone(), topic),
            op,
            publisher,
            topic: topic.to_owned(),
            rotate_records: config.rotate_records.max(1),
            rotate_bytes: config.rotate_bytes.max(1),
            rotate_age: Duration::from_millis(config.rotate_age_ms),
            max_skew: Duration::from_secs(config.max_clock_skew_s),
            open: BTreeMap::new(),
            pushed: HashMap::new(),
            found: HashMap::new(),
            durable: BTreeMap::new(),
            fenced: Vec::new(),
            written: 0,
            already_there: 0,
        }
    }

    /// Records up to the first of the partition's oldest open file are in
    /// the lake (or needed no file); with no file open, all it was given.
    fn update_durable(&mut self, partition: i32) {
        let oldest_open = self
            .open
            .range((partition, Bucket::MIN)..=(partition, Bucket::MAX))
            .map(|(_, f)| f.first)
            .min();
        let next = match (oldest_open, self.pushed.get(&partition)) {
            (Some(first), _) => first,
            (None, Some(last)) => last + 1,
            (None, None) => return,
        };
        if self.durable.get(&partition).is_none_or(|d| *d < next) {
            self.durable.insert(partition, next);
        }
    }

    fn open_hours(&self, partition: i32) -> impl Iterator<Item = (&Bucket, &OpenFile)> {
        self.open
            .range((partition, Bucket::MIN)..=(partition, Bucket::MAX))
            .map(|((_, b), f)| (b, f))
    }

    /// Whether a file found on assignment already holds this record.
    fn already_written(&self, partition: i32, bucket: Bucket, offset: i64) -> bool {
        self.found.get(&partition).is_some_and(|files| {
            files
                .iter()
                .any(|w| w.bucket == bucket && (w.first..=w.last).contains(&offset))
        })
    }

    fn is_full(&self, file: &OpenFile) -> bool {
        file.lines >= self.rotate_records || file.body.len() >= self.rotate_bytes
    }

    /// Writes the open file of `partition` for `bucket` and renames it
    /// into place. On error the file stays open, unchanged, for the next
    /// try. When another worker has claimed the partition meanwhile, every
    /// open file of it is dropped and the partition reported fenced.
    async fn commit(&mut self, partition: i32, bucket: Bucket) -> Result<(), TargetError> {
        let Some(mut file) = self.open.remove(&(partition, bucket)) else {
            return Ok(());
        };
        if file.lines > 0 {
            // Handed to the target without copying; restored only on failure.
            let body = opendal::Buffer::from(std::mem::take(&mut file.body));
            match self.place(partition, &file, body.clone()).await {
                Ok(true) => self.written += file.lines as u64,
                Ok(false) => {
                    self.revoke(partition);
                    self.fenced.push(partition);
                    return Ok(());
                }
                Err(e) => {
                    file.body = body.to_vec();
                    self.open.insert((partition, bucket), file);
                    return Err(e);
                }
            }
        }
        self.update_durable(partition);
        Ok(())
    }

    /// Writes one file under a temporary name, checks that the partition is
    /// still this worker's, and renames the file into place. `false` when
    /// another worker claimed the partition (nothing was placed).
    async fn place(
        &self,
        partition: i32,
        file: &OpenFile,
        body: opendal::Buffer,
    ) -> Result<bool, TargetError> {
        let name = file_name(&self.topic, partition, file.first, file.last);
        let final_path = format!("{}{name}", file.bucket.dir(&self.topic));
        let temp = format!("{TEMP_DIR}{name}.{}.tmp", self.claims.instance());
        let started = Instant::now();
        self.op.write(&temp, body).await.map_err(io_error)?;
        if !self.claims.still_mine(partition).await? {
            let _ = self.op.delete(&temp).await;
            return Ok(false);
        }
        self.publisher.rename(&temp, &final_path).await?;
        debug!(path = %final_path, lines = file.lines, ms = started.elapsed().as_millis() as u64, "file committed");
        Ok(true)
    }
}

pub(crate) fn io_error(e: opendal::Error) -> TargetError {
    TargetError(format!("target: {e}"))
}

#[async_trait]
impl Sink for HdfsSink {
    fn name(&self) -> &'static str {
        "hdfs"
    }

    /// Claims the partition and notes the final files written from the
    /// group's committed offset on: records read again are checked against
    /// them one by one (see [`HdfsSink::push`]), so nothing is skipped by
    /// offset alone.
    async fn recover(&mut self, first: &Incoming) -> Result<Option<i64>, TargetError> {
        let since = recovery::look_back_from(first, self.max_skew);
        self.claims.claim(first.partition).await?;
        let found =
            recovery::written_since(&self.op, &self.topic, first.partition, since, first.offset)
                .await?;
        self.found.insert(first.partition, found);
        Ok(None)
    }

    fn revoke(&mut self, partition: i32) {
        self.open.retain(|(p, _), _| *p != partition);
        self.pushed.remove(&partition);
        self.found.remove(&partition);
        self.durable.remove(&partition);
        self.claims.forget(partition);
    }

    /// Adds the record to its hour's open file, closing that file first
    /// when full, or the partition's oldest open file when this hour would
    /// be one too many; a failure there leaves everything as it was.
    async fn push(&mut self, record: &Incoming) -> Result<(), TargetError> {
        let p = record.partition;
        let Ok(event) = &record.event else {
            // Dead-lettered by the loop: only its offset counts.
            self.pushed.insert(p, record.offset);
            self.update_durable(p);
            return Ok(());
        };
        let bucket = Bucket::of(event_time(event, self.max_skew));
        if self.already_written(p, bucket, record.offset) {
            self.already_there += 1;
            self.pushed.insert(p, record.offset);
            self.update_durable(p);
            return Ok(());
        }
        let full = self.open.get(&(p, bucket)).is_some_and(|f| self.is_full(f));
        let evict = if full {
            Some(bucket)
        } else if !self.open.contains_key(&(p, bucket))
            && self.open_hours(p).count() >= MAX_OPEN_HOURS
        {
            self.open_hours(p)
                .min_by_key(|(_, f)| f.first)
                .map(|(b, _)| *b)
        } else {
            None
        };
        if let Some(closing) = evict {
            self.commit(p, closing).await?;
            if self.fenced.contains(&p) {
                return Ok(());
            }
        }
        let file = self
            .open
            .entry((p, bucket))
            .or_insert_with(|| OpenFile::new(bucket, record.offset));
        file.last = record.offset;
        // One event, one line: a raw line break can only be whitespace
        // between JSON tokens (inside a string it must be escaped), so a
        // pretty-printed record is made compact by dropping them.
        if record.payload.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            file.body.extend(
                record
                    .payload
                    .iter()
                    .filter(|b| !matches!(b, b'\n' | b'\r')),
            );
        } else {
            file.body.extend_from_slice(&record.payload);
        }
        file.body.push(b'\n');
        file.lines += 1;
        self.pushed.insert(p, record.offset);
        Ok(())
    }

    async fn flush(&mut self, force: bool) -> Result<(), TargetError> {
        let mut due: Vec<(i32, i64, Bucket)> = self
            .open
            .iter()
            .filter(|(_, f)| force || self.is_full(f) || f.opened.elapsed() >= self.rotate_age)
            .map(|((p, b), f)| (*p, f.first, *b))
            .collect();
        // Per partition in offset order: the durable point moves as far
        // as it can at each step.
        due.sort_unstable();
        for (p, _, bucket) in due {
            if self.fenced.contains(&p) {
                continue;
            }
            self.commit(p, bucket).await?;
        }
        Ok(())
    }

    fn take_durable(&mut self) -> Durable {
        Durable {
            offsets: std::mem::take(&mut self.durable).into_iter().collect(),
            events: std::mem::take(&mut self.written),
            already_there: std::mem::take(&mut self.already_there),
        }
    }

    /// Writes and deletes a small file: listing works on a namenode in
    /// safe mode, writing does not.
    async fn probe(&self) -> Result<(), TargetError> {
        let path = format!("{TEMP_DIR}probe.{}", self.claims.instance());
        self.op
            .write(&path, Vec::<u8>::new())
            .await
            .map_err(io_error)?;
        self.op.delete(&path).await.map_err(io_error)
    }

    fn take_fenced(&mut self) -> Vec<i32> {
        std::mem::take(&mut self.fenced)
    }
}
