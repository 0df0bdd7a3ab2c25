//! The page's components and event building, in headless Chromium
//! (`cargo test -p prism-frontend --target wasm32-unknown-unknown`).
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use leptos::prelude::*;
use prism_event::{ClientEvent, Color, ErrorBody, ErrorCode};
use prism_frontend::api::{Outcome, SendError, classify, parse_retry_after};
use prism_frontend::browser::{self, new_event};
use prism_frontend::components::{NameField, StatusLine};
use prism_frontend::i18n::Lang;
use prism_frontend::outbox::{OUTBOX_CAP, Outbox, retry_delay};
use prism_frontend::sender::Sender;
use prism_frontend::status::Status;
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

async fn settle() {
    gloo_timers::future::sleep(Duration::from_millis(20)).await;
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

#[wasm_bindgen_test]
async fn a_retryable_failure_queues_the_event_in_local_storage_and_a_rejection_does_not() {
    let storage = browser::storage().unwrap();
    storage.clear().unwrap();
    let sender = Sender::restore();
    let event = new_event("Kim", Color::Blue);
    // A long Retry-After keeps the background retry out of this test.
    let retry = SendError::Retry {
        retry_after: Some(Duration::from_secs(600)),
        reason: "HTTP 503".into(),
    };
    sender.settle(event.clone(), Err(retry));
    assert_eq!(sender.status.get_untracked(), Status::Queued { pending: 1 });
    let saved = Outbox::load(Some(&storage));
    assert_eq!(
        saved.front().map(|e| e.event_id),
        Some(event.event_id),
        "same event_id kept for the retry"
    );

    let rejected = SendError::Rejected {
        status: 422,
        body: ErrorBody {
            error: ErrorCode::InvalidEvent,
            message: "bad colour".into(),
            field: Some("color".into()),
        },
    };
    sender.settle(new_event("Kim", Color::Red), Err(rejected));
    assert_eq!(
        sender.status.get_untracked(),
        Status::Rejected {
            message: "bad colour".into()
        }
    );
    assert_eq!(
        Outbox::load(Some(&storage)).len(),
        1,
        "a rejected event is not queued"
    );
    storage.clear().unwrap();
}

#[wasm_bindgen_test]
fn the_outbox_is_bounded_drops_the_oldest_and_never_holds_an_event_twice() {
    let mut outbox = Outbox::default();
    let first = new_event("first", Color::Red);
    assert_eq!(outbox.push(first.clone()), 0);
    assert_eq!(outbox.push(first.clone()), 0);
    assert_eq!(outbox.len(), 1);
    for _ in 0..OUTBOX_CAP - 1 {
        assert_eq!(outbox.push(new_event("x", Color::Blue)), 0);
    }
    assert_eq!(outbox.push(new_event("last", Color::Violet)), 1);
    assert_eq!(outbox.len(), OUTBOX_CAP);
    assert_ne!(
        outbox.front().unwrap().event_id,
        first.event_id,
        "the oldest was dropped"
    );
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
fn status_codes_decide_between_done_retry_and_give_up() {
    assert_eq!(classify(202), Outcome::Accepted);
    for retry in [429, 500, 502, 503] {
        assert_eq!(classify(retry), Outcome::Retry, "{retry}");
    }
    for final_ in [400, 404, 413, 415, 422] {
        assert_eq!(classify(final_), Outcome::Rejected, "{final_}");
    }
    assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
}

#[wasm_bindgen_test]
fn korean_browsers_get_korean_and_everyone_else_english() {
    assert_eq!(Lang::detect("ko-KR"), Lang::Ko);
    assert_eq!(Lang::detect("ko"), Lang::Ko);
    assert_eq!(Lang::detect("en-US"), Lang::En);
    assert_eq!(Lang::detect(""), Lang::En);
    assert_eq!(Lang::Ko.color_name(Color::Indigo), "남색");
}
