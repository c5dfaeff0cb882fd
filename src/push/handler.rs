//! The outbox handler of `push.*` items (see [`super::items`]). Fan-outs are bounded per
//! item: a class's reminded members in one go (a class's reminders are a bounded list),
//! every stored device a page at a time, each page queuing the next. A repeated item (a
//! node died mid-attempt) pushes again to the members it had reached; the collapse id
//! makes the repeat replace the first on the device.

use std::sync::Arc;

use async_trait::async_trait;
use fitpulse_actors::device::ClientInfo;
use fitpulse_actors::domain::{ClassState, UserId};
use fitpulse_actors::ports::commerce::OutboxItem;
use fitpulse_actors::ports::drops::OrderStatus;
use fitpulse_actors::ports::push::{OwnedDevice, PushDevice};
use fitpulse_actors::ports::store::StoreError;
use fitpulse_actors::session::{Audience, AudienceFilter};
use serde::de::DeserializeOwned;

use super::items::{self, ClassItem, ClassMoment, DeviceItem, MessageItem, UserItem};
use super::notification::{Localized, Notification, Requirement};
use super::sender::Sender;
use super::settings::Category;
use super::texts;
use crate::messages::FeatureMessage;
use crate::outbox::{HandleError, Handler};
use crate::store::Stores;

/// A member whose push hit a store error is tried again this much later, alone.
const MEMBER_RETRY_MS: i64 = 5_000;

pub struct PushHandler {
    sender: Arc<Sender>,
    stores: Stores,
    /// Members pushed to at once in a fan-out.
    concurrency: usize,
    /// Devices (or reminded members) per page of a fan-out.
    page: usize,
    /// How long one item may start new pushes (half the outbox lease): what is left is
    /// queued member by member.
    budget: std::time::Duration,
}

fn retry(err: StoreError) -> HandleError {
    HandleError::Retry(err.to_string())
}

fn payload<T: DeserializeOwned>(item: &OutboxItem) -> Result<T, HandleError> {
    serde_json::from_str(&item.payload)
        .map_err(|e| HandleError::Permanent(format!("malformed {} payload: {e}", item.kind)))
}

impl PushHandler {
    pub fn new(
        sender: Arc<Sender>,
        stores: Stores,
        concurrency: usize,
        page: usize,
        budget: std::time::Duration,
    ) -> PushHandler {
        PushHandler {
            sender,
            stores,
            concurrency: concurrency.max(1),
            page: page.max(1),
            budget,
        }
    }

    async fn user(&self, item: UserItem) -> Result<(), HandleError> {
        let Some(notification) = self.current(&item.notification).await.map_err(retry)? else {
            return Ok(());
        };
        let delivery = self
            .sender
            .deliver(item.user, &notification, None)
            .await
            .map_err(retry)?;
        tracing::debug!(user_id = %item.user, kind = %notification.kind, ?delivery, "push decided");
        Ok(())
    }

    /// The notification as it should go out now, or `None` when what it is about is no
    /// longer so (a paid order, a cancelled message or class, a moved class). A reminder
    /// is written anew: quiet hours may have held it, and the minutes left changed.
    async fn current(
        &self,
        notification: &Notification,
    ) -> Result<Option<Notification>, StoreError> {
        let now = self.sender.now();
        let holds = match notification.requires {
            None => true,
            Some(Requirement::OrderReserved(order_id)) => self
                .stores
                .drops
                .order(order_id)
                .await?
                .is_some_and(|order| order.status == OrderStatus::Reserved),
            Some(Requirement::MessageShowing(id)) => {
                match self.stores.messages.message(id).await? {
                    Some(record) => FeatureMessage::from_record(&record)?.showing(now),
                    None => false,
                }
            }
            Some(Requirement::ClassScheduled(id, at)) => {
                let class = self.stores.live.class(id).await?;
                return Ok(class
                    .filter(|c| c.state == ClassState::Scheduled && c.scheduled_at == at)
                    .map(|c| texts::class_reminder(&c, now)));
            }
            Some(Requirement::ClassLive(id)) => self
                .stores
                .live
                .class(id)
                .await?
                .is_some_and(|c| c.state == ClassState::Live),
        };
        Ok(holds.then(|| notification.clone()))
    }

