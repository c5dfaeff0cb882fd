//! Who a feature message is for. `{}` is everyone; each field narrows it:
//! `entitlement` (`premium` or `free`), `locales` (a language such as `pt` matches `pt-BR`),
//! `platforms` (`ios`, `android`, `web`), `app_version` (`{"min": "2.0", "max": "2.9"}`,
//! inclusive), `user_ids`, `inactive_days` (no finished workout in that many days). Platform, version and locale come from the user's connected
//! devices (any one matching is enough), or for the inbox from the app's query.

use fitpulse_actors::domain::UserId;
use fitpulse_actors::session::{Audience, AudienceFilter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::content::client_config::{Platform, Version};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Premium,
    Free,
}

/// App versions from `min` to `max`, inclusive; either may be left open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionRange {
    #[serde(default)]
    pub min: Option<Version>,
    #[serde(default)]
    pub max: Option<Version>,
}

/// Who a message is for: `{}` is everyone, each field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    #[serde(default)]
    pub entitlement: Option<Tier>,
    /// Languages such as `pt`, which also matches `pt-BR`.
    #[serde(default)]
    pub locales: Vec<String>,
    #[serde(default)]
    pub platforms: Vec<Platform>,
    #[serde(default)]
    pub app_version: Option<VersionRange>,
    #[serde(default)]
    #[schemars(with = "Vec<uuid::Uuid>")]
    pub user_ids: Vec<UserId>,
    /// Users with no finished workout in this many days.
    #[serde(default)]
    pub inactive_days: Option<u32>,
}

/// At most this many explicit users per message.
pub const MAX_USER_IDS: usize = 10_000;

impl Segment {
    pub fn validate(&self) -> Result<(), String> {
        if self.user_ids.len() > MAX_USER_IDS {
            return Err(format!("at most {MAX_USER_IDS} user_ids"));
        }
        if let Some(range) = &self.app_version
            && let (Some(min), Some(max)) = (range.min, range.max)
            && min > max
        {
            return Err("app_version.min is above app_version.max".into());
        }
        let locale_ok = |l: &String| {
            (2..=35).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !self.locales.iter().all(locale_ok) {
            return Err("locales look like `pt` or `pt-BR`".into());
        }
        Ok(())
    }

    fn locale_matches(&self, locale: &str) -> bool {
        self.locales.iter().any(|wanted| {
            let wanted = wanted.to_ascii_lowercase();
            let locale = locale.to_ascii_lowercase();
            locale == wanted || locale.starts_with(&format!("{wanted}-"))
        })
    }
}

impl Segment {
    /// Whether the message can be meant for `user` at all, by what does not depend on a
    /// device or on time (named users, premium or free): who else marks it read, clicks
    /// or dismisses it is refused as if it did not exist.
    pub fn may_target(
        &self,
        user: UserId,
        entitlements: &[fitpulse_actors::ports::store::Entitlement],
        now: fitpulse_actors::domain::UnixMillis,
    ) -> bool {
        if !self.user_ids.is_empty() && !self.user_ids.contains(&user) {
            return false;
        }
        self.entitlement.is_none_or(|tier| {
            let premium = entitlements
                .iter()
                .any(|e| e.name == "premium" && e.is_active_at(now));
            premium == (tier == Tier::Premium)
        })
    }
}

impl AudienceFilter for Segment {
    fn matches(&self, audience: &Audience<'_>) -> bool {
        if !self.user_ids.is_empty() && !self.user_ids.contains(&audience.user) {
            return false;
        }
        if let Some(days) = self.inactive_days {
            let since = audience.now - i64::from(days) * 86_400_000;
            if audience.last_workout_at.is_some_and(|at| at >= since) {
                return false;
            }
        }
        if let Some(tier) = self.entitlement {
            let premium = audience
                .entitlements
                .iter()
                .any(|e| e.name == "premium" && e.is_active_at(audience.now));
            if premium != (tier == Tier::Premium) {
                return false;
            }
        }
        // Device conditions: one device must meet all of them.
        audience.devices.iter().any(|device| {
            let platform_ok = self.platforms.is_empty()
                || device
                    .platform
                    .as_deref()
                    .and_then(Platform::parse)
                    .is_some_and(|p| self.platforms.contains(&p));
            let version_ok = self.app_version.as_ref().is_none_or(|range| {
                device
                    .app_version
                    .as_deref()
                    .and_then(Version::parse)
                    .is_some_and(|v| {
                        range.min.is_none_or(|m| v >= m) && range.max.is_none_or(|m| v <= m)
                    })
            });
            let locale_ok = self.locales.is_empty()
                || device
                    .locale
                    .as_deref()
                    .is_some_and(|l| self.locale_matches(l));
            platform_ok && version_ok && locale_ok
        })
    }
}

#[cfg(test)]
mod tests {
    use fitpulse_actors::device::ClientInfo;
    use fitpulse_actors::ports::store::Entitlement;

