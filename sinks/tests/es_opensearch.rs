//! `prism-es-sink` against a real OpenSearch 2.19 node (`scripts/engine
//! search`), each test on a node of its own, put by the test into a state
//! a real cluster gets into: a write block, the flood-stage disk watermark,
//! an index deleted while auto-create is off, a mapping conflict, a full
//! write queue, an indexing-pressure limit smaller than a batch, an HTTP
//! body limit smaller than a batch, the node killed -9 under load, the node
//! not there yet.
//! Every test ends with exact counts: each event one document, none twice,
//! nothing good dead-lettered.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use prism_event::EnrichedEvent;
use prism_testkit::{SearchNode, read_all};
use serde_json::{Value, json};

mod support;

use support::search::{Indices, Search};
use support::{Sink, dead_letter_reason, metric, now_events, wait_until};

/// One node at a time: a JVM with 512 MiB of heap on two cores.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static NODE: Mutex<()> = Mutex::new(());
    NODE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A Kafka topic, a node of the test's own, and the sink between them
/// (writing the default `select-color-*`).
struct Loading {
    s: Search,
    node: SearchNode,
}

impl Loading {
    fn new(node: SearchNode) -> Self {
        Self {
            s: Search::on(Indices::new(&node.url(), "select-color")),
            node,
        }
    }

    fn start_sink(&self, env: &[(&str, &str)]) -> Sink {
        self.s.start_sink(None, env)
    }

    fn indices(&self) -> &Indices {
        &self.s.es
    }

    fn es(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.s.es(method, path, body)
    }

    fn put_cluster_settings(&self, settings: Value) {
        let answer = self.es(
            reqwest::Method::PUT,
            "/_cluster/settings",
            Some(json!({ "persistent": settings })),
        );
        assert_eq!(answer["acknowledged"], true, "{answer}");
    }

    fn count(&self) -> usize {
        self.s.count()
    }

    fn wait_for_count(&self, n: usize, timeout: Duration) {
        wait_until(&format!("{n} documents"), timeout, || self.count() >= n);
    }

    /// A number from the node's own statistics (`path` answers one node;
    /// `pointer` is within it).
    fn node_stat(&self, path: &str, pointer: &str) -> u64 {
        let stats = self.es(reqwest::Method::GET, path, None);
        let node = stats["nodes"]
            .as_object()
            .and_then(|nodes| nodes.values().next())
            .unwrap_or_else(|| panic!("no node in {stats}"));
        node.pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("no {pointer} in {node}"))
    }

    /// The one index the sink has written to so far.
    fn only_index(&self) -> String {
        let mut indices: Vec<String> = self
            .indices()
            .doc_ids()
            .keys()
            .map(|k| k.split('/').next().unwrap_or_default().to_owned())
            .collect();
        indices.sort();
        indices.dedup();
        assert_eq!(indices.len(), 1, "{indices:?}");
        indices.remove(0)
    }

    fn dead_letters(&self) -> Vec<prism_testkit::Record> {
        read_all(
            &self.s.kafka.brokers(),
            &self.s.dlq(),
            Duration::from_secs(30),
        )
    }

    /// Every sent event is exactly one document, nothing else is there,
    /// and nothing was dead-lettered.
    fn assert_exactly_once(&self, sent: &[EnrichedEvent]) {
        self.s.assert_one_document_each(sent);
        assert!(self.dead_letters().is_empty(), "nothing dead-lettered");
    }
}

fn wait_for_readyz(sink: &Sink, status: u16, what: &str) {
    wait_until(what, Duration::from_secs(90), || sink.readyz() == status);
}

/// Loads 100 events, puts the node into a state with `break_it`, produces
/// 100 more, which must wait (`/readyz` 503, the state's `blocked` metric
/// counted, nothing indexed), mends it with `mend`, and asserts that the
/// new events and what the node kept of the first ones are each one
/// document. Returns how many of the first 100 the node kept.
fn waited_out(
    label: &str,
    break_it: impl FnOnce(&Loading, &str),
    mend: impl FnOnce(&Loading, &str),
) -> usize {
    let _one = one_at_a_time();
    let l = Loading::new(SearchNode::start());
    let sink = l.start_sink(&[]);
    let first = now_events(100);
    l.s.produce(&first);
    l.wait_for_count(100, Duration::from_secs(60));
    let index = l.only_index();

    break_it(&l, &index);
    let there = l.indices().event_ids();
    let mut sent: Vec<EnrichedEvent> = first
        .into_iter()
        .filter(|e| there.contains(&e.event_id.to_string()))
        .collect();
    let kept = sent.len();
    let more = now_events(100);
    l.s.produce(&more);
    sent.extend(more);
    let blocked = format!("prism_sink_es_blocked_total{{kind=\"{label}\",");
    wait_until(
        &format!("the sink paused on {label}"),
        Duration::from_secs(60),
        || metric(&sink.metrics, &blocked) >= 1.0 && sink.readyz() == 503,
    );
    assert_eq!(l.count(), kept, "nothing more indexed while refused");

    mend(&l, &index);
    l.wait_for_count(sent.len(), Duration::from_secs(90));
    l.assert_exactly_once(&sent);
    wait_for_readyz(&sink, 200, "/readyz 200 once the node takes writes");
    kept
}

