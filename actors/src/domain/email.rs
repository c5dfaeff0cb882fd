//! An email address as the store keys it: trimmed and lower-cased, so uniqueness is
//! case-insensitive everywhere without anyone re-normalizing.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::text::is_default_ignorable;

/// A syntactically plausible, normalized email address (at most 254 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an email address has at most 254 characters")]
    TooLong,
    #[error("an email address looks like name@example.com")]
    Malformed,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let normalized = raw.trim().to_lowercase();
        if normalized.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = normalized.split_once('@').ok_or(EmailError::Malformed)?;
        // Invisible characters would make a look-alike of someone else's address.
        let plain =
            |c: char| !c.is_whitespace() && !c.is_control() && !is_default_ignorable(c) && c != '@';
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain.chars().all(plain);
        if local.is_empty() || !local.chars().all(plain) || !domain_ok {
            return Err(EmailError::Malformed);
        }
        Ok(Email(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn an_email_without_an_at_sign_or_a_dotted_domain_is_rejected() {
        for raw in [
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "ada@.com",
            "a b@x.io",
            "a@b@c.io",
            "\u{200B}ada@example.com",
            "ada@exa\u{2060}mple.com",
        ] {
            assert_eq!(Email::parse(raw), Err(EmailError::Malformed), "{raw}");
        }
    }

    #[test]
    fn unicode_padding_is_trimmed_so_padded_spellings_are_one_address() {
        for raw in [
            " ada@example.com",
            "ada@example.com\u{a0}",
            "\u{2003}ADA@example.com",
        ] {
            assert_eq!(
                Email::parse(raw).expect("valid").as_str(),
                "ada@example.com"
            );
        }
    }

    #[test]
    fn an_email_longer_than_254_characters_is_rejected() {
        let raw = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&raw), Err(EmailError::TooLong));
    }
}
