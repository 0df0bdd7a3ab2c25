//! Leaving the group within a deadline, even with no broker to talk to.

use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use tracing::{info, warn};

use super::LoopState;
use super::context::LoopContext;
use crate::sink::Sink;

impl LoopState {
    /// Makes what is buffered durable before leaving, within `deadline`.
    pub(super) async fn final_flush<S: Sink>(&mut self, sink: &mut S, deadline: Instant) {
        info!("stopping: making the current batch durable");
        let attempts = async {
            loop {
                match self.work(sink, true).await {
                    Ok(()) => return true,
                    Err(e) => {
                        warn!(error = %e, "final flush failed, retrying");
                        tokio::time::sleep(self.backoff.next_delay()).await;
                    }
                }
            }
        };
        // Leave a little of the budget for the final commit.
        let until = deadline
            .checked_sub(Duration::from_secs(2))
            .unwrap_or(deadline);
        if tokio::time::timeout_at(until.into(), attempts)
            .await
            .is_err()
        {
            warn!("gave up the final flush; the records will be read again");
        }
    }
}

/// Commits the stored offsets and closes the consumer on a thread of its
/// own: librdkafka's synchronous commit and close wait for the coordinator
/// however long that takes. Past `deadline` the worker leaves without them;
/// what was not committed is read again by the next owner.
pub async fn close(consumer: StreamConsumer<LoopContext>, deadline: Instant) {
    let stored = consumer.position().ok().map(|tpl| {
        tpl.elements()
            .iter()
            .map(|e| (e.partition(), e.offset()))
            .collect::<Vec<_>>()
    });
    let (done, finished) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("kafka-close".into())
        .spawn(move || {
            let committed = consumer.commit_consumer_state(CommitMode::Sync);
            consumer.unsubscribe();
            drop(consumer);
            let _ = done.send(committed);
        });
    if let Err(e) = spawned {
        warn!(error = %e, "could not start the closing thread; leaving without a final commit");
        return;
    }
    match tokio::time::timeout_at(deadline.into(), finished).await {
        Ok(Ok(Ok(()))) => info!("committed and left the group"),
        Ok(Ok(Err(e))) => {
            info!(error = %e, "left the group; nothing new to commit or the commit failed")
        }
        Ok(Err(_)) | Err(_) => warn!(
            positions = ?stored,
            "no answer from Kafka within the shutdown budget; leaving without a final commit (these records may be read again)"
        ),
    }
}
