//! The one text policy for everything a user writes that others see: display names,
//! posts, comments, check-in notes, group names, titles and cue text.
//!
//! A text is trimmed and normalized to NFC (so two spellings of "é" are one name), and
//! refused when it could lie about itself on another member's screen: control characters
//! (NUL, ANSI escape sequences; a long text may keep its line breaks), bidirectional
//! controls (`abc\u{202E}gnp.exe` shows as `abcexe.png`), or nothing visible at all (only
//! zero-width characters). Lengths count characters after normalization.

use unicode_normalization::UnicodeNormalization;

/// Why a text was refused; the edge names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must be 1 to {max} characters")]
    Length { max: usize },
    #[error("must not contain control characters")]
    Control,
    #[error("must not contain bidirectional control characters")]
    Bidi,
    #[error("must contain a visible character")]
    Invisible,
}

/// Whether a text is one line or may span several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Names, titles, cue text: no line break either.
    One,
    /// Posts, comments, notes, message bodies: `\n` allowed (`\r\n` becomes `\n`).
    Many,
}

/// A one-line text of 1 to `max` characters that passes the policy.
pub fn line(raw: &str, max: usize) -> Result<String, TextError> {
    clean(raw, max, Lines::One)
}

/// A text of 1 to `max` characters that may span several lines.
pub fn long(raw: &str, max: usize) -> Result<String, TextError> {
    clean(raw, max, Lines::Many)
}

/// Applies the policy: trimmed, NFC, no control or bidi characters, something visible.
pub fn clean(raw: &str, max: usize, lines: Lines) -> Result<String, TextError> {
    let unified = match lines {
        Lines::One => raw.trim().to_owned(),
        Lines::Many => raw.trim().replace("\r\n", "\n"),
    };
    let text: String = unified.nfc().collect();
    let count = text.chars().count();
    if count == 0 || count > max {
        return Err(TextError::Length { max });
    }
    for c in text.chars() {
        if is_bidi_control(c) {
            return Err(TextError::Bidi);
        }
        if c.is_control() && !(lines == Lines::Many && c == '\n') {
            return Err(TextError::Control);
        }
    }
    if !text.chars().any(is_visible) {
        return Err(TextError::Invisible);
    }
    Ok(text)
}

/// Characters that reorder the text around them (Unicode bidi embeddings, overrides,
/// isolates and marks).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A character that draws something: not whitespace, not a control character and not a
/// default-ignorable code point (zero-width spaces and joiners, variation selectors,
/// invisible operators, the Hangul fillers, tags).
pub fn is_visible(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || is_default_ignorable(c))
}

/// Unicode's Default_Ignorable_Code_Point, as listed in DerivedCoreProperties.txt.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_trimmed_and_normalized_to_nfc() {
        // "e" + combining acute accent becomes the one precomposed character.
        assert_eq!(line("  Cafe\u{0301} ", 10).expect("valid"), "Caf\u{e9}");
        assert_eq!(
            line("Cafe\u{0301}", 4).expect("counted after NFC"),
            "Caf\u{e9}"
        );
    }

    #[test]
    fn a_name_of_only_zero_width_characters_is_rejected() {
        for raw in [
            "\u{200B}\u{200B}",
            "\u{200D}",
            "\u{FEFF}\u{2060}",
            "\u{3164}",
            "\u{00AD}",
        ] {
            assert_eq!(line(raw, 64), Err(TextError::Invisible), "{raw:?}");
        }
        assert_eq!(
            line("a\u{200B}", 64).expect("something visible"),
            "a\u{200B}"
        );
    }

    #[test]
    fn bidi_overrides_and_isolates_are_rejected() {
        for raw in [
            "abc\u{202E}gnp.exe",
            "x\u{2066}y",
            "\u{200F}name",
            "a\u{061C}b",
        ] {
            assert_eq!(long(raw, 100), Err(TextError::Bidi), "{raw:?}");
        }
    }

    #[test]
    fn nul_and_ansi_escape_sequences_are_rejected_everywhere() {
        for raw in [
            "a\u{0}b",
            "\u{1b}[31mred\u{1b}[0m",
            "bell\u{7}",
            "del\u{7f}",
            "c1\u{85}x",
        ] {
            assert_eq!(line(raw, 100), Err(TextError::Control), "{raw:?}");
            assert_eq!(long(raw, 100), Err(TextError::Control), "{raw:?}");
        }
    }

    #[test]
    fn a_long_text_keeps_its_line_breaks_and_a_line_does_not() {
        assert_eq!(
            long("one\r\ntwo\nthree", 100).expect("valid"),
            "one\ntwo\nthree"
        );
        assert_eq!(line("one\ntwo", 100), Err(TextError::Control));
        assert_eq!(long("tab\there", 100), Err(TextError::Control));
    }

    #[test]
    fn lengths_are_bounded_in_characters() {
        assert!(line(&"é".repeat(64), 64).is_ok());
        assert_eq!(
            line(&"é".repeat(65), 64),
            Err(TextError::Length { max: 64 })
        );
        assert_eq!(line("   ", 64), Err(TextError::Length { max: 64 }));
    }

    #[test]
    fn ordinary_text_in_any_script_passes() {
        for raw in [
            "Ada",
            "Zoë",
            "José María",
            "山田太郎",
            "محمد",
            "Олег 💪",
            "👍",
        ] {
            assert!(line(raw, 64).is_ok(), "{raw}");
        }
    }
}
