//! Click to searchable: posts page-shaped events to `prism-server` at a
//! steady rate and measures, for each event, the time from its 202 to the
//! first search that finds it (the pipeline behind the server — Kafka, the
//! sink, the index's refresh — as a user of the dashboard sees it).
//! `searchable SERVER_URL SEARCH_URL INDEX_PATTERN EVENTS_PER_S SECONDS`
//!
//! Searching never makes a document visible (only a refresh does), so the
//! searches do not shorten what they measure; they run every 50 ms, which
//! bounds how late a find is seen. Every tenth event is followed: searching
//! for all of them (thousands of ids, twenty times a second) loaded the
//! node enough to slow what was measured.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

/// How often the searcher asks.
const POLL: Duration = Duration::from_millis(50);
/// One event in this many is followed to the search that finds it.
const FOLLOW_EVERY: u64 = 10;
/// How long an event may take to be found before it counts as missing.
const GIVE_UP: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Shared {
    /// Acknowledged and not found yet: when the 202 came.
    pending: HashMap<Uuid, Instant>,
    /// Milliseconds from each 202 to the search that found it.
    found_ms: Vec<f64>,
    /// Milliseconds each POST took to be answered 202.
    ack_ms: Vec<f64>,
    acked: usize,
    refused: usize,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, server, search, pattern, rate, seconds] = args.as_slice() else {
        return Err(
            "usage: searchable SERVER_URL SEARCH_URL INDEX_PATTERN EVENTS_PER_S SECONDS".into(),
        );
    };
    let (rate, seconds): (u32, u64) = (rate.parse()?, seconds.parse()?);
    let template: Value = serde_json::from_str(include_str!("../../bench/event.json"))?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    // Steady state first: one event through the whole pipeline (the sink's
    // group formed, its partitions assigned, today's index there), so the
    // start-up is not counted as latency.
    let first = Instant::now();
    warm_up(
        &http,
        server,
        &format!("{search}/{pattern}/_search"),
        &template,
    )
    .await?;
    println!(
        "first event searchable {:.1} s after its post (start-up)",
        first.elapsed().as_secs_f64()
    );

    let shared = Arc::new(Mutex::new(Shared::default()));
    let posting = Arc::new(std::sync::atomic::AtomicBool::new(true));

    let searcher = tokio::spawn(find_them(
        http.clone(),
        format!("{search}/{pattern}/_search"),
        Arc::clone(&shared),
        Arc::clone(&posting),
    ));

    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut posts = Vec::new();
    let mut n: u64 = 0;
    while Instant::now() < end {
        tick.tick().await;
        n += 1;
        let followed = n.is_multiple_of(FOLLOW_EVERY);
        let (id, event) = pressed_now(&template)?;
        let (http, shared, url) = (
            http.clone(),
            Arc::clone(&shared),
            format!("{server}/api/v1/events"),
        );
        posts.push(tokio::spawn(async move {
            let sent = Instant::now();
            let answer = http.post(url).json(&event).send().await;
            let acked = Instant::now();
            let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
            match answer {
                Ok(r) if r.status().as_u16() == 202 => {
                    shared.acked += 1;
                    shared.ack_ms.push(ms(acked - sent));
                    if followed {
                        shared.pending.insert(id, acked);
                    }
                }
                _ => shared.refused += 1,
            }
        }));
    }
    for post in posts {
        post.await?;
    }
    posting.store(false, std::sync::atomic::Ordering::SeqCst);
    searcher.await??;

    let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
    let missing = shared.pending.len();
    let found = shared.found_ms.len();
    println!(
        "posted {} events at {rate}/s for {seconds} s: {} acknowledged, {} refused; of the {} \
         followed (one in {FOLLOW_EVERY}) found {found}, not found within {} s: {missing}",
        shared.acked + shared.refused,
        shared.acked,
        shared.refused,
        found + missing,
        GIVE_UP.as_secs()
    );
    let ack = percentiles(&mut shared.ack_ms);
    let searchable = percentiles(&mut shared.found_ms);
    println!("202 (ms):                       {ack}");
    println!("202 to searchable (ms):         {searchable}");
    if missing > 0 {
        return Err(format!("{missing} acknowledged events were never found").into());
    }
    Ok(())
}

/// `template` as a press made now: a fresh UUIDv7 and the current time.
fn pressed_now(template: &Value) -> Result<(Uuid, Value), time::error::Format> {
    let id = Uuid::now_v7();
    let mut event = template.clone();
    event["event_id"] = json!(id);
    event["client_ts"] = json!(
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?
    );
    Ok((id, event))
}

/// Posts one event and waits (up to two minutes) until a search finds it.
async fn warm_up(
    http: &reqwest::Client,
    server: &str,
    search: &str,
    template: &Value,
) -> Result<(), Box<dyn std::error::Error>> {
    let (id, event) = pressed_now(template)?;
    let answer = http
        .post(format!("{server}/api/v1/events"))
        .json(&event)
        .send()
        .await?;
    if answer.status().as_u16() != 202 {
        return Err(format!("the warm-up event was answered {}", answer.status()).into());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let query = json!({"size": 1, "_source": false, "query": {"term": {"event_id": id}}});
    while Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        if let Ok(r) = http.post(search).json(&query).send().await {
            let answer: Value = r.json().await.unwrap_or(Value::Null);
            if answer["hits"]["hits"]
                .as_array()
                .is_some_and(|h| !h.is_empty())
            {
                return Ok(());
            }
        }
    }
    Err("the warm-up event was not searchable within two minutes".into())
}

/// Searches for every pending id each `POLL` until none is left after the
/// posting ended (or `GIVE_UP` passed since).
async fn find_them(
    http: reqwest::Client,
    url: String,
    shared: Arc<Mutex<Shared>>,
    posting: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), String> {
    let mut last_post = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let ids: Vec<Uuid> = {
            let shared = shared.lock().unwrap_or_else(|p| p.into_inner());
            shared.pending.keys().copied().collect()
        };
        if posting.load(std::sync::atomic::Ordering::SeqCst) {
            last_post = Instant::now();
        } else if ids.is_empty() || last_post.elapsed() > GIVE_UP {
            return Ok(());
        }
        if ids.is_empty() {
            continue;
        }
        let body = json!({
            "size": ids.len(),
            "_source": false,
            "query": {"terms": {"event_id": ids}},
        });
        let answer: Value = match http.post(&url).json(&body).send().await {
            Ok(r) => r.json().await.map_err(|e| e.to_string())?,
            // The index may not exist yet before the first bulk.
            Err(_) => continue,
        };
        let now = Instant::now();
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
        for hit in hits {
            let id = hit["_id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
            if let Some(acked) = id.and_then(|id| shared.pending.remove(&id)) {
                shared.found_ms.push(ms(now - acked));
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `p50 … p90 … p99 … max` of `values`, in place sorted.
fn percentiles(values: &mut [f64]) -> String {
    if values.is_empty() {
        return "none".into();
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!(
        "p50 {:.0}  p90 {:.0}  p99 {:.0}  max {:.0}",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    )
}
