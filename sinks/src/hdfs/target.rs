//! `PRISM_HDFS_TARGET` URLs to OpenDAL operators.

use std::path::{Path, PathBuf};

use opendal::Operator;
use opendal::services::{Fs, HdfsNative, Webhdfs};

use super::layout::TEMP_DIR;

/// Where the files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `file:///abs/path` or a plain path: the local filesystem.
    Local { root: PathBuf },
    /// `hdfs://namenode:8020/path`: HDFS native RPC.
    Hdfs { name_node: String, root: String },
    /// `webhdfs://host:9870/path`: the namenode's REST API.
    WebHdfs {
        endpoint: String,
        root: String,
        user: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TargetConfigError {
    #[error(
        "unsupported target `{0}`: use file:///path, hdfs://namenode:8020/path or webhdfs://host:9870/path"
    )]
    Unsupported(String),
    #[error("target `{0}` has no host")]
    NoHost(String),
    #[error("cannot resolve the local path {0}: {1}")]
    Path(String, std::io::Error),
    #[error("opendal: {0}")]
    OpenDal(#[from] opendal::Error),
}

impl Target {
    pub fn parse(url: &str, user: Option<&str>) -> Result<Self, TargetConfigError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(Target::Local {
                root: absolute(Path::new(url))?,
            });
        };
        match scheme {
            "file" => Ok(Target::Local {
                root: absolute(Path::new(rest))?,
            }),
            "hdfs" | "webhdfs" => {
                let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
                if authority.is_empty() {
                    return Err(TargetConfigError::NoHost(url.to_owned()));
                }
                let root = format!("/{}", path.trim_end_matches('/'));
                Ok(if scheme == "hdfs" {
                    Target::Hdfs {
                        name_node: format!("hdfs://{authority}"),
                        root,
                    }
                } else {
                    Target::WebHdfs {
                        endpoint: format!("http://{authority}"),
                        root,
                        user: user.map(str::to_owned),
                    }
                })
            }
            _ => Err(TargetConfigError::Unsupported(url.to_owned())),
        }
    }

    pub fn operator(&self) -> Result<Operator, TargetConfigError> {
        Ok(match self {
            Target::Local { root } => Operator::new(Fs::default().root(&root.to_string_lossy()))?,
            Target::Hdfs { name_node, root } => {
                Operator::new(HdfsNative::default().name_node(name_node).root(root))?
            }
            Target::WebHdfs {
                endpoint,
                root,
                user,
            } => {
                // WebHDFS has no rename in OpenDAL; its writer stages each
                // file in the temporary directory and moves it into place.
                let mut builder = Webhdfs::default()
                    .endpoint(endpoint)
                    .root(root)
                    .atomic_write_dir(&format!("{}/{TEMP_DIR}", root.trim_end_matches('/')));
                if let Some(user) = user {
                    builder = builder.user_name(user);
                }
                Operator::new(builder)?
            }
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
            Target::parse("file:///srv/lake", None).unwrap(),
            Target::Local {
                root: "/srv/lake".into()
            }
        );
        let Target::Local { root } = Target::parse("./data/lake", None).unwrap() else {
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
            Target::parse("hdfs://namenode:8020/", None).unwrap(),
            Target::Hdfs {
                name_node: "hdfs://namenode:8020".into(),
                root: "/".into()
            }
        );
        assert_eq!(
            Target::parse("hdfs://namenode:8020/prism/lake/", None).unwrap(),
            Target::Hdfs {
                name_node: "hdfs://namenode:8020".into(),
                root: "/prism/lake".into()
            }
        );
    }

    #[test]
    fn webhdfs_urls_become_an_http_endpoint_with_the_user() {
        assert_eq!(
            Target::parse("webhdfs://namenode:9870/lake", Some("prism")).unwrap(),
            Target::WebHdfs {
                endpoint: "http://namenode:9870".into(),
                root: "/lake".into(),
                user: Some("prism".into())
            }
        );
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused() {
        assert!(matches!(
            Target::parse("s3://bucket/x", None),
            Err(TargetConfigError::Unsupported(_))
        ));
        assert!(matches!(
            Target::parse("hdfs:///x", None),
            Err(TargetConfigError::NoHost(_))
        ));
    }

    #[test]
    fn every_target_builds_an_operator_without_contacting_it() {
        for url in [
            "file:///tmp/prism-lake",
            "hdfs://namenode:8020/",
            "webhdfs://namenode:9870/lake",
        ] {
            let target = Target::parse(url, Some("prism")).unwrap();
            target.operator().unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }
}
