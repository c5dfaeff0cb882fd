//! The outbox items of push, one kind per step, each with an id derived from what it is
//! about so that queuing the same step twice (a retried request, a second node) queues it
//! once:
//!
//! - `push.user`: one notification to one member (their devices, settings, quiet hours);
//! - `push.device`: one notification to one device, after its provider asked to retry;
//! - `push.message`: a page of the fan-out of a feature message over every stored device;
//! - `push.class`: a class's reminder or "it started" to the members who asked for one.

use fitpulse_actors::domain::{ClassId, UnixMillis, UserId};
use fitpulse_actors::ports::commerce::OutboxItem;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::notification::Notification;

pub const PREFIX: &str = "push.";
pub const USER_KIND: &str = "push.user";
pub const DEVICE_KIND: &str = "push.device";
pub const MESSAGE_KIND: &str = "push.message";
pub const CLASS_KIND: &str = "push.class";

/// The namespace of derived push item ids.
const NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_52a3_0c4e_4b8e_9a57_1f0e_3c2b_7a91);

/// An id derived from the parts that make an item what it is.
pub fn item_id(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&NAMESPACE, parts.join("\u{1f}").as_bytes())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserItem {
    pub user: UserId,
    pub notification: Notification,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceItem {
    pub user: UserId,
    pub device_id: String,
    /// The token the failed attempt went to: a device that registered a new token since
    /// gets the retry at its new one.
    pub push_token: String,
    pub notification: Notification,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageItem {
    pub message_id: Uuid,
    /// Where this page of devices starts (`None`: the first page).
    #[serde(default)]
    pub after: Option<String>,
    /// A member whose devices the previous page ended in the middle of: they are pushed
    /// to here, with all their devices read at once.
    #[serde(default)]
    pub carried: Option<UserId>,
    /// A member already pushed to (with all their devices): their devices on this page
    /// are passed over. Stays set across pages that hold nothing but their devices.
    #[serde(default)]
    pub skip: Option<UserId>,
    /// The page number, for ids and logs.
    #[serde(default)]
    pub page: u32,
}

/// Which moment of a class a `push.class` item is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassMoment {
    /// `live.reminder_minutes` before the start.
    Reminder,
    /// The coach started it.
    Started,
}

impl ClassMoment {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassMoment::Reminder => "reminder",
            ClassMoment::Started => "started",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassItem {
    pub class_id: ClassId,
    pub moment: ClassMoment,
    /// The start the reminder was set for: a class moved since gets a new reminder, and
    /// this one does nothing.
    pub scheduled_at: UnixMillis,
    /// Where this item's slice of the class's reminded members starts (a page each).
    #[serde(default)]
    pub offset: usize,
}

/// An outbox item of `kind` carrying `payload`, due at `due`.
pub fn outbox_item<T: Serialize>(id: Uuid, kind: &str, payload: &T, due: UnixMillis) -> OutboxItem {
    let payload = serde_json::to_string(payload).expect("push items serialize");
    OutboxItem::new(id, kind, payload, due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_depend_on_every_part_and_on_nothing_else() {
        let a = item_id(&["reminder", "class-1", "1000"]);
        assert_eq!(a, item_id(&["reminder", "class-1", "1000"]));
        assert_ne!(a, item_id(&["reminder", "class-1", "2000"]));
        // Parts do not run into each other.
        assert_ne!(item_id(&["ab", "c"]), item_id(&["a", "bc"]));
    }

    #[test]
    fn payloads_refuse_unknown_fields() {
        let bad = r#"{"message_id":"6d1f52a3-0c4e-4b8e-9a57-1f0e3c2b7a91","extra":1}"#;
        assert!(serde_json::from_str::<MessageItem>(bad).is_err());
        let good = r#"{"message_id":"6d1f52a3-0c4e-4b8e-9a57-1f0e3c2b7a91"}"#;
        let item: MessageItem = serde_json::from_str(good).expect("valid");
        assert_eq!(
            (item.after, item.carried, item.skip, item.page),
            (None, None, None, 0)
        );
    }
}
