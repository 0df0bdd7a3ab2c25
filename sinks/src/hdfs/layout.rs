//! The file layout the analytics team reads with Hive and Spark:
//! `topics/<topic>/dt=YYYY-MM-DD/hour=HH/<topic>+<partition>+<first>+<last>.jsonl`.

use time::{Date, OffsetDateTime, UtcOffset};

/// Where temporary files are written before they are renamed into place.
/// Hive and Spark skip directories whose names start with `_`.
pub const TEMP_DIR: &str = "_tmp/";

/// One `dt=/hour=` directory; ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bucket {
    pub date: Date,
    pub hour: u8,
}

impl Bucket {
    pub const MIN: Bucket = Bucket {
        date: Date::MIN,
        hour: 0,
    };
    pub const MAX: Bucket = Bucket {
        date: Date::MAX,
        hour: 23,
    };

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

/// How a data file holds its events: the sink writes JSON lines;
/// `prism-lake compact` turns a sealed partition-hour into one Parquet
/// file, named the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    JsonLines,
    Parquet,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::JsonLines => ".jsonl",
            Format::Parquet => ".parquet",
        }
    }
}

/// `<topic>+<partition>+<first>+<last>.jsonl`
pub fn file_name(topic: &str, partition: i32, first: i64, last: i64) -> String {
    data_file_name(topic, partition, first, last, Format::JsonLines)
}

/// `<topic>+<partition>+<first>+<last>` and the format's extension.
pub fn data_file_name(
    topic: &str,
    partition: i32,
    first: i64,
    last: i64,
    format: Format,
) -> String {
    format!("{topic}+{partition}+{first}+{last}{}", format.extension())
}

/// The partition and offset range in a final JSON-lines file's name, if it
/// is one of this topic's.
pub fn parse_file_name(topic: &str, name: &str) -> Option<(i32, i64, i64)> {
    parse_with(topic, name, Format::JsonLines)
}

/// The partition, offset range and format in a data file's name, if it is
/// one of this topic's (either format).
pub fn parse_data_file_name(topic: &str, name: &str) -> Option<(i32, i64, i64, Format)> {
    [Format::JsonLines, Format::Parquet]
        .into_iter()
        .find_map(|f| parse_with(topic, name, f).map(|(p, first, last)| (p, first, last, f)))
}

fn parse_with(topic: &str, name: &str, format: Format) -> Option<(i32, i64, i64)> {
    let rest = name
        .strip_prefix(topic)?
        .strip_prefix('+')?
        .strip_suffix(format.extension())?;
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
        let parquet = data_file_name("select-color", 1, 100, 299, Format::Parquet);
        assert_eq!(parquet, "select-color+1+100+299.parquet");
        assert_eq!(parse_file_name("select-color", &parquet), None);
        assert_eq!(
            parse_data_file_name("select-color", &parquet),
            Some((1, 100, 299, Format::Parquet))
        );
        assert_eq!(
            parse_data_file_name("select-color", &name),
            Some((1, 100, 199, Format::JsonLines))
        );
    }
}
