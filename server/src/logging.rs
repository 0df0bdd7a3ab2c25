//! Logging that a client cannot turn into a flood: every connection that
//! breaks the HTTP protocol makes actix-http log an ERROR (`stream error`);
//! those are counted for `/metrics` (`prism_http_protocol_errors_total`)
//! and at most one a second reaches the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata};
use tracing_subscriber::layer::{Context, Filter};

/// Protocol errors seen since start.
static PROTOCOL_ERRORS: AtomicU64 = AtomicU64::new(0);

pub fn protocol_errors() -> u64 {
    PROTOCOL_ERRORS.load(Ordering::Relaxed)
}

/// A per-layer filter: passes everything but actix-http's connection
/// errors, of which it passes one a second.
#[derive(Default)]
pub struct ProtocolErrors {
    /// The second (Unix time) of the last one let through.
    last_second: AtomicU64,
}

fn is_protocol_error(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("actix_http::h1") && *meta.level() <= Level::WARN
}

impl<S> Filter<S> for ProtocolErrors {
    fn enabled(&self, _meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if is_protocol_error(meta) {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        if !is_protocol_error(event.metadata()) {
            return true;
        }
        PROTOCOL_ERRORS.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_second.load(Ordering::Relaxed);
        // Logging from here would be dropped (tracing does not dispatch
        // from inside a dispatch), so what is left out is only counted.
        now > last
            && self
                .last_second
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}
