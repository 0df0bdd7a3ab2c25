//! Elasticsearch's side: the documents whose `@timestamp` falls in one
//! hour, across every daily index (a retry filed by its id's day can sit in
//! a neighbouring day's index), paged through a composite aggregation on
//! `event_id` so no request grows with the data.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{AuditConfig, AuditError, Ids};
use crate::elasticsearch::client::EsClient;

/// Ids per page: well under the 65 536 buckets a search may return by
/// default (`search.max_buckets`), and large because each page is a search
/// of its own over the whole hour (OpenSearch 2.19: about 11 s per million
/// ids in pages of this size, scripts/bench-audit).
const PAGE: usize = 50_000;

pub struct Search {
    client: EsClient,
    indices: String,
}

fn search(e: impl std::fmt::Display) -> AuditError {
    AuditError::Search(e.to_string())
}

impl Search {
    pub fn new(config: &AuditConfig) -> Result<Self, AuditError> {
        Ok(Self {
            client: EsClient::new(&config.es, config.timeout()).map_err(search)?,
            indices: format!("{}-*", config.index_prefix),
        })
    }

    /// How many documents carry each id, for the hour starting at `hour`.
    pub async fn ids_in(&self, hour: OffsetDateTime) -> Result<Ids, AuditError> {
        let format = |t: OffsetDateTime| t.format(&Rfc3339).map_err(search);
        let range = json!({"range": {"@timestamp": {
            "gte": format(hour)?,
            "lt": format(hour + time::Duration::HOUR)?,
        }}});
        let mut ids = Ids::new();
        let mut after: Option<Value> = None;
        loop {
            let mut composite = json!({
                "size": PAGE,
                "sources": [{"id": {"terms": {"field": "event_id"}}}],
            });
            if let Some(after) = after.take() {
                composite["after"] = after;
            }
            let body = json!({
                "size": 0,
                "track_total_hits": false,
                "query": range,
                "aggs": {"ids": {"composite": composite}},
            });
            let answer = self
                .client
                .search(&self.indices, &body)
                .await
                .map_err(search)?;
            // A partial answer would pass for missing documents.
            let failed = answer["_shards"]["failed"].as_u64().unwrap_or(0);
            if failed > 0 || answer["timed_out"].as_bool() == Some(true) {
                return Err(AuditError::Search(format!(
                    "a partial answer ({failed} shards failed, timed out: {})",
                    answer["timed_out"]
                )));
            }
            let page = &answer["aggregations"]["ids"];
            let buckets = page["buckets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            for bucket in buckets {
                let id = bucket["key"]["id"]
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok());
                let count = bucket["doc_count"].as_u64().unwrap_or(0);
                if let Some(id) = id {
                    *ids.entry(id).or_default() += u32::try_from(count).unwrap_or(u32::MAX);
                }
            }
            // A page short of the size is the last: asking again would cost
            // one more search over the hour.
            match page.get("after_key") {
                Some(key) if buckets.len() == PAGE => after = Some(key.clone()),
                _ => return Ok(ids),
            }
        }
    }
}
