//! `_manifest.json`: what a sealed hour holds, per partition: its files
//! with their offset ranges, the record count and a digest of the event
//! ids. Written whole under `_tmp/` and renamed into place, then
//! `_SUCCESS`; re-issued with a higher version, and the change recorded,
//! whenever the hour's files change after sealing.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::hour::FileIds;

/// The latest version, for readers; each version is also kept as
/// `_manifest.v<N>.json`, created only if absent, which is what makes
/// issuing a version safe among several instances.
pub const MANIFEST: &str = "_manifest.json";
/// The Hadoop convention Spark, Hive and schedulers' sensors wait for.
pub const SUCCESS: &str = "_SUCCESS";
/// The manifest's own format; a reader refuses a newer one.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub topic: String,
    #[serde(with = "time::serde::rfc3339")]
    pub hour: OffsetDateTime,
    /// 1 when first sealed, one more at each re-issue.
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// Which process wrote it (`host/pid`).
    pub issued_by: String,
    pub records: u64,
    /// [`digest`] of every event id of the hour, all partitions.
    pub ids_digest: String,
    /// Every partition of the topic, with or without files.
    pub partitions: Vec<PartitionEntry>,
    /// One entry per version: the files it added and removed.
    pub history: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionEntry {
    pub partition: i32,
    pub records: u64,
    pub ids_digest: String,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    /// The partition's offsets the file covers, both ends included.
    pub first: i64,
    pub last: i64,
    pub records: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// `_manifest.v<N>.json`
pub fn version_name(version: u32) -> String {
    format!("_manifest.v{version}.json")
}

pub fn parse_version_name(name: &str) -> Option<u32> {
    name.strip_prefix("_manifest.v")?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

/// `sha256:` and the hex SHA-256 of the ids sorted, each as its 16 bytes:
/// the same set of events (with as many copies) gives the same digest in
/// whatever files and order they lie.
pub fn digest<'a>(ids: impl IntoIterator<Item = &'a Uuid>) -> String {
    let mut sorted: Vec<&Uuid> = ids.into_iter().collect();
    sorted.sort_unstable();
    let mut hash = Sha256::new();
    for id in sorted {
        hash.update(id.as_bytes());
    }
    let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Who is writing: `host/pid`.
pub fn issuer() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}/{}", std::process::id())
}

fn per_partition<'a>(partitions: &[i32], files: &'a [FileIds]) -> BTreeMap<i32, Vec<&'a FileIds>> {
    let mut by: BTreeMap<i32, Vec<&FileIds>> = partitions.iter().map(|&p| (p, vec![])).collect();
    for f in files {
        by.entry(f.file.partition).or_default().push(f);
    }
    by
}

