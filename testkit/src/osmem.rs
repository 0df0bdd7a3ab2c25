use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::{ChildProcess, wait_for_port};

/// An osmem-server (an in-memory Elasticsearch/OpenSearch REST server from
/// PyPI) on a free port.
pub struct Osmem {
    url: String,
    _process: ChildProcess,
    _dir: tempfile::TempDir,
}

impl Osmem {
    pub fn start() -> Self {
        let bin = binary();
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let log = dir.path().join("osmem.log");
        let mut command = Command::new(&bin);
        command.args(["-addr", "127.0.0.1:0", "-no-stdin-watch"]);
        let process = ChildProcess::spawn("osmem-server", command, &log);
        // It prints one JSON line with its URL once it listens.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let url = loop {
            let first = std::fs::File::open(&log)
                .ok()
                .and_then(|f| BufReader::new(f).lines().next())
                .and_then(Result::ok)
                .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
                .and_then(|v| v["url"].as_str().map(str::to_owned));
            if let Some(url) = first {
                break url;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "osmem-server did not start:\n{}",
                process.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let port: u16 = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the URL");
        assert!(
            wait_for_port(port, Duration::from_secs(10)),
            "osmem-server does not accept connections"
        );
        Self {
            url,
            _process: process,
            _dir: dir,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `$PRISM_OSMEM_BIN`, else the binary inside the `osmem_server` Python
/// package.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PRISM_OSMEM_BIN") {
        return PathBuf::from(path);
    }
    let out = Command::new("python3")
        .args(["-c", "import osmem_server, os; print(os.path.join(os.path.dirname(osmem_server.__file__), 'bin', 'osmem-server'))"])
        .stderr(Stdio::null())
        .output();
    let path = out
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_file());
    path.unwrap_or_else(|| {
        panic!(
            "osmem-server is needed by this test but the `osmem-server` Python package is not \
             installed; run `pip install osmem-server` (scripts/test does) or set PRISM_OSMEM_BIN"
        )
    })
}

/// A binary of another workspace package, built into the same target
/// directory as this test (`cargo test --workspace` builds them all first).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("a target directory");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} is not built; run `cargo build -p {name}` (scripts/test builds everything)",
        bin.display()
    );
    bin
}