/// An operator's `index.blocks.write` on today's index: every item is
/// refused with 403 `cluster_block_exception` inside a 200.
#[test]
fn a_write_block_on_todays_index_is_waited_out() {
    let set = |l: &Loading, index: &str, on: Value| {
        let answer = l.es(
            reqwest::Method::PUT,
            &format!("/{index}/_settings"),
            Some(json!({ "index.blocks.write": on })),
        );
        assert_eq!(answer["acknowledged"], true, "{answer}");
    };
    let kept = waited_out(
        "cluster_block",
        |l, index| set(l, index, json!(true)),
        |l, index| set(l, index, Value::Null),
    );
    assert_eq!(kept, 100);
}

/// The flood-stage disk watermark, crossed by lowering it (not by filling
/// the disk): the node puts `read_only_allow_delete` on the index and
/// refuses its items with **429** `cluster_block_exception`; it lifts the
/// block by itself once the watermark is above the disk's use again.
#[test]
fn the_flood_stage_watermark_is_waited_out_until_the_node_lifts_its_block() {
    waited_out(
        "cluster_block",
        |l, index| {
            l.put_cluster_settings(json!({
                "cluster.info.update.interval": "10s",
                "cluster.routing.allocation.disk.threshold_enabled": true,
                "cluster.routing.allocation.disk.watermark.low": "1%",
                "cluster.routing.allocation.disk.watermark.high": "1%",
                "cluster.routing.allocation.disk.watermark.flood_stage": "1%",
            }));
            wait_until("the node blocks the index", Duration::from_secs(60), || {
                let settings = l.es(
                    reqwest::Method::GET,
                    &format!("/{index}/_settings/index.blocks.*"),
                    None,
                );
                settings[index]["settings"]["index"]["blocks"]["read_only_allow_delete"] == "true"
            });
        },
        |l, _| {
            // Watermarks as free bytes a disk always has.
            l.put_cluster_settings(json!({
                "cluster.routing.allocation.disk.watermark.low": "3kb",
                "cluster.routing.allocation.disk.watermark.high": "2kb",
                "cluster.routing.allocation.disk.watermark.flood_stage": "1kb",
            }));
        },
    );
}

/// Auto-create off and today's index deleted: every item is refused with
/// 404 `index_not_found_exception` until an operator turns auto-create
/// back on.
#[test]
fn a_deleted_index_with_auto_create_off_is_waited_out() {
    let kept = waited_out(
        "index_not_found",
        |l, index| {
            l.put_cluster_settings(json!({ "action.auto_create_index": false }));
            let answer = l.es(reqwest::Method::DELETE, &format!("/{index}"), None);
            assert_eq!(answer["acknowledged"], true, "{answer}");
        },
        |l, _| l.put_cluster_settings(json!({ "action.auto_create_index": true })),
    );
    assert_eq!(kept, 0, "the deleted index's documents are gone");
}

/// A document whose field has the wrong type for the index (today's
/// index made by an operator with `name` as a number): that record alone is
/// dead-lettered, byte for byte, with the engine's reason; the rest load.
#[test]
fn a_mapping_conflict_dead_letters_that_record_alone_byte_for_byte() {
    let _one = one_at_a_time();
    let l = Loading::new(SearchNode::start());
    let mut sent = now_events(10);
    for (i, e) in sent.iter_mut().enumerate() {
        e.name = (1000 + i).to_string();
    }
    sent[4].name = "Zoë".into();
    let index = prism_sinks::elasticsearch::request::index_for("select-color", &sent[0]);
    let answer = l.es(
        reqwest::Method::PUT,
        &format!("/{index}"),
        Some(json!({
            "settings": { "number_of_replicas": 0 },
            "mappings": { "properties": { "name": { "type": "long" } } }
        })),
    );
    assert_eq!(answer["acknowledged"], true, "{answer}");
    let _sink = l.start_sink(&[]);
    l.s.produce(&sent);
    l.wait_for_count(9, Duration::from_secs(60));

    let refused = sent.remove(4);
    let letters = l.dead_letters();
    assert_eq!(letters.len(), 1, "one dead letter");
    assert_eq!(letters[0].payload, serde_json::to_vec(&refused).unwrap());
    let reason = dead_letter_reason(&letters[0]);
    assert!(reason.starts_with("mapper_parsing_exception"), "{reason}");
    let ids = l.indices().event_ids();
    assert!(sent.iter().all(|e| ids.contains(&e.event_id.to_string())));
    assert_eq!(ids.len(), 9);
}

