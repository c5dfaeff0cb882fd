//! A member's notification settings: which categories may push (`class_reminders`,
//! `messages`, `social`, `commerce`; all on by default except `social`) and quiet hours
//! in their time zone (`{"start": "22:00", "end": "07:00"}`), inside which only
//! `commerce` pushes; the rest wait for the end of the quiet hours.

use chrono::NaiveTime;
use fitpulse_actors::domain::{TimeZone, UnixMillis, local_time, next_wall_time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a push is about; each can be turned off on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    ClassReminders,
    Messages,
    Social,
    Commerce,
}

impl Category {
    /// Whether quiet hours hold it back: everything but what is about money.
    pub fn waits_for_quiet_hours(self) -> bool {
        self != Category::Commerce
    }
}

/// Which categories push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Categories {
    pub class_reminders: bool,
    pub messages: bool,
    pub social: bool,
    pub commerce: bool,
}

impl Default for Categories {
    fn default() -> Self {
        Categories {
            class_reminders: true,
            messages: true,
            social: false,
            commerce: true,
        }
    }
}

impl Categories {
    pub fn allows(&self, category: Category) -> bool {
        match category {
            Category::ClassReminders => self.class_reminders,
            Category::Messages => self.messages,
            Category::Social => self.social,
            Category::Commerce => self.commerce,
        }
    }
}

/// A wall-clock time of day, `HH:MM` on a 24-hour clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WallTime(NaiveTime);

impl JsonSchema for WallTime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "WallTime".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
            "description": "A time of day on a 24-hour clock, such as 22:00",
        })
    }
}

impl TryFrom<String> for WallTime {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        let valid = raw.len() == 5 && raw.as_bytes()[2] == b':';
        valid
            .then(|| NaiveTime::parse_from_str(&raw, "%H:%M").ok())
            .flatten()
            .map(WallTime)
            .ok_or_else(|| format!("`{raw}` is not a time such as 22:00"))
    }
}

impl From<WallTime> for String {
    fn from(time: WallTime) -> String {
        time.0.format("%H:%M").to_string()
    }
}

/// From `start` to `end` every day, in the member's zone; across midnight when `end`
/// comes before `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: WallTime,
    pub end: WallTime,
}

impl QuietHours {
    /// When the quiet hours around `now` end, or `None` if `now` is outside them.
    pub fn ends_after(&self, now: UnixMillis, zone: Option<TimeZone>) -> Option<UnixMillis> {
        let (start, end, time) = (self.start.0, self.end.0, local_time(now, zone));
        let inside = if start <= end {
            start <= time && time < end
        } else {
            time >= start || time < end
        };
        inside.then(|| next_wall_time(now, zone, end))
    }
}

/// A member's settings as stored and shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    pub categories: Categories,
    /// `null` when there are none.
    pub quiet_hours: Option<QuietHours>,
}

/// A change to the settings: only what is given changes; `quiet_hours: null` removes them.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    pub categories: Option<CategoriesPatch>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<QuietHours>")]
    pub quiet_hours: Option<Option<QuietHours>>,
}

/// Categories to turn on or off.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoriesPatch {
    pub class_reminders: Option<bool>,
    pub messages: Option<bool>,
    pub social: Option<bool>,
    pub commerce: Option<bool>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Why a settings change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("quiet hours need a start and an end that differ")]
    EmptyQuietHours,
}

impl NotificationSettings {
    /// The settings after `patch`.
    pub fn patched(mut self, patch: &SettingsPatch) -> Result<NotificationSettings, SettingsError> {
        if let Some(c) = patch.categories {
            let on = &mut self.categories;
            on.class_reminders = c.class_reminders.unwrap_or(on.class_reminders);
            on.messages = c.messages.unwrap_or(on.messages);
            on.social = c.social.unwrap_or(on.social);
            on.commerce = c.commerce.unwrap_or(on.commerce);
        }
        if let Some(quiet) = patch.quiet_hours {
            if quiet.is_some_and(|q| q.start == q.end) {
                return Err(SettingsError::EmptyQuietHours);
            }
            self.quiet_hours = quiet;
        }
        Ok(self)
    }

    /// The stored form.
    pub fn to_doc(&self) -> String {
        serde_json::to_string(self).expect("settings serialize")
    }

    /// The member's settings as stored (the defaults when they set none).
    pub async fn of(
        store: &dyn fitpulse_actors::ports::push::PushStore,
        user: fitpulse_actors::domain::UserId,
    ) -> Result<NotificationSettings, fitpulse_actors::ports::store::StoreError> {
        let doc = store.notification_settings(user).await?;
        Ok(NotificationSettings::from_doc(doc.as_deref()))
    }

