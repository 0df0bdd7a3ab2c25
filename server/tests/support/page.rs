//! What the page tests share: the built page served by `prism-server`, a
//! WebDriver session in headless Chromium, and reading the page and the
//! topic back.
#![allow(dead_code)] // each test file uses its own part

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use prism_event::EnrichedEvent;
use prism_testkit::{ChromeDriver, Kafka, Producer, read_records};

pub fn dist() -> PathBuf {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist");
    assert!(
        dist.join("index.html").is_file(),
        "the page is not built: run `trunk build --release` in the workspace root first \
         (scripts/test does)"
    );
    dist
}

pub fn start_server(kafka: &Kafka, topic: &str, extra: &[(&str, &str)]) -> Producer {
    let dist = dist().display().to_string();
    let mut env = vec![("PRISM_STATIC_DIR", dist.as_str())];
    env.extend_from_slice(extra);
    Producer::start(
        env!("CARGO_BIN_EXE_prism-server").as_ref(),
        &kafka.brokers(),
        topic,
        &env,
    )
}

/// Processes are started with blocking calls outside; only the WebDriver
/// conversation runs on this runtime.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("a tokio runtime")
}

pub async fn browser(driver: &ChromeDriver) -> Client {
    ClientBuilder::native()
        .capabilities(driver.capabilities())
        .connect(&driver.url())
        .await
        .expect("a WebDriver session in headless Chromium")
}

pub async fn type_name_and_press(page: &Client, name: &str, color: &str) {
    page.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("[data-testid='name']"))
        .await
        .expect("the page renders its name field")
        .send_keys(name)
        .await
        .unwrap();
    let button = page
        .find(Locator::Css(&format!("[data-testid='color-{color}']")))
        .await
        .unwrap();
    button.click().await.unwrap();
}

pub async fn status_text(page: &Client) -> String {
    page.find(Locator::Css("[data-testid='status']"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Polls the status line until `pred` holds (or `timeout` passes).
pub async fn wait_for_status(
    page: &Client,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = status_text(page).await;
        if pred(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn class_of_status(page: &Client) -> String {
    let status = page
        .find(Locator::Css("[data-testid='status']"))
        .await
        .unwrap();
    status.attr("class").await.unwrap().unwrap_or_default()
}

pub fn records_of(
    kafka: &Kafka,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<EnrichedEvent> {
    read_records(&kafka.brokers(), topic, expected, timeout)
        .iter()
        .map(|r| serde_json::from_slice(&r.payload).expect("an enriched event"))
        .collect()
}

/// Events queued in the page's outbox (every tab's).
pub async fn outbox_len(page: &Client) -> u64 {
    page.execute(
        "return Object.keys(localStorage).filter(k => k.startsWith('prism.outbox.v2.')).length",
        vec![],
    )
    .await
    .unwrap()
    .as_u64()
    .unwrap_or(0)
}

/// Polls the page until `check` holds; panics after `timeout` with `what`.
pub async fn wait_in_page<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every record in the topic, once the page has nothing left to send:
/// reads until `at_least` arrived, then for a moment more, so a duplicate
/// on its way is counted too.
pub fn names_in_topic(kafka: &Kafka, topic: &str, at_least: usize) -> Vec<String> {
    let first = records_of(kafka, topic, at_least, Duration::from_secs(60));
    let first: Vec<&str> = first.iter().map(|e| e.name.as_str()).collect();
    assert!(first.len() >= at_least, "only {first:?} in the topic");
    let mut names: Vec<String> = records_of(kafka, topic, at_least + 1, Duration::from_secs(3))
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    names
}
