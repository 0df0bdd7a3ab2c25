//! `prism-lake`: makes the lake's hours trustworthy for batch jobs.
//!
//! - `seal` writes `dt=…/hour=…/_manifest.json` and `_SUCCESS` for every
//!   recent hour that can no longer gain records and that the lake holds
//!   completely ([`seal`]), and re-issues a manifest whose hour gained
//!   files since.
//! - `compact` turns a sealed hour's JSON-lines files into one Parquet
//!   file per partition ([`compact`]).
//! - `status` shows recent hours: open (and why), sealed, compacted, with
//!   counts.
//!
//! It reads Kafka (the HDFS sink group's committed offsets, timestamps)
//! and the lake, never a worker, so it runs beside any number of workers,
//! from cron or as a loop (`--every`), in several instances at once, on
//! `file://` and `hdfs://` lakes alike.

pub mod compact;
pub mod hour;
pub mod manifest;
pub mod parquet;
pub mod progress;
pub mod seal;
pub mod status;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use opendal::Operator;
use time::OffsetDateTime;

use crate::audit::{AuditError, Format, start_of_hour};
use crate::hdfs::layout::TEMP_DIR;
use crate::hdfs::publish::Publisher;
use crate::hdfs::target::Target;

/// Seal finished hours of the lake and show their state.
#[derive(Debug, Clone, Parser)]
#[command(name = "prism-lake", version)]
pub struct LakeConfig {
    #[command(subcommand)]
    pub command: Command,

    #[arg(
        long,
        global = true,
        env = "PRISM_KAFKA_BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    pub kafka_brokers: String,

    #[arg(
        long,
        global = true,
        env = "PRISM_TOPIC",
        default_value = "select-color"
    )]
    pub topic: String,

    /// Extra librdkafka settings (SASL, TLS), as the sinks take them.
    #[arg(long = "kafka-option", global = true, env = "PRISM_KAFKA_OPTIONS", hide_env_values = true, value_delimiter = ',', value_parser = crate::config::parse_key_value)]
    pub kafka_options: Vec<(String, String)>,

    /// The lake (`file:///…`, `hdfs://…`), as the HDFS sink's
    /// `PRISM_HDFS_TARGET`.
    #[arg(
        long = "hdfs-target",
        global = true,
        env = "PRISM_HDFS_TARGET",
        default_value = "./data/lake"
    )]
    pub lake: String,

    /// The HDFS sink's consumer group, whose committed offsets say what
    /// the lake holds.
    #[arg(long, global = true, env = "PRISM_GROUP", default_value = "prism-hdfs")]
    pub group: String,

    /// The sinks' clock-skew bound, in seconds: an event is filed at most
    /// this far from its receipt.
    #[arg(
        long,
        global = true,
        env = "PRISM_MAX_CLOCK_SKEW_S",
        default_value_t = 600
    )]
    pub max_clock_skew_s: u64,

    /// Seconds to wait beyond the hour's end and the skew bound, for
    /// producers' clocks and retries, before records stamped later are
    /// taken as belonging to later hours.
    #[arg(long, global = true, env = "PRISM_LAKE_GRACE_S", default_value_t = 300)]
    pub grace_s: u64,

    /// How many hours back to look, the current one included.
    #[arg(long, global = true, env = "PRISM_LAKE_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=24 * 366))]
    pub hours: u32,

    /// Work on this one hour only (`YYYY-MM-DDTHH` or RFC 3339), however
    /// old, instead of the recent ones.
    #[arg(long, global = true, env = "PRISM_LAKE_HOUR", value_parser = crate::audit::parse_hour)]
    pub hour: Option<OffsetDateTime>,

    /// Longest wait for any one call to Kafka or the lake, in milliseconds.
    #[arg(
        long,
        global = true,
        env = "PRISM_LAKE_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Seal every hour that can no longer gain records and that the lake
    /// holds completely; re-issue the manifest of a sealed hour whose files
    /// changed. Exits 1 when an hour the sink group is past is not
    /// complete in the lake.
    Seal {
        #[command(flatten)]
        repeat: Repeat,
        /// Compact each sealed hour too, as `compact` does.
        #[arg(long, env = "PRISM_LAKE_COMPACT")]
        compact: bool,
    },
    /// Turn each sealed hour's JSON-lines files into one Parquet file per
    /// partition, checked against the manifest before the originals go.
    Compact(Repeat),
    /// A table of recent hours: open (and why), sealed, compacted, with
    /// counts.
    Status {
        #[arg(long, value_enum, env = "PRISM_LAKE_FORMAT", default_value = "table")]
        format: Format,
    },
}

