//! What to do with each answer from `_bulk`. An HTTP 200 is not success
//! until every item is checked, and a refusal is not a bad document until
//! its type says so: a cluster that refuses writes for now (a write block, a
//! missing index) is waited out, credentials it refuses stop the worker, and
//! only a document the cluster can never take goes to the dead-letter topic.

use serde::Deserialize;

use super::request::ItemError;

/// The fate of one bulk item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Indexed now.
    Indexed,
    /// Already there (`create` on an existing `_id`): a browser retry or a
    /// replay after a crash. Done.
    Duplicate,
    /// Throttled or a transient failure: send this item again later.
    Retry,
    /// The cluster refuses writes for now (`cluster_block_exception`: a
    /// write block set by an operator, ILM or the flood-stage disk
    /// watermark; `index_not_found_exception`: auto-create is off): send it
    /// again later, and say why.
    Blocked,
    /// Our credentials may not write here: retrying cannot help.
    Refused,
    /// The document itself is refused (mapping, parsing): dead-letter it,
    /// never retry.
    DeadLetter,
}

/// `kind` is the item's `error.type`, empty when it has none.
pub fn item_outcome(status: u16, kind: &str) -> ItemOutcome {
    match (status, kind) {
        (200 | 201, _) => ItemOutcome::Indexed,
        (409, _) => ItemOutcome::Duplicate,
        // The flood-stage disk watermark's block comes as 429, an
        // operator's write block as 403.
        (403 | 429, "cluster_block_exception") | (404, "index_not_found_exception") => {
            ItemOutcome::Blocked
        }
        (429 | 500..=599, _) => ItemOutcome::Retry,
        (401 | 403, _) => ItemOutcome::Refused,
        _ => ItemOutcome::DeadLetter,
    }
}

/// The fate of a whole bulk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Read the items.
    Items,
    /// Too large (413): split the batch in two and send each half; a single
    /// document alone too large is dead-lettered.
    Split,
    /// The body refused as a whole (400): split until the bad document is
    /// alone, dead-letter it, load the rest.
    Isolate,
    /// Over the node's indexing-pressure limit (429
    /// `rejected_execution_exception` on its operation bytes): the request
    /// alone may be too large for the node ever to take; send it in halves,
    /// one after the other, and a single document again later.
    Shrink,
    /// A cluster-wide write block: retry with back-off, and say why.
    Blocked,
    /// Bad credentials or no permission: stop the worker with the reason.
    Refused,
    /// Throttled, server error, anything else: retry the batch with
    /// back-off while consumption is paused.
    Retry,
}

pub fn request_outcome(status: u16, body: &[u8]) -> RequestOutcome {
    match status {
        200..=299 => RequestOutcome::Items,
        413 => RequestOutcome::Split,
        400 => RequestOutcome::Isolate,
        // The same rule as for an item: a write block waits, the rest stops.
        401 | 403 => match item_outcome(status, &request_error(body).kind) {
            ItemOutcome::Blocked => RequestOutcome::Blocked,
            _ => RequestOutcome::Refused,
        },
        429 => {
            let error = request_error(body);
            if item_outcome(status, &error.kind) == ItemOutcome::Blocked {
                RequestOutcome::Blocked
            } else if error.kind == "rejected_execution_exception"
                && error.reason.contains("operation_bytes")
            {
                RequestOutcome::Shrink
            } else {
                RequestOutcome::Retry
            }
        }
        _ => RequestOutcome::Retry,
    }
}

/// `error.type` and `error.reason` of a request-level error answer; empty
/// where the body is not Elasticsearch's error shape.
pub fn request_error(body: &[u8]) -> ItemError {
    #[derive(Deserialize)]
    struct Answer {
        error: ItemError,
    }
    serde_json::from_slice::<Answer>(body)
        .map(|answer| answer.error)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_judged_by_status_and_error_type() {
        assert_eq!(item_outcome(201, ""), ItemOutcome::Indexed);
        assert_eq!(
            item_outcome(409, "version_conflict_engine_exception"),
            ItemOutcome::Duplicate
        );
        assert_eq!(
            item_outcome(429, "es_rejected_execution_exception"),
            ItemOutcome::Retry
        );
        assert_eq!(
            item_outcome(503, "unavailable_shards_exception"),
            ItemOutcome::Retry
        );
        assert_eq!(
            item_outcome(403, "cluster_block_exception"),
            ItemOutcome::Blocked
        );
        assert_eq!(
            item_outcome(429, "cluster_block_exception"),
            ItemOutcome::Blocked
        );
        assert_eq!(
            item_outcome(404, "index_not_found_exception"),
            ItemOutcome::Blocked
        );
        assert_eq!(
            item_outcome(403, "security_exception"),
            ItemOutcome::Refused
        );
        assert_eq!(
            item_outcome(400, "strict_dynamic_mapping_exception"),
            ItemOutcome::DeadLetter
        );
        assert_eq!(
            item_outcome(400, "mapper_parsing_exception"),
            ItemOutcome::DeadLetter
        );
        assert_eq!(item_outcome(404, "no_such_thing"), ItemOutcome::DeadLetter);
    }

    #[test]
    fn requests_are_judged_by_status_and_for_403_by_the_error() {
        assert_eq!(request_outcome(200, b"{}"), RequestOutcome::Items);
        assert_eq!(request_outcome(413, b""), RequestOutcome::Split);
        assert_eq!(
            request_outcome(400, b"{\"error\":{}}"),
            RequestOutcome::Isolate
        );
        let block = br#"{"error":{"type":"cluster_block_exception","reason":"blocked by: [FORBIDDEN/12/index read-only / allow delete (api)];"}}"#;
        assert_eq!(request_outcome(403, block), RequestOutcome::Blocked);
        assert_eq!(
            request_outcome(403, br#"{"error":{"type":"security_exception"}}"#),
            RequestOutcome::Refused
        );
        assert_eq!(request_outcome(401, b""), RequestOutcome::Refused);
        assert_eq!(request_outcome(429, b""), RequestOutcome::Retry);
        let flood = br#"{"error":{"type":"cluster_block_exception","reason":"index [i] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];"}}"#;
        assert_eq!(request_outcome(429, flood), RequestOutcome::Blocked);
        let pressure = br#"{"error":{"type":"rejected_execution_exception","reason":"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=714000, max_coordinating_and_primary_bytes=65536]"}}"#;
        assert_eq!(request_outcome(429, pressure), RequestOutcome::Shrink);
        let queue = br#"{"error":{"type":"rejected_execution_exception","reason":"rejected execution of ... on OpenSearchThreadPoolExecutor[name = n/write, queue capacity = 1]"}}"#;
        assert_eq!(request_outcome(429, queue), RequestOutcome::Retry);
        assert_eq!(request_outcome(502, b""), RequestOutcome::Retry);
    }
}
