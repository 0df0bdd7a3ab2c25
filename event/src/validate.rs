use std::fmt;

/// The longest name accepted, in characters (Unicode scalar values).
pub const NAME_MAX_CHARS: usize = 64;

/// Combining marks one character may carry, at most.
pub const COMBINING_MARKS_MAX: usize = 3;

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong {
        chars: usize,
    },
    ControlCharacter,
    /// An invisible, formatting, separator, private-use, unassigned or
    /// non-character code point.
    Refused {
        code_point: u32,
    },
    /// More than [`COMBINING_MARKS_MAX`] marks on one character, or a mark
    /// on none.
    CombiningMarks,
    /// Not in Unicode normalisation form C (the sinks' check; the producer
    /// normalises).
    NotNormalized,
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
            NameError::Refused { code_point } => write!(
                f,
                "must not contain U+{code_point:04X} (invisible, formatting, separator or \
                 reserved characters)"
            ),
            NameError::CombiningMarks => write!(
                f,
                "must not stack more than {COMBINING_MARKS_MAX} combining marks on a character"
            ),
            NameError::NotNormalized => f.write_str("must be in Unicode normalisation form C"),
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

/// The name as stored: checked as [`validate_name`] does, trimmed, in
/// normalisation form C, and free of code points that hide or disguise
/// text (bidirectional overrides, zero-width and other invisible
/// characters, private-use, unassigned and non-characters) and of stacks
/// of combining marks. A zero-width joiner or non-joiner is kept between
/// two letters, where scripts such as Persian need it.
#[cfg(feature = "unicode")]
pub fn normalize_name(raw: &str) -> Result<String, NameError> {
    use unicode_normalization::UnicodeNormalization;
    let trimmed = validate_name(raw)?;
    let name: String = trimmed.nfc().collect();
    check_code_points(&name)?;
    // Normalising can merge characters, never add them: the length
    // rules still hold.
    Ok(name)
}

/// Whether `name` is already what [`normalize_name`] makes of it.
#[cfg(feature = "unicode")]
pub fn check_normalized_name(name: &str) -> Result<(), NameError> {
    // The sinks call this for every record: check in place, without
    // building the normalised copy.
    let trimmed = validate_name(name)?;
    if trimmed.len() != name.len() || !unicode_normalization::is_nfc(name) {
        return Err(NameError::NotNormalized);
    }
    check_code_points(name)
}

#[cfg(feature = "unicode")]
fn check_code_points(name: &str) -> Result<(), NameError> {
    use unicode_normalization::char::{is_combining_mark, is_public_assigned};
    let chars: Vec<char> = name.chars().collect();
    let mut marks = 0;
    for (i, &c) in chars.iter().enumerate() {
        let joiner = matches!(c, '\u{200C}' | '\u{200D}');
        let between_letters = i > 0
            && chars[i - 1].is_alphabetic()
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        if (joiner && !between_letters) || (!joiner && hides_text(c)) || !is_public_assigned(c) {
            return Err(NameError::Refused {
                code_point: u32::from(c),
            });
        }
        if is_combining_mark(c) {
            marks += 1;
            if i == 0 || marks > COMBINING_MARKS_MAX {
                return Err(NameError::CombiningMarks);
            }
        } else {
            marks = 0;
        }
    }
    Ok(())
}

/// Format and default-ignorable code points, separators other than the
/// ordinary and the ideographic space, private use and non-characters.
#[cfg(feature = "unicode")]
fn hides_text(c: char) -> bool {
    let cp = u32::from(c);
    let non_character = (0xFDD0..=0xFDEF).contains(&cp) || (cp & 0xFFFE) == 0xFFFE;
    let private_use = (0xE000..=0xF8FF).contains(&cp) || cp >= 0xF0000;
    let separator = matches!(
        cp,
        0x00A0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F
    );
    let format_or_ignorable = matches!(
        cp,
        0x00AD
            | 0x034F
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    );
    non_character || private_use || separator || format_or_ignorable
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

    #[cfg(feature = "unicode")]
    #[test]
    fn names_are_nfc_and_free_of_what_hides_or_disguises_text() {
        // Decomposed Hangul and Latin come out composed.
        assert_eq!(
            normalize_name("\u{1100}\u{1161}\u{11A8}"),
            Ok("각".to_owned())
        );
        assert_eq!(normalize_name(" Jose\u{301} "), Ok("José".to_owned()));
        for (name, code_point) in [
            ("evil\u{202E}gnp.exe", 0x202E),
            ("\u{200B}\u{200B}", 0x200B),
            ("\u{3164}", 0x3164),
            ("Kim\u{E000}", 0xE000),
            ("Kim\u{FFFF}", 0xFFFF),
            ("Kim\u{2028}Lee", 0x2028),
            ("Kim\u{00A0}Lee", 0x00A0),
            ("Kim\u{FE0F}", 0xFE0F),
            ("Kim\u{200D}", 0x200D),
            ("Kim\u{0378}", 0x0378),
        ] {
            assert_eq!(
                normalize_name(name),
                Err(NameError::Refused { code_point }),
                "{name:?}"
            );
        }
        assert_eq!(
            normalize_name("Z\u{301}\u{302}\u{303}\u{304}\u{305}algo"),
            Err(NameError::CombiningMarks)
        );
        assert_eq!(normalize_name("\u{301}Kim"), Err(NameError::CombiningMarks));
        // What real names need stays: a Persian ZWNJ between letters, the
        // ideographic space, a few marks.
        for name in [
            "می\u{200C}خواهم",
            "山田\u{3000}太郎",
            "Nguyễn Thị",
            "Zoë O'Neil-Smith",
        ] {
            assert!(normalize_name(name).is_ok(), "{name:?}");
        }
        assert_eq!(
            check_normalized_name("Jose\u{301}"),
            Err(NameError::NotNormalized)
        );
        assert_eq!(check_normalized_name("José"), Ok(()));
    }

    #[test]
    fn markup_in_a_name_is_just_text() {
        let name = "<img src=x onerror=alert(1)>";
        assert_eq!(validate_name(name), Ok(name));
    }
}
