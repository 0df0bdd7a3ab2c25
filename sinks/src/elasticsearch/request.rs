//! Bulk request encoding and response decoding.

use prism_event::EnrichedEvent;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use uuid::{Uuid, Version};

/// How far before and after the producer's receive time an event's day may
/// lie and still name its daily index.
pub const DAYS_BEFORE_RECEIPT: i64 = 2;
pub const DAYS_AFTER_RECEIPT: i64 = 1;

/// The index an event is filed in. `_id = event_id` makes a second attempt
/// of an event a conflict only inside one index, so the index must come from
/// something every attempt shares, whatever the clocks say: the time in the
/// UUIDv7 `event_id`, minted once in the browser. An id that is not v7 falls
/// back to `client_ts`, which the page sends unchanged with every attempt.
///
/// The client chooses that time, so it names a daily index only within
/// [`DAYS_BEFORE_RECEIPT`] days before and [`DAYS_AFTER_RECEIPT`] day after
/// the producer's `received_at`; anything else goes to `<prefix>-undated`.
/// A client can therefore reach at most four daily indices on any day, and
/// a year of traffic makes at most 369 of them plus one undated.
pub fn index_for(prefix: &str, event: &EnrichedEvent) -> String {
    let day_of = match v7_time(&event.event_id) {
        Some(t) => t,
        None => event.client_ts,
    };
    let earliest = event.received_at - time::Duration::days(DAYS_BEFORE_RECEIPT);
    let latest = event.received_at + time::Duration::days(DAYS_AFTER_RECEIPT);
    if (earliest..=latest).contains(&day_of) {
        index_name(prefix, day_of)
    } else {
        format!("{prefix}-undated")
    }
}

/// When a UUIDv7 was minted (its first 48 bits, Unix milliseconds).
fn v7_time(id: &Uuid) -> Option<OffsetDateTime> {
    if id.get_version() != Some(Version::SortRand) {
        return None;
    }
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    let at = OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
    Some(at + time::Duration::nanoseconds(i64::from(nanos)))
}

