//! The search side of the sink scenarios: a real node (the one this test
//! binary shares, OpenSearch or Elasticsearch 7.10, or a test's own), the
//! indices one test writes (`<prefix>-*`, a prefix nobody else uses on a
//! shared node), the sink pointed at it (or at a fault proxy in front of
//! it), and reads of what was indexed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;
use prism_testkit::{SearchEngine, SearchNode, unique};
use serde_json::{Value, json};

use super::{Scenario, Sink};

/// The indices `<prefix>-*` on the node at `url`: what a sink started with
/// [`Indices::env`] writes, and what prism-audit reads.
#[derive(Clone, Debug)]
pub struct Indices {
    pub url: String,
    pub prefix: String,
}

impl Indices {
    pub fn new(url: &str, prefix: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: prefix.to_owned(),
        }
    }

    /// Fresh indices on the node this test binary shares. The prefix
    /// (`t-<pid>-<n>`) begins with nothing another test's does, so the
    /// sinks' index templates (`<prefix>-*`, one priority) never overlap.
    pub fn on_shared_node() -> Self {
        let node = shared_node();
        Self::new(&node.url(), &unique("t"))
    }

    /// The sink's and prism-audit's settings for these indices.
    pub fn env(&self) -> [(&'static str, &str); 2] {
        [
            ("PRISM_ES_URL", self.url.as_str()),
            ("PRISM_ES_INDEX_PREFIX", self.prefix.as_str()),
        ]
    }

    /// A test sink's settings for writing these indices: through `via` (a
    /// proxy in front of the node) when given, batches sent after 300 ms,
    /// no replicas (one node).
    pub fn sink_env<'a>(&'a self, via: Option<&'a str>) -> Vec<(&'static str, &'a str)> {
        vec![
            ("PRISM_ES_URL", via.unwrap_or(&self.url)),
            ("PRISM_ES_INDEX_PREFIX", &self.prefix),
            ("PRISM_ES_BATCH_AGE_MS", "300"),
            ("PRISM_ES_REPLICAS", "0"),
        ]
    }

    /// `<prefix>-YYYY.MM.DD`, the daily index of `t`.
    pub fn index_of(&self, t: time::OffsetDateTime) -> String {
        prism_sinks::elasticsearch::request::index_name(&self.prefix, t)
    }

    pub fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        call(&self.url, method, path, body)
    }

    /// Every document in `<prefix>-*` as `index/id`, with how often it
    /// occurs, paged with `search_after` (no request asks for more than a
    /// page).
    pub fn doc_ids(&self) -> HashMap<String, usize> {
        let pattern = format!("{}-*", self.prefix);
        self.call(reqwest::Method::POST, &format!("/{pattern}/_refresh"), None);
        let mut ids = HashMap::new();
        let mut after: Option<Value> = None;
        loop {
            let mut body = json!({"size": 2000, "_source": false,
                "sort": [{"_id": "asc"}, {"_index": "asc"}]});
            if let Some(after) = &after {
                body["search_after"] = after.clone();
            }
            let page = self.call(
                reqwest::Method::POST,
                &format!("/{pattern}/_search?allow_no_indices=true"),
                Some(body),
            );
            let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
            for hit in &hits {
                *ids.entry(format!(
                    "{}/{}",
                    hit["_index"].as_str().unwrap_or(""),
                    hit["_id"].as_str().unwrap_or("")
                ))
                .or_insert(0) += 1;
            }
            match hits.last() {
                Some(last) => after = Some(last["sort"].clone()),
                None => return ids,
            }
        }
    }

    /// The event ids among the documents, whatever their index.
    pub fn event_ids(&self) -> HashSet<String> {
        events_of(&self.doc_ids())
    }

    /// How many documents there are, once refreshed.
    pub fn count(&self) -> usize {
        let pattern = format!("{}-*", self.prefix);
        self.call(reqwest::Method::POST, &format!("/{pattern}/_refresh"), None);
        let answer = self.call(reqwest::Method::GET, &format!("/{pattern}/_count"), None);
        answer["count"].as_u64().unwrap_or(0) as usize
    }

    /// Waits up to `timeout` for `n` documents; how many there are.
    pub fn wait_for_count(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.count();
            if count >= n || Instant::now() > deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every sent event is exactly one document, and there is nothing else.
    pub fn assert_one_document_each(&self, sent: &[EnrichedEvent]) {
        let ids = self.doc_ids();
        let by_event = events_of(&ids);
        let missing = sent
            .iter()
            .filter(|e| !by_event.contains(&e.event_id.to_string()))
            .count();
        let doubled = ids.values().filter(|n| **n > 1).count();
        assert_eq!((missing, doubled), (0, 0), "missing, doubled");
        assert_eq!(by_event.len(), ids.len(), "an event id in two indices");
        assert_eq!(
            ids.len(),
            sent.len(),
            "documents for exactly the events sent"
        );
    }
}

/// One node for every test of this test binary that does not stop or
/// reconfigure it: OpenSearch, or the engine `PRISM_TEST_SEARCH_ENGINE`
/// names (`elasticsearch`: the contract tests' second flavour). It dies
/// with the test binary.
pub fn shared_node() -> Arc<SearchNode> {
    static NODE: std::sync::OnceLock<Arc<SearchNode>> = std::sync::OnceLock::new();
    NODE.get_or_init(|| Arc::new(SearchNode::start_engine(SearchEngine::from_env())))
        .clone()
}

/// A Kafka topic and fresh indices on the shared node, for the sink between
/// them.
pub struct Search {
    pub s: Scenario,
    pub es: Indices,
}

impl std::ops::Deref for Search {
    type Target = Scenario;
    fn deref(&self) -> &Scenario {
        &self.s
    }
}

impl Search {
    pub fn new() -> Self {
        Self::on(Indices::on_shared_node())
    }

    /// A fresh topic, and the sink writing `es`.
    pub fn on(es: Indices) -> Self {
        Self {
            s: Scenario::new("prism-es"),
            es,
        }
    }

    /// Starts the sink against the node, or against `via` (a proxy in
    /// front of it) when given; `env` last.
    pub fn start_sink(&self, via: Option<&str>, env: &[(&str, &str)]) -> Sink {
        let mut all = self.es.sink_env(via);
        all.extend_from_slice(env);
        self.s.start("prism-es-sink", &all)
    }

    pub fn es(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.es.call(method, path, body)
    }

    pub fn doc_ids(&self) -> HashMap<String, usize> {
        self.es.doc_ids()
    }

    pub fn count(&self) -> usize {
        self.es.count()
    }

    pub fn wait_for_count(&self, n: usize, timeout: Duration) -> usize {
        self.es.wait_for_count(n, timeout)
    }

    pub fn assert_one_document_each(&self, sent: &[EnrichedEvent]) {
        self.es.assert_one_document_each(sent);
    }
}

fn events_of(docs: &HashMap<String, usize>) -> HashSet<String> {
    docs.keys()
        .map(|k| k.rsplit('/').next().unwrap_or("").to_owned())
        .collect()
}

/// One request to the search API at `url`; its JSON answer, or null.
pub fn call(url: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let mut req = client.request(method, format!("{url}{path}"));
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().and_then(|r| r.json()).unwrap_or(Value::Null)
}
