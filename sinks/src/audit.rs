//! `prism-audit`: measures loss and duplication between Kafka, the lake and
//! Elasticsearch, one event-hour at a time.
//!
//! An event's hour is the one both sinks file it under ([`event_time`]):
//! the lake's `dt=/hour=` directory and the `@timestamp` of its document.
//! For each hour the tool collects the set of `event_id`s in the topic (a
//! short-lived consumer of its own, no group, seeking by timestamp), in the
//! lake's files for that hour, and in the documents whose `@timestamp` falls
//! in it (a composite aggregation, paged), compares them, and forgets them
//! before the next hour: memory is bounded by one hour's ids.
//!
//! [`event_time`]: crate::event_time::event_time

pub mod kafka;
pub mod lake;
pub mod report;
pub mod search;

use std::collections::HashMap;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::elasticsearch::config::EsConnection;
use crate::hdfs::layout::Bucket;
use report::{HourReport, Report};

/// How often each id occurs in one store for one hour.
pub type Ids = HashMap<Uuid, u32>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Reconcile the topic, the lake and Elasticsearch, hour by hour, and say
/// what is missing or duplicated where, and whether sealed hours still
/// match their manifests. Exits 0 when nothing is missing beyond the
/// tolerance and every sealed hour matches, 1 otherwise, 2 on an error.
/// `--hdfs-target none` or `--es-url none` leaves that store out.
#[derive(Debug, Clone, Parser)]
#[command(name = "prism-audit", version)]
pub struct AuditConfig {
    /// First hour (RFC 3339, or `YYYY-MM-DDTHH`; cut down to the hour).
    /// Default: 24 hours before `--to`.
    #[arg(long, env = "PRISM_AUDIT_FROM", value_parser = parse_hour)]
    pub from: Option<OffsetDateTime>,

    /// End of the range, exclusive (as `--from`). Default: the start of the
    /// last hour that can no longer gain events (one that ended more than the
    /// skew bound and the slack ago), so a run from cron sees no false
    /// alarm for an hour the sinks are still filling.
    #[arg(long, env = "PRISM_AUDIT_TO", value_parser = parse_hour)]
    pub to: Option<OffsetDateTime>,

    #[arg(long, env = "PRISM_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,

    #[arg(long, env = "PRISM_TOPIC", default_value = "select-color")]
    pub topic: String,

    /// Extra librdkafka settings (SASL, TLS), as the sinks take them.
    #[arg(long = "kafka-option", env = "PRISM_KAFKA_OPTIONS", hide_env_values = true, value_delimiter = ',', value_parser = crate::config::parse_key_value)]
    pub kafka_options: Vec<(String, String)>,

    /// The lake (`file:///…`, `hdfs://…`), as the HDFS sink's
    /// `PRISM_HDFS_TARGET`; `none` leaves the lake out.
    #[arg(
        long = "hdfs-target",
        env = "PRISM_HDFS_TARGET",
        default_value = "./data/lake"
    )]
    pub lake: String,

    /// Elasticsearch, as the sink reaches it; `--es-url none` leaves it
    /// out.
    #[command(flatten)]
    pub es: EsConnection,

    #[arg(long, env = "PRISM_ES_INDEX_PREFIX", default_value = "select-color")]
    pub index_prefix: String,

    /// The sinks' clock-skew bound: an event is filed under `received_at`
    /// when `client_ts` is further off than this.
    #[arg(long, env = "PRISM_MAX_CLOCK_SKEW_S", default_value_t = 600)]
    pub max_clock_skew_s: u64,

    /// Read the topic this much beyond what the skew bound implies, for
    /// records whose Kafka timestamp strays from `received_at`.
    #[arg(long, env = "PRISM_AUDIT_SLACK_S", default_value_t = 300)]
    pub slack_s: u64,

    /// Exit 1 only when more than this many events are missing in all.
    #[arg(long, env = "PRISM_AUDIT_MAX_MISSING", default_value_t = 0)]
    pub max_missing: u64,

    /// Missing ids shown per hour and store.
    #[arg(long, env = "PRISM_AUDIT_SAMPLES", default_value_t = 3)]
    pub samples: usize,

    #[arg(long, value_enum, env = "PRISM_AUDIT_FORMAT", default_value = "table")]
    pub format: Format,

    /// Longest wait for any one call to Kafka, the lake or Elasticsearch.
    #[arg(long, env = "PRISM_AUDIT_TIMEOUT_MS", default_value_t = 30_000)]
    pub timeout_ms: u64,
}

