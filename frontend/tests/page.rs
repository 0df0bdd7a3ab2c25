//! The page's components and event building, in headless Chromium
//! (`cargo test -p prism-frontend --target wasm32-unknown-unknown`).
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use leptos::prelude::*;
use prism_event::{ClientEvent, Color};
use prism_frontend::api::{Ack, batch_acks, parse_retry_after, single_ack};
use prism_frontend::browser::{self, new_event};
use prism_frontend::components::{NameField, StatusLine};
use prism_frontend::i18n::Lang;
use prism_frontend::lock;
use prism_frontend::outbox::{self, OUTBOX_CAP, Outbox, retry_delay};
use prism_frontend::sender::Sender;
use prism_frontend::status::Status;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{HtmlElement, HtmlInputElement};

wasm_bindgen_test_configure!(run_in_browser);

fn lang() -> Lang {
    Lang::detect(&browser::language())
}

/// A fresh container in the document, to mount one component into.
fn container() -> HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let div: HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&div).unwrap();
    div
}

fn find(root: &HtmlElement, testid: &str) -> HtmlElement {
    root.query_selector(&format!("[data-testid='{testid}']"))
        .unwrap()
        .unwrap_or_else(|| panic!("no element with data-testid={testid}"))
        .unchecked_into()
}

/// Lets the reactive system run what a change scheduled.
async fn settle() {
    leptos::task::tick().await;
}

async fn type_into(input: &HtmlInputElement, value: &str) {
    input.set_value(value);
    input
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    settle().await;
}

#[wasm_bindgen_test]
async fn the_name_field_explains_what_is_wrong_and_clears_when_fixed() {
    let root = container();
    let name = RwSignal::new(String::new());
    let _mounted = mount_to(
        root.clone(),
        move || view! { <NameField name lang=lang() /> },
    );
    let input: HtmlInputElement = find(&root, "name").unchecked_into();
    let message = find(&root, "name-message");
    assert_eq!(
        message.text_content().unwrap(),
        "",
        "no message before the person typed"
    );

    type_into(&input, "   ").await;
    assert_eq!(
        message.text_content().unwrap(),
        lang().name_error(prism_event::NameError::Empty)
    );
    assert_eq!(input.get_attribute("aria-invalid").as_deref(), Some("true"));

    type_into(&input, &"a".repeat(65)).await;
    assert_eq!(
        message.text_content().unwrap(),
        lang().name_error(prism_event::NameError::TooLong { chars: 65 })
    );

    type_into(&input, "Kim Minji").await;
    assert_eq!(message.text_content().unwrap(), "");
    assert_eq!(
        input.get_attribute("aria-invalid").as_deref(),
        Some("false")
    );
    assert_eq!(name.get_untracked(), "Kim Minji");
}

#[wasm_bindgen_test]
async fn colour_buttons_are_real_buttons_enabled_only_for_a_valid_name() {
    browser::storage().unwrap().clear().unwrap();
    let root = container();
    let _mounted = mount_to(root.clone(), prism_frontend::App);
    for color in Color::ALL {
        let button = find(&root, &format!("color-{}", color.as_str()));
        assert_eq!(button.tag_name(), "BUTTON");
        assert_eq!(
            button.get_attribute("aria-pressed").as_deref(),
            Some("false")
        );
        assert!(
            button.has_attribute("disabled"),
            "{color} enabled without a name"
        );
        assert!(
            button
                .text_content()
                .unwrap()
                .contains(lang().color_name(color))
        );
    }
    let input: HtmlInputElement = find(&root, "name").unchecked_into();
    type_into(&input, "Kim").await;
    for color in Color::ALL {
        let button = find(&root, &format!("color-{}", color.as_str()));
        assert!(!button.has_attribute("disabled"), "{color} still disabled");
    }
}

#[wasm_bindgen_test]
fn a_press_builds_an_event_with_the_colour_a_uuid_v7_and_the_browser_s_details() {
    let event = new_event("  Kim Minji ", Color::Green);
    assert_eq!(event.color, Color::Green);
    assert_eq!(event.name, "Kim Minji");
    assert_eq!(event.event_id.get_version_num(), 7);
    assert!(!event.navigator.user_agent.is_empty());
    assert!(event.navigator.screen.as_ref().is_some_and(|s| s.width > 0));
    assert!(
        event
            .navigator
            .timezone
            .as_ref()
            .is_some_and(|tz| !tz.is_empty())
    );
    assert!(event.navigator.page_url.is_some());
    let age = browser::now() - event.client_ts;
    assert!(
        age.abs() < time::Duration::seconds(5),
        "client_ts {} is not now",
        event.client_ts
    );

    // What the page sends is exactly what the producer accepts.
    let json = serde_json::to_string(&event).unwrap();
    let mut back: ClientEvent = serde_json::from_str(&json).unwrap();
    back.validate().unwrap();
    assert_eq!(back, event);
    assert_ne!(new_event("Kim", Color::Green).event_id, event.event_id);
}

