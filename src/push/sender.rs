//! Deciding and sending one notification to one member: the rules, in the order that
//! costs least. Stale, a category turned off, a socket connected anywhere (asked of the
//! node holding the member's session), no device, quiet hours (deferred to their end),
//! the daily cap; then every device gets the text of its locale through its platform's
//! provider. A dead token removes the device; a provider that asks to retry gets a
//! `push.device` item for that device alone, so devices that were reached are not pushed
//! twice.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fitpulse_actors::domain::{TimeZone, UnixMillis, UserId, local_date};
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::commerce::OutboxStore;
use fitpulse_actors::ports::push::{PushDevice, PushPlatform, PushStore};
use fitpulse_actors::ports::store::{StoreError, UserStore};
use futures_util::StreamExt;

use super::items::{self, DeviceItem, UserItem};
use super::metrics::PushMetrics;
use super::notification::Notification;
use super::provider::{PushProvider, SendOutcome};
use super::settings::NotificationSettings;
use crate::outbox::HandleError;

/// Whether a member has a socket connected anywhere in the cluster.
#[async_trait]
pub trait Presence: Send + Sync {
    async fn connected(&self, user: UserId) -> bool;
}

#[async_trait]
impl Presence for Hub {
    async fn connected(&self, user: UserId) -> bool {
        Hub::connected(self, user).await
    }
}

/// The configured providers; a platform without one is not pushed to.
#[derive(Clone, Default)]
pub struct Providers {
    pub apns: Option<Arc<dyn PushProvider>>,
    pub fcm: Option<Arc<dyn PushProvider>>,
}

impl Providers {
    pub fn for_platform(&self, platform: PushPlatform) -> Option<&Arc<dyn PushProvider>> {
        match platform {
            PushPlatform::Ios => self.apns.as_ref(),
            PushPlatform::Android => self.fcm.as_ref(),
        }
    }

    pub fn any(&self) -> bool {
        self.apns.is_some() || self.fcm.is_some()
    }
}

/// What became of a notification for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the providers: how many devices took it, and how many will be retried.
    Pushed { sent: usize, retrying: usize },
    /// Not pushed, and why (the `reason` label of `fitpulse_push_skipped_total`).
    Skipped(&'static str),
    /// Held back by quiet hours until this instant.
    Deferred(UnixMillis),
}

/// What one device answered, for the operator's test push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceResult {
    pub device_id: String,
    pub platform: PushPlatform,
    pub outcome: SendOutcome,
}

/// The feature-message kind the daily cap counts.
const CAPPED_KIND: &str = "message";
/// Without a `Retry-After`, a device is tried again after this long (then the outbox's
/// backoff takes over).
const DEFAULT_RETRY: Duration = Duration::from_secs(5);

pub struct Sender {
    pub(super) store: Arc<dyn PushStore>,
    users: Arc<dyn UserStore>,
    outbox: Arc<dyn OutboxStore>,
    presence: Arc<dyn Presence>,
    providers: Providers,
    metrics: PushMetrics,
    clock: SharedClock,
    daily_cap: u32,
}

