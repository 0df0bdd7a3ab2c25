use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{ChildProcess, free_ports};

/// `prism-server` as a child process on a free port.
pub struct Producer {
    pub process: ChildProcess,
    /// The API and the page.
    pub url: String,
    /// The operators' listener: `/readyz`, `/metrics`.
    pub admin: String,
    bin: PathBuf,
    env: Vec<(String, String)>,
    starts: usize,
    dir: tempfile::TempDir,
}

impl Producer {
    /// Starts the binary at `bin` (tests pass `env!("CARGO_BIN_EXE_prism-server")`)
    /// against `brokers`/`topic` with extra environment `env`, and waits
    /// until `/healthz` answers.
    pub fn start(bin: &Path, brokers: &str, topic: &str, env: &[(&str, &str)]) -> Self {
        let [port, admin_port] = free_ports();
        let mut all = vec![
            ("PRISM_BIND".to_owned(), format!("127.0.0.1:{port}")),
            (
                "PRISM_ADMIN_BIND".to_owned(),
                format!("127.0.0.1:{admin_port}"),
            ),
            ("PRISM_KAFKA_BROKERS".to_owned(), brokers.to_owned()),
            ("PRISM_TOPIC".to_owned(), topic.to_owned()),
            ("PRISM_WORKERS".to_owned(), "2".to_owned()),
            ("RUST_LOG".to_owned(), "info".to_owned()),
        ];
        all.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let process = spawn(bin, &all, &dir.path().join("server.log"));
        let producer = Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
            bin: bin.to_owned(),
            env: all,
            starts: 1,
            dir,
        };
        producer.wait_healthy();
        producer
    }

    /// Starts the server again on the same port, with the same settings.
    pub fn restart(&mut self) {
        self.process.kill();
        self.starts += 1;
        let log = self.dir.path().join(format!("server-{}.log", self.starts));
        self.process = spawn(&self.bin, &self.env, &log);
        self.wait_healthy();
    }

    /// The socket is bound before Kafka is checked; only `/healthz`
    /// answering means the server is up.
    fn wait_healthy(&self) {
        let probe = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("build an HTTP client");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !probe
            .get(format!("{}/healthz", self.url))
            .send()
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(
                Instant::now() < deadline,
                "prism-server did not come up:\n{}",
                self.process.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn spawn(bin: &Path, env: &[(String, String)], log: &Path) -> ChildProcess {
    let mut command = Command::new(bin);
    command.envs(env.iter().map(|(k, v)| (k, v)));
    ChildProcess::spawn("prism-server", command, log)
}
