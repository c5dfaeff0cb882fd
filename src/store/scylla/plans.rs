//! Users' plans in the scylla store, one JSON document per user.

use async_trait::async_trait;
use fitpulse_actors::domain::{UserId, now_millis};
use fitpulse_actors::ports::store::{PlanStore, StoreError};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::{ConnectError, ScyllaStore, prepare};

pub(super) struct Statements {
    get: PreparedStatement,
    put: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            get: prepare(session, "SELECT plan FROM plans WHERE user_id = ?").await?,
            put: prepare(
                session,
                "INSERT INTO plans (user_id, plan, updated_at) VALUES (?, ?, ?)",
            )
            .await?,
        })
    }
}

#[async_trait]
impl PlanStore for ScyllaStore {
    async fn plan(&self, user: UserId) -> Result<Option<String>, StoreError> {
        self.ops
            .time("plan", async {
                let row: Option<(Option<String>,)> = self
                    .maybe_row(&self.plan_statements.get, (user.as_uuid(),))
                    .await?;
                Ok(row.and_then(|(plan,)| plan))
            })
            .await
    }

    async fn put_plan(&self, user: UserId, plan: &str) -> Result<(), StoreError> {
        self.ops
            .time("put_plan", async {
                self.exec(
                    &self.plan_statements.put,
                    (user.as_uuid(), plan, CqlTimestamp(now_millis())),
                )
                .await
            })
            .await
    }
}
