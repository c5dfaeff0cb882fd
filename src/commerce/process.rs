//! Processing queued store notifications (outbox kinds `webhook.*`): find the user, apply
//! the event to the subscription's state machine, store the new state together with the
//! user's entitlement and the emails it causes, then hand the session the new entitlements
//! (which pushes `entitlements.changed` to every device).
//!
//! The entitlement is derived from all of the user's subscriptions that unlock it, so one
//! expiring while another is active takes nothing away.

use std::sync::Arc;

use async_trait::async_trait;
use fitpulse_actors::domain::{UserId, now_millis};
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::commerce::{OutboxItem, SubscriptionCommit, SubscriptionRecord};
use fitpulse_actors::ports::store::{Entitlement, StoreError};
use serde_json::json;

use super::notification::Notification;
use super::products::by_id;
use super::state::{self, Standing, SubscriptionState};
use super::transitions::transition;
use crate::email::{Template, email_item};
use crate::metrics::{EntitlementChange, Metrics, WebhookProvider, WebhookResult};
use crate::outbox::handler::{HandleError, Handler};
use crate::store::Stores;

/// How long before a cancelled subscription ends its "expiring soon" email goes out.
const EXPIRING_NOTICE_MS: i64 = 3 * 86_400_000;

pub struct WebhookProcessor {
    stores: Stores,
    hub: Hub,
    metrics: Metrics,
    notifier: Arc<crate::push::Notifier>,
}

impl From<StoreError> for HandleError {
    fn from(err: StoreError) -> Self {
        HandleError::Retry(err.to_string())
    }
}

fn standing_of(record: &SubscriptionRecord) -> Option<Standing> {
    Some(Standing {
        state: SubscriptionState::parse(&record.state)?,
        expires_at: record.expires_at,
        auto_renew: record.auto_renew,
        trial: record.trial,
        changed_at: record.changed_at,
    })
}

fn provider_label(provider: &str) -> WebhookProvider {
    match provider {
        "appstore" => WebhookProvider::AppStore,
        "googleplay" => WebhookProvider::GooglePlay,
        _ => WebhookProvider::Payments,
    }
}

impl WebhookProcessor {
    pub fn new(
        stores: Stores,
        hub: Hub,
        metrics: Metrics,
        notifier: Arc<crate::push::Notifier>,
    ) -> Arc<WebhookProcessor> {
        Arc::new(WebhookProcessor {
            stores,
            hub,
            metrics,
            notifier,
        })
    }

    /// The user of the notification: named in it (then the purchase is linked to them) or
    /// found through an earlier link.
    async fn user_of(&self, note: &Notification) -> Result<UserId, HandleError> {
        let subs = &self.stores.subscriptions;
        match note.user {
            Some(user) => Ok(subs.link_purchase(&note.subscription_id, user).await?),
            // The app links a purchase right after buying; the notification may come
            // first, so this is worth retrying.
            None => subs
                .purchase_owner(&note.subscription_id)
                .await?
                .ok_or_else(|| {
                    HandleError::Retry(format!("no user linked to {}", note.subscription_id))
                }),
        }
    }

