//! The lake's side: the events in one `dt=/hour=` directory.

use std::time::Duration;

use opendal::{EntryMode, ErrorKind, Operator};
use serde::Deserialize;
use uuid::Uuid;

use super::{AuditError, Ids};
use crate::hdfs::layout::{Bucket, parse_file_name};
use crate::hdfs::target::Target;

/// What one hour of the lake holds.
#[derive(Debug, Default)]
pub struct LakeHour {
    pub ids: Ids,
    /// Lines that are not events (a file cut short).
    pub bad_lines: u64,
}

#[derive(Deserialize)]
struct Head {
    event_id: Uuid,
}

pub struct Lake {
    op: Operator,
    topic: String,
}

fn lake(e: impl std::fmt::Display) -> AuditError {
    AuditError::Lake(e.to_string())
}

impl Lake {
    pub fn open(target: &str, topic: &str, timeout: Duration) -> Result<Self, AuditError> {
        let op = Target::parse(target)
            .and_then(|t| t.operator(timeout))
            .map_err(lake)?;
        Ok(Self {
            op,
            topic: topic.to_owned(),
        })
    }

    /// Every line of the hour's final files (temporary files live
    /// elsewhere, and stray names are skipped), file by file.
    pub async fn ids_in(&self, bucket: Bucket) -> Result<LakeHour, AuditError> {
        let dir = bucket.dir(&self.topic);
        let entries = match self.op.list(&dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(LakeHour::default()),
            Err(e) => return Err(lake(format!("{dir}: {e}"))),
        };
        let mut found = LakeHour::default();
        for entry in entries {
            if entry.metadata().mode() != EntryMode::FILE
                || parse_file_name(&self.topic, entry.name()).is_none()
            {
                continue;
            }
            let bytes = self
                .op
                .read(entry.path())
                .await
                .map_err(|e| lake(format!("{}: {e}", entry.path())))?
                .to_vec();
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                match serde_json::from_slice::<Head>(line) {
                    Ok(head) => *found.ids.entry(head.event_id).or_default() += 1,
                    Err(_) => found.bad_lines += 1,
                }
            }
        }
        Ok(found)
    }
}
