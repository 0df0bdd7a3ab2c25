//! The HDFS backend of the sink scenarios: a temporary directory as the
//! lake.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;

use super::{Scenario, Sink, assert_exactly_once};

pub struct Lake {
    pub s: Scenario,
    pub lake: tempfile::TempDir,
}

impl std::ops::Deref for Lake {
    type Target = Scenario;
    fn deref(&self) -> &Scenario {
        &self.s
    }
}

/// Puts a plain file where the lake's root directory was (root ignores
/// permissions, not file types) and gives the directory back on drop.
pub struct Vanished {
    root: PathBuf,
    aside: PathBuf,
}

impl Vanished {
    pub fn new(root: &Path) -> Self {
        let aside = root.with_extension("aside");
        std::fs::rename(root, &aside).unwrap();
        std::fs::write(root, b"not a directory").unwrap();
        Self {
            root: root.to_owned(),
            aside,
        }
    }
}

impl Drop for Vanished {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.root);
        let _ = std::fs::rename(&self.aside, &self.root);
    }
}

impl Lake {
    /// A lake loaded from the broker this test binary shares.
    pub fn new() -> Self {
        Self::on(Scenario::new("prism-hdfs"))
    }

    /// A lake loaded from a broker of its own, for a test that stops it.
    pub fn with_own_broker() -> Self {
        Self::on(Scenario::with_own_broker("prism-hdfs"))
    }

    fn on(s: Scenario) -> Self {
        Self {
            s,
            lake: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.lake.path()
    }

    pub fn start_sink(&self, env: &[(&str, &str)]) -> Sink {
        let target = format!("file://{}", self.root().display());
        // Short age rotation so tests do not wait a minute; `env` may override.
        let mut all = vec![
            ("PRISM_HDFS_TARGET", target.as_str()),
            ("PRISM_ROTATE_AGE_MS", "1000"),
        ];
        all.extend_from_slice(env);
        self.s.start("prism-hdfs-sink", &all)
    }

    /// Every final file under the lake: its path relative to the root and
    /// the events in it.
    pub fn files(&self) -> Vec<(String, Vec<EnrichedEvent>)> {
        files(self.root())
    }

    /// Lines in final files that are not events.
    pub fn bad_lines(&self) -> usize {
        bad_lines(self.root())
    }

    pub fn events(&self) -> Vec<EnrichedEvent> {
        self.files().into_iter().flat_map(|(_, e)| e).collect()
    }

    /// Waits until the lake holds `n` events; returns how many it holds.
    pub fn wait_for_events(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.events().len();
            if count >= n || Instant::now() > deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the lake holds every sent event, lets it settle a moment
    /// (a duplicate may still be on its way), then asserts each is there
    /// exactly once.
    pub fn assert_settles_exactly_once(&self, sent: &[EnrichedEvent], timeout: Duration) {
        self.wait_for_events(sent.len(), timeout);
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(self.bad_lines(), 0, "lines that are not events");
        assert_exactly_once(sent, &self.events());
    }
}

pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, f)
        } else {
            f(&path)
        }
    }
}

/// Every final file under the lake at `root`: its path relative to the
/// root and the events in it. A line that does not parse (a file cut short)
/// is left out here and counted by [`bad_lines`].
pub fn files(root: &Path) -> Vec<(String, Vec<EnrichedEvent>)> {
    let mut files = Vec::new();
    walk(root, &mut |path| {
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        if !rel.starts_with("topics/") || is_seal(path) {
            return;
        }
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let events = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        files.push((rel, events));
    });
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// How often each event id occurs in the final files under `root`.
pub fn event_ids(root: &Path) -> std::collections::HashMap<String, usize> {
    let mut ids = std::collections::HashMap::new();
    for (_, events) in files(root) {
        for e in events {
            *ids.entry(e.event_id.to_string()).or_insert(0) += 1;
        }
    }
    ids
}

/// `_manifest.json`, `_SUCCESS`: what `prism-lake` writes beside the data.
fn is_seal(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('_'))
}

/// Lines in the final files under `root` that are not events.
pub fn bad_lines(root: &Path) -> usize {
    let mut bad = 0;
    walk(root, &mut |path| {
        if path
            .strip_prefix(root)
            .is_ok_and(|r| r.starts_with("topics"))
            && !is_seal(path)
        {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            bad += text
                .lines()
                .filter(|l| serde_json::from_str::<EnrichedEvent>(l).is_err())
                .count();
        }
    });
    bad
}
