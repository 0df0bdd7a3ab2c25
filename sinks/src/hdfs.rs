//! `prism-hdfs-sink`: events as JSON lines in a Hive layout, each file
//! holding one contiguous offset range of one partition.
//!
//! Commit protocol: a file is written under [`layout::TEMP_DIR`], the
//! partition's claim is checked, the file is renamed into place, and only
//! then are its offsets reported durable. On assignment the worker claims
//! the partition and recovers the next offset from the final file names
//! (highest last offset + 1), so a crash between rename and commit never
//! duplicates a line. Because a file covers one contiguous range, a
//! partition switches to a new file when its events move to another hour;
//! files are renamed in offset order, so recovery never skips a record.
//! See [`recovery`] for what recovery trusts and how far back it looks.

pub mod layout;
pub mod recovery;
pub mod target;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args;
use opendal::Operator;
use tracing::debug;

use self::layout::{Bucket, TEMP_DIR, file_name};
use self::recovery::Claims;
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

/// The open file of one partition.
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
    topic: String,
    rotate_records: usize,
    rotate_bytes: usize,
    rotate_age: Duration,
    max_skew: Duration,
    claims: Claims,
    open: HashMap<i32, OpenFile>,
    durable: BTreeMap<i32, i64>,
    fenced: Vec<i32>,
    written: u64,
}

impl HdfsSink {
    pub fn new(op: Operator, topic: &str, config: &HdfsConfig) -> Self {
        Self {
            claims: Claims::new(op.clone(), topic),
            op,
            topic: topic.to_owned(),
            rotate_records: config.rotate_records.max(1),
            rotate_bytes: config.rotate_bytes.max(1),
            rotate_age: Duration::from_millis(config.rotate_age_ms),
            max_skew: Duration::from_secs(config.max_clock_skew_s),
            open: HashMap::new(),
            durable: BTreeMap::new(),
            fenced: Vec::new(),
            written: 0,
        }
    }

    fn is_full(&self, file: &OpenFile) -> bool {
        file.lines >= self.rotate_records || file.body.len() >= self.rotate_bytes
    }

    /// Writes the open file of `partition` and renames it into place. On
    /// error the file stays open, unchanged, for the next try. When another
    /// worker has claimed the partition meanwhile, the file is dropped and
    /// the partition reported fenced.
    async fn commit(&mut self, partition: i32) -> Result<(), TargetError> {
        let Some(mut file) = self.open.remove(&partition) else {
            return Ok(());
        };
        if file.lines > 0 {
            // Handed to the target without copying; restored only on failure.
            let body = opendal::Buffer::from(std::mem::take(&mut file.body));
            match self.place(partition, &file, body.clone()).await {
                Ok(true) => self.written += file.lines as u64,
                Ok(false) => {
                    self.durable.remove(&partition);
                    self.fenced.push(partition);
                    return Ok(());
                }
                Err(e) => {
                    file.body = body.to_vec();
                    self.open.insert(partition, file);
                    return Err(e);
                }
            }
        }
        self.durable.insert(partition, file.last + 1);
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
        self.op.rename(&temp, &final_path).await.map_err(io_error)?;
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

    async fn recover(&mut self, first: &Incoming) -> Result<Option<i64>, TargetError> {
        let since = recovery::look_back_from(first, self.max_skew);
        self.claims.claim(first.partition).await?;
        recovery::next_offset(&self.op, &self.topic, first.partition, since).await
    }

    fn revoke(&mut self, partition: i32) {
        self.open.remove(&partition);
        self.durable.remove(&partition);
        self.claims.forget(partition);
    }

    /// Closes the open file first when the record cannot join it (another
    /// hour, or full), so a failure here leaves everything as it was.
    async fn push(&mut self, record: &Incoming) -> Result<(), TargetError> {
        let p = record.partition;
        let bucket = record
            .event
            .as_ref()
            .ok()
            .map(|e| Bucket::of(event_time(e, self.max_skew)));
        if let Some(file) = self.open.get(&p)
            && file.lines > 0
            && (bucket.is_some_and(|b| b != file.bucket) || self.is_full(file))
        {
            self.commit(p).await?;
            if self.fenced.contains(&p) {
                return Ok(());
            }
        }
        let file = self.open.entry(p).or_insert_with(|| {
            OpenFile::new(
                bucket.unwrap_or(Bucket::of(time::OffsetDateTime::now_utc())),
                record.offset,
            )
        });
        file.last = record.offset;
        if let (Ok(_), Some(bucket)) = (&record.event, bucket) {
            if file.lines == 0 {
                file.bucket = bucket;
            }
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
        }
        Ok(())
    }

    async fn flush(&mut self, force: bool) -> Result<(), TargetError> {
        let mut due: Vec<i32> = self
            .open
            .iter()
            .filter(|(_, f)| force || self.is_full(f) || f.opened.elapsed() >= self.rotate_age)
            .map(|(p, _)| *p)
            .collect();
        due.sort_unstable();
        for p in due {
            self.commit(p).await?;
        }
        Ok(())
    }

    fn take_durable(&mut self) -> Durable {
        Durable {
            offsets: std::mem::take(&mut self.durable).into_iter().collect(),
            events: std::mem::take(&mut self.written),
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
