//! OpenSearch on 127.0.0.1: one node run by `scripts/engine search --node`,
//! so a test can kill it and start it again on its data, or start it late;
//! its data in a temporary directory that outlives restarts.

use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::broker::{free_ports, script};
use crate::process::ChildProcess;

/// How long a node may take to start and turn yellow: a JVM on two busy
/// cores.
const START_TIMEOUT: Duration = Duration::from_secs(180);

pub struct OpenSearch {
    port: u16,
    settings: Vec<String>,
    dir: tempfile::TempDir,
    node: Mutex<Node>,
}

struct Node {
    process: Option<ChildProcess>,
    starts: u32,
}

impl OpenSearch {
    /// Starts a fresh node; returns once its cluster is yellow or green.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a fresh node with more `opensearch.yml` lines (`KEY=VALUE`,
    /// for static settings such as `thread_pool.write.queue_size=2`).
    pub fn start_with(settings: &[&str]) -> Self {
        let search = Self::unstarted(settings);
        search.launch();
        search
    }

    /// A node that is not running yet: its address is known, nothing
    /// answers there until [`OpenSearch::launch`].
    pub fn unstarted(settings: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("prism-search-test.")
            .tempdir()
            .expect("create a temporary directory");
        Self {
            port: free_ports(1),
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            dir,
            node: Mutex::new(Node {
                process: None,
                starts: 0,
            }),
        }
    }

    /// `http://127.0.0.1:P`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the node (again, on its data) and waits until it is ready.
    pub fn launch(&self) {
        self.spawn();
        self.wait_ready(START_TIMEOUT);
    }

    /// Kills the node (SIGKILL); its data stays.
    pub fn kill(&self) {
        if let Some(mut p) = self.node().process.take() {
            p.kill();
        }
    }

    /// Kills the node and starts it again on its data; returns once it is
    /// ready.
    pub fn restart(&self) {
        self.kill();
        self.launch();
    }

    /// Everything the node logged since it last started.
    pub fn log(&self) -> String {
        self.node()
            .process
            .as_ref()
            .map(ChildProcess::output)
            .unwrap_or_default()
    }

    /// Waits until the cluster is yellow or green; panics after `timeout`
    /// or if the node exits.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .expect("an HTTP client");
        let url = format!(
            "{}/_cluster/health?wait_for_status=yellow&timeout=1s",
            self.url()
        );
        loop {
            let status = client
                .get(&url)
                .send()
                .ok()
                .filter(|r| r.status().is_success())
                .and_then(|r| r.json::<serde_json::Value>().ok())
                .and_then(|v| v["status"].as_str().map(str::to_owned));
            if matches!(status.as_deref(), Some("yellow" | "green")) {
                return;
            }
            {
                let mut node = self.node();
                let running = node.process.as_mut().is_some_and(ChildProcess::is_running);
                assert!(
                    running,
                    "OpenSearch exited:\n{}",
                    node.process
                        .as_ref()
                        .map(ChildProcess::output)
                        .unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "OpenSearch was not ready within {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts the node (again, on its data) without waiting for it;
    /// [`OpenSearch::wait_ready`] waits.
    pub fn spawn(&self) {
        let mut node = self.node();
        node.starts += 1;
        let log = self
            .dir
            .path()
            .join(format!("opensearch-{}.log", node.starts));
        let mut command = Command::new(script("engine"));
        command
            .args(["search", "--node", "--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path());
        for kv in &self.settings {
            command.args(["--set", kv]);
        }
        node.process = Some(ChildProcess::spawn("opensearch", command, &log));
    }

    fn node(&self) -> MutexGuard<'_, Node> {
        self.node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
