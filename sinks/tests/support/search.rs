//! The Elasticsearch backend of the sink scenarios: an osmem-server, the
//! sink pointed at it (or at a fault proxy in front of it), and reads of
//! what was indexed.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use prism_event::EnrichedEvent;
use prism_testkit::Osmem;
use serde_json::{Value, json};

use super::{Scenario, Sink};

pub struct Search {
    pub s: Scenario,
    pub osmem: Osmem,
}

impl std::ops::Deref for Search {
    type Target = Scenario;
    fn deref(&self) -> &Scenario {
        &self.s
    }
}

impl Search {
    pub fn new() -> Self {
        Self {
            s: Scenario::new("prism-es"),
            osmem: Osmem::start(),
        }
    }

    /// Starts the sink against `es_url` (osmem, or a proxy in front of it).
    pub fn start_sink(&self, es_url: &str, env: &[(&str, &str)]) -> Sink {
        let mut all = vec![("PRISM_ES_URL", es_url), ("PRISM_ES_BATCH_AGE_MS", "300")];
        all.extend_from_slice(env);
        self.s.start("prism-es-sink", &all)
    }

    pub fn es(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        call(self.osmem.url(), method, path, body)
    }

    /// Every document in `select-color-*` as `index/id`, with how often it
    /// occurs.
    pub fn doc_ids(&self) -> HashMap<String, usize> {
        doc_ids(self.osmem.url())
    }

    pub fn count(&self) -> usize {
        self.es(reqwest::Method::POST, "/_refresh", None);
        self.es(reqwest::Method::GET, "/select-color-*/_count", None)["count"]
            .as_u64()
            .unwrap_or(0) as usize
    }

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

/// Every document in `select-color-*` at `url` as `index/id`, with how
/// often it occurs, paged with `search_after` (no request asks for more than
/// a page).
pub fn doc_ids(url: &str) -> HashMap<String, usize> {
    call(url, reqwest::Method::POST, "/_refresh", None);
    let mut ids = HashMap::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body =
            json!({"size": 2000, "_source": false, "sort": [{"_id": "asc"}, {"_index": "asc"}]});
        if let Some(after) = &after {
            body["search_after"] = after.clone();
        }
        let page = call(
            url,
            reqwest::Method::POST,
            "/select-color-*/_search",
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

/// The event ids among the documents at `url`, whatever their index.
pub fn event_ids(url: &str) -> HashSet<String> {
    events_of(&doc_ids(url))
}

fn events_of(docs: &HashMap<String, usize>) -> HashSet<String> {
    docs.keys()
        .map(|k| k.rsplit('/').next().unwrap_or("").to_owned())
        .collect()
}

/// One request to the Elasticsearch API at `url`; its JSON answer, or null.
pub fn call(url: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::blocking::Client::new().request(method, format!("{url}{path}"));
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().and_then(|r| r.json()).unwrap_or(Value::Null)
}
