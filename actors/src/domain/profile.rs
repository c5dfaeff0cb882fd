//! Profile fields a user edits: display name, locale and measurement units.

use std::fmt;

use serde::{Deserialize, Serialize};

/// 1-64 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("a display name has 1 to 64 characters")]
    DisplayNameLength,
    #[error("a display name cannot contain control characters")]
    DisplayNameControl,
    #[error("a locale looks like `en` or `pt-BR`")]
    Locale,
}

impl DisplayName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<DisplayName, ProfileError> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(ProfileError::DisplayNameLength);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ProfileError::DisplayNameControl);
        }
        Ok(DisplayName(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DisplayName {
    type Error = ProfileError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        DisplayName::parse(&value)
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
