//! Secrets a user presents: a password (never printed) and an app-generated device id.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A plaintext password as typed: 8 to 128 characters. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("a password has 8 to 128 characters")]
    PasswordLength,
    #[error("a device id has 8 to 128 characters of a-z, A-Z, 0-9, `.`, `_`, `:` and `-`")]
    DeviceId,
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Password, CredentialError> {
        let chars = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(CredentialError::PasswordLength);
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// The id an app generates once per install and keeps in the device's keychain; it names
/// the anonymous account of that install.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceId(String);

impl DeviceId {
    pub fn parse(raw: &str) -> Result<DeviceId, CredentialError> {
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if !(8..=128).contains(&raw.len()) || !raw.chars().all(plain) {
            return Err(CredentialError::DeviceId);
        }
        Ok(DeviceId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeviceId {
    type Error = CredentialError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        DeviceId::parse(&value)
    }
}

impl From<DeviceId> for String {
    fn from(id: DeviceId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_shorter_than_8_or_longer_than_128_characters_is_rejected() {
        assert_eq!(
            Password::parse("1234567"),
            Err(CredentialError::PasswordLength)
        );
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"p".repeat(128)).is_ok());
        assert_eq!(
            Password::parse(&"p".repeat(129)),
            Err(CredentialError::PasswordLength)
        );
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = Password::parse("correct horse").expect("valid");
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn a_device_id_accepts_uuids_and_rejects_odd_characters() {
        assert!(DeviceId::parse("6f1c2b7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f").is_ok());
        for raw in [
            "short",
            "has space in it",
            "slash/inside/id",
            &"d".repeat(129),
        ] {
            assert_eq!(
                DeviceId::parse(raw),
                Err(CredentialError::DeviceId),
                "{raw}"
            );
        }
    }
}
