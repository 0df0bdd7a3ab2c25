//! Sealing an hour: only once Kafka shows that no record of it can still
//! reach the lake ([`progress`]), and only if the lake then holds every
//! event the topic has for it (the audit's own comparison). Then
//! `_manifest.json`, then `_SUCCESS`, each renamed into place whole. An
//! hour whose files change after sealing gets its manifest re-issued with
//! the next version.
//!
//! Several instances may seal (and compact) at once: each version is
//! created as `_manifest.v<N>.json` only if it does not exist yet, so one
//! writer wins each version and the others' stale views are dropped; the
//! copy readers use, `_manifest.json`, follows the latest version.
//!
//! [`progress`]: super::progress

use std::collections::BTreeSet;

use time::OffsetDateTime;
use tracing::{debug, info, warn};
use uuid::Uuid;

use super::hour::{self, FileIds, Listing};
use super::manifest::{MANIFEST, Manifest, SUCCESS, version_name};
use super::progress::{Progress, waiting_for};
use super::{LakeConfig, LakeError, Store};
use crate::audit::Ids;
use crate::audit::kafka::TopicReader;
use crate::audit::report::hour_name;
use crate::hdfs::layout::Bucket;

/// What became of one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Its cutoff (end + skew bound + grace) has not passed.
    TooEarly { after: OffsetDateTime },
    /// The sink group has not yet committed past it, by partition.
    Waiting(Vec<String>),
    /// It holds no file, and the topic no record stamped before its end
    /// (the topic began later, or retention removed the hour): nothing
    /// can be proved about it, so it is not sealed.
    BeforeRecords,
    /// Sealed before, and its files are the manifest's.
    Sealed { version: u32 },
    /// Sealed now: first time (version 1) or re-issued.
    Issued {
        version: u32,
        records: u64,
        files: usize,
    },
    /// Kafka says it is done, yet the lake lacks events of it (or holds
    /// lines that are not events): it stays open, and this is an alarm.
    Incomplete { missing: u64, bad_lines: u64 },
}

impl Outcome {
    pub fn describe(&self) -> String {
        match self {
            Outcome::TooEarly { after } => {
                format!("open: can be sealed after {}", super::minute_name(*after))
            }
            Outcome::Waiting(why) => format!("open: {}", why.join("; ")),
            Outcome::BeforeRecords => "open: before the topic's first record".into(),
            Outcome::Sealed { version } => format!("sealed v{version}"),
            Outcome::Issued {
                version: 1,
                records,
                files,
            } => format!("sealed now: {records} records in {files} files"),
            Outcome::Issued {
                version,
                records,
                files,
            } => format!("manifest re-issued as v{version}: {records} records in {files} files"),
            Outcome::Incomplete { missing, bad_lines } => format!(
                "NOT sealed: the sink group is past it, but the lake lacks {missing} of its events and has {bad_lines} lines that are not events"
            ),
        }
    }
}

/// The hour's end plus the skew bound plus the grace period.
pub fn cutoff(config: &LakeConfig, hour: OffsetDateTime) -> OffsetDateTime {
    hour + time::Duration::HOUR + config.max_skew() + config.grace()
}

/// Whether the Kafka side lets `hour` be sealed now: `Ok(None)` if so,
/// else why not.
pub fn readiness(
    config: &LakeConfig,
    progress: &Progress,
    hour: OffsetDateTime,
) -> Result<Option<Outcome>, LakeError> {
    let cutoff = cutoff(config, hour);
    if OffsetDateTime::now_utc() < cutoff {
        return Ok(Some(Outcome::TooEarly { after: cutoff }));
    }
    // Committed offsets last: anything they pass was durable when read.
    let beyond = progress.offsets_at(cutoff + time::Duration::MILLISECOND)?;
    let states = progress.states()?;
    let waiting = waiting_for(&states, &beyond);
    Ok((!waiting.is_empty()).then_some(Outcome::Waiting(waiting)))
}

fn names(listing: &Listing) -> BTreeSet<&str> {
    listing
        .trusted()
        .into_iter()
        .map(|f| f.name.as_str())
        .collect()
}

