//! Page-shaped load through `prism-server`: each client mints an event id,
//! re-sends the same event until it gets its 202 (as the page's outbox
//! does), then waits a moment and sends the next.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// Running clients; [`Load::stop`] ends them and says what happened.
pub struct Load {
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    clients: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    acked: Mutex<Vec<String>>,
    /// Every answer by status; 0 stands for no HTTP answer at all.
    statuses: Mutex<BTreeMap<u16, usize>>,
}

/// What the clients saw.
pub struct Outcome {
    pub acked: HashSet<String>,
    pub statuses: BTreeMap<u16, usize>,
}

impl Load {
    /// Starts `clients` clients against the server at `url`; a client gives
    /// up an unacknowledged event `give_up` after the start.
    pub fn start(url: &str, clients: usize, give_up: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let give_up = Instant::now() + give_up;
        let clients = (0..clients)
            .map(|n| {
                let (url, stop, shared) = (url.to_owned(), stop.clone(), shared.clone());
                std::thread::spawn(move || client(&url, n, &stop, &shared, give_up))
            })
            .collect();
        Self {
            stop,
            shared,
            clients,
        }
    }

    /// How many events have been acknowledged so far.
    pub fn acked(&self) -> usize {
        self.shared.acked.lock().unwrap().len()
    }

    /// Waits until `n` more events than now have been acknowledged.
    pub fn wait_for_more(&self, n: usize, timeout: Duration) {
        let target = self.acked() + n;
        let deadline = Instant::now() + timeout;
        while self.acked() < target {
            assert!(
                Instant::now() < deadline,
                "only {} of {target} events acknowledged within {timeout:?}",
                self.acked()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(self) -> Outcome {
        self.stop.store(true, Ordering::SeqCst);
        for c in self.clients {
            c.join().expect("a load client panicked");
        }
        Outcome {
            acked: self.shared.acked.lock().unwrap().iter().cloned().collect(),
            statuses: self.shared.statuses.lock().unwrap().clone(),
        }
    }
}

fn client(url: &str, n: usize, stop: &AtomicBool, shared: &Shared, give_up: Instant) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let colors = [
        "red", "orange", "yellow", "green", "blue", "indigo", "violet",
    ];
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let id = uuid::Uuid::now_v7().to_string();
        let body = json!({
            "event_id": id, "name": format!("load {n}-{i}"), "color": colors[i % 7],
            "client_ts": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap(),
            "navigator": {"user_agent": UA, "language": "en-US", "timezone": "UTC"}
        });
        while Instant::now() < give_up {
            let status = http
                .post(format!("{url}/api/v1/events"))
                .header("user-agent", UA)
                .json(&body)
                .send()
                .map_or(0, |r| r.status().as_u16());
            *shared.statuses.lock().unwrap().entry(status).or_insert(0) += 1;
            if status == 202 {
                shared.acked.lock().unwrap().push(id.clone());
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(40));
    }
}
