//! The audit log: who changed what through the admin API, newest first.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::UnixMillis;
use crate::ports::store::StoreError;

/// One admin action that succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// A v7 uuid: entries sort by it in time order.
    pub id: Uuid,
    pub at: UnixMillis,
    /// `user:<uuid>` or `client:<id>`.
    pub actor: String,
    pub method: String,
    /// The route's pattern, `/v1/admin/users/{id}/revoke`.
    pub route: String,
    /// The path as called, naming the target.
    pub path: String,
    pub status: u16,
    pub request_id: Option<String>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Up to `limit` entries older than `before` (all when `None`), newest first.
    async fn audit_entries(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}
