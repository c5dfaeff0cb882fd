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

pub struct PushHandler {
    sender: Arc<Sender>,
    stores: Stores,
    /// Members pushed to at once in a fan-out.
    concurrency: usize,
    /// Devices per page of a fan-out over every device.
    page: usize,
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
    ) -> PushHandler {
        PushHandler {
            sender,
            stores,
            concurrency: concurrency.max(1),
            page: page.max(1),
        }
    }

    async fn user(&self, item: UserItem) -> Result<(), HandleError> {
        if !self.still_holds(&item.notification).await.map_err(retry)? {
            return Ok(());
        }
        let delivery = self
            .sender
            .deliver(item.user, &item.notification, None)
            .await
            .map_err(retry)?;
        tracing::debug!(user_id = %item.user, kind = %item.notification.kind, ?delivery, "push decided");
        Ok(())
    }

    /// Whether what the notification warns about is still so.
    async fn still_holds(&self, notification: &Notification) -> Result<bool, StoreError> {
        match notification.requires {
            None => Ok(true),
            Some(Requirement::OrderReserved(order_id)) => Ok(self
                .stores
                .drops
                .order(order_id)
                .await?
                .is_some_and(|order| order.status == OrderStatus::Reserved)),
        }
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
        let failures = self
            .deliver_all(members.into_iter().map(|user| (user, None)), &notification)
            .await;
        tracing::info!(class_id = %class.id, moment = item.moment.as_str(), members = count, failures, "class push fanned out");
        Ok(())
    }

    /// Delivers to many members, `concurrency` at a time; answers how many failed on
    /// the store (they are logged; the rest went out).
    async fn deliver_all(
        &self,
        members: impl Iterator<Item = (UserId, Option<Vec<PushDevice>>)>,
        notification: &Notification,
    ) -> usize {
        self.sender
            .deliver_many(members.collect(), notification, self.concurrency)
            .await
    }

    async fn message(&self, item: MessageItem) -> Result<(), HandleError> {
        let Some(record) = self
            .stores
            .messages
            .message(item.message_id)
            .await
            .map_err(retry)?
        else {
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
            if Some(user) == item.carried {
                continue;
            }
            match by_user.last_mut() {
                Some((last, devices)) if *last == user => devices.push(device),
                _ => by_user.push((user, vec![device])),
            }
        }
        // The last member of a full page may have more devices on the next one: they
        // are pushed there, with all their devices read at once.
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
                page: item.page + 1,
            };
            let id = items::item_id(&[
                items::MESSAGE_KIND,
                &item.message_id.to_string(),
                &next.page.to_string(),
            ]);
            self.stores
                .outbox
                .enqueue(&items::outbox_item(id, items::MESSAGE_KIND, &next, now))
                .await
                .map_err(retry)?;
        }
        let count = targeted.len();
        let failures = self.deliver_all(targeted.into_iter(), &notification).await;
        tracing::info!(message_id = %item.message_id, page = item.page, members = count, failures, "feature message push page fanned out");
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
                    last_workout_at: None,
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
        requires: None,
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
                let device: DeviceItem = payload(item)?;
                if !self
                    .still_holds(&device.notification)
                    .await
                    .map_err(retry)?
                {
                    return Ok(());
                }
                self.sender.retry_device(&device).await
            }
            items::CLASS_KIND => self.class(payload(item)?).await,
            items::MESSAGE_KIND => self.message(payload(item)?).await,
            other => Err(HandleError::Permanent(format!(
                "unknown push item kind `{other}`"
            ))),
        }
    }
}