#[wasm_bindgen_test]
async fn the_status_line_shows_errors_and_the_queued_state() {
    let root = container();
    let status = RwSignal::new(Status::Idle);
    let dropped = RwSignal::new(0usize);
    let _mounted = mount_to(
        root.clone(),
        move || view! { <StatusLine lang=lang() status dropped /> },
    );
    let line = find(&root, "status");
    assert_eq!(line.get_attribute("aria-live").as_deref(), Some("polite"));

    status.set(Status::Rejected {
        message: "colour outside the rainbow".into(),
    });
    settle().await;
    assert!(
        line.text_content()
            .unwrap()
            .contains("colour outside the rainbow")
    );
    assert_eq!(line.class_name(), "status error");

    status.set(Status::Queued { pending: 2 });
    settle().await;
    assert_eq!(
        line.text_content().unwrap(),
        lang().status(&Status::Queued { pending: 2 })
    );
    assert_eq!(line.class_name(), "status queued");

    dropped.set(3);
    settle().await;
    assert_eq!(
        find(&root, "dropped-note").text_content().unwrap(),
        lang().dropped_note(3)
    );
}

fn storage() -> web_sys::Storage {
    let storage = browser::storage().unwrap();
    storage.clear().unwrap();
    storage
}

fn queued_ids(storage: &web_sys::Storage) -> Vec<Uuid> {
    Outbox::read(Some(storage))
        .events()
        .iter()
        .map(|e| e.event_id)
        .collect()
}

#[wasm_bindgen_test]
fn a_press_is_in_the_outbox_before_anything_is_sent() {
    let storage = storage();
    let sender = Sender::restore();
    sender.press("Kim", Color::Blue);
    // Synchronously after the press, before any answer could have come.
    let queued = Outbox::read(Some(&storage));
    assert_eq!(queued.len(), 1);
    let event: ClientEvent = serde_json::from_str(&queued.events()[0].json).unwrap();
    assert_eq!((event.name.as_str(), event.color), ("Kim", Color::Blue));
    assert_eq!(queued.events()[0].event_id, event.event_id);
    assert_eq!(sender.status.get_untracked(), Status::Sending);
    storage.clear().unwrap();
}

#[wasm_bindgen_test]
fn the_outbox_keeps_one_entry_per_event_oldest_first_within_its_cap() {
    let storage = storage();
    let first = new_event("first", Color::Red);
    assert_eq!(outbox::put(Some(&storage), &first), 0);
    assert_eq!(outbox::put(Some(&storage), &first), 0, "the same id twice");
    assert_eq!(outbox::count(Some(&storage)), 1);
    let mut later = Vec::new();
    for _ in 0..OUTBOX_CAP - 1 {
        let event = new_event("x", Color::Blue);
        assert_eq!(outbox::put(Some(&storage), &event), 0);
        later.push(event.event_id);
    }
    let last = new_event("last", Color::Violet);
    assert_eq!(outbox::put(Some(&storage), &last), 1);
    later.push(last.event_id);
    assert_eq!(
        queued_ids(&storage),
        later,
        "the oldest was dropped, order kept"
    );
    outbox::remove(Some(&storage), last.event_id);
    assert_eq!(outbox::count(Some(&storage)), OUTBOX_CAP - 1);
    storage.clear().unwrap();
}

#[wasm_bindgen_test]
fn a_damaged_entry_is_dropped_and_the_others_are_kept() {
    let storage = storage();
    let good = [new_event("a", Color::Red), new_event("b", Color::Green)];
    for event in &good {
        outbox::put(Some(&storage), event);
    }
    let damaged = outbox::key(Uuid::now_v7());
    storage.set_item(&damaged, "{\"event_id\": cut sh").unwrap();
    // An entry filed under another event's key is damaged too.
    let misfiled = outbox::key(Uuid::now_v7());
    storage
        .set_item(&misfiled, &serde_json::to_string(&good[0]).unwrap())
        .unwrap();
    assert_eq!(
        queued_ids(&storage),
        good.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );
    assert_eq!(storage.get_item(&damaged).unwrap(), None, "removed");
    assert_eq!(storage.get_item(&misfiled).unwrap(), None, "removed");
    storage.clear().unwrap();
}

#[wasm_bindgen_test]
fn the_first_version_s_queue_is_moved_over_element_by_element() {
    let storage = storage();
    let good = [new_event("a", Color::Red), new_event("b", Color::Green)];
    let legacy = format!(
        "[{}, {{\"event_id\": 7}}, {}]",
        serde_json::to_string(&good[0]).unwrap(),
        serde_json::to_string(&good[1]).unwrap()
    );
    storage.set_item(outbox::LEGACY_KEY, &legacy).unwrap();
    assert_eq!(
        queued_ids(&storage),
        good.iter().map(|e| e.event_id).collect::<Vec<_>>()
    );
    assert_eq!(storage.get_item(outbox::LEGACY_KEY).unwrap(), None);
    storage.clear().unwrap();
}

