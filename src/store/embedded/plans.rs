//! Users' plans in the embedded store, one JSON document per user. Every edit of a plan
//! (an entry done, a swap, a line checked) stores the document again; edits arriving
//! together share a transaction (`grouped`), so a burst pays one commit, not one each.
//! A session stores its user's plan one edit after the other, and groups keep the order
//! of their queue, so the last edit is the one stored.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::{PlanStore, StoreError};

use super::{EmbeddedStore, PLANS, backend};

/// One user's plan document to store.
pub(super) struct PlanPut {
    user: String,
    plan: String,
}

/// Stores one plan document inside a (group's) transaction.
pub(super) fn put(txn: &redb::WriteTransaction, op: &PlanPut) -> Result<(), StoreError> {
    let mut table = txn.open_table(PLANS).map_err(backend)?;
    table
        .insert(op.user.as_str(), op.plan.as_str())
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl PlanStore for EmbeddedStore {
    async fn plan(&self, user: UserId) -> Result<Option<String>, StoreError> {
        self.read("plan", move |txn| {
            let table = txn.open_table(PLANS).map_err(backend)?;
            let row = table.get(user.to_string().as_str()).map_err(backend)?;
            Ok(row.map(|v| v.value().to_owned()))
        })
        .await
    }

    async fn put_plan(&self, user: UserId, plan: &str) -> Result<(), StoreError> {
        let op = PlanPut {
            user: user.to_string(),
            plan: plan.to_owned(),
        };
        self.ops.time("put_plan", self.plan_puts.submit(op)).await
    }
}

#[cfg(test)]
mod tests {
    use futures_util::future::join_all;

    use super::*;
    use crate::metrics::Metrics;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn edits_stored_together_keep_each_users_last() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = EmbeddedStore::open(dir.path(), &Metrics::new())
            .await
            .expect("store");
        let users: Vec<UserId> = (0..20).map(|_| UserId::random()).collect();
        // Ten versions of each user's plan, all submitted before the first is stored
        // (join_all polls them in this order), as a burst of edits is.
        let edits = (0..10).flat_map(|version| {
            users
                .iter()
                .map(move |user| (*user, format!(r#"{{"version":{version}}}"#)))
        });
        let stored = join_all(edits.map(|(user, plan)| {
            let store = &store;
            async move { store.put_plan(user, &plan).await }
        }))
        .await;
        assert!(stored.iter().all(Result::is_ok), "{stored:?}");
        for user in users {
            assert_eq!(
                store.plan(user).await.expect("read").as_deref(),
                Some(r#"{"version":9}"#)
            );
        }
    }
}
