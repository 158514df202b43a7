//! Text rules shared by every input (the API's fields, the CLI's, the feeds' output): what is
//! blank, which characters no text may hold, and the field checks built on them. The spec's
//! patterns for texts are here too, so spec and server say the same.

use crate::error::{ApiError, FieldError};

/// Required texts carry [`REQUIRED_TEXT_PATTERN`]: at least one character that is not blank.
/// JSON Schema patterns are ECMA-262 regexes, whose `\s` lacks U+0085 (NEL), which Rust counts
/// as white space (NEL is a control character, refused anyway), and has U+FEFF, which Rust does
/// not count (so [`is_blank`] adds it, and the pattern names it). Spec and server then agree on
/// exactly which texts are blank: white space by either definition.
pub fn is_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// Whether a text may break lines; if so, with LF only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Characters no text from a request may hold: the C0 and C1 controls (Unicode category `Cc`;
/// in a multi-line text all but LF, so CR and CRLF too) and the bidirectional embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069), which make a text display otherwise
/// than it reads. They would reach the calendar feeds, e-mails and logs; NUL cannot even be
/// stored in PostgreSQL. The spec's patterns on text fields exclude exactly these:
/// [`REQUIRED_TEXT_PATTERN`] on required single-line texts, [`MULTI_LINE_PATTERN`] on free
/// texts; the other single-line texts (email, phone, slug, URL) have narrower ASCII patterns.
pub fn is_forbidden(c: char, lines: Lines) -> bool {
    if c == '\n' {
        return lines == Lines::One;
    }
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The OpenAPI pattern of a text that may hold LF (kept in step with [`is_forbidden`]; the
/// `schema` attributes repeat it literally, and a test checks that they do).
pub const MULTI_LINE_PATTERN: &str =
    r"^[^\u0000-\u0009\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$";
/// A required single-line text: no forbidden character and at least one that is not blank
/// ([`is_blank`]; ECMA-262's `\s` plus U+FEFF, named since not every engine's `\s` has it).
pub const REQUIRED_TEXT_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069\uFEFF][^\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]*$";

/// The one check every text from a request goes through: refuses (422 naming `field`) a text
/// holding a character [`is_forbidden`] names. Returns whether the text is clean.
pub fn clean_text(errors: &mut Vec<FieldError>, field: &str, value: &str, lines: Lines) -> bool {
    match value.chars().find(|&c| is_forbidden(c, lines)) {
        None => true,
        Some('\n') => {
            errors.push(FieldError::new(field, "must be a single line"));
            false
        }
        Some(c) => {
            errors.push(FieldError::new(
                field,
                format!(
                    "must not contain control or bidirectional-control characters (found U+{:04X})",
                    u32::from(c)
                ),
            ));
            false
        }
    }
}

/// A required human-readable single-line text: no control characters, at most `max`
/// characters as sent (what the spec's `maxLength` counts), not blank, and stored trimmed.
pub fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    let trimmed = value.trim_matches(is_blank);
    if !clean_text(errors, field, value, Lines::One) {
        // One error per field.
    } else if trimmed.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    trimmed.to_owned()
}

/// An optional free text that may span lines (notes, reasons, descriptions, bios): LF is its
/// only control character, at most `max` characters as sent; stored trimmed, possibly empty.
pub fn free_text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    if clean_text(errors, field, value, Lines::Many) && value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    value.trim().to_owned()
}

pub fn check(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation_many(errors))
    }
}
