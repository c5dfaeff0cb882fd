//! Entitlements in the embedded store, keyed `user<sep>name` so a user's are one range.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::{Entitlement, EntitlementStore, StoreError};

use super::{ENTITLEMENTS, EmbeddedStore, backend, decode, encode, key, prefix_range};

/// Writes the entitlement inside `txn` (also used by subscription commits).
pub(super) fn put_entitlement(
    txn: &redb::WriteTransaction,
    user: UserId,
    entitlement: &Entitlement,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(ENTITLEMENTS).map_err(backend)?;
    let id = key(&[&user.to_string(), &entitlement.name]);
    table
        .insert(id.as_str(), encode(entitlement)?.as_slice())
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl EntitlementStore for EmbeddedStore {
    async fn grant_entitlement(
        &self,
        user: UserId,
        entitlement: &Entitlement,
    ) -> Result<(), StoreError> {
        let entitlement = entitlement.clone();
        self.write("grant_entitlement", move |txn| {
            put_entitlement(txn, user, &entitlement)
        })
        .await
    }

    async fn entitlements(&self, user: UserId) -> Result<Vec<Entitlement>, StoreError> {
        self.read("entitlements", move |txn| {
            let table = txn.open_table(ENTITLEMENTS).map_err(backend)?;
            let (start, end) = prefix_range(&user.to_string());
            table
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
                .map(|entry| decode(entry.map_err(backend)?.1.value()))
                .collect()
        })
        .await
    }
}
