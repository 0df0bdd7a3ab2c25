//! Whether the producer can reach any broker at all, from librdkafka's own
//! error callback, so that requests are refused at once while the whole
//! cluster is gone instead of each waiting out the delivery timeout.
//!
//! librdkafka raises `ALL_BROKERS_DOWN` when its last broker connection
//! fails (a refused or reset connection, not a broker that hangs: that
//! stays the ambiguous case, bounded by the delivery timeout). It has no
//! "back up" event, so [`super::KafkaSink`] asks for metadata while the
//! cluster is marked down and clears the mark on the first answer; a
//! delivered event clears it too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tracing::{info, warn};

/// The producer's client context: librdkafka's errors, logged, and the
/// all-brokers-down mark.
#[derive(Clone, Default)]
pub struct BrokerWatch {
    down: Arc<AtomicBool>,
}

impl BrokerWatch {
    /// No broker answers: librdkafka said so and nothing has answered since.
    pub fn all_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// A broker answered. Returns whether the cluster was marked down.
    pub fn mark_up(&self) -> bool {
        let was_down = self.down.swap(false, Ordering::Relaxed);
        if was_down {
            info!("a Kafka broker answers again: accepting events");
        }
        was_down
    }

    fn mark_down(&self, reason: &str) {
        if !self.down.swap(true, Ordering::Relaxed) {
            warn!(
                reason,
                "all Kafka brokers are down: answering 503 at once until one answers"
            );
        }
    }
}

impl ClientContext for BrokerWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AllBrokersDown) => self.mark_down(reason),
            _ => warn!(error = %error, reason, "kafka client error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_brokers_down_marks_the_cluster_down_until_a_broker_answers() {
        let watch = BrokerWatch::default();
        assert!(!watch.all_down());
        watch.error(
            KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "one connection lost",
        );
        assert!(!watch.all_down(), "one lost connection is not an outage");
        watch.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert!(watch.all_down());
        assert!(watch.clone().all_down(), "clones share the mark");
        assert!(watch.mark_up());
        assert!(!watch.all_down());
        assert!(!watch.mark_up());
    }
}
