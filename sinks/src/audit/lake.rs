//! The lake's side: the events in one `dt=/hour=` directory, and whether
//! the hour's manifest, if it is sealed, still describes them.

use std::time::Duration;

use opendal::Operator;
use serde::Serialize;

use super::{AuditError, Ids};
use crate::hdfs::layout::Bucket;
use crate::hdfs::target::Target;
use crate::lake::hour;

/// What one hour of the lake holds.
#[derive(Debug, Default)]
pub struct LakeHour {
    pub ids: Ids,
    /// Lines that are not events (a file cut short).
    pub bad_lines: u64,
    /// Set when the hour is sealed.
    pub seal: Option<SealCheck>,
}

/// A sealed hour's manifest against its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealCheck {
    pub version: u32,
    pub matches: bool,
    /// What differs, when it does not match.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
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
    /// elsewhere, and stray names are skipped), file by file, checked
    /// against the manifest when there is one.
    pub async fn ids_in(&self, bucket: Bucket) -> Result<LakeHour, AuditError> {
        let listing = hour::list(&self.op, &self.topic, bucket)
            .await
            .map_err(lake)?;
        let files = hour::read_all(&self.op, &self.topic, bucket, &listing)
            .await
            .map_err(lake)?;
        let mut found = LakeHour {
            seal: listing.manifest.map(|manifest| {
                let differences = manifest.differences(&files);
                SealCheck {
                    version: manifest.version,
                    matches: differences.is_empty(),
                    differences,
                }
            }),
            ..LakeHour::default()
        };
        for file in files {
            found.bad_lines += file.bad_lines;
            for id in file.ids {
                *found.ids.entry(id).or_default() += 1;
            }
        }
        Ok(found)
    }
}
