//! Raw baseline for the Elasticsearch sink benchmark: the same documents
//! the sink would send, in `_bulk` requests of the same size and with the
//! same concurrency, under the same index template, straight to the
//! server (no Kafka).
//! `es_bulk_baseline ES_URL N BATCH CONCURRENCY`
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use prism_sinks::elasticsearch::request::{encode, index_name};

#[path = "common/mod.rs"]
mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, n, batch, concurrency] = args.as_slice() else {
        return Err("usage: es_bulk_baseline ES_URL N BATCH CONCURRENCY".into());
    };
    let (n, batch, concurrency): (usize, usize, usize) =
        (n.parse()?, batch.parse()?, concurrency.parse()?);
    let now = time::OffsetDateTime::now_utc();
    let mut bodies = Vec::new();
    let mut body = Vec::new();
    for i in 0..n {
        let event = common::sample_event(i, now);
        let payload = serde_json::to_vec(&event)?;
        body.extend(encode(&payload, &event, &index_name("baseline", now), now)?.0);
        if (i + 1) % batch == 0 {
            bodies.push(std::mem::take(&mut body));
        }
    }
    if !body.is_empty() {
        bodies.push(body);
    }
    let http = reqwest::Client::new();
    // The index template the sink installs (as scripts/bench-es starts it:
    // no replicas, refreshed every second), so both pay the same mapping
    // and refresh costs.
    let template = prism_sinks::elasticsearch::health::template_for("baseline", 0, "1s");
    let res = http
        .put(format!("{url}/_index_template/baseline"))
        .header("content-type", "application/json")
        .body(template)
        .send()
        .await?;
    if !res.status().is_success() {
        return Err(format!("index template: HTTP {}", res.status()).into());
    }
    let started = Instant::now();
    let failures: usize = stream::iter(bodies.into_iter().map(|b| {
        let http = http.clone();
        async move {
            let res = http
                .post(format!("{url}/_bulk"))
                .header("content-type", "application/x-ndjson")
                .body(b)
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    usize::from(v["errors"].as_bool().unwrap_or(true))
                }
                _ => 1,
            }
        }
    }))
    .buffer_unordered(concurrency)
    .fold(0, |acc, f| async move { acc + f })
    .await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "baseline_docs_per_s={:.0} docs={n} seconds={secs:.2} failed_requests={failures}",
        n as f64 / secs
    );
    Ok(())
}
