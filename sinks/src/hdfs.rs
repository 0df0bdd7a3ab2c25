//! `prism-hdfs-sink`: events as JSON lines in a Hive layout, each file
//! holding one contiguous offset range of one partition.
//!
//! Commit protocol: a file is written under [`layout::TEMP_DIR`], renamed
//! into place, and only then are its offsets reported durable. On
//! assignment the next offset is recovered from the final file names
//! (highest last offset + 1), so a crash between rename and commit never
//! duplicates a line. Because a file covers one contiguous range, a
//! partition switches to a new file when its events move to another hour;
//! files are renamed in offset order, so recovery never skips a record.

pub mod layout;
pub mod target;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args;
use opendal::{EntryMode, Operator};
use tracing::{debug, info};

use self::layout::{Bucket, TEMP_DIR, file_name, parse_file_name, temp_prefix};
use crate::event_time::event_time;
use crate::sink::{Durable, Incoming, Sink, TargetError};

/// The HDFS sink's own settings.
#[derive(Debug, Clone, Args)]
pub struct HdfsConfig {
    /// Consumer group.
    #[arg(long, env = "PRISM_GROUP", default_value = "prism-hdfs")]
    pub group: String,

    /// Where files go: `file:///abs/path` (or a plain path),
    /// `hdfs://namenode:8020/path` (native RPC) or
    /// `webhdfs://host:9870/path` (REST).
    #[arg(long, env = "PRISM_HDFS_TARGET", default_value = "./data/lake")]
    pub target: String,

    /// User for WebHDFS requests (`user.name`).
    #[arg(long, env = "PRISM_HDFS_USER")]
    pub user: Option<String>,

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

pub struct HdfsSink {
    op: Operator,
    topic: String,
    rotate_records: usize,
    rotate_bytes: usize,
    rotate_age: Duration,
    max_skew: Duration,
    /// Distinguishes this process's temporary files from a crashed one's.
    instance: String,
    open: HashMap<i32, OpenFile>,
    durable: BTreeMap<i32, i64>,
    written: u64,
}

impl HdfsSink {
    pub fn new(op: Operator, topic: &str, config: &HdfsConfig) -> Self {
        Self {
            op,
            topic: topic.to_owned(),
            rotate_records: config.rotate_records.max(1),
            rotate_bytes: config.rotate_bytes.max(1),
            rotate_age: Duration::from_millis(config.rotate_age_ms),
            max_skew: Duration::from_secs(config.max_clock_skew_s),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            open: HashMap::new(),
            durable: BTreeMap::new(),
            written: 0,
        }
    }

    /// Writes the open file of `partition` and renames it into place. On
    /// error the file stays open, unchanged, for the next try.
    async fn commit(&mut self, partition: i32) -> Result<(), TargetError> {
        let Some(mut file) = self.open.remove(&partition) else {
            return Ok(());
        };
        if file.lines > 0 {
            // Handed to the target without copying; restored only on failure.
            let body = opendal::Buffer::from(std::mem::take(&mut file.body));
            if let Err(e) = self.write_file(partition, &file, body.clone()).await {
                file.body = body.to_vec();
                self.open.insert(partition, file);
                return Err(e);
            }
            self.written += file.lines as u64;
        }
        self.durable.insert(partition, file.last + 1);
        Ok(())
    }

    /// Writes one file under a temporary name and renames it into place.
    async fn write_file(
        &self,
        partition: i32,
        file: &OpenFile,
        body: opendal::Buffer,
    ) -> Result<(), TargetError> {
        let name = file_name(&self.topic, partition, file.first, file.last);
        let final_path = format!("{}{name}", file.bucket.dir(&self.topic));
        let started = Instant::now();
        if self.op.info().capability().rename {
            let temp = format!("{TEMP_DIR}{name}.{}.tmp", self.instance);
            self.op.write(&temp, body).await.map_err(io_error)?;
            self.op.rename(&temp, &final_path).await.map_err(io_error)?;
        } else {
            // The backend stages and moves the file itself (WebHDFS).
            self.op.write(&final_path, body).await.map_err(io_error)?;
        }
        debug!(path = %final_path, lines = file.lines, ms = started.elapsed().as_millis() as u64, "file committed");
        Ok(())
    }

    /// Every final file name under `topics/<topic>/`, walking directories one
    /// level at a time (WebHDFS cannot list recursively).
    async fn final_files(&self) -> Result<Vec<String>, TargetError> {
        let mut names = Vec::new();
        let mut dirs = vec![format!("topics/{}/", self.topic)];
        while let Some(dir) = dirs.pop() {
            let entries = match self.op.list(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == opendal::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(e)),
            };
            for entry in entries {
                match entry.metadata().mode() {
                    EntryMode::DIR if entry.path() != dir => dirs.push(entry.path().to_owned()),
                    EntryMode::FILE => names.push(entry.name().to_owned()),
                    _ => {}
                }
            }
        }
        Ok(names)
    }
}

fn io_error(e: opendal::Error) -> TargetError {
    TargetError(format!("target: {e}"))
}

#[async_trait]
impl Sink for HdfsSink {
    fn name(&self) -> &'static str {
        "hdfs"
    }

    async fn recover(&mut self, partition: i32) -> Result<Option<i64>, TargetError> {
        // Temporary files of this partition are leftovers of a crash: their
        // records were never committed and will be read again.
        let prefix = temp_prefix(&self.topic, partition);
        match self.op.list(TEMP_DIR).await {
            Ok(entries) => {
                for entry in entries.iter().filter(|e| e.path().starts_with(&prefix)) {
                    info!(path = entry.path(), "removing a stale temporary file");
                    self.op.delete(entry.path()).await.map_err(io_error)?;
                }
            }
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(e)),
        }
        let next = self
            .final_files()
            .await?
            .iter()
            .filter_map(|name| parse_file_name(&self.topic, name))
            .filter(|(p, _, _)| *p == partition)
            .map(|(_, _, last)| last + 1)
            .max();
        Ok(next)
    }

    fn revoke(&mut self, partition: i32) {
        self.open.remove(&partition);
        self.durable.remove(&partition);
    }

    async fn push(&mut self, record: &Incoming) -> Result<(), TargetError> {
        let p = record.partition;
        let bucket = record
            .event
            .as_ref()
            .ok()
            .map(|e| Bucket::of(event_time(e, self.max_skew)));
        // A file holds one contiguous range, so a new hour closes the old file.
        if let (Some(file), Some(bucket)) = (self.open.get(&p), bucket)
            && file.bucket != bucket
            && file.lines > 0
        {
            self.commit(p).await?;
        }
        let file = self.open.entry(p).or_insert_with(|| OpenFile {
            bucket: bucket.unwrap_or(Bucket::of(time::OffsetDateTime::now_utc())),
            first: record.offset,
            last: record.offset,
            lines: 0,
            body: Vec::new(),
            opened: Instant::now(),
        });
        file.last = record.offset;
        if let (Ok(_), Some(bucket)) = (&record.event, bucket) {
            if file.lines == 0 {
                file.bucket = bucket;
            }
            file.body.extend_from_slice(&record.payload);
            file.body.push(b'\n');
            file.lines += 1;
        }
        if file.lines >= self.rotate_records || file.body.len() >= self.rotate_bytes {
            self.commit(p).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, force: bool) -> Result<(), TargetError> {
        let mut due: Vec<i32> = self
            .open
            .iter()
            .filter(|(_, f)| force || f.opened.elapsed() >= self.rotate_age)
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

    async fn healthy(&self) -> bool {
        self.op.check().await.is_ok()
    }
}
