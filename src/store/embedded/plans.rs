//! Users' plans in the embedded store, one JSON document per user.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::{PlanStore, StoreError};

use super::{EmbeddedStore, PLANS, backend};

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
        let plan = plan.to_owned();
        self.write("put_plan", move |txn| {
            let mut table = txn.open_table(PLANS).map_err(backend)?;
            table
                .insert(user.to_string().as_str(), plan.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}
