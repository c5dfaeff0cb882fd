//! A notification before it meets a device: its category, the text in every language it
//! has (English first, the fallback), a collapse id so a newer one of the same kind
//! replaces the older on the device, and when it goes stale. Rendering picks the text of
//! the device's locale and yields the provider-neutral [`PushMessage`].

use std::collections::BTreeMap;

use fitpulse_actors::domain::UnixMillis;
use serde::{Deserialize, Serialize};

use super::provider::{Priority, PushMessage};
use super::settings::Category;

/// A text in English and in whatever other languages it has, keyed by a BCP 47 tag
/// (`pt`, `pt-BR`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    pub en: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, String>,
}

impl Localized {
    pub fn english(text: impl Into<String>) -> Localized {
        Localized {
            en: text.into(),
            other: BTreeMap::new(),
        }
    }

    /// Adds the text in `tag`'s language.
    pub fn with(mut self, tag: &str, text: impl Into<String>) -> Localized {
        self.other.insert(tag.to_ascii_lowercase(), text.into());
        self
    }

    /// The text for a device in `locale`: the exact tag, else its language (`pt` for
    /// `pt-BR`), else a regional variant of that language, else English.
    pub fn for_locale(&self, locale: Option<&str>) -> &str {
        let Some(locale) = locale.map(|l| l.replace('_', "-").to_ascii_lowercase()) else {
            return &self.en;
        };
        let language = locale.split('-').next().unwrap_or_default();
        if language == "en" {
            return &self.en;
        }
        self.other
            .get(&locale)
            .or_else(|| self.other.get(language))
            .or_else(|| {
                self.other
                    .iter()
                    .find(|(tag, _)| tag.split('-').next() == Some(language))
                    .map(|(_, text)| text)
            })
            .unwrap_or(&self.en)
    }
}

/// What to push to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub category: Category,
    /// What happened (`live.reminder`, `message.feature`, `social`, ...): the `kind` key
    /// of the push's data, and the family of its collapse id.
    pub kind: String,
    /// A newer push with the same id replaces the older one on the device.
    pub collapse_id: String,
    pub title: Localized,
    pub body: Localized,
    /// Keys for the app: ids and a deep link.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// After this nothing is sent: a reminder for a class that began is noise.
    pub stale_at: UnixMillis,
    /// Only to members with no socket connected anywhere (everything except an
    /// operator's test push): an open app shows the event itself.
    #[serde(default = "yes")]
    pub only_offline: bool,
    /// Counts against the daily cap of feature messages.
    #[serde(default)]
    pub capped: bool,
    /// What must still hold when it is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<Requirement>,
}

/// A condition checked just before sending (again after quiet hours held it back): the
/// push is moot once it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// The drop order is still reserved (not paid, not lapsed).
    OrderReserved(uuid::Uuid),
    /// The feature message still shows (not cancelled, not expired).
    MessageShowing(uuid::Uuid),
    /// The class is still scheduled for this start; the reminder's text is written anew
    /// (the minutes left) when it is sent.
    ClassScheduled(fitpulse_actors::domain::ClassId, UnixMillis),
    /// The class is live.
    ClassLive(fitpulse_actors::domain::ClassId),
}

fn yes() -> bool {
    true
}

/// The most bytes of a pushed title and body: APNs and FCM refuse payloads over 4 KB,
/// and an app shows a few lines on the lock screen anyway.
pub const MAX_TITLE_BYTES: usize = 200;
pub const MAX_BODY_BYTES: usize = 1_000;

/// `text` cut to at most `max` bytes at a character boundary, with an ellipsis when cut.
pub fn fit(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let ellipsis = '\u{2026}';
    let kept = cut(text, max.saturating_sub(ellipsis.len_utf8()));
    format!("{}{ellipsis}", kept.trim_end())
}

/// The longest start of `text` of at most `max` bytes that ends on a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Notification {
    /// The push for a device in `locale`.
    pub fn render(&self, locale: Option<&str>) -> PushMessage {
        let mut data = self.data.clone();
        data.insert("kind".into(), self.kind.clone());
        PushMessage {
            title: fit(self.title.for_locale(locale), MAX_TITLE_BYTES),
            body: fit(self.body.for_locale(locale), MAX_BODY_BYTES),
            data,
            collapse_id: Some(self.collapse_id.clone()),
            expires_at: Some(self.stale_at),
            priority: match self.category {
                Category::Social => Priority::Normal,
                _ => Priority::High,
            },
        }
    }

    pub fn is_stale(&self, now: UnixMillis) -> bool {
        now >= self.stale_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting() -> Localized {
        Localized::english("Class starts soon")
            .with("pt", "A aula começa em breve")
            .with("pt-PT", "A aula vai começar")
            .with("es-MX", "La clase empieza pronto")
    }

    #[test]
    fn the_devices_locale_picks_the_text_and_english_is_the_fallback() {
        let text = greeting();
        assert_eq!(text.for_locale(Some("pt-BR")), "A aula começa em breve");
        assert_eq!(text.for_locale(Some("pt-PT")), "A aula vai começar");
        assert_eq!(text.for_locale(Some("pt_pt")), "A aula vai começar");
        assert_eq!(text.for_locale(Some("pt")), "A aula começa em breve");
        // Only a regional variant of the language: better than English.
        assert_eq!(text.for_locale(Some("es")), "La clase empieza pronto");
        assert_eq!(text.for_locale(Some("de-DE")), "Class starts soon");
        assert_eq!(text.for_locale(Some("en-GB")), "Class starts soon");
        assert_eq!(text.for_locale(None), "Class starts soon");
    }

    #[test]
    fn long_texts_are_cut_to_fit_a_push_at_a_character_boundary() {
        assert_eq!(fit("short", 10), "short");
        let long = "ação ".repeat(400);
        let cut = fit(&long, MAX_BODY_BYTES);
        assert!(cut.len() <= MAX_BODY_BYTES, "{}", cut.len());
        assert!(cut.ends_with('\u{2026}'));
        assert!(long.starts_with(cut.trim_end_matches('\u{2026}')));
        let notification = Notification {
            category: Category::Messages,
            kind: "message.feature".into(),
            collapse_id: "m".into(),
            title: Localized::english("t".repeat(500)),
            body: Localized::english(long),
            data: BTreeMap::new(),
            stale_at: 1,
            only_offline: true,
            capped: true,
            requires: None,
        };
        let message = notification.render(None);
        assert!(message.title.len() <= MAX_TITLE_BYTES && message.body.len() <= MAX_BODY_BYTES);
    }

    #[test]
    fn rendering_adds_the_kind_collapse_id_and_expiry() {
        let notification = Notification {
            category: Category::ClassReminders,
            kind: "live.reminder".into(),
            collapse_id: "live.reminder:abc".into(),
            title: greeting(),
            body: Localized::english("HIIT with Ana in 10 minutes"),
            data: BTreeMap::from([("class_id".into(), "abc".into())]),
            stale_at: 1_000,
            only_offline: true,
            capped: false,
            requires: None,
        };
        let message = notification.render(Some("pt-BR"));
        assert_eq!(message.title, "A aula começa em breve");
        assert_eq!(message.body, "HIIT with Ana in 10 minutes");
        assert_eq!(message.data["kind"], "live.reminder");
        assert_eq!(message.data["class_id"], "abc");
        assert_eq!(message.collapse_id.as_deref(), Some("live.reminder:abc"));
        assert_eq!(message.expires_at, Some(1_000));
        assert_eq!(message.priority, Priority::High);
        assert!(notification.is_stale(1_000) && !notification.is_stale(999));
    }
}
