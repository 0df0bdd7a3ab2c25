//! Apache Hadoop HDFS on 127.0.0.1: a NameNode and a DataNode, each its own
//! process run by `scripts/engine hdfs --node`, so a test can kill, stop and
//! restart either; their data in a temporary directory that outlives
//! restarts. Hadoop's own shell tools through `scripts/hdfs`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::broker::{free_ports, script};
use crate::process::ChildProcess;

/// How long the two may take to start and leave safe mode: JVMs on two
/// busy cores.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// One of the two daemons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdfsDaemon {
    NameNode,
    DataNode,
}

impl HdfsDaemon {
    fn name(self) -> &'static str {
        match self {
            HdfsDaemon::NameNode => "namenode",
            HdfsDaemon::DataNode => "datanode",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

pub struct Hdfs {
    port: u16,
    dir: tempfile::TempDir,
    daemons: [Mutex<Daemon>; 2],
}

struct Daemon {
    process: Option<ChildProcess>,
    starts: u32,
}

impl Hdfs {
    /// Formats a fresh file system and starts both daemons; returns once a
    /// DataNode is live and the NameNode is out of safe mode.
    pub fn start() -> Self {
        let dir = crate::process::engine_dir("prism-hdfs-test");
        let hdfs = Self {
            port: free_ports(1),
            dir,
            daemons: [HdfsDaemon::NameNode, HdfsDaemon::DataNode].map(|_| {
                Mutex::new(Daemon {
                    process: None,
                    starts: 0,
                })
            }),
        };
        hdfs.spawn(HdfsDaemon::NameNode);
        hdfs.spawn(HdfsDaemon::DataNode);
        hdfs.wait_ready(START_TIMEOUT);
        hdfs
    }

    /// `hdfs://127.0.0.1:P`, the NameNode's RPC address.
    pub fn url(&self) -> String {
        format!("hdfs://127.0.0.1:{}", self.port)
    }

    /// Kills a daemon (SIGKILL); its data stays.
    pub fn kill(&self, daemon: HdfsDaemon) {
        if let Some(mut p) = self.daemon(daemon).process.take() {
            p.kill();
        }
    }

    /// Starts a killed daemon again on its data (the NameNode: without
    /// waiting for it to leave safe mode; see [`Hdfs::wait_ready`]).
    pub fn restart(&self, daemon: HdfsDaemon) {
        self.kill(daemon);
        self.spawn(daemon);
    }

    /// Sends a signal to a daemon: `-STOP` hangs it with its connections
    /// open, `-CONT` resumes it.
    pub fn signal(&self, daemon: HdfsDaemon, signal: &str) {
        self.daemon(daemon)
            .process
            .as_ref()
            .expect("a running daemon")
            .signal(signal);
    }

    /// Waits until the NameNode reports a live DataNode and is out of safe
    /// mode (its own JMX view); panics after `timeout` or if a daemon exits.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        loop {
            for daemon in [HdfsDaemon::NameNode, HdfsDaemon::DataNode] {
                let mut state = self.daemon(daemon);
                if let Some(p) = state.process.as_mut() {
                    assert!(
                        p.is_running(),
                        "the HDFS {} exited:\n{}",
                        daemon.name(),
                        p.output()
                    );
                }
            }
            if let Some(state) = self.state(&client)
                && state.live_datanodes > 0
                && state.operational
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "HDFS was not ready within {timeout:?}; logs in {}",
                self.dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The NameNode's audit log so far: one line per namespace call, e.g.
    /// `... cmd=rename (options=[OVERWRITE]) src=/a dst=/b ...`.
    pub fn audit(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("hdfs-audit.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `scripts/hdfs dfs ARGS` against this file system.
    pub fn dfs(&self, args: &[&str]) -> Output {
        self.tool("dfs", args)
    }

    /// `scripts/hdfs dfsadmin ARGS` against this file system.
    pub fn dfsadmin(&self, args: &[&str]) -> Output {
        self.tool("dfsadmin", args)
    }

    fn tool(&self, tool: &str, args: &[&str]) -> Output {
        Command::new(script("hdfs"))
            .arg(tool)
            .args(args)
            .env("PRISM_HDFS_NAMENODE", self.url())
            .output()
            .expect("run scripts/hdfs")
    }

    fn state(&self, client: &reqwest::blocking::Client) -> Option<NameNodeState> {
        let env = std::fs::read_to_string(self.dir.path().join("cluster.env")).ok()?;
        let http = env.lines().find_map(|l| l.strip_prefix("NN_HTTP="))?;
        let url = format!(
            "http://127.0.0.1:{http}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState"
        );
        let body: serde_json::Value = client.get(url).send().ok()?.json().ok()?;
        let bean = body.get("beans")?.get(0)?;
        Some(NameNodeState {
            live_datanodes: bean.get("NumLiveDataNodes")?.as_u64()?,
            operational: bean.get("FSState")?.as_str()? == "Operational",
        })
    }

    fn daemon(&self, daemon: HdfsDaemon) -> MutexGuard<'_, Daemon> {
        self.daemons[daemon.index()]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log(&self, daemon: HdfsDaemon, start: u32) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}-start-{start}.log", daemon.name()))
    }

    fn spawn(&self, daemon: HdfsDaemon) {
        let mut state = self.daemon(daemon);
        state.starts += 1;
        let log = self.log(daemon, state.starts);
        let mut command = Command::new(script("engine"));
        command.args(["hdfs", "--port", &self.port.to_string()]);
        command.arg("--dir").arg(self.dir.path());
        command.args(["--node", daemon.name()]);
        state.process = Some(ChildProcess::spawn(daemon.name(), command, &log));
    }
}

struct NameNodeState {
    live_datanodes: u64,
    operational: bool,
}
