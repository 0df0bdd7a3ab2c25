//! What the browser reports about itself, read through web-sys and js-sys.
//!
//! Every field but the user agent is optional: browsers differ, and a
//! missing property must never stop an event.

use js_sys::Reflect;
use prism_event::{ClientEvent, Color, Navigator, Screen, UaBrand, UaData, Viewport};
use time::OffsetDateTime;
use uuid::Uuid;
use wasm_bindgen::{JsCast, JsValue};

fn prop(target: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(target, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn text(target: &JsValue, key: &str) -> Option<String> {
    prop(target, key)?.as_string()
}

fn number(target: &JsValue, key: &str) -> Option<f64> {
    prop(target, key)?.as_f64().filter(|n| n.is_finite())
}

fn whole(target: &JsValue, key: &str) -> Option<u32> {
    number(target, key).filter(|n| *n >= 0.0).map(|n| n as u32)
}

/// `navigator.language`, or "" where there is no browser.
pub fn language() -> String {
    web_sys::window()
        .and_then(|w| w.navigator().language())
        .unwrap_or_default()
}

/// Everything the schema's `navigator` asks for that this browser exposes.
pub fn collect_navigator() -> Navigator {
    let Some(window) = web_sys::window() else {
        return Navigator::default();
    };
    let nav: JsValue = window.navigator().into();
    let win: JsValue = window.clone().into();
    let screen = prop(&win, "screen").map(|s| Screen {
        width: whole(&s, "width").unwrap_or(0),
        height: whole(&s, "height").unwrap_or(0),
        pixel_ratio: number(&win, "devicePixelRatio"),
        color_depth: whole(&s, "colorDepth"),
    });
    let viewport = match (whole(&win, "innerWidth"), whole(&win, "innerHeight")) {
        (Some(width), Some(height)) => Some(Viewport { width, height }),
        _ => None,
    };
    let document = window.document();
    Navigator {
        user_agent: text(&nav, "userAgent").unwrap_or_default(),
        language: text(&nav, "language"),
        languages: prop(&nav, "languages")
            .and_then(|v| v.dyn_into::<js_sys::Array>().ok())
            .map(|a| a.iter().filter_map(|l| l.as_string()).collect()),
        platform: text(&nav, "platform"),
        vendor: text(&nav, "vendor"),
        cookie_enabled: prop(&nav, "cookieEnabled").and_then(|v| v.as_bool()),
        do_not_track: text(&nav, "doNotTrack"),
        hardware_concurrency: whole(&nav, "hardwareConcurrency"),
        device_memory: number(&nav, "deviceMemory"),
        max_touch_points: whole(&nav, "maxTouchPoints"),
        screen,
        viewport,
        timezone: time_zone(),
        timezone_offset_min: Some(js_sys::Date::new_0().get_timezone_offset() as i32),
        referrer: document.as_ref().map(web_sys::Document::referrer),
        page_url: window.location().href().ok(),
        ua_data: prop(&nav, "userAgentData").map(|d| ua_data(&d)),
    }
}

fn time_zone() -> Option<String> {
    let format = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new());
    text(&format.resolved_options().into(), "timeZone")
}

fn ua_data(data: &JsValue) -> UaData {
    let brands = prop(data, "brands")
        .and_then(|v| v.dyn_into::<js_sys::Array>().ok())
        .map(|a| {
            a.iter()
                .filter_map(|b| {
                    Some(UaBrand {
                        brand: text(&b, "brand")?,
                        version: text(&b, "version")?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    UaData {
        brands,
        mobile: prop(data, "mobile").and_then(|v| v.as_bool()),
        platform: text(data, "platform"),
    }
}

/// Now, by the browser's clock (`Date.now()`, to the millisecond, through
/// `time`'s wasm support).
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A new event for one press: a fresh UUIDv7, the browser's time and
/// everything it reports about itself. The name is sent trimmed.
pub fn new_event(name: &str, color: Color) -> ClientEvent {
    ClientEvent {
        event_id: Uuid::now_v7(),
        name: name.trim().to_owned(),
        color,
        client_ts: now(),
        navigator: collect_navigator(),
    }
}

/// `Math.random()`, for back-off jitter.
pub fn random() -> f64 {
    js_sys::Math::random()
}

/// The page's `localStorage`, where the browser allows it.
pub fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}