#[derive(Debug, Clone, Args)]
pub struct Repeat {
    /// Run again this long after each run (`90s`, `5m`, `1h`) until
    /// SIGTERM; once when absent (from cron).
    #[arg(long, env = "PRISM_LAKE_EVERY", value_parser = parse_every)]
    pub every: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("lake: {0}")]
    Lake(String),
}

impl From<AuditError> for LakeError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Kafka(e) => LakeError::Kafka(e),
            other => LakeError::Lake(other.to_string()),
        }
    }
}

impl LakeConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn max_skew(&self) -> Duration {
        Duration::from_secs(self.max_clock_skew_s)
    }

    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_s)
    }

    /// The hours looked at, newest (the current one) first; or `--hour`.
    pub fn recent_hours(&self) -> Vec<OffsetDateTime> {
        if let Some(hour) = self.hour {
            return vec![hour];
        }
        let now = start_of_hour(OffsetDateTime::now_utc());
        (0..self.hours)
            .map(|n| now - time::Duration::hours(i64::from(n)))
            .collect()
    }

    /// How the seal's check reads the topic: as far past the hour as
    /// sealing waits.
    pub fn topic_spec(&self) -> crate::audit::kafka::TopicSpec<'_> {
        crate::audit::kafka::TopicSpec {
            brokers: &self.kafka_brokers,
            topic: &self.topic,
            options: &self.kafka_options,
            max_skew: self.max_skew(),
            slack: self.grace(),
            timeout: self.timeout(),
        }
    }

    pub fn progress(&self) -> Result<progress::Progress, LakeError> {
        progress::Progress::connect(
            &self.kafka_brokers,
            &self.topic,
            &self.group,
            &self.kafka_options,
            self.timeout(),
        )
    }
}

/// The lake, and how files are placed in it.
pub struct Store {
    pub op: Operator,
    publisher: Publisher,
}

impl Store {
    pub fn open(config: &LakeConfig) -> Result<Self, LakeError> {
        let lake = |e: crate::hdfs::target::TargetConfigError| LakeError::Lake(e.to_string());
        let target = Target::parse(&config.lake).map_err(lake)?;
        let op = target.operator(config.timeout()).map_err(lake)?;
        let publisher = target.publisher(&op, config.timeout()).map_err(lake)?;
        Ok(Self { op, publisher })
    }

    /// Writes `body` under `_tmp/` and renames it to `dir` + `name`,
    /// replacing what was there: readers see the old file or the new one.
    pub async fn publish(&self, dir: &str, name: &str, body: Vec<u8>) -> Result<(), LakeError> {
        let temp = self.stage(name, body).await?;
        self.place(&temp, &format!("{dir}{name}")).await
    }

    /// As [`publish`](Self::publish), only if `dir` + `name` does not
    /// exist yet: `false` when another writer got there first.
    pub async fn publish_new(
        &self,
        dir: &str,
        name: &str,
        body: Vec<u8>,
    ) -> Result<bool, LakeError> {
        let temp = self.stage(name, body).await?;
        let target = format!("{dir}{name}");
        match self.publisher.rename_new(&temp, &target).await {
            Ok(true) => Ok(true),
            outcome => {
                let _ = self.op.delete(&temp).await;
                outcome.map_err(|e| LakeError::Lake(format!("{target}: {e}")))
            }
        }
    }

    /// A temporary path of this run's own for a file to be named `name`
    /// (what [`remove_stale_temporaries`](Self::remove_stale_temporaries)
    /// recognises).
    pub fn temp_path(name: &str) -> String {
        format!(
            "{TEMP_DIR}prism-lake.{}.{name}",
            uuid::Uuid::new_v4().simple()
        )
    }

