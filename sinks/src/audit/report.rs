//! The comparison of one hour, and the report as a table or JSON.

use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Ids;
use super::lake::{LakeHour, SealCheck};

/// One store's side of an hour, against the topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreCounts {
    /// Lines (lake) or documents (Elasticsearch).
    pub records: u64,
    /// Distinct event ids.
    pub ids: u64,
    /// Records beyond the first of each id.
    pub duplicates: u64,
    /// Records beyond as many as the topic has of each id: copies the sink
    /// made, not the producer.
    pub more_than_kafka: u64,
    /// Ids in the topic that this store lacks.
    pub missing: u64,
    /// Ids in this store that the topic lacks (expired from it, or never
    /// produced).
    pub not_in_kafka: u64,
    /// A few of the missing ids, oldest first.
    pub missing_sample: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LakeCounts {
    #[serde(flatten)]
    pub counts: StoreCounts,
    /// Lines that are not events.
    pub bad_lines: u64,
    /// The hour's manifest against its files; null while the hour is not
    /// sealed.
    pub sealed: Option<SealCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KafkaCounts {
    pub records: u64,
    pub ids: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourReport {
    #[serde(with = "time::serde::rfc3339")]
    pub hour: OffsetDateTime,
    pub kafka: KafkaCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lake: Option<LakeCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elasticsearch: Option<StoreCounts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The first hour audited.
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// The end of the range, exclusive.
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    pub hours: Vec<HourReport>,
}

/// `YYYY-MM-DDTHH` (UTC), as `--from` and `--to` take an hour.
pub fn hour_name(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{}-{:02}-{:02}T{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour()
    )
}

fn records(ids: &Ids) -> u64 {
    ids.values().map(|&n| u64::from(n)).sum()
}

fn compare(kafka: &Ids, store: &Ids, samples: usize) -> StoreCounts {
    let mut missing: Vec<Uuid> = kafka
        .keys()
        .filter(|id| !store.contains_key(id))
        .copied()
        .collect();
    missing.sort_unstable();
    let total = records(store);
    StoreCounts {
        records: total,
        ids: store.len() as u64,
        duplicates: total - store.len() as u64,
        more_than_kafka: store
            .iter()
            .filter_map(|(id, &n)| kafka.get(id).map(|&k| u64::from(n.saturating_sub(k))))
            .sum(),
        missing: missing.len() as u64,
        not_in_kafka: store.keys().filter(|id| !kafka.contains_key(id)).count() as u64,
        missing_sample: missing.into_iter().take(samples).collect(),
    }
}

impl HourReport {
    pub fn compare(
        hour: OffsetDateTime,
        kafka: &Ids,
        lake: Option<&LakeHour>,
        search: Option<&Ids>,
        samples: usize,
    ) -> Self {
        Self {
            hour,
            kafka: KafkaCounts {
                records: records(kafka),
                ids: kafka.len() as u64,
            },
            lake: lake.map(|lake| LakeCounts {
                counts: compare(kafka, &lake.ids, samples),
                bad_lines: lake.bad_lines,
                sealed: lake.seal.clone(),
            }),
            elasticsearch: search.map(|search| compare(kafka, search, samples)),
        }
    }

    pub fn missing(&self) -> u64 {
        self.lake.as_ref().map_or(0, |l| l.counts.missing)
            + self.elasticsearch.as_ref().map_or(0, |e| e.missing)
    }
}

impl Report {
    /// Events missing from a store, over every hour and store.
    pub fn missing(&self) -> u64 {
        self.hours.iter().map(HourReport::missing).sum()
    }

    /// Sealed hours whose files no longer match their manifest.
    pub fn unmatched_seals(&self) -> Vec<OffsetDateTime> {
        self.hours
            .iter()
            .filter(|h| {
                h.lake
                    .as_ref()
                    .and_then(|l| l.sealed.as_ref())
                    .is_some_and(|s| !s.matches)
            })
            .map(|h| h.hour)
            .collect()
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let hours = self.hours.len();
        let _ = writeln!(
            out,
            "audited {}:00Z to {}:00Z ({hours} hour{})",
            hour_name(self.from),
            hour_name(self.to),
            if hours == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            out,
            "{:<14} {:>17} | {:>9} {:>9} {:>6} {:>6} {:>7} {:>7} {:>5} {:>6} | {:>9} {:>6} {:>7} {:>7}",
            "hour (UTC)",
            "kafka records/ids",
            "lake lines",
            "ids",
            "dup",
            ">kafka",
            "missing",
            "not-kfk",
            "bad",
            "sealed",
            "es docs",
            "dup",
            "missing",
            "not-kfk"
        );
        let dash = |on: bool, n: u64| if on { n.to_string() } else { "-".into() };
        for h in &self.hours {
            let hour = hour_name(h.hour);
            let kafka = format!("{}/{}", h.kafka.records, h.kafka.ids);
            let lake = h.lake.as_ref();
            let l = |f: fn(&LakeCounts) -> u64| dash(lake.is_some(), lake.map_or(0, f));
            let es = h.elasticsearch.as_ref();
            let e = |f: fn(&StoreCounts) -> u64| dash(es.is_some(), es.map_or(0, f));
            // `v2`: sealed, version 2, matching; `v2!`: its files differ.
            let sealed = match lake.and_then(|l| l.sealed.as_ref()) {
                Some(s) if s.matches => format!("v{}", s.version),
                Some(s) => format!("v{}!", s.version),
                None => "-".into(),
            };
            let _ = writeln!(
                out,
                "{hour:<14} {kafka:>17} | {:>9} {:>9} {:>6} {:>6} {:>7} {:>7} {:>5} {sealed:>6} | {:>9} {:>6} {:>7} {:>7}",
                l(|c| c.counts.records),
                l(|c| c.counts.ids),
                l(|c| c.counts.duplicates),
                l(|c| c.counts.more_than_kafka),
                l(|c| c.counts.missing),
                l(|c| c.counts.not_in_kafka),
                l(|c| c.bad_lines),
                e(|c| c.records),
                e(|c| c.duplicates),
                e(|c| c.missing),
                e(|c| c.not_in_kafka),
            );
            for (store, sample) in [
                ("lake", lake.map(|l| &l.counts.missing_sample)),
                ("es", es.map(|e| &e.missing_sample)),
            ] {
                if let Some(sample) = sample.filter(|s| !s.is_empty()) {
                    let ids: Vec<String> = sample.iter().map(Uuid::to_string).collect();
                    let _ = writeln!(out, "  missing in {store}: {}", ids.join(" "));
                }
            }
            for difference in lake
                .and_then(|l| l.sealed.as_ref())
                .map_or(&[][..], |s| s.differences.as_slice())
            {
                let _ = writeln!(out, "  sealed, but {difference}");
            }
        }
        let _ = writeln!(out, "missing in all: {}", self.missing());
        let unmatched = self.unmatched_seals();
        if !unmatched.is_empty() {
            let hours: Vec<String> = unmatched.into_iter().map(hour_name).collect();
            let _ = writeln!(
                out,
                "sealed hours whose files differ from their manifest: {}",
                hours.join(" ")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn an_hour_counts_lines_duplicates_and_both_kinds_of_difference() {
        let id = |n: u128| Uuid::from_u128(n);
        let kafka: Ids = [(id(1), 1), (id(2), 2), (id(3), 1)].into();
        let lake = LakeHour {
            ids: [(id(1), 2), (id(2), 2), (id(9), 1)].into(),
            bad_lines: 1,
            seal: Some(SealCheck {
                version: 2,
                matches: false,
                differences: vec!["t+0+7+7.jsonl is not in the manifest".into()],
            }),
        };
        let search: Ids = [(id(1), 1), (id(2), 1), (id(3), 1)].into();
        let hour = datetime!(2026-11-22 04:00 UTC);
        let report = HourReport::compare(hour, &kafka, Some(&lake), Some(&search), 3);
        assert_eq!(report.kafka, KafkaCounts { records: 4, ids: 3 });
        let lake = report.lake.clone().unwrap();
        assert_eq!(
            lake.counts,
            StoreCounts {
                records: 5,
                ids: 3,
                duplicates: 2,
                more_than_kafka: 1,
                missing: 1,
                not_in_kafka: 1,
                missing_sample: vec![id(3)],
            }
        );
        assert_eq!(lake.bad_lines, 1);
        assert_eq!(report.elasticsearch.clone().unwrap().missing, 0);
        assert_eq!(report.missing(), 1);
        let table = Report {
            from: hour,
            to: hour + time::Duration::HOUR,
            hours: vec![report],
        }
        .table();
        assert_eq!(
            table.lines().next(),
            Some("audited 2026-11-22T04:00Z to 2026-11-22T05:00Z (1 hour)"),
            "{table}"
        );
        assert!(table.contains("2026-11-22T04"), "{table}");
        assert!(table.contains("v2!"), "{table}");
        assert!(
            table.contains("sealed, but t+0+7+7.jsonl is not in the manifest"),
            "{table}"
        );
        assert!(
            table.ends_with("sealed hours whose files differ from their manifest: 2026-11-22T04\n"),
            "{table}"
        );
        assert!(
            table.contains(&format!("missing in lake: {}", id(3))),
            "{table}"
        );
    }
}