    use super::*;

    fn device(platform: &str, version: &str, locale: &str) -> ClientInfo {
        ClientInfo {
            platform: Some(platform.into()),
            app_version: Some(version.into()),
            locale: Some(locale.into()),
            zone: None,
        }
    }

    fn premium() -> Vec<Entitlement> {
        vec![Entitlement {
            name: "premium".into(),
            expires_at: None,
            source: "test".into(),
        }]
    }

    #[test]
    fn every_condition_narrows_the_audience() {
        let segment: Segment = serde_json::from_value(serde_json::json!({
            "entitlement": "premium", "platforms": ["ios"], "app_version": {"min": "2.0"},
            "locales": ["pt"],
        }))
        .expect("valid");
        let user = UserId::random();
        let ents = premium();
        let check = |entitlements: &[Entitlement], devices: Vec<ClientInfo>| {
            let refs: Vec<&ClientInfo> = devices.iter().collect();
            segment.matches(&Audience {
                user,
                entitlements,
                devices: refs,
                last_workout_at: None,
                now: 0,
            })
        };
        assert!(check(&ents, vec![device("ios", "2.1.0", "pt-BR")]));
        assert!(!check(&[], vec![device("ios", "2.1.0", "pt-BR")]), "free");
        assert!(
            !check(&ents, vec![device("android", "2.1.0", "pt-BR")]),
            "android"
        );
        assert!(
            !check(&ents, vec![device("ios", "1.9.9", "pt-BR")]),
            "old version"
        );
        assert!(
            !check(&ents, vec![device("ios", "2.1.0", "en-US")]),
            "locale"
        );
        assert!(
            check(
                &ents,
                vec![
                    device("android", "2.1", "pt"),
                    device("ios", "2.0", "pt-PT")
                ]
            ),
            "one matching device is enough"
        );
        assert!(Segment::default().matches(&Audience {
            user,
            entitlements: &[],
            devices: vec![&ClientInfo::default()],
            last_workout_at: None,
            now: 0
        }));
    }

    #[test]
    fn inactive_days_matches_users_without_a_recent_workout() {
        let segment: Segment =
            serde_json::from_value(serde_json::json!({"inactive_days": 7})).expect("valid");
        let day = 86_400_000;
        let device = ClientInfo::default();
        let audience = |last: Option<i64>| Audience {
            user: UserId::random(),
            entitlements: &[],
            devices: vec![&device],
            last_workout_at: last,
            now: 30 * day,
        };
        assert!(segment.matches(&audience(None)));
        assert!(segment.matches(&audience(Some(20 * day))));
        assert!(!segment.matches(&audience(Some(25 * day))));
    }

    #[test]
    fn a_message_for_named_users_or_a_tier_may_not_target_anyone_else() {
        let (ada, bob) = (UserId::random(), UserId::random());
        let named: Segment =
            serde_json::from_value(serde_json::json!({ "user_ids": [ada] })).expect("valid");
        assert!(named.may_target(ada, &[], 0));
        assert!(!named.may_target(bob, &[], 0));
        let premium_only: Segment =
            serde_json::from_value(serde_json::json!({ "entitlement": "premium" })).expect("valid");
        assert!(premium_only.may_target(ada, &premium(), 0));
        assert!(!premium_only.may_target(ada, &[], 0));
        assert!(Segment::default().may_target(bob, &[], 0));
    }

    #[test]
    fn unknown_fields_and_backwards_ranges_are_refused() {
        assert!(
            serde_json::from_value::<Segment>(serde_json::json!({"platfroms": ["ios"]})).is_err()
        );
        assert!(
            serde_json::from_value::<Segment>(serde_json::json!({"platforms": ["tv"]})).is_err()
        );
        let backwards: Segment =
            serde_json::from_value(serde_json::json!({"app_version": {"min": "3", "max": "2"}}))
                .expect("parses");
        assert!(backwards.validate().is_err());
    }
}
