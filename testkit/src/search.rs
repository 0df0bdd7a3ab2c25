//! A search node on 127.0.0.1 (OpenSearch, or Elasticsearch 7.10 for the
//! sink's contract tests as a second flavour): one node run by
//! `scripts/engine search|elasticsearch --node`, so a test can kill it and
//! start it again on its data, or start it late; its data in a temporary
//! directory that outlives restarts.

use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::broker::{free_ports, script};
use crate::process::ChildProcess;

/// How long a node may take to start and turn yellow: a JVM on two busy
/// cores.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The engine a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchEngine {
    /// OpenSearch 2.19 (`scripts/engine search`).
    OpenSearch,
    /// Elasticsearch 7.10.2 (`scripts/engine elasticsearch`).
    Elasticsearch7,
}

impl SearchEngine {
    /// `$PRISM_TEST_SEARCH_ENGINE`: `opensearch` (the default) or
    /// `elasticsearch`; anything else is an error.
    pub fn from_env() -> Self {
        match std::env::var("PRISM_TEST_SEARCH_ENGINE").as_deref() {
            Err(_) | Ok("" | "opensearch") => Self::OpenSearch,
            Ok("elasticsearch") => Self::Elasticsearch7,
            Ok(other) => panic!(
                "PRISM_TEST_SEARCH_ENGINE={other}: the engines are opensearch and elasticsearch"
            ),
        }
    }

    /// Its name for `scripts/engine`.
    fn script_name(self) -> &'static str {
        match self {
            Self::OpenSearch => "search",
            Self::Elasticsearch7 => "elasticsearch",
        }
    }
}

pub struct SearchNode {
    engine: SearchEngine,
    port: u16,
    settings: Vec<String>,
    dir: tempfile::TempDir,
    node: Mutex<Node>,
}

struct Node {
    process: Option<ChildProcess>,
    starts: u32,
}

impl SearchNode {
    /// Starts a fresh OpenSearch node; returns once its cluster is yellow
    /// or green.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a fresh node of `engine`.
    pub fn start_engine(engine: SearchEngine) -> Self {
        let node = Self::unstarted(&[]);
        let node = Self { engine, ..node };
        node.launch();
        node
    }

    /// Starts a fresh OpenSearch node with more `opensearch.yml` lines (`KEY=VALUE`,
    /// for static settings such as `thread_pool.write.queue_size=2`).
    pub fn start_with(settings: &[&str]) -> Self {
        let search = Self::unstarted(settings);
        search.launch();
        search
    }

    /// A node that is not running yet: its address is known, nothing
    /// answers there until [`SearchNode::launch`].
    pub fn unstarted(settings: &[&str]) -> Self {
        let dir = crate::process::engine_dir("prism-search-test");
        Self {
            engine: SearchEngine::OpenSearch,
            port: free_ports(1),
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            dir,
            node: Mutex::new(Node {
                process: None,
                starts: 0,
            }),
        }
    }

    /// The engine this node runs.
    pub fn engine(&self) -> SearchEngine {
        self.engine
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
                    "{:?} exited:\n{}",
                    self.engine,
                    node.process
                        .as_ref()
                        .map(ChildProcess::output)
                        .unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{:?} was not ready within {timeout:?}:\n{}",
                self.engine,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts the node (again, on its data) without waiting for it;
    /// [`SearchNode::wait_ready`] waits.
    pub fn spawn(&self) {
        let mut node = self.node();
        node.starts += 1;
        let log =
            self.dir
                .path()
                .join(format!("{}-{}.log", self.engine.script_name(), node.starts));
        let mut command = Command::new(script("engine"));
        command
            .args([
                self.engine.script_name(),
                "--node",
                "--port",
                &self.port.to_string(),
            ])
            .arg("--dir")
            .arg(self.dir.path());
        for kv in &self.settings {
            command.args(["--set", kv]);
        }
        node.process = Some(ChildProcess::spawn(
            self.engine.script_name(),
            command,
            &log,
        ));
    }

    fn node(&self) -> MutexGuard<'_, Node> {
        self.node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