#[wasm_bindgen_test]
fn back_off_grows_is_capped_and_honours_retry_after() {
    let d = |attempt, jitter| retry_delay(attempt, None, jitter);
    assert_eq!(d(0, 0.0), Duration::from_millis(500));
    assert_eq!(d(0, 1.0), Duration::from_millis(1000));
    assert!(d(3, 0.5) > d(2, 0.5));
    assert_eq!(d(30, 1.0), Duration::from_secs(60));
    assert_eq!(
        retry_delay(0, Some(Duration::from_secs(7)), 0.0),
        Duration::from_secs(7)
    );
}

#[wasm_bindgen_test]
fn only_the_producer_s_answer_naming_the_event_acknowledges_it() {
    let id = Uuid::now_v7();
    let accepted = format!("{{\"event_id\":\"{id}\"}}");
    assert_eq!(single_ack(202, &accepted, id), Ack::Delivered);
    assert_eq!(
        single_ack(202, &accepted, Uuid::now_v7()),
        Ack::Retry,
        "another event's id"
    );
    let portal = "<html><body>Please log in to the Wi-Fi</body></html>";
    assert_eq!(single_ack(200, portal, id), Ack::Retry, "a captive portal");
    for retry in [429, 500, 502, 503] {
        assert_eq!(single_ack(retry, "", id), Ack::Retry, "{retry}");
    }
    let refusal = r#"{"error":"invalid_event","message":"bad colour","field":"color"}"#;
    assert_eq!(
        single_ack(422, refusal, id),
        Ack::Refused("bad colour".into())
    );
    assert_eq!(
        single_ack(404, portal, id),
        Ack::Retry,
        "a 4xx that is not the producer's is no verdict"
    );
    let gateway = r#"{"error":"Forbidden","message":"Access Denied","status":403}"#;
    assert_eq!(
        single_ack(403, gateway, id),
        Ack::Retry,
        "another service's JSON error is no verdict either"
    );
    assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
}

#[wasm_bindgen_test]
fn a_batch_answer_is_matched_to_its_events_by_id() {
    let ids = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    let answer = format!(
        r#"{{"results":[{{"event_id":"{}","status":202}},{{"event_id":"{}","status":503,"error":"unavailable"}},{{"event_id":"{}","status":422,"error":"invalid_event","message":"bad name"}}]}}"#,
        ids[0], ids[1], ids[2]
    );
    assert_eq!(
        batch_acks(200, &answer, &ids),
        Some(vec![
            Ack::Delivered,
            Ack::Retry,
            Ack::Refused("bad name".into())
        ])
    );
    let swapped = [ids[1], ids[0], ids[2]];
    assert_eq!(
        batch_acks(200, &answer, &swapped).unwrap()[..2],
        [Ack::Retry, Ack::Retry],
        "results that name other events acknowledge nothing"
    );
    assert_eq!(
        batch_acks(200, &answer, &ids[..2]),
        Some(vec![Ack::Retry; 2]),
        "an answer of the wrong length"
    );
    assert_eq!(batch_acks(200, "<html>", &ids), Some(vec![Ack::Retry; 3]));
    assert_eq!(batch_acks(503, "", &ids), Some(vec![Ack::Retry; 3]));
    assert_eq!(batch_acks(404, "", &ids), None, "no batch endpoint");
}

#[wasm_bindgen_test]
fn korean_browsers_get_korean_and_everyone_else_english() {
    assert_eq!(Lang::detect("ko-KR"), Lang::Ko);
    assert_eq!(Lang::detect("ko"), Lang::Ko);
    assert_eq!(Lang::detect("en-US"), Lang::En);
    assert_eq!(Lang::detect(""), Lang::En);
    assert_eq!(Lang::Ko.color_name(Color::Indigo), "남색");
}

#[wasm_bindgen_test]
async fn a_lease_holder_learns_that_another_tab_took_its_expired_lease_over() {
    let storage = storage();
    // An expired lease of a tab that went away is taken at once.
    storage.set_item(lock::LEASE_KEY, "gone-tab 1000").unwrap();
    let held = lock::lease().await;
    assert!(held.keep(), "the lease is ours");
    let ours = storage.get_item(lock::LEASE_KEY).unwrap().unwrap();
    assert!(!ours.starts_with("gone-tab"), "{ours}");

    // Our timers were held back past the expiry and another tab took it.
    let far = js_sys::Date::now() as u64 + 60_000;
    storage
        .set_item(lock::LEASE_KEY, &format!("other-tab {far}"))
        .unwrap();
    assert!(!held.keep(), "a taken-over lease must stop the sender");
    assert_eq!(
        storage.get_item(lock::LEASE_KEY).unwrap().unwrap(),
        format!("other-tab {far}"),
        "and the other tab's lease is left alone"
    );
    drop(held);
    assert!(
        storage.get_item(lock::LEASE_KEY).unwrap().is_some(),
        "letting go does not remove another tab's lease"
    );
    storage.clear().unwrap();
}
