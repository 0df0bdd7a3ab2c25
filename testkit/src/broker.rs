use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::process::{ChildProcess, port_is_free};

/// What a Kafka node logs once it has caught up with the metadata log and
/// the controller has unfenced it; `scripts/engine` waits for the same line.
const STARTED: &str = "Kafka Server started";

/// How long a node may take to start: a JVM on two busy cores.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Apache Kafka in KRaft mode on 127.0.0.1: one node or a cluster, each node
/// a combined broker and controller run by `scripts/engine kafka --node I`
/// (so every node is its own process, to kill, stop and restart), data in a
/// temporary directory that outlives restarts.
pub struct Kafka {
    port: u16,
    dir: tempfile::TempDir,
    nodes: Vec<Mutex<Node>>,
}

struct Node {
    process: Option<ChildProcess>,
    starts: u32,
}

impl Kafka {
    /// One node, for tests that stop or restart their broker.
    pub fn start() -> Self {
        Self::cluster(1)
    }

    /// A cluster of `nodes` nodes, started together; returns once every
    /// node serves.
    pub fn cluster(nodes: usize) -> Self {
        let dir = crate::process::engine_dir("prism-kafka-test");
        let kafka = Self {
            port: free_ports(nodes),
            dir,
            nodes: (0..nodes)
                .map(|_| {
                    Mutex::new(Node {
                        process: None,
                        starts: 0,
                    })
                })
                .collect(),
        };
        // Started together: a node of a cluster cannot finish starting
        // before a quorum of controllers runs.
        for node in 1..=nodes {
            kafka.spawn(node);
        }
        for node in 1..=nodes {
            kafka.wait_started(node);
        }
        kafka
    }

    /// One single-node broker shared by every test of this test binary
    /// (tests use their own topics and groups); never stopped by a test.
    /// It dies with the test binary.
    pub fn shared() -> Arc<Self> {
        static SHARED: OnceLock<Arc<Kafka>> = OnceLock::new();
        SHARED.get_or_init(|| Arc::new(Self::start())).clone()
    }

    /// The bootstrap servers, `host:port` for every node.
    pub fn brokers(&self) -> String {
        (1..=self.nodes.len())
            .map(|n| self.broker(n))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `node`'s (1-based) address.
    pub fn broker(&self, node: usize) -> String {
        format!("127.0.0.1:{}", self.port + node as u16 - 1)
    }

    /// How many nodes the cluster has.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// Every log file the nodes wrote, one per start, in start order.
    pub fn logs(&self) -> Vec<PathBuf> {
        let mut logs = Vec::new();
        for node in 1..=self.nodes.len() {
            let starts = self.node(node).starts;
            logs.extend((1..=starts).map(|n| self.log(node, n)));
        }
        logs
    }

    /// Kills node `node` (SIGKILL); its data stays.
    pub fn kill(&self, node: usize) {
        if let Some(mut p) = self.node(node).process.take() {
            p.kill();
        }
    }

    /// Stops node `node` with SIGTERM (a controlled shutdown that hands its
    /// partitions to in-sync replicas) and waits for it to exit; panics if
    /// it has not within a minute.
    pub fn terminate(&self, node: usize) {
        if let Some(mut p) = self.node(node).process.take() {
            // The JVM ends with 128 + SIGTERM once its shutdown hook is done.
            let status = p.stop(Duration::from_secs(60));
            assert!(
                status.is_some_and(|s| s.success() || s.code() == Some(143)),
                "Kafka node {node} did not stop cleanly within 60 s ({status:?}):\n{}",
                p.output()
            );
        }
    }

    /// Starts node `node` again on its data and waits until it serves.
    pub fn start_node(&self, node: usize) {
        self.kill(node);
        self.spawn(node);
        self.wait_started(node);
    }

    /// Sends a signal to node `node`: `-STOP` hangs it with its connections
    /// open, `-CONT` resumes it.
    pub fn signal_node(&self, node: usize, signal: &str) {
        self.node(node)
            .process
            .as_ref()
            .expect("a running node")
            .signal(signal);
    }

    /// Kills a single-node broker (see [`Kafka::kill`]).
    pub fn stop(&self) {
        self.kill(1);
    }

    /// Starts a single-node broker again on the same port and data.
    pub fn restart(&self) {
        self.start_node(1);
    }

    /// Signals a single-node broker (see [`Kafka::signal_node`]).
    pub fn signal(&self, signal: &str) {
        self.signal_node(1, signal);
    }

    fn node(&self, node: usize) -> MutexGuard<'_, Node> {
        self.nodes[node - 1]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log(&self, node: usize, start: u32) -> PathBuf {
        self.dir
            .path()
            .join(format!("node-{node}-start-{start}.log"))
    }

    fn spawn(&self, node: usize) {
        let mut state = self.node(node);
        state.starts += 1;
        let log = self.log(node, state.starts);
        let mut command = Command::new(script("engine"));
        command.args(["kafka", "--port", &self.port.to_string()]);
        command.arg("--dir").arg(self.dir.path());
        command.args(["--nodes", &self.nodes.len().to_string()]);
        command.args(["--node", &node.to_string()]);
        state.process = Some(ChildProcess::spawn(&format!("kafka-{node}"), command, &log));
    }

    fn wait_started(&self, node: usize) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let mut state = self.node(node);
            let log = self.log(node, state.starts);
            if std::fs::read_to_string(&log).is_ok_and(|s| s.contains(STARTED)) {
                return;
            }
            let process = state.process.as_mut().expect("a started node");
            assert!(
                process.is_running(),
                "Kafka node {node} exited while starting:\n{}",
                process.output()
            );
            assert!(
                Instant::now() < deadline,
                "Kafka node {node} did not start within {START_TIMEOUT:?}:\n{}",
                process.output()
            );
            drop(state);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `scripts/NAME` in this checkout.
pub(crate) fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// The first of `n` consecutive free ports on 127.0.0.1, below the kernel's
/// ephemeral range. A JVM takes seconds to bind its ports; an ephemeral
/// port free when chosen can meanwhile become the local end of some
/// outgoing connection (seen: "Socket server failed to bind ... Address
/// already in use" while the sinks' consumers connected). Ports below the
/// range are never handed out that way, and no two calls in this process
/// get the same.
pub(crate) fn free_ports(n: usize) -> u16 {
    static HANDED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let n = u16::try_from(n).expect("a few nodes");
    let (low, high) = (20_000u16, ephemeral_start().saturating_sub(n));
    assert!(high > low + 100, "no ports below the ephemeral range");
    let mut handed = HANDED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seed = std::process::id() as usize * 7_919
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as usize);
    let span = usize::from(high - low);
    for step in 0..span {
        let first = low + ((seed + step) % span) as u16;
        let ports = first..first + n;
        if ports
            .clone()
            .all(|p| !handed.contains(&p) && port_is_free(p))
        {
            handed.extend(ports);
            return first;
        }
    }
    panic!("no {n} consecutive free ports in {low}..{high}");
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}
