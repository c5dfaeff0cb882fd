//! Identifiers of core aggregates.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user's id: a random UUID, rendered in its hyphenated form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

impl UserId {
    pub fn random() -> Self {
        UserId(Uuid::new_v4())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        UserId(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for UserId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(UserId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_id_round_trips_through_its_text_form() {
        let id = UserId::random();
        assert_eq!(id.to_string().parse::<UserId>().expect("parses"), id);
    }

    #[test]
    fn a_user_id_that_is_not_a_uuid_is_rejected() {
        assert!("42".parse::<UserId>().is_err());
    }
}
