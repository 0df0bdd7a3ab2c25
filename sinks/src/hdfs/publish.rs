//! Publishing a staged file: one rename, so a reader sees the final file
//! whole or not at all.
//!
//! On HDFS the rename is the NameNode's `rename2` through `hdfs-native`,
//! one call that replaces an existing destination atomically. OpenDAL's
//! own HDFS rename is not one call: it deletes an existing destination, or
//! creates an empty one (left under construction), before renaming, so a
//! reader could see a missing or empty final file and a crash could leave
//! one. The destination's directory is made first (`rename2` needs it),
//! once per directory while this worker runs.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdfs_native::{Client, ClientBuilder};
use opendal::Operator;

use crate::sink::TargetError;

#[derive(Clone)]
pub enum Publisher {
    /// A local filesystem under `root`: OpenDAL's rename, one `rename(2)`.
    Local {
        op: Operator,
        root: PathBuf,
    },
    Hdfs(Arc<HdfsPublisher>),
}

pub struct HdfsPublisher {
    client: Client,
    root: String,
    timeout: Duration,
    /// Directories known to exist (made by this worker).
    made: Mutex<HashSet<String>>,
}

impl Publisher {
    /// A publisher that renames through `name_node` under `root`; every
    /// call gives up after `timeout`.
    pub fn hdfs(
        name_node: &str,
        root: &str,
        timeout: Duration,
    ) -> Result<Self, hdfs_native::HdfsError> {
        let client = ClientBuilder::new().with_url(name_node).build()?;
        Ok(Publisher::Hdfs(Arc::new(HdfsPublisher {
            client,
            root: root.trim_end_matches('/').to_owned(),
            timeout,
            made: Mutex::new(HashSet::new()),
        })))
    }

    /// Renames `from` to `to` (paths relative to the root), replacing `to`.
    pub async fn rename(&self, from: &str, to: &str) -> Result<(), TargetError> {
        match self {
            Publisher::Local { op, .. } => op.rename(from, to).await.map_err(super::io_error),
            Publisher::Hdfs(h) => h.rename(from, to, true).await,
        }
    }

    /// Renames `from` to `to` only if `to` does not exist, atomically:
    /// `false` (and `from` left alone) when it does. Of several writers
    /// racing for one name, exactly one wins.
    pub async fn rename_new(&self, from: &str, to: &str) -> Result<bool, TargetError> {
        match self {
            Publisher::Local { op, root } => {
                let (from_path, to_path) = (root.join(from), root.join(to));
                if let Some(dir) = to_path.parent() {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| TargetError(format!("target: {}: {e}", dir.display())))?;
                }
                // link(2) fails if the name exists; rename(2) would replace it.
                match tokio::fs::hard_link(&from_path, &to_path).await {
                    Ok(()) => {
                        op.delete(from).await.map_err(super::io_error)?;
                        Ok(true)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
                    Err(e) => Err(TargetError(format!("target: link {to}: {e}"))),
                }
            }
            Publisher::Hdfs(h) => match h.rename(from, to, false).await {
                Ok(()) => Ok(true),
                // rename2 without OVERWRITE refuses an existing destination.
                Err(e) if h.exists(to).await? => {
                    tracing::debug!(%to, error = %e, "the destination exists");
                    Ok(false)
                }
                Err(e) => Err(e),
            },
        }
    }
}

impl HdfsPublisher {
    async fn exists(&self, path: &str) -> Result<bool, TargetError> {
        let path = self.absolute(path);
        match tokio::time::timeout(self.timeout, self.client.get_file_info(&path)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(hdfs_native::HdfsError::FileNotFound(_))) => Ok(false),
            Ok(Err(e)) => Err(TargetError(format!("target: hdfs stat {path}: {e}"))),
            Err(_) => Err(TargetError(format!(
                "target: hdfs stat {path}: no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    async fn rename(&self, from: &str, to: &str, overwrite: bool) -> Result<(), TargetError> {
        let (from, to) = (self.absolute(from), self.absolute(to));
        if let Some((dir, _)) = to.rsplit_once('/')
            && !dir.is_empty()
            && !self.is_made(dir)
        {
            self.bounded("mkdirs", self.client.mkdirs(dir, 0o755, true))
                .await?;
            self.remember(dir, true);
        }
        let renamed = self
            .bounded("rename", self.client.rename(&from, &to, overwrite))
            .await;
        if renamed.is_err()
            && let Some((dir, _)) = to.rsplit_once('/')
        {
            // Made again next time, should someone have removed it.
            self.remember(dir, false);
        }
        renamed
    }

    async fn bounded<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, hdfs_native::HdfsError>>,
    ) -> Result<T, TargetError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(TargetError(format!("target: hdfs {what}: {e}"))),
            Err(_) => Err(TargetError(format!(
                "target: hdfs {what}: no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    fn absolute(&self, path: &str) -> String {
        format!("{}/{}", self.root, path.trim_start_matches('/'))
    }

    fn is_made(&self, dir: &str) -> bool {
        self.made.lock().is_ok_and(|m| m.contains(dir))
    }

    fn remember(&self, dir: &str, made: bool) {
        if let Ok(mut m) = self.made.lock() {
            if made {
                m.insert(dir.to_owned());
            } else {
                m.remove(dir);
            }
        }
    }
}