    /// Writes `body` to a temporary file of its own; its path.
    pub async fn stage(&self, name: &str, body: Vec<u8>) -> Result<String, LakeError> {
        let temp = Self::temp_path(name);
        self.op
            .write(&temp, body)
            .await
            .map_err(|e| LakeError::Lake(format!("{temp}: {e}")))?;
        Ok(temp)
    }

    /// Renames the staged `temp` to `target`, replacing it.
    pub async fn place(&self, temp: &str, target: &str) -> Result<(), LakeError> {
        if let Err(e) = self.publisher.rename(temp, target).await {
            let _ = self.op.delete(temp).await;
            return Err(LakeError::Lake(format!("{target}: {e}")));
        }
        Ok(())
    }

    /// Removes this tool's temporary files older than `age`: what a run
    /// killed mid-write left (a younger one may be another run's, still
    /// being written).
    pub async fn remove_stale_temporaries(&self, age: Duration) -> Result<(), LakeError> {
        let entries = match self.op.list(TEMP_DIR).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(LakeError::Lake(format!("{TEMP_DIR}: {e}"))),
        };
        let now = OffsetDateTime::now_utc();
        for entry in entries {
            if !entry.name().starts_with("prism-lake.") {
                continue;
            }
            let modified = match entry.metadata().last_modified() {
                Some(t) => Some(t),
                None => self
                    .op
                    .stat(entry.path())
                    .await
                    .ok()
                    .and_then(|m| m.last_modified()),
            };
            let stale = modified.is_some_and(|t| {
                let t = t.into_inner().as_millisecond();
                (now.unix_timestamp_nanos() / 1_000_000) as i64 - t > age.as_millis() as i64
            });
            if stale {
                tracing::info!(path = entry.path(), "removing a stale temporary file");
                self.delete(entry.path()).await?;
            }
        }
        Ok(())
    }

    pub async fn delete(&self, path: &str) -> Result<(), LakeError> {
        self.op
            .delete(path)
            .await
            .map_err(|e| LakeError::Lake(format!("{path}: {e}")))
    }
}

/// `PRISM_LAKE_PAUSE_AT=<step>` stops the process (SIGSTOP to itself) when
/// it reaches `step`, so a test can kill it -9 exactly there: a crash at
/// each step of compaction, which nothing outside could time.
pub fn pause_point(step: &str) {
    if std::env::var("PRISM_LAKE_PAUSE_AT").is_ok_and(|s| s == step) {
        tracing::warn!(step, "pausing here, as PRISM_LAKE_PAUSE_AT asks");
        let _ = std::process::Command::new("kill")
            .args(["-STOP", &std::process::id().to_string()])
            .status();
    }
}

/// `YYYY-MM-DDTHH:MMZ`.
pub fn minute_name(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{}:{:02}Z", crate::audit::report::hour_name(t), t.minute())
}

/// `90s`, `5m`, `1h`, `250ms`: a positive duration.
pub fn parse_every(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected a number and a unit, like 60s or 5m"))?;
    let every = match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{s:?}: the unit must be ms, s, m or h")),
    };
    if every.is_zero() {
        return Err(format!("{s:?}: must be more than zero"));
    }
    Ok(every)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_takes_a_number_and_a_unit() {
        assert_eq!(parse_every("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_every("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_every("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_every("90"), Ok(Duration::from_secs(90)));
        assert!(parse_every("0s").is_err());
        assert!(parse_every("soon").is_err());
        assert!(parse_every("5 days").is_err());
    }

    #[test]
    fn recent_hours_start_with_the_current_one() {
        let config = LakeConfig::parse_from(["prism-lake", "status", "--hours", "3"]);
        let hours = config.recent_hours();
        let now = OffsetDateTime::now_utc();
        assert_eq!(hours.len(), 3);
        assert!(hours[0] <= now && now - hours[0] < time::Duration::hours(2));
        assert_eq!(hours[0], start_of_hour(hours[0]));
        assert_eq!(hours[0] - hours[2], time::Duration::hours(2));
    }
}
