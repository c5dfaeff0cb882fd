//! Registering a device for push: what the app sends (`PUT /v1/me/devices/{device_id}`)
//! checked field by field, then stored; a token belongs to the account that registered it
//! last, and a member keeps at most `push.max_devices_per_user` devices.

use std::sync::Arc;

use fitpulse_actors::domain::{Locale, TimeZone, UnixMillis, UserId};
use fitpulse_actors::ports::push::{DeviceRegistration, PushDevice, PushPlatform, PushStore};
use fitpulse_actors::ports::store::StoreError;
use schemars::JsonSchema;
use serde::Deserialize;

use super::settings::{NotificationSettings, SettingsError, SettingsPatch};
use crate::content::client_config::Version;

/// What the app sends.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(rename = "DeviceBody")]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// `ios` (APNs) or `android` (FCM).
    pub platform: String,
    /// The APNs device token (hex) or the FCM registration token.
    pub push_token: String,
    #[serde(default)]
    pub app_version: Option<String>,
    /// A BCP 47 tag such as `pt-BR`.
    #[serde(default)]
    pub locale: Option<String>,
    /// An IANA zone such as `Europe/Lisbon`.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Which field is wrong, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct DeviceError {
    pub field: &'static str,
    pub reason: &'static str,
}

fn invalid(field: &'static str, reason: &'static str) -> DeviceError {
    DeviceError { field, reason }
}

/// An app's id for its install: 1 to 128 letters, digits and `.`, `_`, `:`, `-`.
pub fn parse_device_id(raw: &str) -> Result<String, DeviceError> {
    let ok = (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| raw.to_owned()).ok_or_else(|| {
        invalid(
            "device_id",
            "1 to 128 letters, digits, '.', '_', ':' or '-'",
        )
    })
}

/// APNs tokens are hex (32 bytes today; Apple says they may grow); FCM tokens are
/// URL-safe text of about 160 characters.
fn parse_token(platform: PushPlatform, raw: &str) -> Result<String, DeviceError> {
    let ok = match platform {
        PushPlatform::Ios => {
            (64..=400).contains(&raw.len())
                && raw.len().is_multiple_of(2)
                && raw.bytes().all(|b| b.is_ascii_hexdigit())
        }
        PushPlatform::Android => {
            (32..=1024).contains(&raw.len())
                && raw
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'))
        }
    };
    match (ok, platform) {
        (true, PushPlatform::Ios) => Ok(raw.to_ascii_lowercase()),
        (true, PushPlatform::Android) => Ok(raw.to_owned()),
        (false, PushPlatform::Ios) => Err(invalid(
            "push_token",
            "an APNs device token: 64 to 400 hex digits",
        )),
        (false, PushPlatform::Android) => Err(invalid(
            "push_token",
            "an FCM registration token: 32 to 1024 letters, digits, '_', '-', ':' or '.'",
        )),
    }
}

