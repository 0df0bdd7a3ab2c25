//! The page's outbox end to end, in headless Chromium against a real
//! server and broker: two tabs, reloads, damaged storage and answers that
//! are not the producer's. A proxy in front of the server makes the API
//! hang or answer like a captive portal.
//!
//! Needs `dist/` (`trunk build --release`, which `scripts/test` runs first).

use std::time::Duration;

use fantoccini::Locator;
use prism_testkit::{ChromeDriver, Kafka, Producer, unique};

#[path = "support/api_proxy.rs"]
mod api_proxy;
#[path = "support/page.rs"]
mod page_support;
use api_proxy::{ApiProxy, Mode};
use page_support::*;

/// What each test runs against: a broker and a fresh topic, the server,
/// the proxy in front of it on `host`, and chromedriver.
struct Stage {
    kafka: std::sync::Arc<Kafka>,
    topic: String,
    server: Producer,
    proxy: ApiProxy,
    driver: ChromeDriver,
}

impl Stage {
    fn new(host: &str) -> Self {
        let kafka = Kafka::shared();
        let topic = unique("select-color");
        let server = start_server(&kafka, &topic, &[]);
        let proxy = ApiProxy::start(&server.url, host);
        Self {
            kafka,
            topic,
            server,
            proxy,
            driver: ChromeDriver::start(),
        }
    }
}

#[test]
fn two_tabs_pressing_while_the_server_is_down_deliver_both_once_after_one_closes() {
    two_tabs_one_closed("127.0.0.1", true);
}

/// The same over plain HTTP from this machine's own non-loopback address:
/// not a secure context, so no Web Locks, and the lease stands in.
#[test]
fn without_web_locks_the_lease_stands_in_for_two_tabs() {
    // A UDP "connection" sends nothing; it only asks for the outbound route.
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .connect("198.51.100.1:9")
        .expect("this test needs a non-loopback IPv4 route");
    let ip = socket.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "no non-loopback address: {ip}");
    two_tabs_one_closed(&ip.to_string(), false);
}

fn two_tabs_one_closed(host: &str, web_locks: bool) {
    let mut st = Stage::new(host);
    runtime().block_on(async {
        let page = browser(&st.driver).await;
        page.goto(&st.proxy.url).await.unwrap();
        let locks = page
            .execute("return !!navigator.locks", vec![])
            .await
            .unwrap();
        assert_eq!(
            locks.as_bool(),
            Some(web_locks),
            "navigator.locks at {host}"
        );
        let first = page.window().await.unwrap();
        let second = page.new_window(true).await.unwrap().handle;
        page.switch_to_window(second.clone()).await.unwrap();
        page.goto(&st.proxy.url).await.unwrap();
        page.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("[data-testid='name']"))
            .await
            .unwrap();

        st.server.process.kill();
        page.switch_to_window(first.clone()).await.unwrap();
        type_name_and_press(&page, "first tab", "red").await;
        page.switch_to_window(second.clone()).await.unwrap();
        type_name_and_press(&page, "second tab", "blue").await;
        // Both tabs say queued (the second learns it from the sender).
        for tab in [&first, &second] {
            page.switch_to_window(tab.clone()).await.unwrap();
            wait_in_page(Duration::from_secs(20), "a queued status", || async {
                class_of_status(&page).await.contains("queued")
            })
            .await;
        }

        // The first tab, which pressed first and became the sender, goes.
        page.switch_to_window(first).await.unwrap();
        page.close_window().await.unwrap();
        page.switch_to_window(second).await.unwrap();
        // A blocking start (it polls /healthz) on this runtime's thread.
        tokio::task::block_in_place(|| st.server.restart());

        wait_in_page(Duration::from_secs(60), "an empty outbox", || async {
            outbox_len(&page).await == 0
        })
        .await;
        assert_eq!(
            names_in_topic(&st.kafka, &st.topic, 2),
            ["first tab", "second tab"],
            "each press exactly once"
        );
        let status =
            wait_for_status(&page, Duration::from_secs(10), |t| t.contains("second tab")).await;
        assert!(status.contains("second tab"), "status line: {status:?}");
        page.close().await.unwrap();
    });
}

