use prism_event::{ClientEvent, FieldError};
use serde_json::error::Category;
use serde_json::value::RawValue;

use crate::error::ApiError;

/// Whether a `Content-Type` value declares JSON (`application/json`, any
/// parameters, or an `application/*+json` subtype).
pub fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Turns a request body into a valid, normalised [`ClientEvent`].
///
/// Not JSON at all is [`ApiError::MalformedJson`] (400); JSON that is not a
/// valid event is [`ApiError::InvalidEvent`] (422) naming the field as a
/// dotted path.
pub fn decode_event(body: &[u8]) -> Result<ClientEvent, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut event: ClientEvent = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data => ApiError::InvalidEvent(FieldError::new(
                field_of(&path, &inner.to_string()),
                inner.to_string(),
            )),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::MalformedJson(inner.to_string())
            }
        }
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    event.validate().map_err(ApiError::InvalidEvent)?;
    Ok(event)
}

/// Splits a batch body into its events, each still raw JSON so that each is
/// decoded (and refused) on its own. Not JSON is 400; JSON but not an array
/// of JSON values, or an empty one, is 422.
pub fn decode_batch(body: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    let events: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| match e.classify() {
        Category::Data => ApiError::InvalidEvent(FieldError::new(
            "",
            format!("a batch is a JSON array of events: {e}"),
        )),
        Category::Syntax | Category::Eof | Category::Io => ApiError::MalformedJson(e.to_string()),
    })?;
    if events.is_empty() {
        return Err(ApiError::InvalidEvent(FieldError::new(
            "",
            "a batch holds at least one event",
        )));
    }
    Ok(events)
}

/// The dotted path of the field an error is about. serde reports missing and
/// unknown fields at the enclosing object, naming the field only in the
/// message, so take it from there.
fn field_of(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| {
            let rest = message.strip_prefix(prefix)?;
            rest.split('`').next()
        });
    match (parent, named) {
        // serde_path_to_error already descends into an unknown field.
        (parent, Some(name)) if parent == name || parent.ends_with(&format!(".{name}")) => {
            parent.to_owned()
        }
        ("", Some(name)) => name.to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (parent, None) => parent.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_recognises_json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/vnd.prism+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
        assert!(!is_json_content_type(""));
    }

    #[test]
    fn a_batch_is_a_non_empty_json_array() {
        let events = decode_batch(br#"[{"a": 1}, 7, "x"]"#).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].get(), r#"{"a": 1}"#);
        assert!(matches!(
            decode_batch(b"[{"),
            Err(ApiError::MalformedJson(_))
        ));
        for not_a_batch in [&b"{}"[..], b"[]", b"\"events\""] {
            assert!(matches!(
                decode_batch(not_a_batch),
                Err(ApiError::InvalidEvent(_))
            ));
        }
    }

    #[test]
    fn it_names_nested_missing_and_unknown_fields() {
        assert_eq!(
            field_of("navigator", "missing field `user_agent` at line 1"),
            "navigator.user_agent"
        );
        assert_eq!(
            field_of(".", "unknown field `colour`, expected one of"),
            "colour"
        );
        assert_eq!(field_of("color", "unknown variant `pink`"), "color");
        assert_eq!(
            field_of(
                ".",
                "invalid type: integer `4`, expected struct ClientEvent"
            ),
            ""
        );
    }
}
