//! What to do with each answer from `_bulk`. An HTTP 200 is not success
//! until every item is checked.

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
    /// The document itself is refused (mapping, parsing): dead-letter it,
    /// never retry.
    DeadLetter,
}

pub fn item_outcome(status: u16) -> ItemOutcome {
    match status {
        200 | 201 => ItemOutcome::Indexed,
        409 => ItemOutcome::Duplicate,
        429 | 500..=599 => ItemOutcome::Retry,
        _ => ItemOutcome::DeadLetter,
    }
}

/// The fate of a whole bulk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Read the items.
    Items,
    /// Too large: split the batch in two and send each half.
    Split,
    /// Throttled, server error, or refused as a whole (auth, a proxy):
    /// retry the batch with back-off while consumption is paused.
    Retry,
}

pub fn request_outcome(status: u16) -> RequestOutcome {
    match status {
        200..=299 => RequestOutcome::Items,
        413 => RequestOutcome::Split,
        _ => RequestOutcome::Retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_retry_other_client_errors_dead_letter() {
        assert_eq!(item_outcome(201), ItemOutcome::Indexed);
        assert_eq!(item_outcome(409), ItemOutcome::Duplicate);
        assert_eq!(item_outcome(429), ItemOutcome::Retry);
        assert_eq!(item_outcome(503), ItemOutcome::Retry);
        assert_eq!(item_outcome(400), ItemOutcome::DeadLetter);
        assert_eq!(item_outcome(404), ItemOutcome::DeadLetter);
    }

    #[test]
    fn a_request_is_split_when_too_large_and_retried_when_throttled() {
        assert_eq!(request_outcome(200), RequestOutcome::Items);
        assert_eq!(request_outcome(413), RequestOutcome::Split);
        assert_eq!(request_outcome(429), RequestOutcome::Retry);
        assert_eq!(request_outcome(502), RequestOutcome::Retry);
        assert_eq!(request_outcome(401), RequestOutcome::Retry);
    }
}
