//! What one `dt=/hour=` directory holds: its data files, each with the
//! ids of the events in it, and its seal (`_manifest.json`, `_SUCCESS`).
//! The audit reads hours through this too, so the two agree on what a
//! lake hour is.

use std::collections::BTreeSet;

use opendal::{EntryMode, ErrorKind, Operator};
use serde::Deserialize;
use uuid::Uuid;

use super::LakeError;
use super::manifest::{FORMAT, MANIFEST, Manifest, SUCCESS, parse_version_name};
use crate::hdfs::layout::{Bucket, Format, parse_data_file_name};

/// A final data file of the hour, named for its partition and offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub name: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
    pub bytes: u64,
    pub format: Format,
}

impl DataFile {
    fn within(&self, other: &DataFile) -> bool {
        self.partition == other.partition && other.first <= self.first && self.last <= other.last
    }
}

/// The directory as listed, without reading the data.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<DataFile>,
    /// The latest version issued (`_manifest.v<N>.json`).
    pub manifest: Option<Manifest>,
    /// The version `_manifest.json`, the copy readers use, holds.
    pub copy_version: Option<u32>,
    pub success: bool,
}

impl Listing {
    /// The files that hold the hour's events, each event once: all of
    /// them, except, in a sealed hour, files the manifest does not list
    /// that lie inside a Parquet file it does (a finished compaction's
    /// originals, not yet removed), and a Parquet file it does not list yet
    /// that covers files it does (a compaction under way, or cut short).
    pub fn trusted(&self) -> Vec<&DataFile> {
        let Some(manifest) = &self.manifest else {
            return self.files.iter().collect();
        };
        let listed = manifest.names();
        let is_listed = |f: &DataFile| listed.contains(f.name.as_str());
        self.files
            .iter()
            .filter(|f| {
                if is_listed(f) {
                    return true;
                }
                let leftover = self.inside_listed_parquet(f, &listed);
                let under_way = f.format == Format::Parquet
                    && self.files.iter().any(|l| is_listed(l) && l.within(f));
                !leftover && !under_way
            })
            .collect()
    }

    /// Originals of a finished compaction: not listed, inside a listed
    /// Parquet file.
    pub fn leftovers(&self) -> Vec<&DataFile> {
        let Some(manifest) = &self.manifest else {
            return Vec::new();
        };
        let listed = manifest.names();
        self.files
            .iter()
            .filter(|f| !listed.contains(f.name.as_str()) && self.inside_listed_parquet(f, &listed))
            .collect()
    }

    /// Whether `f` lies inside a Parquet file the manifest lists.
    fn inside_listed_parquet(&self, f: &DataFile, listed: &BTreeSet<&str>) -> bool {
        self.files
            .iter()
            .any(|p| p.format == Format::Parquet && listed.contains(p.name.as_str()) && f.within(p))
    }

    /// Files that are not [`trusted`](Self::trusted).
    pub fn untrusted(&self) -> Vec<&DataFile> {
        let trusted = self.trusted();
        self.files
            .iter()
            .filter(|f| !trusted.iter().any(|t| t.name == f.name))
            .collect()
    }
}

/// One data file's events.
#[derive(Debug)]
pub struct FileIds {
    pub file: DataFile,
    /// One entry per line that is an event, in file order.
    pub ids: Vec<Uuid>,
    /// Lines that are not events (a file cut short).
    pub bad_lines: u64,
}

#[derive(Deserialize)]
struct Head {
    event_id: Uuid,
}

fn lake_error(path: &str, e: impl std::fmt::Display) -> LakeError {
    LakeError::Lake(format!("{path}: {e}"))
}

