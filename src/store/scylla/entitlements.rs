//! Entitlements in the scylla store: one partition per user, a row per entitlement name.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::{Entitlement, EntitlementStore, StoreError};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::{ConnectError, ScyllaStore, execution_error, prepare};

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
                self.session
                    .execute_unpaged(&self.entitlement_statements.grant, values)
                    .await
                    .map(|_| ())
                    .map_err(execution_error)
            })
            .await
    }

    async fn entitlements(&self, user: UserId) -> Result<Vec<Entitlement>, StoreError> {
        self.ops
            .time("entitlements", async {
                let rows = self
                    .session
                    .execute_unpaged(&self.entitlement_statements.list, (user.as_uuid(),))
                    .await
                    .map_err(execution_error)?
                    .into_rows_result()
                    .map_err(StoreError::backend)?;
                rows.rows::<(String, Option<CqlTimestamp>, Option<String>)>()
                    .map_err(StoreError::backend)?
                    .map(|row| {
                        let (name, expires_at, source) = row.map_err(StoreError::backend)?;
                        Ok(Entitlement {
                            name,
                            expires_at: expires_at.map(|t| t.0),
                            source: source.unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .await
    }
}
