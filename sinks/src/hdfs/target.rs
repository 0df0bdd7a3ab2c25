//! `PRISM_HDFS_TARGET` URLs to OpenDAL operators.
//!
//! WebHDFS is not offered: OpenDAL writes a single-block WebHDFS file
//! straight to its final path and has no rename there, so a crash could
//! leave a short final file that recovery would trust.

use std::path::{Path, PathBuf};

use std::time::Duration;

use opendal::Operator;
use opendal::layers::TimeoutLayer;
use opendal::services::{Fs, HdfsNative};

use super::publish::Publisher;

/// Where the files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `file:///abs/path` or a plain path: the local filesystem.
    Local { root: PathBuf },
    /// `hdfs://namenode:8020/path`: HDFS native RPC.
    Hdfs { name_node: String, root: String },
}

#[derive(Debug, thiserror::Error)]
pub enum TargetConfigError {
    #[error(
        "unsupported target `{0}`: use file:///path or hdfs://namenode:8020/path (WebHDFS is not supported: its writes cannot be staged and renamed)"
    )]
    Unsupported(String),
    #[error("target `{0}` has no host")]
    NoHost(String),
    #[error("cannot resolve the local path {0}: {1}")]
    Path(String, std::io::Error),
    #[error("opendal: {0}")]
    OpenDal(#[from] opendal::Error),
    #[error("hdfs: {0}")]
    Hdfs(#[from] hdfs_native::HdfsError),
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, TargetConfigError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(Target::Local {
                root: absolute(Path::new(url))?,
            });
        };
        match scheme {
            "file" => Ok(Target::Local {
                root: absolute(Path::new(rest))?,
            }),
            "hdfs" => {
                let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
                if authority.is_empty() {
                    return Err(TargetConfigError::NoHost(url.to_owned()));
                }
                Ok(Target::Hdfs {
                    name_node: format!("hdfs://{authority}"),
                    root: format!("/{}", path.trim_end_matches('/')),
                })
            }
            _ => Err(TargetConfigError::Unsupported(url.to_owned())),
        }
    }

    /// The operator for this target; every call on it gives up after
    /// `timeout` (a hung namenode or datanode is a target failure).
    pub fn operator(&self, timeout: Duration) -> Result<Operator, TargetConfigError> {
        let op = match self {
            Target::Local { root } => Operator::new(Fs::default().root(&root.to_string_lossy()))?,
            Target::Hdfs { name_node, root } => {
                Operator::new(HdfsNative::default().name_node(name_node).root(root))?
            }
        };
        Ok(op.layer(
            TimeoutLayer::new()
                .with_timeout(timeout)
                .with_io_timeout(timeout),
        ))
    }
}

impl Target {
    /// What publishes a staged file with one rename (see [`Publisher`]);
    /// on a local target, `op`, this target's operator.
    pub fn publisher(
        &self,
        op: &Operator,
        timeout: Duration,
    ) -> Result<Publisher, TargetConfigError> {
        Ok(match self {
            Target::Local { root } => Publisher::Local {
                op: op.clone(),
                root: root.clone(),
            },
            Target::Hdfs { name_node, root } => Publisher::hdfs(name_node, root, timeout)?,
        })
    }
}

fn absolute(path: &Path) -> Result<PathBuf, TargetConfigError> {
    std::path::absolute(path).map_err(|e| TargetConfigError::Path(path.display().to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_and_plain_paths_are_local() {
        assert_eq!(
            Target::parse("file:///srv/lake").unwrap(),
            Target::Local {
                root: "/srv/lake".into()
            }
        );
        let Target::Local { root } = Target::parse("./data/lake").unwrap() else {
            panic!()
        };
        assert!(
            root.is_absolute() && root.ends_with("data/lake"),
            "{root:?}"
        );
    }

    #[test]
    fn hdfs_urls_name_the_namenode_and_the_root() {
        assert_eq!(
            Target::parse("hdfs://namenode:8020/").unwrap(),
            Target::Hdfs {
                name_node: "hdfs://namenode:8020".into(),
                root: "/".into()
            }
        );
        assert_eq!(
            Target::parse("hdfs://namenode:8020/prism/lake/").unwrap(),
            Target::Hdfs {
                name_node: "hdfs://namenode:8020".into(),
                root: "/prism/lake".into()
            }
        );
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused() {
        assert!(matches!(
            Target::parse("s3://bucket/x"),
            Err(TargetConfigError::Unsupported(_))
        ));
        assert!(matches!(
            Target::parse("webhdfs://namenode:9870/lake"),
            Err(TargetConfigError::Unsupported(_))
        ));
        assert!(matches!(
            Target::parse("hdfs:///x"),
            Err(TargetConfigError::NoHost(_))
        ));
    }

    #[test]
    fn every_target_builds_an_operator_without_contacting_it() {
        for url in ["file:///tmp/prism-lake", "hdfs://namenode:8020/"] {
            let target = Target::parse(url).unwrap();
            target
                .operator(Duration::from_secs(1))
                .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }
}