    async fn class(&self, item: ClassItem) -> Result<(), HandleError> {
        let Some(class) = self.stores.live.class(item.class_id).await.map_err(retry)? else {
            return Ok(());
        };
        let now = self.sender.now();
        let notification = match item.moment {
            // Moved or no longer happening: this reminder is not the class's any more.
            ClassMoment::Reminder
                if class.state != ClassState::Scheduled
                    || class.scheduled_at != item.scheduled_at =>
            {
                return Ok(());
            }
            ClassMoment::Reminder => texts::class_reminder(&class, now),
            ClassMoment::Started if class.state != ClassState::Live => return Ok(()),
            ClassMoment::Started => texts::class_started(&class, now),
        };
        let members = self.stores.live.reminders(class.id).await.map_err(retry)?;
        let count = members.len();
        // A page of members per item, so that one attempt stays well inside its lease
        // however slow a provider answers; the next page is queued first.
        let end = item.offset.saturating_add(self.page).min(count);
        if end < count {
            let next = ClassItem {
                offset: end,
                ..item.clone()
            };
            let id = items::item_id(&[
                items::CLASS_KIND,
                &class.id.to_string(),
                item.moment.as_str(),
                &item.scheduled_at.to_string(),
                &end.to_string(),
            ]);
            self.enqueue(id, items::CLASS_KIND, &next, now).await?;
        }
        let slice = members.get(item.offset..end).unwrap_or_default();
        let failed = self
            .sender
            .deliver_many(
                slice.iter().map(|u| (*u, None)).collect(),
                &notification,
                self.concurrency,
                self.budget,
            )
            .await;
        self.retry_members(&failed, &notification).await?;
        tracing::info!(class_id = %class.id, moment = item.moment.as_str(), offset = item.offset, members = slice.len(), failed = failed.len(), "class push fanned out");
        Ok(())
    }

    /// Members whose push could not be decided or settled (a store error, the attempt's
    /// time spent) get an item of their own, so one failing member neither repeats the
    /// whole page nor is lost.
    async fn retry_members(
        &self,
        failed: &[UserId],
        notification: &Notification,
    ) -> Result<(), HandleError> {
        let due = self.sender.now() + MEMBER_RETRY_MS;
        for user in failed {
            let item = super::notify::user_item(
                *user,
                notification.clone(),
                &["retry", &notification.collapse_id],
                due,
            );
            self.stores.outbox.enqueue(&item).await.map_err(retry)?;
        }
        Ok(())
    }

    async fn enqueue<T: serde::Serialize>(
        &self,
        id: uuid::Uuid,
        kind: &str,
        payload: &T,
        due: i64,
    ) -> Result<(), HandleError> {
        self.stores
            .outbox
            .enqueue(&items::outbox_item(id, kind, payload, due))
            .await
            .map_err(retry)?;
        Ok(())
    }

    async fn message(&self, item: MessageItem, queued_at: i64) -> Result<(), HandleError> {
        let Some(record) = self
            .stores
            .messages
            .message(item.message_id)
            .await
            .map_err(retry)?
        else {
            // The fan-out is queued before its message is stored, on hold until it is (see
            // `Notifier::message_created`): past the hold, the store failed. A young item
            // without its message was queued by a node without the hold (an older version).
            if self.sender.now() - queued_at < super::notify::MESSAGE_HOLD_MS {
                return Err(HandleError::Retry("the message is not stored yet".into()));
            }
            return Ok(());
        };
        let message = FeatureMessage::from_record(&record).map_err(retry)?;
        let now = self.sender.now();
        if !message.showing(now) {
            // Cancelled or expired meanwhile: the rest of the fan-out stops here.
            return Ok(());
        }
        let notification = feature_notification(&message);
        let page = self
            .sender
            .store
            .device_page(item.after.as_deref(), self.page)
            .await
            .map_err(retry)?;
        let mut by_user: Vec<(UserId, Vec<PushDevice>)> = Vec::new();
        for OwnedDevice { user, device } in page.devices {
            // Pushed already, or here, with all their devices.
            if Some(user) == item.skip || Some(user) == item.carried {
                continue;
            }
            match by_user.last_mut() {
                Some((last, devices)) if *last == user => devices.push(device),
                _ => by_user.push((user, vec![device])),
            }
        }
        // The last member of a page that is not the last may have more devices on the
        // next one: they are pushed there, with all their devices read at once, and their
        // devices on that page are passed over. A page with nobody new keeps skipping
        // the member it skipped.
        let carry = match page.next {
            Some(_) => by_user.pop().map(|(user, _)| user),
            None => None,
        };
        let mut members = Vec::with_capacity(by_user.len() + 1);
        if let Some(carried) = item.carried {
            let devices = self.sender.store.devices(carried).await.map_err(retry)?;
            members.push((carried, devices));
        }
        members.extend(by_user);
        let mut targeted = Vec::with_capacity(members.len());
        for (user, devices) in members {
            let devices = self
                .targeted_devices(&message, user, devices, now)
                .await
                .map_err(retry)?;
            if !devices.is_empty() {
                targeted.push((user, Some(devices)));
            }
        }
        // The next page is queued first: another node may take it while this one pushes.
        if let Some(after) = page.next {
            let next = MessageItem {
                message_id: item.message_id,
                after: Some(after),
                carried: carry,
                skip: carry.or(item.carried).or(item.skip),
                page: item.page + 1,
            };
            let id = items::item_id(&[
                items::MESSAGE_KIND,
                &item.message_id.to_string(),
                &next.page.to_string(),
            ]);
            self.enqueue(id, items::MESSAGE_KIND, &next, now).await?;
        }
        let count = targeted.len();
        let failed = self
            .sender
            .deliver_many(targeted, &notification, self.concurrency, self.budget)
            .await;
        self.retry_members(&failed, &notification).await?;
        tracing::info!(message_id = %item.message_id, page = item.page, members = count, failed = failed.len(), "feature message push page fanned out");
        Ok(())
    }

