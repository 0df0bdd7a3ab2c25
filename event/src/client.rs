use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Color;
use crate::validate::{FieldError, validate_name};

/// What the page POSTs: one press of a colour button.
///
/// Unknown top-level fields are rejected (a typo must not silently drop
/// data); unknown `navigator` fields are ignored so newer pages keep working
/// against an older producer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEvent {
    /// Minted by the page (UUIDv7); the idempotency key end to end.
    pub event_id: Uuid,
    pub name: String,
    pub color: Color,
    /// When the button was pressed, by the browser's clock.
    #[serde(with = "time::serde::rfc3339")]
    pub client_ts: OffsetDateTime,
    pub navigator: Navigator,
}

impl ClientEvent {
    /// Checks what the types cannot express and normalises the name
    /// (trimmed). The error names the offending field.
    pub fn validate(&mut self) -> Result<(), FieldError> {
        if self.event_id.is_nil() {
            return Err(FieldError::new("event_id", "must not be the nil UUID"));
        }
        match validate_name(&self.name) {
            Ok(trimmed) if trimmed.len() != self.name.len() => self.name = trimmed.to_owned(),
            Ok(_) => {}
            Err(e) => return Err(FieldError::new("name", e.to_string())),
        }
        if self.navigator.user_agent.trim().is_empty() {
            return Err(FieldError::new("navigator.user_agent", "must not be empty"));
        }
        Ok(())
    }
}

/// What the browser reports about itself. Every field but `user_agent` is
/// optional: browsers differ in what they expose.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Navigator {
    pub user_agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_enabled: Option<bool>,
    /// `navigator.doNotTrack` as the browser reports it ("1", "0", ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_not_track: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_concurrency: Option<u32>,
    /// GiB, rounded by the browser (0.25 .. 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_memory: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_touch_points: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<Screen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<Viewport>,
    /// IANA time zone name, e.g. `Asia/Seoul`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `Date.getTimezoneOffset()`: minutes to add to local time to get UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone_offset_min: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
    /// User-Agent Client Hints (`navigator.userAgentData`), where exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ua_data: Option<UaData>,
}

/// `window.screen`, in CSS pixels.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Screen {
    pub width: u32,
    pub height: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_depth: Option<u32>,
}

/// The layout viewport (`innerWidth` x `innerHeight`), in CSS pixels.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
}

/// The low-entropy User-Agent Client Hints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UaData {
    #[serde(default)]
    pub brands: Vec<UaBrand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UaBrand {
    pub brand: String,
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "event_id": "01937a4e-8f2b-7c3d-9a1e-2b4c6d8e0f12",
      "name": "  Kim Minji ",
      "color": "blue",
      "client_ts": "2026-11-22T04:00:00.123Z",
      "navigator": {
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36",
        "language": "ko-KR", "languages": ["ko-KR", "en-US"],
        "platform": "Linux x86_64", "vendor": "Google Inc.",
        "cookie_enabled": true, "do_not_track": null,
        "hardware_concurrency": 8, "device_memory": 8, "max_touch_points": 0,
        "screen": {"width": 1920, "height": 1080, "pixel_ratio": 1.0, "color_depth": 24},
        "viewport": {"width": 1280, "height": 720},
        "timezone": "Asia/Seoul", "timezone_offset_min": -540,
        "referrer": "", "page_url": "http://127.0.0.1:8080/",
        "ua_data": {"brands": [{"brand": "Chromium", "version": "131"}], "mobile": false, "platform": "Linux"},
        "a_field_from_a_newer_page": 42
      }
    }"#;

    #[test]
    fn it_reads_the_contract_example_and_trims_the_name() {
        let mut event: ClientEvent = serde_json::from_str(EXAMPLE).unwrap();
        event.validate().unwrap();
        assert_eq!(event.name, "Kim Minji");
        assert_eq!(event.color, Color::Blue);
        assert_eq!(event.navigator.timezone_offset_min, Some(-540));
        assert_eq!(event.navigator.screen.as_ref().unwrap().width, 1920);
        assert_eq!(
            event.navigator.ua_data.as_ref().unwrap().brands[0].brand,
            "Chromium"
        );
    }

    #[test]
    fn it_rejects_an_unknown_top_level_field() {
        let json = EXAMPLE.replacen("\"color\"", "\"colour\": 1, \"color\"", 1);
        let err = serde_json::from_str::<ClientEvent>(&json).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn it_requires_the_user_agent() {
        let json = EXAMPLE.replacen("\"user_agent\"", "\"ua\"", 1);
        let err = serde_json::from_str::<ClientEvent>(&json).unwrap_err();
        assert!(
            err.to_string().contains("missing field `user_agent`"),
            "{err}"
        );
    }

    #[test]
    fn it_rejects_a_client_time_that_is_not_rfc3339() {
        let json = EXAMPLE.replacen("2026-11-22T04:00:00.123Z", "22/11/2026 04:00", 1);
        assert!(serde_json::from_str::<ClientEvent>(&json).is_err());
    }

    #[test]
    fn it_rejects_a_nil_event_id_and_an_empty_user_agent() {
        let mut event: ClientEvent = serde_json::from_str(EXAMPLE).unwrap();
        event.event_id = Uuid::nil();
        assert_eq!(event.validate().unwrap_err().field, "event_id");

        let mut event: ClientEvent = serde_json::from_str(EXAMPLE).unwrap();
        event.navigator.user_agent = "  ".into();
        assert_eq!(event.validate().unwrap_err().field, "navigator.user_agent");
    }

    #[test]
    fn a_minimal_navigator_serialises_without_absent_fields() {
        let nav = Navigator {
            user_agent: "x".into(),
            ..Navigator::default()
        };
        assert_eq!(
            serde_json::to_string(&nav).unwrap(),
            r#"{"user_agent":"x"}"#
        );
    }
}