impl Sender {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn PushStore>,
        users: Arc<dyn UserStore>,
        outbox: Arc<dyn OutboxStore>,
        presence: Arc<dyn Presence>,
        providers: Providers,
        metrics: PushMetrics,
        clock: SharedClock,
        daily_cap: u32,
    ) -> Sender {
        Sender {
            store,
            users,
            outbox,
            presence,
            providers,
            metrics,
            clock,
            daily_cap,
        }
    }

    pub fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// Decides and sends `notification` to `user`. `devices` are the member's devices
    /// when the caller has read them already (a fan-out over every device).
    pub async fn deliver(
        &self,
        user: UserId,
        notification: &Notification,
        devices: Option<Vec<PushDevice>>,
    ) -> Result<Delivery, StoreError> {
        let delivery = match self.decide(user, notification, devices).await? {
            Decision::Skip(reason) => Delivery::Skipped(reason),
            Decision::Defer(until) => Delivery::Deferred(until),
            Decision::Send { devices, day } => {
                let capped = notification.capped
                    && self.store.count_push(user, day, CAPPED_KIND).await? > self.daily_cap;
                match capped {
                    true => Delivery::Skipped("daily_cap"),
                    false => self.send_and_settle(user, &devices, notification).await?,
                }
            }
        };
        if let Delivery::Skipped(reason) = delivery {
            self.metrics.skipped(reason);
        }
        Ok(delivery)
    }

    /// [`Sender::deliver`] to many members, `concurrency` at a time, the daily cap counted
    /// in one batch; answers the members whose push could not be decided or settled for
    /// a store error (logged; the others went out), for the caller to try again.
    ///
    /// Nothing new starts once `budget` has passed (a slow provider): those members are
    /// answered as failed too, so the attempt ends well inside its lease.
    pub async fn deliver_many(
        &self,
        members: Vec<(UserId, Option<Vec<PushDevice>>)>,
        notification: &Notification,
        concurrency: usize,
        budget: Duration,
    ) -> Vec<UserId> {
        let started = std::time::Instant::now();
        let over = move || started.elapsed() > budget;
        // `None`: not started, the budget was spent.
        let decided: Vec<(UserId, Option<Result<Decision, StoreError>>)> =
            futures_util::stream::iter(members)
                .map(|(user, devices)| async move {
                    if over() {
                        return (user, None);
                    }
                    (user, Some(self.decide(user, notification, devices).await))
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        let mut failed = Vec::new();
        let mut ready = Vec::new();
        for (user, decision) in decided {
            match decision {
                Some(Ok(Decision::Skip(reason))) => self.metrics.skipped(reason),
                Some(Ok(Decision::Defer(_))) => {}
                Some(Ok(Decision::Send { devices, day })) => ready.push((user, devices, day)),
                Some(Err(err)) => {
                    tracing::warn!(user_id = %user, error = %err, "cannot decide a push");
                    failed.push(user);
                }
                None => failed.push(user),
            }
        }
        if notification.capped && !ready.is_empty() {
            let pairs: Vec<(UserId, i32)> = ready.iter().map(|(u, _, day)| (*u, *day)).collect();
            match self.store.count_pushes(&pairs, CAPPED_KIND).await {
                Ok(counts) => {
                    let mut counts = counts.into_iter();
                    ready.retain(|_| {
                        let within = counts.next().is_some_and(|n| n <= self.daily_cap);
                        if !within {
                            self.metrics.skipped("daily_cap");
                        }
                        within
                    });
                }
                Err(err) => {
                    tracing::warn!(error = %err, members = ready.len(), "cannot count pushes against the daily cap");
                    failed.extend(ready.iter().map(|(user, _, _)| *user));
                    return failed;
                }
            }
        }
        let unsettled: Vec<Option<UserId>> = futures_util::stream::iter(ready)
            .map(|(user, devices, _)| async move {
                if over() {
                    return Some(user);
                }
                match self.send_and_settle(user, &devices, notification).await {
                    Ok(_) => None,
                    Err(err) => {
                        tracing::warn!(user_id = %user, error = %err, "cannot settle a push");
                        Some(user)
                    }
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        failed.extend(unsettled.into_iter().flatten());
        failed
    }

    /// The rules, short of the daily cap: whether to send now, later, or not at all.
    async fn decide(
        &self,
        user: UserId,
        notification: &Notification,
        devices: Option<Vec<PushDevice>>,
    ) -> Result<Decision, StoreError> {
        let now = self.clock.now();
        if notification.is_stale(now) {
            return Ok(Decision::Skip("stale"));
        }
        let settings = NotificationSettings::of(self.store.as_ref(), user).await?;
        if !settings.categories.allows(notification.category) {
            return Ok(Decision::Skip("category_off"));
        }
        if notification.only_offline && self.presence.connected(user).await {
            return Ok(Decision::Skip("connected"));
        }
        let devices = match devices {
            Some(devices) => devices,
            None => self.store.devices(user).await?,
        };
        if devices.is_empty() {
            return Ok(Decision::Skip("no_device"));
        }
        // Devices of a platform this node cannot push to do not count against the cap.
        let devices: Vec<PushDevice> = devices
            .into_iter()
            .filter(|d| self.providers.for_platform(d.platform).is_some())
            .collect();
        if devices.is_empty() {
            return Ok(Decision::Skip("no_provider"));
        }
        let needs_zone = notification.capped
            || (settings.quiet_hours.is_some() && notification.category.waits_for_quiet_hours());
        let zone = match needs_zone {
            true => self.zone_of(user, &devices).await?,
            false => None,
        };
        if let Some(quiet) = settings.quiet_hours
            && notification.category.waits_for_quiet_hours()
            && let Some(end) = quiet.ends_after(now, zone)
        {
            if notification.is_stale(end) {
                return Ok(Decision::Skip("quiet_hours_stale"));
            }
            self.defer(user, notification, end).await?;
            return Ok(Decision::Defer(end));
        }
        Ok(Decision::Send {
            devices,
            day: days_since_epoch(local_date(now, zone)),
        })
    }

    /// Sends to the member's devices and acts on each answer.
    async fn send_and_settle(
        &self,
        user: UserId,
        devices: &[PushDevice],
        notification: &Notification,
    ) -> Result<Delivery, StoreError> {
        let results = self.send_to_devices(user, devices, notification).await;
        let mut delivery = (0, 0);
        for (device, outcome) in devices.iter().zip(results) {
            match self.settle(user, device, notification, outcome).await? {
                Settled::Sent => delivery.0 += 1,
                Settled::Retrying => delivery.1 += 1,
                Settled::Other => {}
            }
        }
        Ok(Delivery::Pushed {
            sent: delivery.0,
            retrying: delivery.1,
        })
    }

    /// Sends to every device at once (at most a handful per member).
    async fn send_to_devices(
        &self,
        user: UserId,
        devices: &[PushDevice],
        notification: &Notification,
    ) -> Vec<Option<SendOutcome>> {
        let sends = devices.iter().map(|device| async move {
            let provider = self.providers.for_platform(device.platform)?;
            let message = notification.render(device.locale.as_deref());
            let outcome = provider.send(&device.push_token, &message).await;
            tracing::debug!(user_id = %user, device_id = %device.device_id, provider = provider.name(), result = outcome.label(), kind = %notification.kind, "push sent");
            Some(outcome)
        });
        futures_util::future::join_all(sends).await
    }

    /// Acts on one device's answer: removes a dead token, queues a retry.
    async fn settle(
        &self,
        user: UserId,
        device: &PushDevice,
        notification: &Notification,
        outcome: Option<SendOutcome>,
    ) -> Result<Settled, StoreError> {
        let Some(outcome) = outcome else {
            self.metrics.skipped("no_provider");
            return Ok(Settled::Other);
        };
        match outcome {
            SendOutcome::Sent => Ok(Settled::Sent),
            SendOutcome::InvalidToken { reason } => {
                self.remove(user, device, &reason).await?;
                Ok(Settled::Other)
            }
            SendOutcome::Retry { reason, after } => {
                tracing::info!(user_id = %user, device_id = %device.device_id, %reason, "push to retry");
                let due = self.clock.now() + millis(after.unwrap_or(DEFAULT_RETRY));
                self.queue_device_retry(user, device, notification, due)
                    .await?;
                Ok(Settled::Retrying)
            }
            SendOutcome::Failed { reason } => {
                // Queued anyway: its one more attempt fails for good and leaves a dead
                // letter in the ops console, with the reason, like any other.
                tracing::warn!(user_id = %user, device_id = %device.device_id, %reason, "push refused");
                self.queue_device_retry(user, device, notification, self.clock.now())
                    .await?;
                Ok(Settled::Other)
            }
        }
    }

    async fn remove(
        &self,
        user: UserId,
        device: &PushDevice,
        reason: &str,
    ) -> Result<(), StoreError> {
        let removed = self
            .store
            .delete_device_token(user, &device.device_id, &device.push_token)
            .await?;
        if removed {
            let provider = self
                .providers
                .for_platform(device.platform)
                .map_or("none", |p| p.name());
            self.metrics.device_removed(provider, reason);
            tracing::info!(user_id = %user, device_id = %device.device_id, reason, "device removed: its push token is no longer valid");
        }
        Ok(())
    }

    async fn queue_device_retry(
        &self,
        user: UserId,
        device: &PushDevice,
        notification: &Notification,
        due: UnixMillis,
    ) -> Result<(), StoreError> {
        let item = DeviceItem {
            user,
            device_id: device.device_id.clone(),
            push_token: device.push_token.clone(),
            notification: notification.clone(),
        };
        let id = items::item_id(&[
            items::DEVICE_KIND,
            &user.to_string(),
            &device.device_id,
            &notification.collapse_id,
            &notification.stale_at.to_string(),
        ]);
        self.outbox
            .enqueue(&items::outbox_item(id, items::DEVICE_KIND, &item, due))
            .await?;
        Ok(())
    }

    /// Queues the notification again for the end of the member's quiet hours, when every
    /// rule is checked anew.
    async fn defer(
        &self,
        user: UserId,
        notification: &Notification,
        until: UnixMillis,
    ) -> Result<(), StoreError> {
        let item = UserItem {
            user,
            notification: notification.clone(),
        };
        // One held push per kind and collapse id and night: a night of social windows
        // ends in one push, not one per window.
        let id = items::item_id(&[
            "quiet",
            &user.to_string(),
            &notification.kind,
            &notification.collapse_id,
            &until.to_string(),
        ]);
        self.outbox
            .enqueue(&items::outbox_item(id, items::USER_KIND, &item, until))
            .await?;
        Ok(())
    }

    /// The member's zone: their profile's, else the first device that names one.
    async fn zone_of(
        &self,
        user: UserId,
        devices: &[PushDevice],
    ) -> Result<Option<TimeZone>, StoreError> {
        if let Some(zone) = self
            .users
            .user_by_id(user)
            .await?
            .and_then(|record| record.timezone)
        {
            return Ok(Some(zone));
        }
        Ok(devices
            .iter()
            .filter_map(|d| d.timezone.as_deref())
            .find_map(|z| TimeZone::parse(z).ok()))
    }

    /// A `push.device` retry: the device's current token gets it, once.
    pub async fn retry_device(&self, item: &DeviceItem) -> Result<(), HandleError> {
        let retry = |e: StoreError| HandleError::Retry(e.to_string());
        if item.notification.is_stale(self.clock.now()) {
            self.metrics.skipped("stale");
            return Ok(());
        }
        let devices = self.store.devices(item.user).await.map_err(retry)?;
        let Some(device) = devices.into_iter().find(|d| d.device_id == item.device_id) else {
            // Removed or signed out meanwhile: nothing to do.
            return Ok(());
        };
        let Some(provider) = self.providers.for_platform(device.platform) else {
            return Err(HandleError::Permanent(format!(
                "no push provider is configured for {}",
                device.platform.as_str()
            )));
        };
        let message = item.notification.render(device.locale.as_deref());
        match provider.send(&device.push_token, &message).await {
            SendOutcome::Sent => Ok(()),
            SendOutcome::InvalidToken { reason } => {
                self.remove(item.user, &device, &reason)
                    .await
                    .map_err(retry)?;
                Ok(())
            }
            SendOutcome::Retry {
                reason,
                after: Some(after),
            } => Err(HandleError::RetryAfter(reason, after)),
            SendOutcome::Retry {
                reason,
                after: None,
            } => Err(HandleError::Retry(reason)),
            SendOutcome::Failed { reason } => Err(HandleError::Permanent(reason)),
        }
    }

    /// The operator's test push: every device of the member, now, whatever the settings;
    /// answers what each provider said.
    pub async fn test_push(
        &self,
        user: UserId,
        notification: &Notification,
    ) -> Result<Vec<DeviceResult>, StoreError> {
        let devices = self.store.devices(user).await?;
        let outcomes = self.send_to_devices(user, &devices, notification).await;
        let mut results = Vec::with_capacity(devices.len());
        for (device, outcome) in devices.into_iter().zip(outcomes) {
            let outcome = outcome.unwrap_or(SendOutcome::Failed {
                reason: format!(
                    "no push provider is configured for {}",
                    device.platform.as_str()
                ),
            });
            if let SendOutcome::InvalidToken { reason } = &outcome {
                self.remove(user, &device, reason).await?;
            }
            results.push(DeviceResult {
                device_id: device.device_id,
                platform: device.platform,
                outcome,
            });
        }
        Ok(results)
    }
}

/// What the rules say about one member.
enum Decision {
    Skip(&'static str),
    /// Queued again for the end of the quiet hours.
    Defer(UnixMillis),
    /// Send to these devices; `day` is the member's day (for the daily cap).
    Send {
        devices: Vec<PushDevice>,
        day: i32,
    },
}

enum Settled {
    Sent,
    Retrying,
    Other,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 2)
}

fn days_since_epoch(date: chrono::NaiveDate) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}
