use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{ChildProcess, free_port};

/// `prism-server` as a child process on a free port.
pub struct Producer {
    pub process: ChildProcess,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Producer {
    /// Starts the binary at `bin` (tests pass `env!("CARGO_BIN_EXE_prism-server")`)
    /// against `brokers`/`topic` with extra environment `env`, and waits
    /// until `/healthz` answers.
    pub fn start(bin: &Path, brokers: &str, topic: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let mut command = Command::new(bin);
        command
            .env("PRISM_BIND", format!("127.0.0.1:{port}"))
            .env("PRISM_KAFKA_BROKERS", brokers)
            .env("PRISM_TOPIC", topic)
            .env("PRISM_WORKERS", "2")
            .env("RUST_LOG", "info");
        for (k, v) in env {
            command.env(k, v);
        }
        let process = ChildProcess::spawn("prism-server", command, &dir.path().join("server.log"));
        // The socket is bound before Kafka is checked; only /healthz
        // answering means the server is up.
        let url = format!("http://127.0.0.1:{port}");
        let probe = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("build an HTTP client");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !probe
            .get(format!("{url}/healthz"))
            .send()
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(
                Instant::now() < deadline,
                "prism-server did not come up:\n{}",
                process.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            process,
            url,
            _dir: dir,
        }
    }
}
