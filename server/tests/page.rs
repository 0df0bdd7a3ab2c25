//! The page end to end: built by Trunk, served by `prism-server`, driven in
//! headless Chromium through chromedriver, with events read back from a
//! real broker (Apache Kafka).
//!
//! Needs `dist/` (`trunk build --release`, which `scripts/test` runs first).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::Locator;
use prism_testkit::{ChromeDriver, Kafka, unique};

#[path = "support/page.rs"]
mod page_support;
use page_support::*;

#[test]
fn a_click_in_the_page_lands_in_kafka_with_what_the_browser_reports() {
    let kafka = Kafka::shared();
    let topic = unique("select-color");
    let server = start_server(&kafka, &topic, &[]);
    let driver = ChromeDriver::start();
    runtime().block_on(async {
        let page = browser(&driver).await;
        page.goto(&server.url).await.unwrap();

        type_name_and_press(&page, "Kim Minji", "blue").await;
        let status =
            wait_for_status(&page, Duration::from_secs(20), |t| t.contains("Kim Minji")).await;
        assert!(status.contains("Kim Minji"), "status line: {status:?}");
        let pressed = page
            .find(Locator::Css("[data-testid='color-blue']"))
            .await
            .unwrap();
        assert_eq!(
            pressed.attr("aria-pressed").await.unwrap().as_deref(),
            Some("true")
        );

        let real_ua = page
            .execute("return navigator.userAgent", vec![])
            .await
            .unwrap();
        let real_tz = page
            .execute(
                "return Intl.DateTimeFormat().resolvedOptions().timeZone",
                vec![],
            )
            .await
            .unwrap();
        let screen_width = page.execute("return screen.width", vec![]).await.unwrap();

        let screenshot = page.screenshot().await.unwrap();
        let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/prism-page.png");
        std::fs::write(&shot, screenshot).unwrap();

        let events = records_of(&kafka, &topic, 1, Duration::from_secs(30));
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.name, "Kim Minji");
        assert_eq!(e.color.as_str(), "blue");
        assert_eq!(e.event_id.get_version_num(), 7);
        assert_eq!(Some(e.navigator.user_agent.as_str()), real_ua.as_str());
        assert_eq!(e.navigator.timezone.as_deref(), real_tz.as_str());
        assert_eq!(
            e.navigator.screen.as_ref().map(|s| u64::from(s.width)),
            screen_width.as_u64()
        );
        assert!(e.navigator.viewport.is_some() && e.navigator.language.is_some());
        assert!(
            e.ua.browser.family.contains("Chrome"),
            "parsed browser: {:?}",
            e.ua.browser
        );
        assert!(
            e.ua.browser.major.is_some(),
            "parsed browser: {:?}",
            e.ua.browser
        );
        assert_eq!(e.ua.os.family, "Linux");

        // The tally counts what was delivered.
        let tally = page
            .find(Locator::Css("[data-testid='tally-blue']"))
            .await
            .unwrap();
        assert!(tally.text().await.unwrap().ends_with('1'));
        page.close().await.unwrap();
    });
}

#[test]
fn a_markup_name_is_shown_as_text_and_arrives_unchanged() {
    let kafka = Kafka::shared();
    let topic = unique("select-color");
    let server = start_server(&kafka, &topic, &[]);
    let driver = ChromeDriver::start();
    runtime().block_on(async {
        let page = browser(&driver).await;
        page.goto(&server.url).await.unwrap();

        let name = "<img src=x onerror=alert(1)>";
        type_name_and_press(&page, name, "violet").await;
        let status = wait_for_status(&page, Duration::from_secs(20), |t| t.contains(name)).await;
        assert!(
            status.contains(name),
            "the name is shown literally: {status:?}"
        );
        let images = page.find_all(Locator::Css("main img")).await.unwrap();
        assert!(images.is_empty(), "the name became markup");

        let events = records_of(&kafka, &topic, 1, Duration::from_secs(30));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, name);
        page.close().await.unwrap();
    });
}

#[test]
fn a_click_while_the_broker_is_down_is_queued_and_arrives_exactly_once() {
    let kafka = Kafka::start();
    let topic = unique("select-color");
    let server = start_server(
        &kafka,
        &topic,
        &[
            ("PRISM_DELIVERY_TIMEOUT_MS", "2000"),
            ("PRISM_RETRY_AFTER_S", "1"),
        ],
    );
    let driver = ChromeDriver::start();
    runtime().block_on(async {
        let page = browser(&driver).await;
        page.goto(&server.url).await.unwrap();

        // One delivered click first, so the topic has a record before the outage.
        type_name_and_press(&page, "before", "red").await;
        wait_for_status(&page, Duration::from_secs(20), |t| t.contains("before")).await;

        kafka.stop();
        let name = page
            .find(Locator::Css("[data-testid='name']"))
            .await
            .unwrap();
        name.clear().await.unwrap();
        type_name_and_press(&page, "during the outage", "green").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !class_of_status(&page).await.contains("queued") {
            assert!(
                Instant::now() < deadline,
                "never showed queued: {:?}",
                status_text(&page).await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let stored = page
            .execute(
                "return Object.keys(localStorage).filter(k => k.startsWith('prism.outbox.v2.')) \
                 .map(k => localStorage.getItem(k)).join('\\n')",
                vec![],
            )
            .await
            .unwrap();
        let stored = stored.as_str().unwrap_or_default().to_owned();
        assert!(
            stored.contains("during the outage"),
            "the click is kept in localStorage: {stored}"
        );

        kafka.restart();
        let status = wait_for_status(&page, Duration::from_secs(60), |t| {
            t.contains("during the outage")
        })
        .await;
        assert!(
            status.contains("during the outage"),
            "the queued click was delivered: {status:?}"
        );

        let events = records_of(&kafka, &topic, 3, Duration::from_secs(15));
        let during: Vec<_> = events
            .iter()
            .filter(|e| e.name == "during the outage")
            .collect();
        assert_eq!(during.len(), 1, "exactly once: {events:?}");
        let ids: HashSet<_> = events.iter().map(|e| e.event_id).collect();
        assert_eq!(ids.len(), events.len(), "no event twice");
        assert!(
            stored.contains(&during[0].event_id.to_string()),
            "the retry reused the event_id"
        );
        page.close().await.unwrap();
        drop(server);
    });
}

#[test]
fn the_page_s_wasm_stays_within_110_kib_gzipped() {
    const BUDGET: usize = 110 * 1024;
    let wasm = std::fs::read_dir(dist())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .expect("a .wasm in dist/");
    let gzip = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .arg(&wasm)
        .output()
        .expect("gzip");
    assert!(gzip.status.success());
    let size = gzip.stdout.len();
    assert!(
        size <= BUDGET,
        "{} is {size} bytes gzipped, over the {BUDGET}-byte budget",
        wasm.display()
    );
}