impl Manifest {
    /// The manifest of an hour holding `files`, for a topic of
    /// `partitions`; the next version after `previous`, if there was one.
    pub fn issue(
        topic: &str,
        hour: OffsetDateTime,
        partitions: &[i32],
        files: &[FileIds],
        previous: Option<&Manifest>,
    ) -> Self {
        let now = OffsetDateTime::now_utc();
        let entries: Vec<PartitionEntry> = per_partition(partitions, files)
            .into_iter()
            .map(|(partition, files)| PartitionEntry {
                partition,
                records: files.iter().map(|f| f.ids.len() as u64).sum(),
                ids_digest: digest(files.iter().flat_map(|f| &f.ids)),
                files: files
                    .iter()
                    .map(|f| FileEntry {
                        name: f.file.name.clone(),
                        first: f.file.first,
                        last: f.file.last,
                        records: f.ids.len() as u64,
                        bytes: f.file.bytes,
                    })
                    .collect(),
            })
            .collect();
        let names: BTreeSet<String> = files.iter().map(|f| f.file.name.clone()).collect();
        let before: BTreeSet<String> = previous
            .map(|m| m.names().into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        let version = previous.map_or(1, |m| m.version + 1);
        let mut history = previous.map(|m| m.history.clone()).unwrap_or_default();
        history.push(Change {
            version,
            issued_at: now,
            added: names.difference(&before).cloned().collect(),
            removed: before.difference(&names).cloned().collect(),
        });
        Self {
            format: FORMAT,
            topic: topic.to_owned(),
            hour,
            version,
            issued_at: now,
            issued_by: issuer(),
            records: entries.iter().map(|p| p.records).sum(),
            ids_digest: digest(files.iter().flat_map(|f| &f.ids)),
            partitions: entries,
            history,
        }
    }

    /// The next version, with each of `replaced`'s partitions now held by
    /// the one file given (a compaction: same records, same digest).
    pub fn compacted(&self, replaced: &[(i32, FileEntry)]) -> Self {
        let now = OffsetDateTime::now_utc();
        let mut next = self.clone();
        let mut change = Change {
            version: self.version + 1,
            issued_at: now,
            added: Vec::new(),
            removed: Vec::new(),
        };
        for entry in &mut next.partitions {
            if let Some((_, file)) = replaced.iter().find(|(p, _)| *p == entry.partition) {
                change
                    .removed
                    .extend(entry.files.iter().map(|f| f.name.clone()));
                change.added.push(file.name.clone());
                entry.files = vec![file.clone()];
            }
        }
        next.version = change.version;
        next.issued_at = now;
        next.issued_by = issuer();
        next.history.push(change);
        next
    }

    /// The data files it lists.
    pub fn names(&self) -> BTreeSet<&str> {
        self.partitions
            .iter()
            .flat_map(|p| p.files.iter().map(|f| f.name.as_str()))
            .collect()
    }

    /// How the hour's files differ from what this manifest says, one line
    /// per difference; empty when they match.
    pub fn differences(&self, files: &[FileIds]) -> Vec<String> {
        let mut out = Vec::new();
        let names: BTreeSet<&str> = files.iter().map(|f| f.file.name.as_str()).collect();
        let listed = self.names();
        for name in names.difference(&listed) {
            out.push(format!("{name} is not in the manifest"));
        }
        for name in listed.difference(&names) {
            out.push(format!("{name} is in the manifest but not in the lake"));
        }
        let partitions: Vec<i32> = self.partitions.iter().map(|p| p.partition).collect();
        let found = per_partition(&partitions, files);
        for entry in &self.partitions {
            let files = found.get(&entry.partition).map_or(&[][..], Vec::as_slice);
            let records: u64 = files.iter().map(|f| f.ids.len() as u64).sum();
            if records != entry.records {
                out.push(format!(
                    "partition {}: {records} records, the manifest says {}",
                    entry.partition, entry.records
                ));
            } else if digest(files.iter().flat_map(|f| &f.ids)) != entry.ids_digest {
                out.push(format!(
                    "partition {}: the event ids differ from the manifest's digest",
                    entry.partition
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::hour::DataFile;
    use time::macros::datetime;

    fn file(partition: i32, first: i64, ids: &[u128]) -> FileIds {
        let last = first + ids.len() as i64 - 1;
        FileIds {
            file: DataFile {
                name: format!("t+{partition}+{first}+{last}.jsonl"),
                partition,
                first,
                last,
                bytes: 10,
                format: crate::hdfs::layout::Format::JsonLines,
            },
            ids: ids.iter().map(|&n| Uuid::from_u128(n)).collect(),
            bad_lines: 0,
        }
    }

    #[test]
    fn the_digest_ignores_order_and_files_but_not_copies() {
        let ids = |ns: &[u128]| ns.iter().map(|&n| Uuid::from_u128(n)).collect::<Vec<_>>();
        assert_eq!(digest(&ids(&[1, 2, 3])), digest(&ids(&[3, 1, 2])));
        assert_ne!(digest(&ids(&[1, 2, 3])), digest(&ids(&[1, 2, 3, 3])));
        assert!(digest(&ids(&[])).starts_with("sha256:"));
    }

    #[test]
    fn a_reissue_records_what_changed_and_a_match_has_no_differences() {
        let hour = datetime!(2026-11-22 04:00 UTC);
        let files = vec![file(0, 0, &[1, 2]), file(1, 0, &[3])];
        let first = Manifest::issue("t", hour, &[0, 1, 2], &files, None);
        assert_eq!((first.version, first.records), (1, 3));
        assert_eq!(first.partitions.len(), 3, "partition 2, empty, is listed");
        assert_eq!(first.differences(&files), Vec::<String>::new());

        let mut later = files;
        later.push(file(0, 7, &[9]));
        let differences = first.differences(&later);
        assert_eq!(differences.len(), 2, "{differences:?}");
        assert!(differences[0].contains("t+0+7+7.jsonl is not in the manifest"));

        let second = Manifest::issue("t", hour, &[0, 1, 2], &later, Some(&first));
        assert_eq!((second.version, second.records), (2, 4));
        assert_eq!(second.history.len(), 2);
        assert_eq!(second.history[1].added, ["t+0+7+7.jsonl"]);
        assert!(second.history[1].removed.is_empty());
        assert_eq!(second.differences(&later), Vec::<String>::new());

        let parquet = FileEntry {
            name: "t+0+0+7.parquet".into(),
            first: 0,
            last: 7,
            records: 3,
            bytes: 5,
        };
        let third = second.compacted(&[(0, parquet)]);
        assert_eq!((third.version, third.records), (3, 4));
        assert_eq!(
            third.partitions[0].ids_digest,
            second.partitions[0].ids_digest
        );
        assert_eq!(third.history[2].added, ["t+0+0+7.parquet"]);
        assert_eq!(third.history[2].removed, ["t+0+0+1.jsonl", "t+0+7+7.jsonl"]);
        assert_eq!(
            third.names().into_iter().collect::<Vec<_>>(),
            ["t+0+0+7.parquet", "t+1+0+0.jsonl"]
        );
        assert_eq!(parse_version_name(&version_name(12)), Some(12));
        assert_eq!(parse_version_name(MANIFEST), None);

        let mut changed = later;
        changed[1].ids[0] = Uuid::from_u128(4);
        assert_eq!(
            second.differences(&changed),
            ["partition 1: the event ids differ from the manifest's digest"]
        );
    }
}