    async fn apply(&self, note: &Notification) -> Result<(), HandleError> {
        let user = self.user_of(note).await?;
        let product = by_id(&note.product_id).ok_or_else(|| {
            HandleError::Permanent(format!("unknown product {}", note.product_id))
        })?;
        let subs = self.stores.subscriptions.subscriptions(user).await?;
        let current = subs
            .iter()
            .find(|s| s.id == note.subscription_id)
            .and_then(standing_of);
        let Some(change) = state::apply(current, &note.event, note.at) else {
            return Ok(()); // older than what is stored
        };
        // Read before the commit, counted after it: a retry after a failed commit sees the
        // same stored standing, and one after a later failure sees the change stored.
        let counted = transition(current.as_ref(), &change.standing, &note.event);
        let now = now_millis();
        let record = SubscriptionRecord {
            user,
            id: note.subscription_id.clone(),
            product_id: product.id.into(),
            state: change.standing.state.as_str().into(),
            expires_at: change.standing.expires_at,
            auto_renew: change.standing.auto_renew,
            trial: change.standing.trial,
            changed_at: change.standing.changed_at,
        };
        let entitlement = self.entitlement_after(&subs, &record, product.entitlement, now);
        let mut outbox = self.emails(user, &change.emails, &record, now).await?;
        if change.emails.contains(&Template::PaymentFailed) {
            // Pushed too (to members whose app is closed), in the same commit.
            let grace = match change.standing.state {
                SubscriptionState::InGrace => change.standing.expires_at,
                _ => None,
            };
            let at = note.at.to_string();
            outbox.extend(self.notifier.user_item(
                user,
                crate::push::texts::payment_failed(grace, now),
                &[&record.id, &at],
                now,
            ));
        }
        self.stores
            .subscriptions
            .commit_subscription(&SubscriptionCommit {
                subscription: record,
                entitlement,
                outbox,
            })
            .await?;
        // The same news again (under another notification id) stores what is stored
        // already: it changed nothing, so it is not counted again.
        let replayed = current.as_ref() == Some(&change.standing);
        if let Some(label) = EntitlementChange::ALL
            .into_iter()
            .find(|c| c.as_str() == change.label)
            .filter(|_| !replayed)
        {
            self.metrics.entitlement_changed(label);
        }
        if let Some(counted) = counted {
            self.metrics
                .business
                .subscription_transition(product.id, counted);
        }
        let entitlements = self.stores.entitlements.entitlements(user).await?;
        if let Err(err) = self.hub.replace_entitlements(user, entitlements).await {
            // Stored already; the session learns it on its next start.
            tracing::warn!(user_id = %user, error = %err, "cannot push entitlements to the session");
        }
        Ok(())
    }

    /// The entitlement over every subscription of the user that unlocks it, with `changed`
    /// in place of its stored version: the latest access any of them gives.
    fn entitlement_after(
        &self,
        subs: &[SubscriptionRecord],
        changed: &SubscriptionRecord,
        name: &str,
        now: i64,
    ) -> Entitlement {
        let unlocks =
            |s: &&SubscriptionRecord| by_id(&s.product_id).is_some_and(|p| p.entitlement == name);
        let all = subs
            .iter()
            .filter(|s| s.id != changed.id)
            .chain(std::iter::once(changed));
        let access = all
            .filter(unlocks)
            .filter_map(|s| standing_of(s).and_then(|st| state::access_until(&st, now)))
            .max_by_key(|until| until.unwrap_or(i64::MAX));
        Entitlement {
            name: name.into(),
            // No access: expired as of now.
            expires_at: access.unwrap_or(Some(now)),
            source: changed.id.clone(),
        }
    }

    /// Outbox items for the change's emails, if the user has an email address.
    async fn emails(
        &self,
        user: UserId,
        templates: &[Template],
        record: &SubscriptionRecord,
        now: i64,
    ) -> Result<Vec<OutboxItem>, HandleError> {
        if templates.is_empty() {
            return Ok(Vec::new());
        }
        let Some(account) = self.stores.users.user_by_id(user).await? else {
            return Ok(Vec::new());
        };
        let Some(email) = account.email else {
            return Ok(Vec::new());
        };
        let product = by_id(&record.product_id).map_or(record.product_id.as_str(), |p| p.title);
        let fields = json!({
            "display_name": account.display_name.as_str(),
            "product": product,
            "expires_on": record.expires_at.map(|at| crate::content::plan::date_of(at).to_string()),
        });
        Ok(templates
            .iter()
            .map(|template| {
                let mut item = email_item(*template, &email, fields.clone(), now);
                if *template == Template::ExpiringSoon
                    && let Some(expires) = record.expires_at
                {
                    item.next_at = (expires - EXPIRING_NOTICE_MS).max(now);
                }
                item
            })
            .collect())
    }
}

#[async_trait]
impl Handler for WebhookProcessor {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandleError> {
        let note: Notification = serde_json::from_str(&item.payload)
            .map_err(|e| HandleError::Permanent(format!("unreadable notification: {e}")))?;
        let provider = provider_label(&note.provider);
        match self.apply(&note).await {
            Ok(()) => {
                self.metrics.webhook(provider, WebhookResult::Processed);
                Ok(())
            }
            Err(err) => {
                self.metrics.webhook(provider, WebhookResult::Failed);
                Err(err)
            }
        }
    }
}