    /// Reads the stored form; a document that cannot be read (an older shape) gives the
    /// defaults rather than no pushes at all.
    pub fn from_doc(doc: Option<&str>) -> NotificationSettings {
        doc.and_then(|doc| serde_json::from_str(doc).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> UnixMillis {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid")
            .timestamp_millis()
    }

    fn quiet(start: &str, end: &str) -> QuietHours {
        serde_json::from_value(serde_json::json!({"start": start, "end": end})).expect("valid")
    }

    #[test]
    fn everything_but_social_is_on_by_default() {
        let settings = NotificationSettings::default();
        assert!(settings.categories.allows(Category::ClassReminders));
        assert!(settings.categories.allows(Category::Messages));
        assert!(settings.categories.allows(Category::Commerce));
        assert!(!settings.categories.allows(Category::Social));
        assert_eq!(settings.quiet_hours, None);
    }

    #[test]
    fn quiet_hours_across_midnight_hold_late_evening_and_early_morning() {
        let lisbon = Some(TimeZone::parse("Europe/Lisbon").expect("zone"));
        let night = quiet("22:00", "07:00");
        // 23:30 Lisbon summer time: quiet until 07:00 local, 06:00 UTC.
        assert_eq!(
            night.ends_after(at("2026-07-01T22:30:00Z"), lisbon),
            Some(at("2026-07-02T06:00:00Z"))
        );
        // 06:59 local: still quiet, a minute left.
        assert_eq!(
            night.ends_after(at("2026-07-02T05:59:00Z"), lisbon),
            Some(at("2026-07-02T06:00:00Z"))
        );
        // 07:00 and noon local: not quiet.
        assert_eq!(night.ends_after(at("2026-07-02T06:00:00Z"), lisbon), None);
        assert_eq!(night.ends_after(at("2026-07-02T11:00:00Z"), lisbon), None);
        // The same instant at 22:30 UTC is 19:30 in Sao Paulo: not quiet there.
        let sao_paulo = Some(TimeZone::parse("America/Sao_Paulo").expect("zone"));
        assert_eq!(
            night.ends_after(at("2026-07-01T22:30:00Z"), sao_paulo),
            None
        );
    }

    #[test]
    fn quiet_hours_within_a_day_hold_only_between() {
        let lunch = quiet("12:00", "13:30");
        assert_eq!(
            lunch.ends_after(at("2026-07-01T12:15:00Z"), None),
            Some(at("2026-07-01T13:30:00Z"))
        );
        assert_eq!(lunch.ends_after(at("2026-07-01T11:59:00Z"), None), None);
        assert_eq!(lunch.ends_after(at("2026-07-01T13:30:00Z"), None), None);
    }

    #[test]
    fn a_patch_changes_what_it_names_and_null_removes_quiet_hours() {
        let patch: SettingsPatch = serde_json::from_str(
            r#"{"categories":{"social":true},"quiet_hours":{"start":"22:00","end":"07:00"}}"#,
        )
        .expect("valid");
        let settings = NotificationSettings::default()
            .patched(&patch)
            .expect("valid");
        assert!(settings.categories.social && settings.categories.messages);
        assert_eq!(settings.quiet_hours, Some(quiet("22:00", "07:00")));

        let untouched: SettingsPatch =
            serde_json::from_str(r#"{"categories":{"messages":false}}"#).expect("valid");
        let settings = settings.patched(&untouched).expect("valid");
        assert!(!settings.categories.messages);
        assert_eq!(settings.quiet_hours, Some(quiet("22:00", "07:00")));

        let removal: SettingsPatch =
            serde_json::from_str(r#"{"quiet_hours":null}"#).expect("valid");
        assert_eq!(settings.patched(&removal).expect("valid").quiet_hours, None);
    }

    #[test]
    fn malformed_settings_are_refused() {
        for bad in [
            r#"{"quiet_hours":{"start":"24:00","end":"07:00"}}"#,
            r#"{"quiet_hours":{"start":"7:00","end":"08:00"}}"#,
            r#"{"quiet_hours":{"start":"22:00"}}"#,
            r#"{"categories":{"sms":true}}"#,
            r#"{"categories":{"social":"yes"}}"#,
            r#"{"volume":11}"#,
        ] {
            assert!(serde_json::from_str::<SettingsPatch>(bad).is_err(), "{bad}");
        }
        let same: SettingsPatch =
            serde_json::from_str(r#"{"quiet_hours":{"start":"22:00","end":"22:00"}}"#)
                .expect("parses");
        assert_eq!(
            NotificationSettings::default().patched(&same),
            Err(SettingsError::EmptyQuietHours)
        );
    }

    #[test]
    fn an_unreadable_stored_document_gives_the_defaults() {
        assert_eq!(
            NotificationSettings::from_doc(Some("{\"old\":1}")),
            NotificationSettings::default()
        );
        let custom = NotificationSettings::default()
            .patched(&serde_json::from_str(r#"{"categories":{"social":true}}"#).expect("valid"))
            .expect("valid");
        assert_eq!(
            NotificationSettings::from_doc(Some(&custom.to_doc())),
            custom
        );
    }
}
