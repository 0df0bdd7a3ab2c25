use std::process::Command;
use std::time::Duration;

use crate::process::{ChildProcess, free_port, on_path, wait_for_port};

/// Debian's chromedriver on a free port, driving Debian's Chromium headless.
pub struct ChromeDriver {
    port: u16,
    _process: ChildProcess,
    _dir: tempfile::TempDir,
}

/// The flags Chromium needs on these machines: headless, as root, and
/// without reaching for the network on its own.
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=900,1000",
];

impl ChromeDriver {
    pub fn start() -> Self {
        let driver = on_path("chromedriver").unwrap_or_else(|| {
            panic!(
                "chromedriver is needed by this test but is not on PATH; install Debian's \
                 chromium and chromium-driver (scripts/test does)"
            )
        });
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let port = free_port();
        let mut command = Command::new(driver);
        command.arg(format!("--port={port}"));
        let process = ChildProcess::spawn(
            "chromedriver",
            command,
            &dir.path().join("chromedriver.log"),
        );
        assert!(
            wait_for_port(port, Duration::from_secs(20)),
            "chromedriver did not listen"
        );
        Self {
            port,
            _process: process,
            _dir: dir,
        }
    }

    /// The WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// W3C capabilities for a headless Chromium session.
    pub fn capabilities(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut caps = serde_json::Map::new();
        let binary = on_path("chromium")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": binary, "args": CHROMIUM_ARGS }),
        );
        caps
    }
}