/// The node killed -9 while events arrive, then started again on its data:
/// nothing lost, nothing twice (what it had acknowledged is in its
/// translog; what it had not is sent again and refused as already there if
/// it was written after all).
#[test]
fn the_node_killed_9_under_load_and_restarted_loses_and_duplicates_nothing() {
    let _one = one_at_a_time();
    let l = Loading::new(SearchNode::start());
    let sink = l.start_sink(&[("PRISM_ES_BATCH_DOCS", "50")]);
    let sent = now_events(2_000);
    std::thread::scope(|scope| {
        scope.spawn(|| l.s.produce_steadily(&sent, 50, Duration::from_millis(50)));
        wait_until("documents arriving", Duration::from_secs(60), || {
            metric(&sink.metrics, "prism_sink_records_written_total") >= 300.0
        });
        l.node.kill();
        wait_for_readyz(&sink, 503, "/readyz 503 without the node");
        l.node.restart();
    });
    l.wait_for_count(sent.len(), Duration::from_secs(120));
    l.assert_exactly_once(&sent);
    wait_for_readyz(&sink, 200, "/readyz 200 once the node is back");
}

/// The node not there yet when the sink starts: the sink waits (503), then
/// loads everything once the node is up.
#[test]
fn a_node_not_there_at_start_is_waited_for() {
    let _one = one_at_a_time();
    let l = Loading::new(SearchNode::unstarted(&[]));
    let sink = l.start_sink(&[]);
    let sent = now_events(100);
    l.s.produce(&sent);
    wait_for_readyz(&sink, 503, "/readyz 503 with no node");
    l.node.launch();
    l.wait_for_count(sent.len(), Duration::from_secs(120));
    l.assert_exactly_once(&sent);
    wait_for_readyz(&sink, 200, "/readyz 200 once the node is up");
}

/// A node whose write queue holds one task (its two write threads, one
/// per core, as by default): concurrent bulk requests get items refused
/// with 429 `rejected_execution_exception` inside a 200, which are sent
/// again until each is indexed once, at the pace the node takes them.
#[test]
fn items_refused_by_a_full_write_queue_are_sent_again_until_each_is_indexed_once() {
    let _one = one_at_a_time();
    let l = Loading::new(SearchNode::start_with(&["thread_pool.write.queue_size=1"]));
    let sink = l.start_sink(&[("PRISM_ES_BATCH_DOCS", "20"), ("PRISM_ES_CONCURRENCY", "8")]);
    let sent = now_events(3_000);
    l.s.produce(&sent);
    l.wait_for_count(sent.len(), Duration::from_secs(120));
    l.assert_exactly_once(&sent);
    let rejected = l.node_stat("/_nodes/stats/thread_pool", "/thread_pool/write/rejected");
    assert!(
        rejected > 0,
        "no item was refused: the queue was never full"
    );
    assert!(metric(&sink.metrics, "prism_sink_es_retried_total") > 0.0);
}

/// A node whose indexing-pressure limit is smaller than the sink's batch
/// refuses the whole `_bulk` request with 429 (`rejected_execution_exception`,
/// its coordinating bytes over the limit) however often it is sent again:
/// the sink sends it in smaller requests until they fit.
#[test]
fn a_batch_over_the_indexing_pressure_limit_is_sent_in_smaller_requests() {
    let _one = one_at_a_time();
    let l = Loading::new(SearchNode::start_with(&[
        "indexing_pressure.memory.limit=64kb",
    ]));
    let _sink = l.start_sink(&[("PRISM_ES_BATCH_AGE_MS", "2000")]);
    let sent = now_events(1_000);
    l.s.produce(&sent);
    l.wait_for_count(sent.len(), Duration::from_secs(120));
    l.assert_exactly_once(&sent);
    let rejected = l.node_stat(
        "/_nodes/stats/indexing_pressure",
        "/indexing_pressure/memory/total/coordinating_rejections",
    );
    assert!(
        rejected > 0,
        "no request was refused: the batch fitted the limit"
    );
}

/// A node that takes HTTP bodies of 8 KiB at most answers a larger `_bulk`
/// with 413 (and no body): the sink splits the batch until each request
/// fits.
#[test]
fn a_batch_larger_than_the_nodes_http_limit_is_split_until_it_fits() {
    let _one = one_at_a_time();
    let l = Loading::new(SearchNode::start_with(&["http.max_content_length=8kb"]));
    let sink = l.start_sink(&[
        ("PRISM_ES_BATCH_DOCS", "40"),
        ("PRISM_ES_BATCH_AGE_MS", "2000"),
        ("RUST_LOG", "info,prism_sinks::elasticsearch=debug"),
    ]);
    let sent = now_events(40);
    let bytes: usize = sent
        .iter()
        .map(|e| serde_json::to_vec(e).unwrap().len())
        .sum();
    assert!(
        bytes > 8 * 1024,
        "the events fit one request: {bytes} bytes"
    );
    l.s.produce(&sent);
    l.wait_for_count(sent.len(), Duration::from_secs(60));
    l.assert_exactly_once(&sent);
    let log = sink.process.output();
    assert!(
        log.contains("bulk request refused whole; splitting") && log.contains("status=413"),
        "the node never refused a request for its size:\n{log}"
    );
}
