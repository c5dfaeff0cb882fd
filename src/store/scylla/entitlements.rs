//! Entitlements in the scylla store: one partition per user, a row per entitlement name.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::{Entitlement, EntitlementStore, StoreError};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::{ConnectError, ScyllaStore, prepare};

pub(super) struct Statements {
    pub(super) grant: PreparedStatement,
    list: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            grant: prepare(
                session,
                "INSERT INTO entitlements (user_id, name, expires_at, source) VALUES (?, ?, ?, ?)",
            )
            .await?,
            list: prepare(
                session,
                "SELECT name, expires_at, source FROM entitlements WHERE user_id = ?",
            )
            .await?,
        })
    }
}

#[async_trait]
impl EntitlementStore for ScyllaStore {
    async fn grant_entitlement(
        &self,
        user: UserId,
        entitlement: &Entitlement,
    ) -> Result<(), StoreError> {
        self.ops
            .time("grant_entitlement", async {
                let values = (
                    user.as_uuid(),
                    &entitlement.name,
                    entitlement.expires_at.map(CqlTimestamp),
                    &entitlement.source,
                );
                self.exec(&self.entitlement_statements.grant, values).await
            })
            .await
    }

    async fn entitlements(&self, user: UserId) -> Result<Vec<Entitlement>, StoreError> {
        self.ops
            .time("entitlements", async {
                let rows: Vec<(String, Option<CqlTimestamp>, Option<String>)> = self
                    .rows(&self.entitlement_statements.list, (user.as_uuid(),))
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(name, expires_at, source)| Entitlement {
                        name,
                        expires_at: expires_at.map(|t| t.0),
                        source: source.unwrap_or_default(),
                    })
                    .collect())
            })
            .await
    }
}
