use async_trait::async_trait;
use prism_event::EnrichedEvent;

/// One record from the topic, decoded.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub partition: i32,
    pub offset: i64,
    /// The record's Kafka timestamp in milliseconds since the epoch (the
    /// producer's clock at send time), when it has one.
    pub timestamp_ms: Option<i64>,
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
    /// Events made durable as new records.
    pub events: u64,
    /// Records read again that the target already held.
    pub already_there: u64,
}

/// The destination failed (or did not answer in time); the loop pauses
/// consumption, backs off and retries the same call. Nothing is dropped.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

/// A destination for events, driven by [`crate::consumer::run`].
///
/// Calls that fail with [`TargetError`] must leave the sink exactly as it
/// was, so the loop can simply call again with the same record.
#[async_trait]
pub trait Sink: Send {
    /// A short name for logs and metrics (`hdfs`, `elasticsearch`).
    fn name(&self) -> &'static str;

    /// `first` is the first record of a partition this worker was just
    /// assigned: clean up after a previous owner, claim the partition, and
    /// return the first offset not yet durable in the target, if the target
    /// knows it (records below it are skipped). `None` trusts the group's
    /// committed offset.
    async fn recover(&mut self, first: &Incoming) -> Result<Option<i64>, TargetError>;

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

    /// Checks that the target answers, without writing an event. While
    /// consumption is paused and there is nothing to write, this decides
    /// whether to resume.
    async fn probe(&self) -> Result<(), TargetError>;

    /// Set once the target refuses this worker for good (credentials it
    /// rejects, a role without the privilege to write): retrying cannot
    /// help, so the worker exits with this reason instead of retrying
    /// forever. Nothing unresolved is committed.
    fn refused(&self) -> Option<String> {
        None
    }

    /// Partitions the sink found claimed by another worker since the last
    /// call (a newer owner recovered them while this worker was stalled).
    /// Their buffered records are dropped; the loop stops handling them
    /// until the group assigns them here again.
    fn take_fenced(&mut self) -> Vec<i32> {
        Vec::new()
    }
}