/// Lists the hour's directory; a missing directory is an empty hour. Names
/// that are neither this topic's data files nor the seal's are ignored.
pub async fn list(op: &Operator, topic: &str, bucket: Bucket) -> Result<Listing, LakeError> {
    let dir = bucket.dir(topic);
    let entries = match op.list(&dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Listing::default()),
        Err(e) => return Err(lake_error(&dir, e)),
    };
    let mut listing = Listing::default();
    let mut latest: Option<(u32, String)> = None;
    for entry in entries {
        if entry.metadata().mode() != EntryMode::FILE {
            continue;
        }
        let name = entry.name();
        if name == SUCCESS {
            listing.success = true;
        } else if name == MANIFEST {
            listing.copy_version = Some(read_manifest(op, entry.path()).await?.version);
        } else if let Some(version) = parse_version_name(name) {
            if latest.as_ref().is_none_or(|(v, _)| version > *v) {
                latest = Some((version, entry.path().to_owned()));
            }
        } else if let Some((partition, first, last, format)) = parse_data_file_name(topic, name) {
            // Listings do not always carry sizes (HDFS does, a local
            // directory may not); ask when missing.
            let mut bytes = entry.metadata().content_length();
            if bytes == 0 {
                bytes = op
                    .stat(entry.path())
                    .await
                    .map_err(|e| lake_error(entry.path(), e))?
                    .content_length();
            }
            listing.files.push(DataFile {
                name: name.to_owned(),
                partition,
                first,
                last,
                bytes,
                format,
            });
        }
    }
    if let Some((_, path)) = latest {
        listing.manifest = Some(read_manifest(op, &path).await?);
    }
    listing
        .files
        .sort_by_key(|f| (f.partition, f.first, f.last));
    Ok(listing)
}

async fn read_manifest(op: &Operator, path: &str) -> Result<Manifest, LakeError> {
    let bytes = op.read(path).await.map_err(|e| lake_error(path, e))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes.to_vec()).map_err(|e| lake_error(path, e))?;
    if manifest.format > FORMAT {
        // Its meaning may have changed: acting on it could undo a newer
        // tool's work.
        return Err(lake_error(
            path,
            format!(
                "manifest format {} is newer than this prism-lake's {FORMAT}; upgrade it",
                manifest.format
            ),
        ));
    }
    Ok(manifest)
}

/// Reads the event ids of `file` in `bucket`'s directory: every line of a
/// JSON-lines file, every row of a Parquet one.
pub async fn read_ids(
    op: &Operator,
    topic: &str,
    bucket: Bucket,
    file: &DataFile,
) -> Result<FileIds, LakeError> {
    let path = format!("{}{}", bucket.dir(topic), file.name);
    let buffer = op.read(&path).await.map_err(|e| lake_error(&path, e))?;
    let mut read = FileIds {
        file: file.clone(),
        ids: Vec::new(),
        bad_lines: 0,
    };
    if file.format == Format::Parquet {
        read.ids =
            super::parquet::event_ids(buffer.to_bytes()).map_err(|e| lake_error(&path, e))?;
        return Ok(read);
    }
    let bytes = buffer.to_vec();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<Head>(line) {
            Ok(head) => read.ids.push(head.event_id),
            Err(_) => read.bad_lines += 1,
        }
    }
    Ok(read)
}

/// Every trusted data file of the listing ([`Listing::trusted`]), read.
pub async fn read_all(
    op: &Operator,
    topic: &str,
    bucket: Bucket,
    listing: &Listing,
) -> Result<Vec<FileIds>, LakeError> {
    let trusted = listing.trusted();
    let mut read = Vec::with_capacity(trusted.len());
    for file in trusted {
        read.push(read_ids(op, topic, bucket, file).await?);
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hdfs::target::Target;
    use time::macros::datetime;

    #[tokio::test]
    async fn a_manifest_from_a_newer_tool_is_refused_not_acted_on() {
        let root = tempfile::tempdir().unwrap();
        let bucket = Bucket::of(datetime!(2026-12-01 10:00 UTC));
        let dir = root.path().join(bucket.dir("t"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut manifest = serde_json::json!({
            "format": FORMAT, "topic": "t", "hour": "2026-12-01T10:00:00Z",
            "version": 1, "issued_at": "2026-12-01T10:20:00Z", "issued_by": "h/1",
            "records": 0, "ids_digest": "", "partitions": [], "history": []
        });
        std::fs::write(dir.join("_manifest.v1.json"), manifest.to_string()).unwrap();
        let op = Target::parse(&root.path().display().to_string())
            .unwrap()
            .operator(std::time::Duration::from_secs(5))
            .unwrap();
        let listing = list(&op, "t", bucket).await.unwrap();
        assert_eq!(listing.manifest.map(|m| m.version), Some(1));

        manifest["format"] = (FORMAT + 1).into();
        std::fs::write(dir.join("_manifest.v2.json"), manifest.to_string()).unwrap();
        let error = list(&op, "t", bucket).await.err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("newer than this prism-lake")),
            "{error:?}"
        );
    }
}
