//! What push notifications need from storage: the devices members register for push (the
//! app's install id, its platform and push token, what the segment of a feature message
//! looks at), each member's notification settings, and how many feature-message pushes a
//! member got on a day (the daily cap counts pushes too). An account erasure
//! (`AccountDataStore::erase_user`) removes all of it.

use async_trait::async_trait;

use crate::domain::{UnixMillis, UserId};
use crate::ports::store::StoreError;

/// The push platforms: iOS devices go through APNs, Android devices through FCM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PushPlatform {
    Ios,
    Android,
}

impl PushPlatform {
    pub const ALL: [PushPlatform; 2] = [PushPlatform::Ios, PushPlatform::Android];

    pub fn as_str(self) -> &'static str {
        match self {
            PushPlatform::Ios => "ios",
            PushPlatform::Android => "android",
        }
    }

    pub fn parse(raw: &str) -> Option<PushPlatform> {
        PushPlatform::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

/// One install of the app that can receive pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushDevice {
    /// The app's own id for the install (stable across token refreshes).
    pub device_id: String,
    pub platform: PushPlatform,
    /// The APNs device token or the FCM registration token.
    pub push_token: String,
    pub app_version: Option<String>,
    /// A BCP 47 tag such as `pt-BR`.
    pub locale: Option<String>,
    /// An IANA zone name such as `Europe/Lisbon`.
    pub timezone: Option<String>,
    /// When the app last registered it.
    pub updated_at: UnixMillis,
}

/// A device with its owner, as a scan over every device yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedDevice {
    pub user: UserId,
    pub device: PushDevice,
}

/// What registering a device changed besides the device itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceRegistration {
    /// True when the user had no device with this id before.
    pub created: bool,
    /// Devices (of any user, this one excluded) that held the same push token and lost
    /// it: a token belongs to the account that registered it last.
    pub token_taken_from: Vec<(UserId, String)>,
    /// This user's devices removed to stay within the per-user limit (least recently
    /// registered first).
    pub evicted: Vec<String>,
}

/// A page of a scan over every stored device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevicePage {
    pub devices: Vec<OwnedDevice>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<String>,
}

#[async_trait]
pub trait PushStore: Send + Sync {
    /// Registers `device` for `user` (or updates the one with its id). The push token is
    /// taken from any other device that holds it, of any user; then, while the user has
    /// more than `max_devices`, their least recently registered other devices are removed.
    async fn put_device(
        &self,
        user: UserId,
        device: &PushDevice,
        max_devices: usize,
    ) -> Result<DeviceRegistration, StoreError>;
    /// The user's devices, most recently registered first.
    async fn devices(&self, user: UserId) -> Result<Vec<PushDevice>, StoreError>;
    /// Removes a device; false if the user had none with that id.
    async fn delete_device(&self, user: UserId, device_id: &str) -> Result<bool, StoreError>;
    /// Removes a device only while it still holds `push_token` (a provider said the
    /// token is dead; the app may have registered a fresh one meanwhile).
    async fn delete_device_token(
        &self,
        user: UserId,
        device_id: &str,
        push_token: &str,
    ) -> Result<bool, StoreError>;
    /// One page of every stored device, at most `limit`, in an order that stays stable
    /// while the scan runs; `after` is the `next` of the previous page.
    async fn device_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DevicePage, StoreError>;
    /// The user's notification settings as the JSON document they were stored as.
    async fn notification_settings(&self, user: UserId) -> Result<Option<String>, StoreError>;
    async fn put_notification_settings(&self, user: UserId, doc: &str) -> Result<(), StoreError>;
    /// Counts one more push of `kind` to the user on `day` (days since the epoch, in the
    /// user's zone) and answers the count including it. Kept for two days at least.
    async fn count_push(&self, user: UserId, day: i32, kind: &str) -> Result<u32, StoreError>;
    /// [`PushStore::count_push`] for many (user, day) pairs at once, answers in order: a
    /// fan-out counts a page of members in one write where the backend allows.
    async fn count_pushes(
        &self,
        pushes: &[(UserId, i32)],
        kind: &str,
    ) -> Result<Vec<u32>, StoreError> {
        let mut counts = Vec::with_capacity(pushes.len());
        for (user, day) in pushes {
            counts.push(self.count_push(*user, *day, kind).await?);
        }
        Ok(counts)
    }
}
