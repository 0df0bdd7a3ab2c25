use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// A sink worker's Prometheus metrics, labelled by sink (`hdfs`,
/// `elasticsearch`) through a constant label.
///
/// Every record consumed ends as exactly one of: written (new in the
/// target), already there (the target held it: a replay or a retry), or
/// dead-lettered (by reason); until then it is pending or in flight.
pub struct SinkMetrics {
    registry: Registry,
    pub consumed: IntCounter,
    pub written: IntCounter,
    pub already_there: IntCounter,
    pub dead_lettered: IntCounterVec,
    pub skipped: IntCounter,
    pub batch_seconds: Histogram,
    pub lag: IntGaugeVec,
    pub target_up: IntGauge,
    pub kafka_up: IntGauge,
    pub pending: IntGauge,
    pub fenced: IntCounter,
}

impl SinkMetrics {
    pub fn new(sink: &str) -> Result<Self, prometheus::Error> {
        let labels = [("sink".to_owned(), sink.to_owned())].into_iter().collect();
        let registry = Registry::new_custom(Some("prism_sink".into()), Some(labels))?;
        let consumed = IntCounter::new("records_consumed_total", "Records read from Kafka")?;
        let written = IntCounter::new(
            "records_written_total",
            "Events made durable in the target as new records",
        )?;
        let already_there = IntCounter::new(
            "records_already_there_total",
            "Events the target already held (read again after a restart, or a retry)",
        )?;
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "records_dead_lettered_total",
                "Records copied to the dead-letter topic, by reason",
            ),
            &["reason"],
        )?;
        let skipped = IntCounter::new(
            "records_skipped_total",
            "Records read again after a restart that the target already holds",
        )?;
        let batch_seconds = Histogram::with_opts(
            HistogramOpts::new("batch_duration_seconds", "Time to make one batch durable").buckets(
                vec![
                    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ],
            ),
        )?;
        let lag = IntGaugeVec::new(
            Opts::new(
                "consumer_lag",
                "Records behind the partition's high watermark",
            ),
            &["partition"],
        )?;
        let target_up = IntGauge::new("target_up", "1 while the target accepts writes")?;
        let kafka_up = IntGauge::new(
            "kafka_up",
            "1 while at least one broker of the cluster is connected",
        )?;
        let pending = IntGauge::new(
            "records_pending",
            "Records read from Kafka and not yet handed to the target",
        )?;
        let fenced = IntCounter::new(
            "partitions_fenced_total",
            "Partitions found claimed by a newer owner while this worker still held them",
        )?;
        registry.register(Box::new(consumed.clone()))?;
        registry.register(Box::new(written.clone()))?;
        registry.register(Box::new(dead_lettered.clone()))?;
        registry.register(Box::new(already_there.clone()))?;
        registry.register(Box::new(skipped.clone()))?;
        registry.register(Box::new(batch_seconds.clone()))?;
        registry.register(Box::new(lag.clone()))?;
        registry.register(Box::new(target_up.clone()))?;
        registry.register(Box::new(kafka_up.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(fenced.clone()))?;
        target_up.set(1);
        kafka_up.set(1);
        Ok(Self {
            registry,
            consumed,
            written,
            already_there,
            dead_lettered,
            skipped,
            batch_seconds,
            lag,
            target_up,
            kafka_up,
            pending,
            fenced,
        })
    }

    /// Adds a sink's own metric to the same registry.
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