/// Seals `hour` if it can be, or re-issues its manifest if its files
/// changed since.
pub async fn seal_hour(
    config: &LakeConfig,
    store: &Store,
    progress: &Progress,
    topic: &mut TopicReader,
    hour: OffsetDateTime,
) -> Result<Outcome, LakeError> {
    if let Some(not_yet) = tokio::task::block_in_place(|| readiness(config, progress, hour))? {
        return Ok(not_yet);
    }
    let bucket = Bucket::of(hour);
    let dir = bucket.dir(&config.topic);
    let listing = hour::list(&store.op, &config.topic, bucket).await?;
    if listing.files.is_empty()
        && listing.manifest.is_none()
        && tokio::task::block_in_place(|| progress.nothing_before(hour + time::Duration::HOUR))?
    {
        return Ok(Outcome::BeforeRecords);
    }
    if let Some(manifest) = &listing.manifest {
        if !listing.untrusted().is_empty() {
            // A compaction under way or cut short: `compact` finishes it.
            return Ok(Outcome::Sealed {
                version: manifest.version,
            });
        }
        if manifest.names() == names(&listing) {
            if listing.copy_version != Some(manifest.version) || !listing.success {
                // A crash between issuing a version and its copy.
                publish_copy(store, &dir, manifest).await?;
            }
            return Ok(Outcome::Sealed {
                version: manifest.version,
            });
        }
    }
    let files = hour::read_all(&store.op, &config.topic, bucket, &listing).await?;
    let in_kafka = tokio::task::block_in_place(|| topic.ids_in(hour)).map_err(LakeError::from)?;
    let missing = missing(&in_kafka, &files);
    let bad_lines: u64 = files.iter().map(|f| f.bad_lines).sum();
    if missing > 0 || bad_lines > 0 {
        warn!(hour = %hour_name(hour), missing, bad_lines, "the sink group is past this hour, yet the lake is not complete; not sealing it");
        return Ok(Outcome::Incomplete { missing, bad_lines });
    }
    let manifest = Manifest::issue(
        &config.topic,
        hour,
        progress.partitions(),
        &files,
        listing.manifest.as_ref(),
    );
    if !issue(store, &dir, &manifest).await? {
        debug!(hour = %hour_name(hour), version = manifest.version, "another instance issued this version first");
        return Ok(Outcome::Sealed {
            version: manifest.version,
        });
    }
    info!(hour = %hour_name(hour), version = manifest.version, records = manifest.records, files = files.len(), "sealed");
    Ok(Outcome::Issued {
        version: manifest.version,
        records: manifest.records,
        files: files.len(),
    })
}

/// Issues `manifest` as its version, unless that version exists already
/// (`false`: another instance issued it; the caller's view was stale),
/// then its copy and `_SUCCESS`.
pub async fn issue(store: &Store, dir: &str, manifest: &Manifest) -> Result<bool, LakeError> {
    if !store
        .publish_new(dir, &version_name(manifest.version), encode(manifest)?)
        .await?
    {
        return Ok(false);
    }
    super::pause_point("manifest-versioned");
    publish_copy(store, dir, manifest).await?;
    Ok(true)
}

/// `_manifest.json` and `_SUCCESS`, from the latest version.
pub async fn publish_copy(store: &Store, dir: &str, manifest: &Manifest) -> Result<(), LakeError> {
    store.publish(dir, MANIFEST, encode(manifest)?).await?;
    store.publish(dir, SUCCESS, Vec::new()).await
}

fn encode(manifest: &Manifest) -> Result<Vec<u8>, LakeError> {
    serde_json::to_vec_pretty(manifest)
        .map_err(|e| LakeError::Lake(format!("encoding the manifest: {e}")))
}

/// Ids the topic has for the hour that no file holds.
fn missing(in_kafka: &Ids, files: &[FileIds]) -> u64 {
    let in_lake: std::collections::HashSet<&Uuid> = files.iter().flat_map(|f| &f.ids).collect();
    in_kafka.keys().filter(|id| !in_lake.contains(id)).count() as u64
}
