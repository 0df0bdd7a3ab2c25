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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdfs_native::{Client, ClientBuilder};
use opendal::Operator;

use crate::sink::TargetError;

#[derive(Clone)]
pub enum Publisher {
    /// OpenDAL's rename: on a local filesystem, one `rename(2)`.
    OpenDal(Operator),
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
            Publisher::OpenDal(op) => op.rename(from, to).await.map_err(super::io_error),
            Publisher::Hdfs(h) => h.rename(from, to).await,
        }
    }
}

impl HdfsPublisher {
    async fn rename(&self, from: &str, to: &str) -> Result<(), TargetError> {
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
            .bounded("rename", self.client.rename(&from, &to, true))
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
