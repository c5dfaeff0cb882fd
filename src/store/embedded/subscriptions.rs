//! Subscriptions and purchase links in the embedded store. A commit writes the
//! subscription, its entitlement and its outbox items in one transaction. The counts by
//! product and state read every subscription: one process holds them all, and the census
//! asks once a minute.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use std::collections::BTreeMap;

use fitpulse_actors::ports::commerce::{
    SubscriptionCommit, SubscriptionCount, SubscriptionRecord, SubscriptionStore,
};
use fitpulse_actors::ports::store::StoreError;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::entitlements::put_entitlement;
use super::outbox::put_item;
use super::{
    EmbeddedStore, PURCHASE_LINKS, SUBSCRIPTIONS, backend, decode, encode, key, prefix_range,
};

/// The stored form of a subscription.
#[derive(Serialize, Deserialize)]
struct Row {
    user: UserId,
    id: String,
    product_id: String,
    state: String,
    expires_at: Option<i64>,
    auto_renew: bool,
    /// Absent in rows written before trials were tracked.
    #[serde(default)]
    trial: bool,
    changed_at: i64,
}

impl From<&SubscriptionRecord> for Row {
    fn from(s: &SubscriptionRecord) -> Self {
        Row {
            user: s.user,
            id: s.id.clone(),
            product_id: s.product_id.clone(),
            state: s.state.clone(),
            expires_at: s.expires_at,
            auto_renew: s.auto_renew,
            trial: s.trial,
            changed_at: s.changed_at,
        }
    }
}

impl From<Row> for SubscriptionRecord {
    fn from(r: Row) -> Self {
        SubscriptionRecord {
            user: r.user,
            id: r.id,
            product_id: r.product_id,
            state: r.state,
            expires_at: r.expires_at,
            auto_renew: r.auto_renew,
            trial: r.trial,
            changed_at: r.changed_at,
        }
    }
}

#[async_trait]
impl SubscriptionStore for EmbeddedStore {
    async fn commit_subscription(&self, commit: &SubscriptionCommit) -> Result<(), StoreError> {
        let commit = commit.clone();
        self.write("commit_subscription", move |txn| {
            let sub = &commit.subscription;
            let mut table = txn.open_table(SUBSCRIPTIONS).map_err(backend)?;
            let id = key(&[&sub.user.to_string(), &sub.id]);
            table
                .insert(id.as_str(), encode(&Row::from(sub))?.as_slice())
                .map_err(backend)?;
            drop(table);
            put_entitlement(txn, sub.user, &commit.entitlement)?;
            for item in &commit.outbox {
                put_item(txn, item)?;
            }
            Ok(())
        })
        .await
    }

    async fn subscriptions(&self, user: UserId) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.read("subscriptions", move |txn| {
            let table = txn.open_table(SUBSCRIPTIONS).map_err(backend)?;
            let (start, end) = prefix_range(&user.to_string());
            table
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
                .map(|entry| Ok(decode::<Row>(entry.map_err(backend)?.1.value())?.into()))
                .collect()
        })
        .await
    }

    async fn subscription(
        &self,
        user: UserId,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        let id = key(&[&user.to_string(), id]);
        self.read("subscription", move |txn| {
            let table = txn.open_table(SUBSCRIPTIONS).map_err(backend)?;
            let row = table.get(id.as_str()).map_err(backend)?;
            row.map(|r| decode::<Row>(r.value()).map(Into::into))
                .transpose()
        })
        .await
    }

    async fn link_purchase(&self, external_id: &str, user: UserId) -> Result<UserId, StoreError> {
        let external_id = external_id.to_owned();
        self.write("link_purchase", move |txn| {
            let mut table = txn.open_table(PURCHASE_LINKS).map_err(backend)?;
            if let Some(owner) = table.get(external_id.as_str()).map_err(backend)? {
                return decode(owner.value());
            }
            table
                .insert(external_id.as_str(), encode(&user)?.as_slice())
                .map_err(backend)?;
            Ok(user)
        })
        .await
    }

    async fn purchase_owner(&self, external_id: &str) -> Result<Option<UserId>, StoreError> {
        let external_id = external_id.to_owned();
        self.read("purchase_owner", move |txn| {
            let table = txn.open_table(PURCHASE_LINKS).map_err(backend)?;
            let row = table.get(external_id.as_str()).map_err(backend)?;
            row.map(|r| decode(r.value())).transpose()
        })
        .await
    }

    async fn subscription_counts(&self) -> Result<Vec<SubscriptionCount>, StoreError> {
        self.read("subscription_counts", move |txn| {
            let table = txn.open_table(SUBSCRIPTIONS).map_err(backend)?;
            let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
            for entry in table.iter().map_err(backend)? {
                let row: Row = decode(entry.map_err(backend)?.1.value())?;
                *counts.entry((row.product_id, row.state)).or_default() += 1;
            }
            Ok(counts
                .into_iter()
                .map(|((product_id, state), count)| SubscriptionCount {
                    product_id,
                    state,
                    count,
                })
                .collect())
        })
        .await
    }
}
