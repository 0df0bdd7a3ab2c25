//! Compacting a sealed hour: each partition's JSON-lines files become one
//! Parquet file ([`parquet`]). The file is written under `_tmp/`, read
//! back from the lake and checked against the manifest (count and id
//! digest), renamed into place, the manifest re-issued naming it instead
//! of the originals, and only then are the originals removed.
//!
//! A crash anywhere leaves one set trusted ([`Listing::trusted`]): before
//! the new version, the originals (the Parquet file, if placed, is not
//! listed and covers listed files: under way); after it, the Parquet file
//! (the originals are not listed and lie inside it: leftovers, removed by
//! the next run). Several instances may compact at once: they write the
//! same file under the same name, and only one issues each version.
//!
//! [`parquet`]: super::parquet
//! [`Listing::trusted`]: super::hour::Listing::trusted

use prism_event::EnrichedEvent;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::hour::{self, Listing};
use super::manifest::{FileEntry, PartitionEntry, digest};
use super::parquet::Encoder;
use super::{LakeConfig, LakeError, Store, pause_point, seal};
use crate::audit::report::hour_name;
use crate::hdfs::layout::{Bucket, Format, data_file_name};

/// Events parsed and encoded at a time.
const CHUNK: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    NotSealed,
    /// Every partition is in Parquet already.
    Compacted,
    /// The lake differs from the manifest (files it lists are missing, or
    /// new ones await a re-issue): left for `seal`, or for an operator.
    Skipped(String),
    /// Another instance issued the next version first.
    Raced,
    Done {
        json_files: usize,
        json_bytes: u64,
        parquet_files: usize,
        parquet_bytes: u64,
    },
}

impl Outcome {
    pub fn describe(&self) -> String {
        match self {
            Outcome::NotSealed => "not sealed".into(),
            Outcome::Compacted => "compacted".into(),
            Outcome::Skipped(why) => format!("not compacted: {why}"),
            Outcome::Raced => "another instance re-issued its manifest first".into(),
            Outcome::Done {
                json_files,
                json_bytes,
                parquet_files,
                parquet_bytes,
            } => format!(
                "compacted now: {json_files} JSON-lines files ({json_bytes} bytes) into {parquet_files} Parquet files ({parquet_bytes} bytes)"
            ),
        }
    }
}

fn lake(e: impl std::fmt::Display) -> LakeError {
    LakeError::Lake(e.to_string())
}

/// Compacts `hour` if it is sealed and has JSON-lines files.
pub async fn compact_hour(
    config: &LakeConfig,
    store: &Store,
    hour: OffsetDateTime,
) -> Result<Outcome, LakeError> {
    let bucket = Bucket::of(hour);
    let dir = bucket.dir(&config.topic);
    let listing = hour::list(&store.op, &config.topic, bucket).await?;
    let Some(manifest) = listing.manifest.clone() else {
        return Ok(Outcome::NotSealed);
    };
    remove_leftovers(store, &dir, &listing).await?;
    if listing.copy_version != Some(manifest.version) || !listing.success {
        seal::publish_copy(store, &dir, &manifest).await?;
    }
    let present: Vec<&str> = listing.files.iter().map(|f| f.name.as_str()).collect();
    if let Some(lost) = manifest.names().into_iter().find(|n| !present.contains(n)) {
        return Ok(Outcome::Skipped(format!(
            "{lost} is in the manifest but not in the lake"
        )));
    }
    let is_json = |f: &FileEntry| f.name.ends_with(Format::JsonLines.extension());
    let todo: Vec<&PartitionEntry> = manifest
        .partitions
        .iter()
        .filter(|p| p.files.iter().any(is_json))
        .collect();
    if todo.is_empty() {
        return Ok(Outcome::Compacted);
    }
    let mut replaced = Vec::new();
    let (mut json_files, mut json_bytes) = (0, 0);
    for entry in &todo {
        let originals: Vec<&FileEntry> = entry.files.iter().filter(|f| is_json(f)).collect();
        json_files += originals.len();
        json_bytes += originals.iter().map(|f| f.bytes).sum::<u64>();
        let file = compact_partition(config, store, bucket, entry, &originals).await?;
        replaced.push((entry.partition, file));
    }
    pause_point("parquet-placed");
    let next = manifest.compacted(&replaced);
    if !seal::issue(store, &dir, &next).await? {
        return Ok(Outcome::Raced);
    }
    pause_point("manifest-issued");
    for entry in &todo {
        for file in entry.files.iter().filter(|f| is_json(f)) {
            store.delete(&format!("{dir}{}", file.name)).await?;
        }
    }
    let parquet_bytes = replaced.iter().map(|(_, f)| f.bytes).sum();
    info!(hour = %hour_name(hour), version = next.version, json_files, parquet_files = replaced.len(), "compacted");
    Ok(Outcome::Done {
        json_files,
        json_bytes,
        parquet_files: replaced.len(),
        parquet_bytes,
    })
}

