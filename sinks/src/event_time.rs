use std::time::Duration;

use prism_event::EnrichedEvent;
use time::{OffsetDateTime, UtcOffset};

/// The time an event is filed under (HDFS `dt=`/`hour=`, the daily
/// Elasticsearch index, `@timestamp`): the browser's `client_ts`, unless the
/// browser's clock is off from the producer's (`received_at`) by more than
/// `max_skew`, in which case `received_at`. Always UTC.
pub fn event_time(event: &EnrichedEvent, max_skew: Duration) -> OffsetDateTime {
    let skew = (event.client_ts - event.received_at).unsigned_abs();
    let chosen = if skew <= max_skew {
        event.client_ts
    } else {
        event.received_at
    };
    chosen.to_offset(UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_wild_client_clock_falls_back_to_the_receive_time() {
        let event = |client_ts, received_at| EnrichedEvent {
            client_ts,
            received_at,
            ..sample()
        };
        let bound = Duration::from_secs(600);
        let on_time = event(
            datetime!(2026-11-22 04:59:00 UTC),
            datetime!(2026-11-22 05:00:30 UTC),
        );
        assert_eq!(
            event_time(&on_time, bound),
            datetime!(2026-11-22 04:59:00 UTC)
        );
        let wild = event(
            datetime!(1999-01-01 00:00:00 UTC),
            datetime!(2026-11-22 05:00:30 UTC),
        );
        assert_eq!(event_time(&wild, bound), datetime!(2026-11-22 05:00:30 UTC));
    }

    fn sample() -> EnrichedEvent {
        serde_json::from_str(
            r#"{"schema_version":1,"event_id":"01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12","name":"Kim",
            "color":"blue","client_ts":"2026-11-22T04:00:00Z","received_at":"2026-11-22T04:00:01Z",
            "navigator":{"user_agent":"x"},"ua":{"browser":{"family":"Other"},"os":{"family":"Other"},
            "device":{"family":"Other"}}}"#,
        )
        .unwrap()
    }
}
