//! What one `dt=/hour=` directory holds: its data files, each with the
//! ids of the events in it, and its seal (`_manifest.json`, `_SUCCESS`).
//! The audit reads hours through this too, so the two agree on what a
//! lake hour is.

use opendal::{EntryMode, ErrorKind, Operator};
use serde::Deserialize;
use uuid::Uuid;

use super::LakeError;
use super::manifest::{MANIFEST, Manifest, SUCCESS};
use crate::hdfs::layout::{Bucket, parse_file_name};

/// A final data file of the hour, named for its partition and offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub name: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
    pub bytes: u64,
}

/// The directory as listed, without reading the data.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<DataFile>,
    pub manifest: Option<Manifest>,
    pub success: bool,
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
    for entry in entries {
        if entry.metadata().mode() != EntryMode::FILE {
            continue;
        }
        let name = entry.name();
        if name == SUCCESS {
            listing.success = true;
        } else if name == MANIFEST {
            listing.manifest = Some(read_manifest(op, entry.path()).await?);
        } else if let Some((partition, first, last)) = parse_file_name(topic, name) {
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
            });
        }
    }
    listing
        .files
        .sort_by_key(|f| (f.partition, f.first, f.last));
    Ok(listing)
}

async fn read_manifest(op: &Operator, path: &str) -> Result<Manifest, LakeError> {
    let bytes = op.read(path).await.map_err(|e| lake_error(path, e))?;
    serde_json::from_slice(&bytes.to_vec()).map_err(|e| lake_error(path, e))
}

/// Reads every line of `file` in `bucket`'s directory.
pub async fn read_ids(
    op: &Operator,
    topic: &str,
    bucket: Bucket,
    file: &DataFile,
) -> Result<FileIds, LakeError> {
    let path = format!("{}{}", bucket.dir(topic), file.name);
    let bytes = op
        .read(&path)
        .await
        .map_err(|e| lake_error(&path, e))?
        .to_vec();
    let mut read = FileIds {
        file: file.clone(),
        ids: Vec::new(),
        bad_lines: 0,
    };
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<Head>(line) {
            Ok(head) => read.ids.push(head.event_id),
            Err(_) => read.bad_lines += 1,
        }
    }
    Ok(read)
}

/// Every data file of the listing, read.
pub async fn read_all(
    op: &Operator,
    topic: &str,
    bucket: Bucket,
    listing: &Listing,
) -> Result<Vec<FileIds>, LakeError> {
    let mut read = Vec::with_capacity(listing.files.len());
    for file in &listing.files {
        read.push(read_ids(op, topic, bucket, file).await?);
    }
    Ok(read)
}
