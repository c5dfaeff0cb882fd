//! Profile fields a user edits: display name, locale and measurement units.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::{self, TextError};

/// 1-64 characters that pass the text policy ([`super::text`]): trimmed, NFC, no control
/// or bidi characters, something visible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct DisplayName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("a display name has 1 to 64 characters")]
    DisplayNameLength,
    #[error("a display name cannot contain control characters")]
    DisplayNameControl,
    #[error("a display name cannot contain bidirectional control characters")]
    DisplayNameBidi,
    #[error("a display name needs a visible character")]
    DisplayNameInvisible,
    #[error("a locale looks like `en` or `pt-BR`")]
    Locale,
}

impl DisplayName {
    pub const MAX_CHARS: usize = 64;
    /// What a stored name that no longer passes the policy is shown as.
    const FALLBACK: &'static str = "Member";

    pub fn parse(raw: &str) -> Result<DisplayName, ProfileError> {
        text::line(raw, Self::MAX_CHARS)
            .map(DisplayName)
            .map_err(|err| match err {
                TextError::Length { .. } => ProfileError::DisplayNameLength,
                TextError::Control => ProfileError::DisplayNameControl,
                TextError::Bidi => ProfileError::DisplayNameBidi,
                TextError::Invisible => ProfileError::DisplayNameInvisible,
            })
    }

    /// A name read back from the store. Names stored before the text policy tightened
    /// are cleaned rather than making the account unreadable: offending characters go,
    /// and a name with nothing visible left shows as "Member".
    pub fn stored(raw: &str) -> DisplayName {
        if let Ok(name) = DisplayName::parse(raw) {
            return name;
        }
        let kept: String = raw
            .chars()
            .filter(|c| !c.is_control() && !text::is_bidi_control(*c))
            .take(Self::MAX_CHARS)
            .collect();
        DisplayName::parse(&kept).unwrap_or_else(|_| DisplayName(Self::FALLBACK.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for DisplayName {
    /// Only the stores deserialize names; input from requests goes through `parse`.
    fn from(value: String) -> Self {
        DisplayName::stored(&value)
    }
}

impl From<DisplayName> for String {
    fn from(name: DisplayName) -> String {
        name.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A language tag of the form `ll` or `ll-RR` (BCP 47 language and region), normalized to
/// lower-case language and upper-case region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Locale(String);

impl Locale {
    pub fn parse(raw: &str) -> Result<Locale, ProfileError> {
        let raw = raw.trim().replace('_', "-");
        let (language, region) = match raw.split_once('-') {
            Some((l, r)) => (l, Some(r)),
            None => (raw.as_str(), None),
        };
        let alpha = |s: &str, range: std::ops::RangeInclusive<usize>| {
            range.contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphabetic())
        };
        let region_ok = region.is_none_or(|r| {
            alpha(r, 2..=2) || (r.len() == 3 && r.chars().all(|c| c.is_ascii_digit()))
        });
        if !alpha(language, 2..=3) || !region_ok {
            return Err(ProfileError::Locale);
        }
        Ok(Locale(match region {
            Some(r) => format!("{}-{}", language.to_lowercase(), r.to_uppercase()),
            None => language.to_lowercase(),
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Locale {
    fn default() -> Self {
        Locale("en".into())
    }
}

impl TryFrom<String> for Locale {
    type Error = ProfileError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Locale::parse(&value)
    }
}

impl From<Locale> for String {
    fn from(locale: Locale) -> String {
        locale.0
    }
}

/// How the apps show weights, distances and quantities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    #[default]
    Metric,
    Imperial,
}

impl Units {
    pub fn as_str(self) -> &'static str {
        match self {
            Units::Metric => "metric",
            Units::Imperial => "imperial",
        }
    }

    pub fn parse(s: &str) -> Option<Units> {
        match s {
            "metric" => Some(Units::Metric),
            "imperial" => Some(Units::Imperial),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_name_is_trimmed() {
        assert_eq!(
            DisplayName::parse("  Ada  ").expect("valid").as_str(),
            "Ada"
        );
    }

    #[test]
    fn a_display_name_longer_than_64_characters_is_rejected() {
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert_eq!(
            DisplayName::parse(&"é".repeat(65)),
            Err(ProfileError::DisplayNameLength)
        );
    }

    #[test]
    fn an_empty_or_control_character_display_name_is_rejected() {
        assert_eq!(
            DisplayName::parse("   "),
            Err(ProfileError::DisplayNameLength)
        );
        assert_eq!(
            DisplayName::parse("Ada\u{0}"),
            Err(ProfileError::DisplayNameControl)
        );
    }

    #[test]
    fn a_display_name_that_lies_about_itself_is_rejected() {
        assert_eq!(
            DisplayName::parse("\u{200B}\u{200C}\u{200D}"),
            Err(ProfileError::DisplayNameInvisible)
        );
        assert_eq!(
            DisplayName::parse("abc\u{202E}gnp.exe"),
            Err(ProfileError::DisplayNameBidi)
        );
    }

    #[test]
    fn a_stored_name_from_before_the_policy_is_cleaned_not_refused() {
        assert_eq!(
            DisplayName::stored("abc\u{202E}gnp.exe").as_str(),
            "abcgnp.exe"
        );
        assert_eq!(DisplayName::stored("\u{200B}\u{200B}").as_str(), "Member");
        assert_eq!(DisplayName::stored("Ada").as_str(), "Ada");
    }

    #[test]
    fn a_locale_is_normalized_to_language_and_region_case() {
        assert_eq!(Locale::parse("PT_br").expect("valid").as_str(), "pt-BR");
        assert_eq!(Locale::parse("de").expect("valid").as_str(), "de");
        assert_eq!(Locale::parse("es-419").expect("valid").as_str(), "es-419");
    }

    #[test]
    fn a_locale_that_is_not_a_language_tag_is_rejected() {
        for raw in ["", "e", "english", "en-", "en-USA", "12", "en-U1"] {
            assert_eq!(Locale::parse(raw), Err(ProfileError::Locale), "{raw}");
        }
    }

    #[test]
    fn units_parse_only_their_own_names() {
        assert_eq!(Units::parse("imperial"), Some(Units::Imperial));
        assert_eq!(Units::parse("Imperial"), None);
    }
}