    /// The member's devices the message's segment targets, each judged on its own
    /// platform, app version and locale (premium or free from the stored entitlements).
    async fn targeted_devices(
        &self,
        message: &FeatureMessage,
        user: UserId,
        devices: Vec<PushDevice>,
        now: i64,
    ) -> Result<Vec<PushDevice>, StoreError> {
        let segment = &message.segment;
        if !segment.user_ids.is_empty() && !segment.user_ids.contains(&user) {
            return Ok(Vec::new());
        }
        let entitlements = match segment.entitlement {
            Some(_) => self.stores.entitlements.entitlements(user).await?,
            None => Vec::new(),
        };
        // Only what the segment asks for is read: a feed walk for inactivity.
        let last_workout_at = match segment.inactive_days {
            Some(_) => crate::messages::last_workout_at(&self.stores, user).await?,
            None => None,
        };
        Ok(devices
            .into_iter()
            .filter(|device| {
                let client = ClientInfo {
                    platform: Some(device.platform.as_str().to_owned()),
                    app_version: device.app_version.clone(),
                    locale: device.locale.clone(),
                    zone: None,
                };
                segment.matches(&Audience {
                    user,
                    entitlements: &entitlements,
                    devices: vec![&client],
                    last_workout_at,
                    now,
                })
            })
            .collect())
    }
}

/// A feature message as a push: its own text, in the languages it was given in.
pub fn feature_notification(message: &FeatureMessage) -> Notification {
    let mut title = Localized::english(message.title.clone());
    let mut body = Localized::english(message.body.clone());
    for (tag, text) in &message.translations {
        title = title.with(tag, text.title.clone());
        body = body.with(tag, text.body.clone());
    }
    let mut data =
        std::collections::BTreeMap::from([("message_id".to_owned(), message.id.to_string())]);
    if let Some(link) = &message.cta_url {
        data.insert("link".into(), link.clone());
    }
    Notification {
        category: Category::Messages,
        kind: "message.feature".into(),
        collapse_id: format!("message:{}", message.id),
        title,
        body,
        data,
        stale_at: message.expires_at,
        only_offline: true,
        capped: true,
        requires: Some(Requirement::MessageShowing(message.id)),
    }
}

#[async_trait]
impl Handler for PushHandler {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandleError> {
        if !self.sender.providers().any() {
            // Another node (configured to push) takes it after the backoff.
            return Err(HandleError::Retry(
                "no push provider is configured on this node".into(),
            ));
        }
        match item.kind.as_str() {
            items::USER_KIND => self.user(payload(item)?).await,
            items::DEVICE_KIND => {
                let mut device: DeviceItem = payload(item)?;
                match self.current(&device.notification).await.map_err(retry)? {
                    Some(notification) => device.notification = notification,
                    None => return Ok(()),
                }
                self.sender.retry_device(&device).await
            }
            items::CLASS_KIND => self.class(payload(item)?).await,
            items::MESSAGE_KIND => self.message(payload(item)?, item.created_at).await,
            other => Err(HandleError::Permanent(format!(
                "unknown push item kind `{other}`"
            ))),
        }
    }
}
