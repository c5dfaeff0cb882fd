//! The one way into push for the rest of the server: each call queues an outbox item
//! (stored with the change that causes it, carried out by whichever node's worker takes
//! it), and the item's handler asks the node holding the member's session whether they
//! are connected anywhere before anything is sent. Item ids derive from what they are
//! about, so a repeated call queues nothing new.

use std::sync::Arc;

use fitpulse_actors::domain::{LiveClassRecord, UnixMillis, UserId};
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::commerce::{OutboxItem, OutboxStore};
use fitpulse_actors::ports::store::StoreError;
use uuid::Uuid;

use super::items::{self, ClassItem, ClassMoment, MessageItem, UserItem};
use super::notification::Notification;
use super::texts::{self, SocialEvent};

/// How long before its expiry a reservation is reminded of.
pub const RESERVATION_WARNING_MS: i64 = 5 * 60_000;
/// How long a feature message's fan-out is held for its message to be stored, at most.
pub const MESSAGE_HOLD_MS: i64 = 60_000;

/// The id of the first page of a feature message's fan-out.
pub fn message_fan_out(message_id: Uuid) -> Uuid {
    items::item_id(&[items::MESSAGE_KIND, &message_id.to_string(), "0"])
}

/// A `push.user` item for `notification`, due at `due`; `key` names what it is about, so
/// the same event never queues it twice. For callers that store the item in their own
/// commit (a subscription change and its emails and push land together).
pub fn user_item(
    user: UserId,
    notification: Notification,
    key: &[&str],
    due: UnixMillis,
) -> OutboxItem {
    let user_text = user.to_string();
    let mut parts = vec![
        items::USER_KIND,
        user_text.as_str(),
        notification.kind.as_str(),
    ];
    parts.extend_from_slice(key);
    let id = items::item_id(&parts);
    items::outbox_item(id, items::USER_KIND, &UserItem { user, notification }, due)
}

pub struct Notifier {
    outbox: Arc<dyn OutboxStore>,
    /// False when this node has no provider configured: nothing is queued, so a server
    /// that does not push leaves no items behind. (Nodes of one cluster share a config.)
    enabled: bool,
    clock: SharedClock,
    reminder_ms: i64,
    social_batch_ms: i64,
}

impl Notifier {
    pub fn new(
        outbox: Arc<dyn OutboxStore>,
        enabled: bool,
        clock: SharedClock,
        reminder_minutes: u64,
        social_batch_seconds: u64,
    ) -> Notifier {
        Notifier {
            outbox,
            enabled,
            clock,
            reminder_ms: i64::try_from(reminder_minutes * 60_000).unwrap_or(i64::MAX / 2),
            social_batch_ms: i64::try_from(social_batch_seconds.max(1) * 1_000)
                .unwrap_or(i64::MAX / 2),
        }
    }

    /// A class was scheduled (or moved): its reminder goes out `live.reminder_minutes`
    /// before the start, to members who asked for one by then.
    pub async fn class_scheduled(&self, class: &LiveClassRecord) -> Result<(), StoreError> {
        let due = (class.scheduled_at - self.reminder_ms).max(self.clock.now());
        self.class_moment(class, ClassMoment::Reminder, due).await
    }

    /// The coach started a class: reminded members who are not in the app hear it.
    pub async fn class_started(&self, class: &LiveClassRecord) -> Result<(), StoreError> {
        self.class_moment(class, ClassMoment::Started, self.clock.now())
            .await
    }

    async fn class_moment(
        &self,
        class: &LiveClassRecord,
        moment: ClassMoment,
        due: UnixMillis,
    ) -> Result<(), StoreError> {
        let item = ClassItem {
            class_id: class.id,
            moment,
            scheduled_at: class.scheduled_at,
            offset: 0,
        };
        let id = items::item_id(&[
            items::CLASS_KIND,
            &class.id.to_string(),
            moment.as_str(),
            &class.scheduled_at.to_string(),
        ]);
        self.enqueue(id, items::CLASS_KIND, &item, due).await
    }

    /// A feature message with `push: true` is about to be stored: its fan-out is queued
    /// first, on hold until [`Notifier::message_stored`] releases it. Queued first, a
    /// failed store leaves no message without its push (a retried request creates one
    /// message and one push); on hold, no worker runs the fan-out before its message can
    /// be read. Should the release never come, the fan-out runs when the hold ends and
    /// pushes the message if it was stored, or nothing.
    pub async fn message_created(
        &self,
        message_id: Uuid,
        starts_at: UnixMillis,
    ) -> Result<(), StoreError> {
        if !self.enabled {
            return Ok(());
        }
        let now = self.clock.now();
        let page = MessageItem {
            message_id,
            after: None,
            carried: None,
            skip: None,
            page: 0,
        };
        let mut item =
            items::outbox_item(message_fan_out(message_id), items::MESSAGE_KIND, &page, now);
        item.next_at = starts_at.max(now + MESSAGE_HOLD_MS);
        self.outbox.enqueue(&item).await?;
        Ok(())
    }

