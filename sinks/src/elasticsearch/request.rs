//! Bulk request encoding and response decoding.

use prism_event::EnrichedEvent;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// The daily index an event goes to: `<prefix>-YYYY.MM.DD` (UTC).
pub fn index_name(prefix: &str, event_time: OffsetDateTime) -> String {
    let d = event_time.to_offset(UtcOffset::UTC).date();
    format!(
        "{prefix}-{:04}.{:02}.{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// One `create` action and its document as two NDJSON lines. The document
/// is the record exactly as it was on the topic plus `@timestamp`, so any
/// field the mapping does not expect surfaces as a dead letter rather than
/// vanishing.
pub fn encode(
    payload: &[u8],
    event: &EnrichedEvent,
    index: &str,
    timestamp: OffsetDateTime,
) -> Result<Vec<u8>, String> {
    // The payload decoded as an event, so it is a JSON object: splice
    // `@timestamp` in after its opening brace instead of re-encoding it.
    let start = payload.iter().position(|b| !b.is_ascii_whitespace());
    let rest = match start.map(|i| (payload[i], &payload[i + 1..])) {
        Some((b'{', rest)) => rest,
        _ => return Err("not a JSON object".to_owned()),
    };
    let ts = timestamp.format(&Rfc3339).map_err(|e| e.to_string())?;
    let action = serde_json::json!({ "create": { "_index": index, "_id": event.event_id } });
    let mut out = serde_json::to_vec(&action).map_err(|e| e.to_string())?;
    out.extend_from_slice(b"\n{\"@timestamp\":\"");
    out.extend_from_slice(ts.as_bytes());
    out.extend_from_slice(b"\",");
    out.extend(rest.iter().copied().filter(|b| *b != b'\n'));
    out.push(b'\n');
    Ok(out)
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

#[derive(Debug, Deserialize)]
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
    fn a_document_keeps_the_payload_and_gains_a_timestamp() {
        let payload = br#"{"schema_version":1,"event_id":"01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12","name":"Kim","color":"blue","client_ts":"2026-11-22T04:00:00Z","received_at":"2026-11-22T04:00:01Z","navigator":{"user_agent":"x"},"ua":{"browser":{"family":"Other"},"os":{"family":"Other"},"device":{"family":"Other"}},"extra":true}"#;
        let event: EnrichedEvent = serde_json::from_slice(payload).unwrap();
        let lines = encode(payload, &event, "select-color-2026.11.22", event.client_ts).unwrap();
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
        let lines = encode(&pretty, &event, "i", event.client_ts).unwrap();
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