impl AuditConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn max_skew(&self) -> Duration {
        Duration::from_secs(self.max_clock_skew_s)
    }

    pub fn topic_spec(&self) -> kafka::TopicSpec<'_> {
        kafka::TopicSpec {
            brokers: &self.kafka_brokers,
            topic: &self.topic,
            options: &self.kafka_options,
            max_skew: self.max_skew(),
            slack: Duration::from_secs(self.slack_s),
            timeout: self.timeout(),
        }
    }

    /// The range to audit, `[from, to)`; an error when it holds no hour
    /// (an empty audit would pass for a clean one).
    pub fn range(&self) -> Result<(OffsetDateTime, OffsetDateTime), AuditError> {
        let settled =
            OffsetDateTime::now_utc() - self.max_skew() - Duration::from_secs(self.slack_s);
        let to = self.to.unwrap_or_else(|| start_of_hour(settled));
        let from = self.from.unwrap_or(to - time::Duration::DAY);
        if to <= from {
            return Err(AuditError::Range(format!(
                "empty range: --to {} is not after --from {}",
                report::hour_name(to),
                report::hour_name(from)
            )));
        }
        Ok((from, to))
    }

    /// The hours to audit, oldest first (none when the range is empty).
    pub fn hours(&self) -> Vec<OffsetDateTime> {
        let Ok((from, to)) = self.range() else {
            return Vec::new();
        };
        let mut hours = Vec::new();
        let mut hour = from;
        while hour < to {
            hours.push(hour);
            hour += time::Duration::HOUR;
        }
        hours
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("lake: {0}")]
    Lake(String),
    #[error("elasticsearch: {0}")]
    Search(String),
    #[error("{0}")]
    Range(String),
}

/// Audits every hour of the range in turn.
pub async fn run(config: &AuditConfig) -> Result<Report, AuditError> {
    let (from, to) = config.range()?;
    let lake = match config.lake.as_str() {
        "none" => None,
        target => Some(lake::Lake::open(target, &config.topic, config.timeout())?),
    };
    let search = match config.es.url.as_str() {
        "none" => None,
        _ => Some(search::Search::new(config)?),
    };
    let mut topic = kafka::TopicReader::new(config.topic_spec())?;
    let mut hours = Vec::new();
    for hour in config.hours() {
        let bucket = Bucket::of(hour);
        let in_kafka = tokio::task::block_in_place(|| topic.ids_in(hour))?;
        let in_lake = match &lake {
            Some(lake) => Some(lake.ids_in(bucket).await?),
            None => None,
        };
        let in_search = match &search {
            Some(search) => Some(search.ids_in(hour).await?),
            None => None,
        };
        hours.push(HourReport::compare(
            hour,
            &in_kafka,
            in_lake.as_ref(),
            in_search.as_ref(),
            config.samples,
        ));
    }
    Ok(Report { from, to, hours })
}

pub fn start_of_hour(t: OffsetDateTime) -> OffsetDateTime {
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.replace_time(time::Time::MIDNIGHT) + time::Duration::hours(i64::from(utc.hour()))
}

/// RFC 3339, or `YYYY-MM-DDTHH` (UTC), cut down to the hour.
pub fn parse_hour(s: &str) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(start_of_hour(t));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]");
    time::PrimitiveDateTime::parse(s, &format)
        .map(|t| t.assume_utc())
        .map_err(|_| format!("{s:?} is neither RFC 3339 nor YYYY-MM-DDTHH"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn hours_are_whole_utc_hours_in_either_form() {
        assert_eq!(
            parse_hour("2026-11-22T13:45:10+09:00"),
            Ok(datetime!(2026-11-22 04:00 UTC))
        );
        assert_eq!(
            parse_hour("2026-11-22T04"),
            Ok(datetime!(2026-11-22 04:00 UTC))
        );
        assert!(parse_hour("yesterday").is_err());
        let config = AuditConfig::parse_from([
            "prism-audit",
            "--from",
            "2026-11-22T22",
            "--to",
            "2026-11-23T01",
        ]);
        assert_eq!(
            config.hours(),
            [
                datetime!(2026-11-22 22:00 UTC),
                datetime!(2026-11-22 23:00 UTC),
                datetime!(2026-11-23 00:00 UTC)
            ]
        );
    }

    #[test]
    fn an_empty_or_backward_range_is_an_error_naming_both_ends() {
        for (from, to) in [
            ("2026-11-22T21", "2026-11-22T21"),
            ("2026-11-22T21", "2026-11-22T20"),
        ] {
            let config = AuditConfig::parse_from(["prism-audit", "--from", from, "--to", to]);
            let error = config
                .range()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                error.contains("empty range") && error.contains(from) && error.contains(to),
                "{from}..{to}: {error:?}"
            );
        }
        let config = AuditConfig::parse_from(["prism-audit", "--to", "2026-11-22T21"]);
        assert_eq!(
            config.range().ok(),
            Some((
                datetime!(2026-11-21 21:00 UTC),
                datetime!(2026-11-22 21:00 UTC)
            ))
        );
    }

    #[test]
    fn by_default_a_day_that_can_no_longer_gain_events() {
        let config = AuditConfig::parse_from(["prism-audit"]);
        let hours = config.hours();
        assert_eq!(hours.len(), 24);
        let end = hours[23] + time::Duration::HOUR;
        let settled = OffsetDateTime::now_utc() - time::Duration::minutes(15);
        assert!(end <= settled, "{end} is not settled by {settled}");
        assert!(
            end > settled - time::Duration::HOUR,
            "{end} is older than it need be"
        );
    }
}
