//! References to catalog items, as likes, saves and events name them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kinds of catalog item the apps can like or save.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    Recipe,
    Workout,
    Plan,
    Post,
}

impl ContentKind {
    pub const ALL: [ContentKind; 4] = [
        ContentKind::Recipe,
        ContentKind::Workout,
        ContentKind::Plan,
        ContentKind::Post,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Recipe => "recipe",
            ContentKind::Workout => "workout",
            ContentKind::Plan => "plan",
            ContentKind::Post => "post",
        }
    }

    pub fn parse(s: &str) -> Option<ContentKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One catalog item: its kind and its id (1-64 characters of `a-z A-Z 0-9 - _`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemRef {
    kind: ContentKind,
    id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemRefError {
    #[error("unknown content kind `{0}`")]
    UnknownKind(String),
    #[error("an item id has 1-64 characters of a-z, A-Z, 0-9, - and _")]
    BadId,
}

impl ItemRef {
    pub fn parse(kind: &str, id: &str) -> Result<ItemRef, ItemRefError> {
        let kind =
            ContentKind::parse(kind).ok_or_else(|| ItemRefError::UnknownKind(kind.into()))?;
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if id.is_empty() || id.len() > 64 || !id.chars().all(plain) {
            return Err(ItemRefError::BadId);
        }
        Ok(ItemRef {
            kind,
            id: id.to_owned(),
        })
    }

    pub fn kind(&self) -> ContentKind {
        self.kind
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_ref_takes_a_known_kind_and_a_plain_id() {
        let item = ItemRef::parse("recipe", "overnight-oats_2").expect("valid");
        assert_eq!(item.kind(), ContentKind::Recipe);
        assert_eq!(item.to_string(), "recipe/overnight-oats_2");
    }

    #[test]
    fn an_item_ref_with_an_unknown_kind_or_odd_id_is_rejected() {
        assert!(matches!(
            ItemRef::parse("pizza", "x"),
            Err(ItemRefError::UnknownKind(_))
        ));
        for id in ["", "a/b", "white space", &"x".repeat(65)] {
            assert_eq!(
                ItemRef::parse("recipe", id),
                Err(ItemRefError::BadId),
                "{id:?}"
            );
        }
    }
}
