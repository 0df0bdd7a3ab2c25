use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::process::{ChildProcess, free_port, on_path, wait_for_port};

/// A tansu broker on 127.0.0.1 with a SQLite file in its own temporary
/// directory; stopped and removed when dropped.
pub struct Tansu {
    port: u16,
    dir: tempfile::TempDir,
    process: Option<ChildProcess>,
    starts: u32,
}

impl Tansu {
    /// Starts a broker on a free port. Panics with instructions when the
    /// `tansu` binary cannot be found.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let mut tansu = Self {
            port: free_port(),
            dir,
            process: None,
            starts: 0,
        };
        tansu.restart();
        tansu
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's log files (one per start), oldest first.
    pub fn logs(&self) -> Vec<PathBuf> {
        (1..=self.starts)
            .map(|n| self.dir.path().join(format!("tansu-{n}.log")))
            .collect()
    }

    /// Kills the broker (its data file stays).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    /// Sends a signal to the running broker: `-STOP` hangs it with its
    /// connections open, `-CONT` resumes it.
    pub fn signal(&self, signal: &str) {
        self.process
            .as_ref()
            .expect("a running broker")
            .signal(signal);
    }

    /// Starts the broker again on the same port and data file.
    pub fn restart(&mut self) {
        self.stop();
        self.starts += 1;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Command::new(binary());
        // tansu reads a `sqlite://` URL relative to its working directory.
        command
            .current_dir(self.dir.path())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            // `PRISM_TANSU_LOG=debug` shows the broker's side of a problem.
            .env(
                "RUST_LOG",
                std::env::var("PRISM_TANSU_LOG").unwrap_or_else(|_| "warn".into()),
            );
        let log = self.dir.path().join(format!("tansu-{}.log", self.starts));
        let process = ChildProcess::spawn("tansu", command, &log);
        if !wait_for_port(self.port, Duration::from_secs(20)) {
            panic!(
                "tansu did not listen on {} within 20 s:\n{}",
                self.port,
                process.output()
            );
        }
        self.process = Some(process);
    }
}

/// The tansu binary: `$PRISM_TANSU_BIN`, else `tansu` on `PATH`, else
/// `~/.cargo/bin/tansu`.
fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PRISM_TANSU_BIN") {
        return PathBuf::from(path);
    }
    let in_cargo_home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu"));
    on_path("tansu")
        .or(in_cargo_home.filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "the tansu broker is needed by this test but was not found on PATH or in \
             ~/.cargo/bin; install it with `scripts/test` (or `cargo install tansu \
             --version 0.6.0 --locked --features libsql`), or set PRISM_TANSU_BIN"
            )
        })
}
