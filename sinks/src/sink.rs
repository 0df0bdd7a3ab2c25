use async_trait::async_trait;
use prism_event::EnrichedEvent;

/// One record from the topic, decoded.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub partition: i32,
    pub offset: i64,
    /// `Err(reason)` when the record is not a valid event; by the time the
    /// sink sees it, it has been dead-lettered, and the sink only accounts
    /// for its offset.
    pub event: Result<EnrichedEvent, String>,
    /// The record's bytes as they were on the topic.
    pub payload: Vec<u8>,
}

/// Progress reported by [`Sink::take_durable`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durable {
    pub offsets: Vec<(i32, i64)>,
    pub events: u64,
}

/// The destination failed; the loop pauses consumption, backs off and
/// retries the same call. Nothing is dropped.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

/// A destination for events, driven by [`crate::consumer::run`].
///
/// Calls that fail with [`TargetError`] must leave the sink as it was, so
/// the loop can simply call again.
#[async_trait]
pub trait Sink: Send {
    /// A short name for logs and metrics (`hdfs`, `elasticsearch`).
    fn name(&self) -> &'static str;

    /// `partition` was just assigned: clean up after a previous owner and
    /// return the first offset not yet durable in the target, if the target
    /// knows it (records below it are skipped). `None` trusts the group's
    /// committed offset.
    async fn recover(&mut self, partition: i32) -> Result<Option<i64>, TargetError>;

    /// `partition` was taken away: forget whatever is buffered for it (the
    /// new owner will read it again).
    fn revoke(&mut self, partition: i32);

    /// Accepts one record; may write to the target.
    async fn push(&mut self, record: &Incoming) -> Result<(), TargetError>;

    /// Writes whatever is due by size, count or age; everything when
    /// `force` (shutdown).
    async fn flush(&mut self, force: bool) -> Result<(), TargetError>;

    /// What became durable since the last call: per partition the next
    /// offset whose predecessors are all in the target (what the loop may
    /// commit), and how many events were written.
    fn take_durable(&mut self) -> Durable;

    /// Whether the target answers (readiness).
    async fn healthy(&self) -> bool;
}
