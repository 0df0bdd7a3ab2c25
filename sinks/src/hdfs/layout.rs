//! The file layout the analytics team reads with Hive and Spark:
//! `topics/<topic>/dt=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first>+<last>.jsonl`.

use std::time::Duration;

use prism_event::EnrichedEvent;
use time::{Date, OffsetDateTime, UtcOffset};

/// Where temporary files are written before they are renamed into place.
/// Hive and Spark skip directories whose names start with `_`.
pub const TEMP_DIR: &str = "_tmp/";

/// The time an event is filed under: the browser's `client_ts`, unless the
/// browser's clock is off from the producer's (`received_at`) by more than
/// `max_skew`, in which case `received_at`. Always UTC.
pub fn event_time(event: &EnrichedEvent, max_skew: Duration) -> OffsetDateTime {
    let skew = (event.client_ts - event.received_at).unsigned_abs();
    let chosen = if skew <= max_skew {
        event.client_ts
    } else {
        event.received_at
    };
    chosen.to_offset(UtcOffset::UTC)
}

/// One `dt=/hour=` directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bucket {
    pub date: Date,
    pub hour: u8,
}

impl Bucket {
    pub fn of(time: OffsetDateTime) -> Self {
        let utc = time.to_offset(UtcOffset::UTC);
        Self {
            date: utc.date(),
            hour: utc.hour(),
        }
    }

    /// `topics/<topic>/dt=YYYY-MM-DD/hour=HH/`
    pub fn dir(&self, topic: &str) -> String {
        format!(
            "topics/{topic}/dt={:04}-{:02}-{:02}/hour={:02}/",
            self.date.year(),
            u8::from(self.date.month()),
            self.date.day(),
            self.hour
        )
    }
}

/// `<topic>+<partition>+<first>+<last>.jsonl`
pub fn file_name(topic: &str, partition: i32, first: i64, last: i64) -> String {
    format!("{topic}+{partition}+{first}+{last}.jsonl")
}

/// The partition and offset range in a final file's name, if it is one of
/// this topic's.
pub fn parse_file_name(topic: &str, name: &str) -> Option<(i32, i64, i64)> {
    let rest = name
        .strip_prefix(topic)?
        .strip_prefix('+')?
        .strip_suffix(".jsonl")?;
    let mut parts = rest.split('+');
    let partition = parts.next()?.parse().ok()?;
    let first = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    (parts.next().is_none() && first <= last).then_some((partition, first, last))
}

/// The prefix of every temporary file of one partition, in [`TEMP_DIR`].
pub fn temp_prefix(topic: &str, partition: i32) -> String {
    format!("{TEMP_DIR}{topic}+{partition}+")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn buckets_are_utc_hours() {
        let bucket = Bucket::of(datetime!(2026-11-22 08:59:59.999 +09:00));
        assert_eq!(
            bucket.dir("select-color"),
            "topics/select-color/dt=2026-11-21/hour=23/"
        );
    }

    #[test]
    fn file_names_round_trip_and_strangers_are_ignored() {
        let name = file_name("select-color", 1, 100, 199);
        assert_eq!(name, "select-color+1+100+199.jsonl");
        assert_eq!(parse_file_name("select-color", &name), Some((1, 100, 199)));
        assert_eq!(parse_file_name("select-colour", &name), None);
        assert_eq!(
            parse_file_name("select-color", "select-color+1+100.jsonl"),
            None
        );
        assert_eq!(
            parse_file_name("select-color", "select-color+1+9+3.jsonl"),
            None
        );
        assert_eq!(
            parse_file_name("select-color", "select-color+1+1+3.jsonl.tmp"),
            None
        );
    }

    #[test]
    fn a_wild_client_clock_falls_back_to_the_receive_time() {
        let event = |client_ts, received_at| EnrichedEvent {
            client_ts,
            received_at,
            ..sample()
        };
        let bound = Duration::from_secs(600);
        let on_time = event(
            datetime!(2026-11-22 04:59:00 UTC),
            datetime!(2026-11-22 05:00:30 UTC),
        );
        assert_eq!(
            event_time(&on_time, bound),
            datetime!(2026-11-22 04:59:00 UTC)
        );
        let wild = event(
            datetime!(1999-01-01 00:00:00 UTC),
            datetime!(2026-11-22 05:00:30 UTC),
        );
        assert_eq!(event_time(&wild, bound), datetime!(2026-11-22 05:00:30 UTC));
    }

    fn sample() -> EnrichedEvent {
        serde_json::from_str(
            r#"{"schema_version":1,"event_id":"01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12","name":"Kim",
            "color":"blue","client_ts":"2026-11-22T04:00:00Z","received_at":"2026-11-22T04:00:01Z",
            "navigator":{"user_agent":"x"},"ua":{"browser":{"family":"Other"},"os":{"family":"Other"},
            "device":{"family":"Other"}}}"#,
        )
        .unwrap()
    }
}