#[test]
fn a_reload_during_a_hung_request_delivers_the_press_once_after_the_reload() {
    let st = Stage::new("127.0.0.1");
    runtime().block_on(async {
        let page = browser(&st.driver).await;
        page.goto(&st.proxy.url).await.unwrap();
        st.proxy.set(Mode::Hang);
        type_name_and_press(&page, "hung", "green").await;
        wait_in_page(Duration::from_secs(10), "the request to hang", || async {
            st.proxy.posts() > 0
        })
        .await;

        // The hung request stays hung; the reloaded page sends again.
        st.proxy.set(Mode::Forward);
        page.refresh().await.unwrap();
        wait_in_page(Duration::from_secs(30), "an empty outbox", || async {
            outbox_len(&page).await == 0
        })
        .await;
        assert_eq!(names_in_topic(&st.kafka, &st.topic, 1), ["hung"]);
        let tally = page
            .find(Locator::Css("[data-testid='tally-green']"))
            .await
            .unwrap();
        assert!(tally.text().await.unwrap().ends_with('1'));
        page.close().await.unwrap();
    });
}

#[test]
fn a_damaged_entry_in_storage_does_not_stop_the_others() {
    let st = Stage::new("127.0.0.1");
    let event = |name: &str| {
        serde_json::json!({
            "event_id": uuid::Uuid::now_v7(),
            "name": name,
            "color": "yellow",
            "client_ts": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap(),
            "navigator": {"user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0"}
        })
    };
    runtime().block_on(async {
        let page = browser(&st.driver).await;
        page.goto(&st.server.url).await.unwrap();
        // As the first version left it (one array, one element damaged),
        // and one damaged entry of the current layout.
        let legacy = serde_json::json!([event("kept one"), {"event_id": 7}, event("kept two")]);
        page.execute(
            "localStorage.setItem('prism.outbox.v1', arguments[0]); \
             localStorage.setItem('prism.outbox.v2.' + arguments[1], '{\"event_id\": cut sh');",
            vec![
                legacy.to_string().into(),
                uuid::Uuid::now_v7().to_string().into(),
            ],
        )
        .await
        .unwrap();
        page.refresh().await.unwrap();
        assert_eq!(
            names_in_topic(&st.kafka, &st.topic, 2),
            ["kept one", "kept two"]
        );
        wait_in_page(Duration::from_secs(10), "an empty outbox", || async {
            outbox_len(&page).await == 0
        })
        .await;
        page.close().await.unwrap();
    });
}

#[test]
fn a_200_that_is_not_the_producer_s_answer_is_not_a_delivery() {
    let st = Stage::new("127.0.0.1");
    runtime().block_on(async {
        let page = browser(&st.driver).await;
        page.goto(&st.proxy.url).await.unwrap();
        st.proxy.set(Mode::Portal);
        type_name_and_press(&page, "behind a portal", "indigo").await;
        wait_in_page(Duration::from_secs(10), "a queued status", || async {
            class_of_status(&page).await.contains("queued")
        })
        .await;
        assert!(st.proxy.posts() >= 1);
        assert_eq!(outbox_len(&page).await, 1, "still in the outbox");
        let tally = page
            .find(Locator::Css("[data-testid='tally-indigo']"))
            .await
            .unwrap();
        assert!(tally.text().await.unwrap().ends_with('0'), "not counted");

        st.proxy.set(Mode::Forward);
        let status = wait_for_status(&page, Duration::from_secs(30), |t| {
            t.contains("behind a portal")
        })
        .await;
        assert!(
            status.contains("behind a portal"),
            "status line: {status:?}"
        );
        assert_eq!(outbox_len(&page).await, 0);
        assert_eq!(names_in_topic(&st.kafka, &st.topic, 1), ["behind a portal"]);
        assert!(tally.text().await.unwrap().ends_with('1'));
        page.close().await.unwrap();
    });
}
