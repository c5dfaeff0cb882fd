//! Sign-in identities in the embedded store: by provider and subject, and each user's by
//! provider; the single writer keeps the two in step.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::accounts::{Identity, IdentityStore, SocialProvider};
use fitpulse_actors::ports::store::StoreError;
use redb::ReadableTable;

use super::{
    EmbeddedStore, IDENTITIES, USER_IDENTITIES, backend, decode, encode, key, prefix_range,
};

fn identity_key(provider: SocialProvider, subject: &str) -> String {
    key(&[provider.as_str(), subject])
}

#[async_trait]
impl IdentityStore for EmbeddedStore {
    async fn link_identity(&self, identity: &Identity) -> Result<(), StoreError> {
        let identity = identity.clone();
        self.write("link_identity", move |txn| {
            let mut identities = txn.open_table(IDENTITIES).map_err(backend)?;
            let id_key = identity_key(identity.provider, &identity.subject);
            if identities.get(id_key.as_str()).map_err(backend)?.is_some() {
                return Err(StoreError::Conflict { what: "identity" });
            }
            identities
                .insert(id_key.as_str(), encode(&identity)?.as_slice())
                .map_err(backend)?;
            let mut by_user = txn.open_table(USER_IDENTITIES).map_err(backend)?;
            let user_key = key(&[&identity.user.to_string(), identity.provider.as_str()]);
            by_user
                .insert(user_key.as_str(), id_key.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn identity(
        &self,
        provider: SocialProvider,
        subject: &str,
    ) -> Result<Option<Identity>, StoreError> {
        let id_key = identity_key(provider, subject);
        self.read("identity", move |txn| {
            let identities = txn.open_table(IDENTITIES).map_err(backend)?;
            let row = identities.get(id_key.as_str()).map_err(backend)?;
            row.map(|bytes| decode(bytes.value())).transpose()
        })
        .await
    }

    async fn identities_of(&self, user: UserId) -> Result<Vec<Identity>, StoreError> {
        self.read("identities_of", move |txn| {
            let by_user = txn.open_table(USER_IDENTITIES).map_err(backend)?;
            let identities = txn.open_table(IDENTITIES).map_err(backend)?;
            let (start, end) = prefix_range(&user.to_string());
            let mut found = Vec::new();
            for entry in by_user
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
            {
                let (_, id_key) = entry.map_err(backend)?;
                if let Some(bytes) = identities.get(id_key.value()).map_err(backend)? {
                    found.push(decode(bytes.value())?);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn unlink_identity(
        &self,
        user: UserId,
        provider: SocialProvider,
    ) -> Result<bool, StoreError> {
        self.write("unlink_identity", move |txn| {
            let mut by_user = txn.open_table(USER_IDENTITIES).map_err(backend)?;
            let user_key = key(&[&user.to_string(), provider.as_str()]);
            let Some(id_key) = by_user
                .remove(user_key.as_str())
                .map_err(backend)?
                .map(|v| v.value().to_owned())
            else {
                return Ok(false);
            };
            let mut identities = txn.open_table(IDENTITIES).map_err(backend)?;
            identities.remove(id_key.as_str()).map_err(backend)?;
            Ok(true)
        })
        .await
    }
}
