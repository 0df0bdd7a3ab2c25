//! The synthetic events the sink benchmarks use.

use prism_event::{Device, EnrichedEvent, Navigator, Software, UserAgent};
use time::OffsetDateTime;

/// Event number `i`, stamped `now`: realistic size and shape.
pub fn sample_event(i: usize, now: OffsetDateTime) -> EnrichedEvent {
    EnrichedEvent {
        schema_version: prism_event::SCHEMA_VERSION,
        event_id: uuid::Uuid::now_v7(),
        name: format!("user {i}"),
        color: prism_event::Color::ALL[i % 7],
        client_ts: now,
        received_at: now,
        client_ip: Some([127, 0, 0, 1].into()),
        navigator: Navigator {
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".into(),
            language: Some("ko-KR".into()),
            timezone: Some("Asia/Seoul".into()),
            ..Navigator::default()
        },
        ua: UserAgent {
            browser: Software { family: "Chrome".into(), major: Some("131".into()), ..Software::default() },
            os: Software { family: "Linux".into(), ..Software::default() },
            device: Device { family: "Other".into(), ..Device::default() },
        },
    }
}
