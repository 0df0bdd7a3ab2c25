//! The loop's group bookkeeping, against a recording sink.

use async_trait::async_trait;

use super::*;
use crate::sink::Durable;

/// A sink that records what the loop hands it.
#[derive(Default)]
struct Recorder {
    pushed: Vec<(i32, i64)>,
    revoked: Vec<i32>,
}

#[async_trait]
impl Sink for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    async fn recover(&mut self, _: &Incoming) -> Result<Option<i64>, TargetError> {
        Ok(None)
    }
    fn revoke(&mut self, partition: i32) {
        self.revoked.push(partition);
    }
    async fn push(&mut self, record: &Incoming) -> Result<(), TargetError> {
        self.pushed.push((record.partition, record.offset));
        Ok(())
    }
    async fn flush(&mut self, _: bool) -> Result<(), TargetError> {
        Ok(())
    }
    fn take_durable(&mut self) -> Durable {
        Durable::default()
    }
    async fn probe(&self) -> Result<(), TargetError> {
        Ok(())
    }
}

fn pending(epoch: u64, partition: i32, offset: i64) -> Pending {
    Pending {
        epoch,
        record: Incoming {
            partition,
            offset,
            timestamp_ms: None,
            event: Err("not needed here".into()),
            payload: Vec::new(),
        },
        // Counted as already dead-lettered: no broker in this test.
        dead_lettered: true,
    }
}

#[tokio::test]
async fn records_of_a_partition_handed_straight_back_are_kept_and_only_stale_ones_dropped()
-> Result<(), Box<dyn std::error::Error>> {
    let metrics = Arc::new(SinkMetrics::new("test")?);
    // Created without contacting anyone; never sends in this test.
    let dead_letters = DeadLetters::new("127.0.0.1:9", "dlq", &[])?;
    let mut state = LoopState {
        topic: "t".into(),
        partitions: HashMap::new(),
        pending: VecDeque::new(),
        backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(1)),
        retry_at: None,
        last_record: Instant::now(),
        metrics,
        dead_letters,
    };
    let mut sink = Recorder::default();
    let (changes, received) = mpsc::channel();
    changes.send(GroupChange::Assigned {
        partitions: vec![0, 1],
        epoch: 1,
    })?;
    state.apply_group_changes(&received, &mut sink);
    state
        .pending
        .extend([pending(1, 0, 10), pending(1, 1, 20), pending(1, 0, 11)]);

    // One poll delivers: revoke of both, assignment of partition 0 only,
    // and partition 0's first records again from the committed offset.
    changes.send(GroupChange::Revoked {
        partitions: vec![0, 1],
        epoch: 2,
    })?;
    changes.send(GroupChange::Assigned {
        partitions: vec![0],
        epoch: 3,
    })?;
    state.pending.extend([pending(3, 0, 5), pending(3, 0, 6)]);
    state.apply_group_changes(&received, &mut sink);
    state.work(&mut sink, false).await?;

    assert_eq!(sink.revoked, vec![0, 1]);
    assert_eq!(
        sink.pushed,
        vec![(0, 5), (0, 6)],
        "the new assignment's records, and only those"
    );
    assert!(state.pending.is_empty());
    Ok(())
}