/// The originals of a finished compaction (a crash before their removal).
async fn remove_leftovers(store: &Store, dir: &str, listing: &Listing) -> Result<(), LakeError> {
    for file in listing.leftovers() {
        info!(file = %file.name, "removing a compacted file's original");
        store.delete(&format!("{dir}{}", file.name)).await?;
    }
    Ok(())
}

/// Writes the partition's `originals` as one Parquet file, checks it
/// against the manifest's `entry` as written and as read back from the
/// lake, and renames it into place.
async fn compact_partition(
    config: &LakeConfig,
    store: &Store,
    bucket: Bucket,
    entry: &PartitionEntry,
    originals: &[&FileEntry],
) -> Result<FileEntry, LakeError> {
    let dir = bucket.dir(&config.topic);
    let first = originals.iter().map(|f| f.first).min().unwrap_or(0);
    let last = originals.iter().map(|f| f.last).max().unwrap_or(0);
    let name = data_file_name(&config.topic, entry.partition, first, last, Format::Parquet);
    let temp = Store::temp_path(&name);
    let mut writer = store
        .op
        .writer(&temp)
        .await
        .map_err(|e| lake(format!("{temp}: {e}")))?;
    let mut encoder = Encoder::new().map_err(lake)?;
    let mut ids = Vec::new();
    let mut bytes = 0u64;
    for file in originals {
        let path = format!("{dir}{}", file.name);
        let body = store
            .op
            .read(&path)
            .await
            .map_err(|e| lake(format!("{path}: {e}")))?
            .to_vec();
        let mut events: Vec<EnrichedEvent> = Vec::with_capacity(CHUNK);
        for (n, line) in body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let event: EnrichedEvent = serde_json::from_slice(line)
                .map_err(|e| lake(format!("{path}, line {}: not an event: {e}", n + 1)))?;
            ids.push(event.event_id);
            events.push(event);
            if events.len() == CHUNK {
                encoder.push(&events).map_err(lake)?;
                events.clear();
            }
        }
        encoder.push(&events).map_err(lake)?;
        let piece = encoder.take();
        bytes += piece.len() as u64;
        writer
            .write(piece)
            .await
            .map_err(|e| lake(format!("{temp}: {e}")))?;
    }
    let tail = encoder.finish().map_err(lake)?;
    bytes += tail.len() as u64;
    writer
        .write(tail)
        .await
        .map_err(|e| lake(format!("{temp}: {e}")))?;
    writer
        .close()
        .await
        .map_err(|e| lake(format!("{temp}: {e}")))?;
    let check = |ids: &[uuid::Uuid], what: &str| -> Result<(), LakeError> {
        if ids.len() as u64 != entry.records || digest(ids) != entry.ids_digest {
            return Err(lake(format!(
                "{name} {what}: {} records that do not match the manifest's {} for partition {}",
                ids.len(),
                entry.records,
                entry.partition
            )));
        }
        Ok(())
    };
    let verified = match check(&ids, "as read from the originals") {
        Ok(()) => {
            let written = store
                .op
                .read(&temp)
                .await
                .map_err(|e| lake(format!("{temp}: {e}")))?;
            super::parquet::event_ids(written.to_bytes())
                .map_err(lake)
                .and_then(|back| check(&back, "as read back"))
        }
        Err(e) => Err(e),
    };
    if let Err(e) = verified {
        warn!(error = %e, "not compacting");
        let _ = store.delete(&temp).await;
        return Err(e);
    }
    pause_point("parquet-staged");
    store.place(&temp, &format!("{dir}{name}")).await?;
    Ok(FileEntry {
        name,
        first,
        last,
        records: entry.records,
        bytes,
    })
}