impl DeviceInput {
    /// The device to store, or the first field that is wrong.
    pub fn into_device(
        self,
        device_id: String,
        now: UnixMillis,
    ) -> Result<PushDevice, DeviceError> {
        let platform = PushPlatform::parse(&self.platform)
            .ok_or_else(|| invalid("platform", "`ios` or `android`"))?;
        let push_token = parse_token(platform, &self.push_token)?;
        let app_version = match self.app_version {
            Some(v) if v.len() > 32 || Version::parse(&v).is_none() => {
                return Err(invalid("app_version", "a version such as 2.4.1"));
            }
            other => other,
        };
        let locale = match self.locale {
            Some(raw) => Some(
                Locale::parse(&raw)
                    .map_err(|_| invalid("locale", "a tag such as pt-BR"))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let timezone = match self.timezone {
            Some(raw) => Some(
                TimeZone::parse(&raw)
                    .map_err(|_| invalid("timezone", "an IANA zone such as Europe/Lisbon"))?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(PushDevice {
            device_id,
            platform,
            push_token,
            app_version,
            locale,
            timezone,
            updated_at: now,
        })
    }
}

/// The devices service: registration rules over the store.
pub struct Devices {
    store: Arc<dyn PushStore>,
    max_per_user: usize,
}

impl Devices {
    pub fn new(store: Arc<dyn PushStore>, max_per_user: usize) -> Devices {
        Devices {
            store,
            max_per_user,
        }
    }

    pub async fn register(
        &self,
        user: UserId,
        device: &PushDevice,
    ) -> Result<DeviceRegistration, StoreError> {
        let registration = self
            .store
            .put_device(user, device, self.max_per_user)
            .await?;
        for (from, device_id) in &registration.token_taken_from {
            tracing::info!(user_id = %user, from_user = %from, from_device = %device_id, "a push token moved to the account that registered it last");
        }
        Ok(registration)
    }

    pub async fn list(&self, user: UserId) -> Result<Vec<PushDevice>, StoreError> {
        self.store.devices(user).await
    }

    pub async fn remove(&self, user: UserId, device_id: &str) -> Result<bool, StoreError> {
        self.store.delete_device(user, device_id).await
    }

    /// The member's notification settings.
    pub async fn settings(&self, user: UserId) -> Result<NotificationSettings, StoreError> {
        NotificationSettings::of(self.store.as_ref(), user).await
    }

    /// Applies `patch` to the member's settings and stores them when they changed;
    /// the inner error is a refused patch (nothing stored).
    pub async fn change_settings(
        &self,
        user: UserId,
        patch: &SettingsPatch,
    ) -> Result<Result<NotificationSettings, SettingsError>, StoreError> {
        let current = self.settings(user).await?;
        let changed = match current.patched(patch) {
            Ok(changed) => changed,
            Err(refused) => return Ok(Err(refused)),
        };
        if changed != current {
            self.store
                .put_notification_settings(user, &changed.to_doc())
                .await?;
        }
        Ok(Ok(changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(platform: &str, token: &str) -> DeviceInput {
        DeviceInput {
            platform: platform.into(),
            push_token: token.into(),
            app_version: Some("2.4.1".into()),
            locale: Some("pt_br".into()),
            timezone: Some("America/Sao_Paulo".into()),
        }
    }

    #[test]
    fn a_well_formed_device_is_normalized() {
        let device = input("ios", &"AB".repeat(32))
            .into_device("install-1".into(), 7)
            .expect("valid");
        assert_eq!(device.platform, PushPlatform::Ios);
        assert_eq!(device.push_token, "ab".repeat(32));
        assert_eq!(device.locale.as_deref(), Some("pt-BR"));
        assert_eq!(device.timezone.as_deref(), Some("America/Sao_Paulo"));
        assert_eq!(device.updated_at, 7);
        let android = input("android", &format!("fcm:{}", "x".repeat(150)))
            .into_device("install-2".into(), 7)
            .expect("valid");
        assert_eq!(android.platform, PushPlatform::Android);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (input("web", &"ab".repeat(32)), "platform"),
            (input("ios", "not-hex"), "push_token"),
            (input("ios", &"ab".repeat(10)), "push_token"),
            (input("android", "short"), "push_token"),
            (input("android", &"a b".repeat(20)), "push_token"),
            (
                DeviceInput {
                    app_version: Some("two".into()),
                    ..input("ios", &"ab".repeat(32))
                },
                "app_version",
            ),
            (
                DeviceInput {
                    locale: Some("portuguese!".into()),
                    ..input("ios", &"ab".repeat(32))
                },
                "locale",
            ),
            (
                DeviceInput {
                    timezone: Some("Mars/Olympus".into()),
                    ..input("ios", &"ab".repeat(32))
                },
                "timezone",
            ),
        ];
        for (input, field) in cases {
            assert_eq!(
                input.into_device("d".into(), 0).expect_err(field).field,
                field
            );
        }
    }

    #[test]
    fn device_ids_are_short_and_plain() {
        assert!(parse_device_id("8F14E45F-CEEA-467A-9A36-DEDD4BEA2543").is_ok());
        for bad in ["", "a/b", "a b", &"x".repeat(129), "ü"] {
            assert!(parse_device_id(bad).is_err(), "{bad}");
        }
    }
}
