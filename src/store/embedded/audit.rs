//! The audit log in the embedded store, keyed by its v7 uuids, which sort in time order.

use async_trait::async_trait;
use fitpulse_actors::ports::audit::{AuditEntry, AuditStore};
use fitpulse_actors::ports::store::StoreError;
use uuid::Uuid;

use super::{AUDIT_LOG, EmbeddedStore, backend, decode, encode};

#[async_trait]
impl AuditStore for EmbeddedStore {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let entry = entry.clone();
        self.write("record_audit", move |txn| {
            let mut log = txn.open_table(AUDIT_LOG).map_err(backend)?;
            log.insert(entry.id.to_string().as_str(), encode(&entry)?.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn audit_entries(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read("audit_entries", move |txn| {
            let log = txn.open_table(AUDIT_LOG).map_err(backend)?;
            let end = before.map(|id| id.to_string());
            let range = match &end {
                Some(end) => log.range::<&str>(..end.as_str()),
                None => log.range::<&str>(..),
            }
            .map_err(backend)?;
            range
                .rev()
                .take(limit)
                .map(|row| {
                    let (_, bytes) = row.map_err(backend)?;
                    decode(bytes.value())
                })
                .collect()
        })
        .await
    }
}
