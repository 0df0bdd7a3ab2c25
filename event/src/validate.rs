use std::fmt;

/// The longest name accepted, in characters (Unicode scalar values).
pub const NAME_MAX_CHARS: usize = 64;

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong { chars: usize },
    ControlCharacter,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("must not be empty"),
            NameError::TooLong { chars } => {
                write!(
                    f,
                    "must be at most {NAME_MAX_CHARS} characters, got {chars}"
                )
            }
            NameError::ControlCharacter => f.write_str("must not contain control characters"),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a name as typed and returns it trimmed.
///
/// The page and the producer both call this, so the page can tell a person
/// what is wrong before anything is sent.
pub fn validate_name(raw: &str) -> Result<&str, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let chars = name.chars().count();
    if chars > NAME_MAX_CHARS {
        return Err(NameError::TooLong { chars });
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter);
    }
    Ok(name)
}

/// Bytes a short browser string may hold (`language`, `platform`,
/// `vendor`, `do_not_track`, `timezone`, the client hints' strings).
pub const TEXT_MAX_BYTES: usize = 256;
/// Bytes `user_agent`, `referrer` and `page_url` may hold. The stores'
/// hard limit (a Lucene keyword term, 32 766 bytes) is far above both.
pub const LONG_TEXT_MAX_BYTES: usize = 2048;
/// Entries `languages` and `ua_data.brands` may hold.
pub const LIST_MAX_ITEMS: usize = 32;

/// A browser-reported string: at most `max_bytes`, no control characters.
pub fn check_text(field: &str, value: &str, max_bytes: usize) -> Result<(), FieldError> {
    if value.len() > max_bytes {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_bytes} bytes, got {}", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A browser-reported number within `min..=max` (and finite).
pub fn check_range<T>(field: &str, value: T, min: T, max: T) -> Result<(), FieldError>
where
    T: PartialOrd + fmt::Display + Copy,
{
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be between {min} and {max}, got {value}"),
        ))
    }
}

/// A list of at most [`LIST_MAX_ITEMS`] entries.
pub fn check_len(field: &str, len: usize) -> Result<(), FieldError> {
    if len > LIST_MAX_ITEMS {
        return Err(FieldError::new(
            field,
            format!("must hold at most {LIST_MAX_ITEMS} entries, got {len}"),
        ));
    }
    Ok(())
}

/// A request that parsed but breaks a rule; `field` is a dotted path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_trims_a_name() {
        assert_eq!(validate_name("  Kim Minji \t"), Ok("Kim Minji"));
    }

    #[test]
    fn it_rejects_an_empty_or_blank_name() {
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name(" \u{3000} "), Err(NameError::Empty));
    }

    #[test]
    fn it_counts_characters_not_bytes() {
        let korean = "김".repeat(NAME_MAX_CHARS);
        assert_eq!(validate_name(&korean), Ok(korean.as_str()));
        let too_long = "김".repeat(NAME_MAX_CHARS + 1);
        assert_eq!(
            validate_name(&too_long),
            Err(NameError::TooLong { chars: 65 })
        );
    }

    #[test]
    fn it_rejects_control_characters_inside_a_name() {
        assert_eq!(
            validate_name("Kim\u{0}Minji"),
            Err(NameError::ControlCharacter)
        );
        assert_eq!(
            validate_name("Kim\nMinji"),
            Err(NameError::ControlCharacter)
        );
    }

    #[test]
    fn markup_in_a_name_is_just_text() {
        let name = "<img src=x onerror=alert(1)>";
        assert_eq!(validate_name(name), Ok(name));
    }
}
