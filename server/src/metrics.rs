use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The producer's Prometheus metrics. Labels are fixed, small sets (route
/// pattern, status code, failure cause): never names, addresses or user
/// agents.
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub events_produced: IntCounter,
    pub produce_failures: IntCounterVec,
    pub duplicates: IntCounter,
    pub queue_depth: IntGauge,
    pub limited: IntCounterVec,
    pub body_bytes_held: IntGauge,
    pub protocol_errors: IntCounter,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("prism".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route and status code",
            ),
            &["route", "status"],
        )?;
        let request_seconds = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &["route"],
        )?;
        let events_produced = IntCounter::new(
            "events_produced_total",
            "Events acknowledged by the partition leader",
        )?;
        let produce_failures = IntCounterVec::new(
            Opts::new(
                "produce_failures_total",
                "Events that could not be produced, by cause",
            ),
            &["cause"],
        )?;
        let duplicates = IntCounter::new(
            "events_duplicate_total",
            "Events acknowledged without producing: accepted already, recently",
        )?;
        let queue_depth = IntGauge::new(
            "producer_queue_depth",
            "Events waiting in the producer for acknowledgement",
        )?;
        let limited = IntCounterVec::new(
            Opts::new(
                "requests_limited_total",
                "Requests refused by an edge limit, by limit",
            ),
            &["limit"],
        )?;
        let body_bytes_held = IntGauge::new(
            "body_bytes_held",
            "Bytes of request bodies held in memory now",
        )?;
        let protocol_errors = IntCounter::new(
            "http_protocol_errors_total",
            "Connections ended by a request that breaks HTTP (malformed, truncated)",
        )?;
        registry.register(Box::new(protocol_errors.clone()))?;
        registry.register(Box::new(limited.clone()))?;
        registry.register(Box::new(body_bytes_held.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(request_seconds.clone()))?;
        registry.register(Box::new(events_produced.clone()))?;
        registry.register(Box::new(produce_failures.clone()))?;
        registry.register(Box::new(duplicates.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        Ok(Self {
            registry,
            requests,
            request_seconds,
            events_produced,
            produce_failures,
            duplicates,
            queue_depth,
            limited,
            body_bytes_held,
            protocol_errors,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
