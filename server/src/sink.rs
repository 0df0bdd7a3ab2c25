use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

/// Why an event could not be handed to the destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The destination cannot be reached or did not acknowledge in time.
    #[error("destination unavailable: {0}")]
    Unavailable(String),
    /// Every broker is known to be down; nothing was sent.
    #[error("no Kafka broker is reachable")]
    BrokersDown,
    /// The local send queue is full: a burst larger than we buffer.
    #[error("send queue is full")]
    QueueFull,
    /// The destination refuses a message this large.
    #[error("message too large for the destination")]
    TooLarge,
}

impl SinkError {
    /// A short, fixed label for metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            SinkError::Unavailable(_) => "unavailable",
            SinkError::BrokersDown => "brokers_down",
            SinkError::QueueFull => "queue_full",
            SinkError::TooLarge => "too_large",
        }
    }
}

/// Where accepted events go. Kafka in production; [`MemorySink`] in handler
/// tests.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Sends one serialised event and returns once the destination has
    /// acknowledged it.
    async fn send(&self, payload: Vec<u8>) -> Result<(), SinkError>;

    /// Whether the destination answered when last asked: kept up to date
    /// in the background, so asking costs nothing.
    fn ready(&self) -> bool;

    /// Events accepted locally but not yet acknowledged.
    fn queue_depth(&self) -> usize {
        0
    }
}

/// Keeps events in memory; can be told to fail, to exercise error paths.
#[derive(Debug)]
pub struct MemorySink {
    sent: Mutex<Vec<Vec<u8>>>,
    failures: Mutex<VecDeque<SinkError>>,
    ready: AtomicBool,
}

impl Default for MemorySink {
    fn default() -> Self {
        Self {
            sent: Mutex::default(),
            failures: Mutex::default(),
            ready: AtomicBool::new(true),
        }
    }
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// What readiness probes are told from now on.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// The next send fails with `error` (queued: one failure per call).
    pub fn fail_next(&self, error: SinkError) {
        lock(&self.failures).push_back(error);
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<Vec<u8>> {
        lock(&self.sent).clone()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a Vec half-written.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl EventSink for MemorySink {
    async fn send(&self, payload: Vec<u8>) -> Result<(), SinkError> {
        if let Some(error) = lock(&self.failures).pop_front() {
            return Err(error);
        }
        lock(&self.sent).push(payload);
        Ok(())
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}