    /// The message of [`Notifier::message_created`] is stored: its fan-out runs from the
    /// message's start.
    pub async fn message_stored(
        &self,
        message_id: Uuid,
        starts_at: UnixMillis,
    ) -> Result<(), StoreError> {
        if !self.enabled {
            return Ok(());
        }
        let at = starts_at.max(self.clock.now());
        self.outbox
            .bring_forward(message_fan_out(message_id), at)
            .await?;
        Ok(())
    }

    /// A comment, follow or like for `user`: at most one social push per batch window
    /// (`push.social_batch_seconds`), sent at the window's end with the window's first
    /// event; what follows in the window is already summed up by the app's activity feed.
    pub async fn social(
        &self,
        user: UserId,
        event: SocialEvent,
        actor_name: &str,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let window = now.div_euclid(self.social_batch_ms);
        let due = (window + 1) * self.social_batch_ms;
        let notification = texts::social(event, actor_name, due);
        let id = items::item_id(&["social", &user.to_string(), &window.to_string()]);
        let item = UserItem { user, notification };
        self.enqueue(id, items::USER_KIND, &item, due).await
    }

    /// A drop reservation: five minutes before it lapses, unless paid by then.
    pub async fn reservation(
        &self,
        user: UserId,
        order_id: Uuid,
        expires_at: UnixMillis,
    ) -> Result<(), StoreError> {
        let due = expires_at - RESERVATION_WARNING_MS;
        if due <= self.clock.now() {
            // Too short a reservation for a warning to be of use.
            return Ok(());
        }
        let notification = texts::reservation_expiring(order_id, expires_at);
        let id = items::item_id(&["reservation", &order_id.to_string()]);
        let item = UserItem { user, notification };
        self.enqueue(id, items::USER_KIND, &item, due).await
    }

    /// Whether this node pushes (a provider is configured): callers skip the work of
    /// preparing a push that would not be queued.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// [`user_item`] when pushes are on.
    pub fn user_item(
        &self,
        user: UserId,
        notification: Notification,
        key: &[&str],
        due: UnixMillis,
    ) -> Option<OutboxItem> {
        self.enabled
            .then(|| user_item(user, notification, key, due))
    }

    async fn enqueue<T: serde::Serialize>(
        &self,
        id: Uuid,
        kind: &str,
        payload: &T,
        due: UnixMillis,
    ) -> Result<(), StoreError> {
        if !self.enabled {
            return Ok(());
        }
        self.outbox
            .enqueue(&items::outbox_item(id, kind, payload, due))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fitpulse_actors::ports::clock::ManualClock;

    use super::*;
    use crate::metrics::Metrics;
    use crate::store::embedded::EmbeddedStore;

    const START: UnixMillis = 1_700_000_000_000;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Arc<EmbeddedStore>,
        clock: Arc<ManualClock>,
        notifier: Notifier,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(
            EmbeddedStore::open(dir.path(), &Metrics::new())
                .await
                .expect("store opens"),
        );
        let clock = ManualClock::starting_at(START);
        let notifier = Notifier::new(store.clone(), true, clock.clone(), 10, 600);
        Fixture {
            _dir: dir,
            store,
            clock,
            notifier,
        }
    }

    async fn due_ids(store: &EmbeddedStore, at: UnixMillis) -> Vec<Uuid> {
        let due = store.due(at, 100).await.expect("due");
        due.into_iter().map(|item| item.id).collect()
    }

    #[tokio::test]
    async fn a_message_fan_out_is_not_due_before_its_message_is_stored() {
        let fx = fixture().await;
        let message = Uuid::new_v4();
        fx.notifier
            .message_created(message, START)
            .await
            .expect("queued");
        // A worker polling now must not find it: the message it pushes is not stored yet.
        assert!(due_ids(&fx.store, START).await.is_empty());
        fx.clock.advance(Duration::from_millis(1));
        assert!(due_ids(&fx.store, START + 1).await.is_empty());

        fx.notifier
            .message_stored(message, START)
            .await
            .expect("released");
        assert_eq!(
            due_ids(&fx.store, START + 1).await,
            [message_fan_out(message)]
        );
    }

    #[tokio::test]
    async fn a_fan_out_never_released_runs_when_its_hold_ends() {
        let fx = fixture().await;
        let message = Uuid::new_v4();
        fx.notifier
            .message_created(message, START)
            .await
            .expect("queued");
        assert!(
            due_ids(&fx.store, START + MESSAGE_HOLD_MS - 1)
                .await
                .is_empty()
        );
        assert_eq!(
            due_ids(&fx.store, START + MESSAGE_HOLD_MS).await,
            [message_fan_out(message)]
        );
    }

    #[tokio::test]
    async fn a_scheduled_message_fan_out_runs_at_its_start_once_released() {
        let fx = fixture().await;
        let message = Uuid::new_v4();
        let starts_at = START + 86_400_000;
        fx.notifier
            .message_created(message, starts_at)
            .await
            .expect("queued");
        fx.notifier
            .message_stored(message, starts_at)
            .await
            .expect("released");
        assert!(due_ids(&fx.store, starts_at - 1).await.is_empty());
        assert_eq!(
            due_ids(&fx.store, starts_at).await,
            [message_fan_out(message)]
        );
    }
}
