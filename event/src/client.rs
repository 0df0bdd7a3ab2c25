use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Color;
use crate::validate::{
    FieldError, LONG_TEXT_MAX_BYTES, TEXT_MAX_BYTES, check_len, check_range, check_text,
};

/// The years a `client_ts` may fall in.
pub const CLIENT_YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

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
        #[cfg(feature = "unicode")]
        match crate::validate::normalize_name(&self.name) {
            Ok(name) => self.name = name,
            Err(e) => return Err(FieldError::new("name", e.to_string())),
        }
        #[cfg(not(feature = "unicode"))]
        match crate::validate::validate_name(&self.name) {
            Ok(trimmed) if trimmed.len() != self.name.len() => self.name = trimmed.to_owned(),
            Ok(_) => {}
            Err(e) => return Err(FieldError::new("name", e.to_string())),
        }
        check_rules(&self.event_id, &self.name, self.client_ts, &self.navigator)
    }
}

/// The rules an event keeps, at the edge and again in the sinks (a record
/// written to the topic by anything else may break them): a real id, a
/// valid name as trimmed, a plausible client time, and a navigator the
/// stores can hold.
pub(crate) fn check_rules(
    event_id: &Uuid,
    name: &str,
    client_ts: OffsetDateTime,
    navigator: &Navigator,
) -> Result<(), FieldError> {
    if event_id.is_nil() {
        return Err(FieldError::new("event_id", "must not be the nil UUID"));
    }
    #[cfg(feature = "unicode")]
    if let Err(e) = crate::validate::check_normalized_name(name) {
        return Err(FieldError::new("name", e.to_string()));
    }
    #[cfg(not(feature = "unicode"))]
    match crate::validate::validate_name(name) {
        Ok(trimmed) if trimmed.len() == name.len() => {}
        Ok(_) => return Err(FieldError::new("name", "must be trimmed")),
        Err(e) => return Err(FieldError::new("name", e.to_string())),
    }
    let year = client_ts.year();
    if !CLIENT_YEARS.contains(&year) {
        return Err(FieldError::new(
            "client_ts",
            format!(
                "must be in the years {} to {}, got {year}",
                CLIENT_YEARS.start(),
                CLIENT_YEARS.end()
            ),
        ));
    }
    if navigator.user_agent.trim().is_empty() {
        return Err(FieldError::new("navigator.user_agent", "must not be empty"));
    }
    navigator.validate()
}

impl Navigator {
    /// Holds every field to what the stores accept: strings within a byte
    /// cap and free of control characters, lists and numbers within range.
    pub fn validate(&self) -> Result<(), FieldError> {
        let short = |field: &str, v: &Option<String>| match v {
            Some(v) => check_text(field, v, TEXT_MAX_BYTES),
            None => Ok(()),
        };
        let long = |field: &str, v: &Option<String>| match v {
            Some(v) => check_text(field, v, LONG_TEXT_MAX_BYTES),
            None => Ok(()),
        };
        check_text(
            "navigator.user_agent",
            &self.user_agent,
            LONG_TEXT_MAX_BYTES,
        )?;
        short("navigator.language", &self.language)?;
        if let Some(languages) = &self.languages {
            check_len("navigator.languages", languages.len())?;
            for language in languages {
                check_text("navigator.languages", language, TEXT_MAX_BYTES)?;
            }
        }
        short("navigator.platform", &self.platform)?;
        short("navigator.vendor", &self.vendor)?;
        short("navigator.do_not_track", &self.do_not_track)?;
        short("navigator.timezone", &self.timezone)?;
        long("navigator.referrer", &self.referrer)?;
        long("navigator.page_url", &self.page_url)?;
        if let Some(n) = self.hardware_concurrency {
            check_range("navigator.hardware_concurrency", n, 0, 4096)?;
        }
        if let Some(gib) = self.device_memory {
            check_range("navigator.device_memory", gib, 0.0, 1024.0)?;
        }
        if let Some(n) = self.max_touch_points {
            check_range("navigator.max_touch_points", n, 0, 256)?;
        }
        if let Some(minutes) = self.timezone_offset_min {
            check_range("navigator.timezone_offset_min", minutes, -1440, 1440)?;
        }
        if let Some(screen) = &self.screen {
            check_range("navigator.screen.width", screen.width, 0, PIXELS_MAX)?;
            check_range("navigator.screen.height", screen.height, 0, PIXELS_MAX)?;
            if let Some(ratio) = screen.pixel_ratio {
                check_range("navigator.screen.pixel_ratio", ratio, 0.0, 100.0)?;
            }
            if let Some(depth) = screen.color_depth {
                check_range("navigator.screen.color_depth", depth, 0, 64)?;
            }
        }
        if let Some(viewport) = &self.viewport {
            check_range("navigator.viewport.width", viewport.width, 0, PIXELS_MAX)?;
            check_range("navigator.viewport.height", viewport.height, 0, PIXELS_MAX)?;
        }
        if let Some(hints) = &self.ua_data {
            check_len("navigator.ua_data.brands", hints.brands.len())?;
            for brand in &hints.brands {
                check_text(
                    "navigator.ua_data.brands.brand",
                    &brand.brand,
                    TEXT_MAX_BYTES,
                )?;
                check_text(
                    "navigator.ua_data.brands.version",
                    &brand.version,
                    TEXT_MAX_BYTES,
                )?;
            }
            short("navigator.ua_data.platform", &hints.platform)?;
        }
        Ok(())
    }
}

/// Screen and viewport sides at most, in CSS pixels.
pub const PIXELS_MAX: u32 = 100_000;

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