/// The daily index for a time: `<prefix>-YYYY.MM.DD` (UTC).
pub fn index_name(prefix: &str, event_time: OffsetDateTime) -> String {
    let d = event_time.to_offset(UtcOffset::UTC).date();
    format!(
        "{prefix}-{:04}.{:02}.{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// One `create` action and its document as two NDJSON lines, and where in
/// them the record's own fields start (see [`record_of`]). The document is
/// the record exactly as it was on the topic plus `@timestamp`, so any
/// field the mapping does not expect surfaces as a dead letter rather than
/// vanishing.
pub fn encode(
    payload: &[u8],
    event: &EnrichedEvent,
    index: &str,
    timestamp: OffsetDateTime,
) -> Result<(Vec<u8>, usize), String> {
    // The payload decoded as an event, so it is a JSON object: splice
    // `@timestamp` in after its opening brace instead of re-encoding it.
    let start = payload.iter().position(|b| !b.is_ascii_whitespace());
    let rest = match start.map(|i| (payload[i], &payload[i + 1..])) {
        Some((b'{', rest)) => rest,
        _ => return Err("not a JSON object".to_owned()),
    };
    let ts = timestamp.format(&Rfc3339).map_err(|e| e.to_string())?;
    let index = serde_json::to_string(index).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(payload.len() + index.len() + ts.len() + 80);
    out.extend_from_slice(b"{\"create\":{\"_index\":");
    out.extend_from_slice(index.as_bytes());
    out.extend_from_slice(b",\"_id\":\"");
    out.extend_from_slice(
        event
            .event_id
            .hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .as_bytes(),
    );
    out.extend_from_slice(b"\"}}\n{\"@timestamp\":\"");
    out.extend_from_slice(ts.as_bytes());
    out.extend_from_slice(b"\",");
    let fields_at = out.len();
    out.extend(rest.iter().copied().filter(|b| *b != b'\n'));
    out.push(b'\n');
    Ok((out, fields_at))
}

/// The record a document was made from, for the dead-letter topic: `{`
/// and the record's fields as [`encode`] copied them (a record as the
/// producer writes it comes back byte for byte; line breaks inside a
/// pretty-printed one do not).
pub fn record_of(lines: &[u8], fields_at: usize) -> Vec<u8> {
    let fields = lines
        .get(fields_at..lines.len().saturating_sub(1))
        .unwrap_or_default();
    let mut record = Vec::with_capacity(fields.len() + 1);
    record.push(b'{');
    record.extend_from_slice(fields);
    record
}

#[derive(Debug, Deserialize)]
pub struct BulkResponse {
    #[serde(default)]
    pub items: Vec<BulkItem>,
}

/// `{"create": {...}}`: only the action we send is expected, but read any.
#[derive(Debug, Deserialize)]
pub struct BulkItem {
    #[serde(alias = "index", alias = "update", alias = "delete")]
    pub create: ItemResult,
}

#[derive(Debug, Deserialize)]
pub struct ItemResult {
    pub status: u16,
    #[serde(default)]
    pub error: Option<ItemError>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ItemError {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn daily_indices_are_utc_days() {
        assert_eq!(
            index_name("select-color", datetime!(2026-11-22 08:30 +09:00)),
            "select-color-2026.11.21"
        );
    }

    #[test]
    fn the_index_comes_from_the_v7_id_then_client_ts_never_the_receive_time() {
        let mut event: EnrichedEvent = serde_json::from_str(SAMPLE).unwrap();
        // 0x019aae02a3fd ms = 2025-11-22T23:59:59.997Z, minted in the browser.
        event.event_id = "019aae02-a3fd-7000-8000-000000000001".parse().unwrap();
        for received_at in [
            datetime!(2025-11-22 23:59:59 UTC),
            datetime!(2025-11-23 00:11:00 UTC),
        ] {
            event.received_at = received_at;
            event.client_ts = received_at - time::Duration::minutes(30);
            assert_eq!(index_for("select-color", &event), "select-color-2025.11.22");
        }
        // Not v7 (v4): client_ts, as sent.
        event.event_id = "6f1c2b8e-3d4a-4f5b-9c6d-7e8f9a0b1c2d".parse().unwrap();
        event.received_at = datetime!(2026-11-21 23:40 UTC);
        event.client_ts = datetime!(2026-11-22 08:30 +09:00);
        assert_eq!(index_for("select-color", &event), "select-color-2026.11.21");
        // A clock far off.
        event.client_ts = datetime!(1970-01-02 00:00 UTC);
        assert_eq!(index_for("select-color", &event), "select-color-undated");
    }

    #[test]
    fn a_client_cannot_name_a_day_far_from_its_receipt() {
        let mut event: EnrichedEvent = serde_json::from_str(SAMPLE).unwrap();
        event.received_at = datetime!(2026-11-22 12:00 UTC);
        let minted = |at: OffsetDateTime| {
            let ms = u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap();
            uuid::Builder::from_unix_timestamp_millis(ms, &[7; 10]).into_uuid()
        };
        let index = |event: &EnrichedEvent| index_for("select-color", event);
        for (at, expected) in [
            (datetime!(2026-11-20 12:00 UTC), "select-color-2026.11.20"),
            (datetime!(2026-11-20 11:59 UTC), "select-color-undated"),
            (datetime!(2026-11-23 12:00 UTC), "select-color-2026.11.23"),
            (datetime!(2026-11-23 12:01 UTC), "select-color-undated"),
            (datetime!(2099-12-31 00:00 UTC), "select-color-undated"),
            (datetime!(2000-01-01 00:00 UTC), "select-color-undated"),
        ] {
            event.event_id = minted(at);
            assert_eq!(index(&event), expected, "id minted at {at}");
        }
        // 400 ids minted at midnight of 400 days: the three midnights in the
        // window and the undated index, not 400 indices.
        let indices: std::collections::BTreeSet<String> = (0..400)
            .map(|day| {
                event.event_id =
                    minted(datetime!(2026-01-01 00:00 UTC) + time::Duration::days(day));
                index(&event)
            })
            .collect();
        assert_eq!(indices.len(), 4, "{indices:?}");
    }

    const SAMPLE: &str = r#"{"schema_version":1,"event_id":"01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12","name":"Kim","color":"blue","client_ts":"2026-11-22T04:00:00Z","received_at":"2026-11-22T04:00:01Z","navigator":{"user_agent":"x"},"ua":{"browser":{"family":"Other"},"os":{"family":"Other"},"device":{"family":"Other"}}}"#;

    #[test]
    fn a_document_keeps_the_payload_and_gains_a_timestamp() {
        let payload = br#"{"schema_version":1,"event_id":"01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12","name":"Kim","color":"blue","client_ts":"2026-11-22T04:00:00Z","received_at":"2026-11-22T04:00:01Z","navigator":{"user_agent":"x"},"ua":{"browser":{"family":"Other"},"os":{"family":"Other"},"device":{"family":"Other"}},"extra":true}"#;
        let event: EnrichedEvent = serde_json::from_slice(payload).unwrap();
        let (lines, fields_at) =
            encode(payload, &event, "select-color-2026.11.22", event.client_ts).unwrap();
        assert_eq!(
            record_of(&lines, fields_at),
            payload,
            "the record, byte for byte"
        );
        let text = String::from_utf8(lines).unwrap();
        let mut it = text.lines();
        let action: serde_json::Value = serde_json::from_str(it.next().unwrap()).unwrap();
        assert_eq!(
            action["create"]["_id"],
            "01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12"
        );
        assert_eq!(action["create"]["_index"], "select-color-2026.11.22");
        let doc: serde_json::Value = serde_json::from_str(it.next().unwrap()).unwrap();
        assert_eq!(doc["@timestamp"], "2026-11-22T04:00:00Z");
        assert_eq!(
            doc["extra"], true,
            "unexpected fields stay, for the mapping to judge"
        );
    }

    #[test]
    fn a_pretty_printed_record_still_makes_one_ndjson_line() {
        let payload = br#"{"schema_version":1,"event_id":"01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12","name":"Kim","color":"blue","client_ts":"2026-11-22T04:00:00Z","received_at":"2026-11-22T04:00:01Z","navigator":{"user_agent":"x"},"ua":{"browser":{"family":"Other"},"os":{"family":"Other"},"device":{"family":"Other"}}}"#;
        let event: EnrichedEvent = serde_json::from_slice(payload).unwrap();
        let pretty = serde_json::to_vec_pretty(
            &serde_json::from_slice::<serde_json::Value>(payload).unwrap(),
        )
        .unwrap();
        let (lines, _) = encode(&pretty, &event, "i", event.client_ts).unwrap();
        let text = String::from_utf8(lines).unwrap();
        assert_eq!(text.lines().count(), 2);
        let doc: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(doc["name"], "Kim");
        assert_eq!(doc["@timestamp"], "2026-11-22T04:00:00Z");
        assert!(encode(b"[1]", &event, "i", event.client_ts).is_err());
    }

    #[test]
    fn item_results_decode_with_and_without_errors() {
        let body = r#"{"errors":true,"took":1,"items":[
            {"create":{"_id":"a","status":201}},
            {"create":{"_id":"b","status":400,"error":{"type":"strict_dynamic_mapping_exception","reason":"no"}}}]}"#;
        let r: BulkResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.items.len(), 2);
        assert_eq!(
            r.items[1].create.error.as_ref().unwrap().kind,
            "strict_dynamic_mapping_exception"
        );
    }
}
