//! Refresh tokens in the embedded store: tokens by id, families with their revoked flag,
//! and each user's families for revoking them all at once.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::{
    RefreshRotation, RefreshTokenRecord, RefreshTokenState, RefreshTokenStore, StoreError,
};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    EmbeddedStore, REFRESH_FAMILIES, REFRESH_TOKENS, USER_FAMILIES, backend, decode, encode, key,
    prefix_range,
};

#[derive(Serialize, Deserialize)]
struct StoredToken {
    record: RefreshTokenRecord,
    used: bool,
    /// Absent on tokens used before rotations were recorded.
    #[serde(default)]
    rotation: Option<RefreshRotation>,
}

#[derive(Serialize, Deserialize)]
struct Family {
    user: UserId,
    revoked: bool,
}

fn revoke_family(txn: &WriteTransaction, family: &str) -> Result<(), StoreError> {
    let mut families = txn.open_table(REFRESH_FAMILIES).map_err(backend)?;
    let existing = families
        .get(family)
        .map_err(backend)?
        .map(|bytes| decode::<Family>(bytes.value()))
        .transpose()?;
    if let Some(mut entry) = existing {
        entry.revoked = true;
        families
            .insert(family, encode(&entry)?.as_slice())
            .map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl RefreshTokenStore for EmbeddedStore {
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        let token = token.clone();
        self.write("insert_refresh_token", move |txn| {
            let family = token.family.to_string();
            let mut families = txn.open_table(REFRESH_FAMILIES).map_err(backend)?;
            if families.get(family.as_str()).map_err(backend)?.is_none() {
                let entry = Family {
                    user: token.user,
                    revoked: false,
                };
                families
                    .insert(family.as_str(), encode(&entry)?.as_slice())
                    .map_err(backend)?;
                let mut by_user = txn.open_table(USER_FAMILIES).map_err(backend)?;
                by_user
                    .insert(key(&[&token.user.to_string(), &family]).as_str(), ())
                    .map_err(backend)?;
            }
            let mut tokens = txn.open_table(REFRESH_TOKENS).map_err(backend)?;
            let stored = StoredToken {
                record: token.clone(),
                used: false,
                rotation: None,
            };
            tokens
                .insert(token.id.to_string().as_str(), encode(&stored)?.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(&self, id: Uuid) -> Result<Option<RefreshTokenState>, StoreError> {
        self.read("refresh_token", move |txn| {
            let tokens = txn.open_table(REFRESH_TOKENS).map_err(backend)?;
            let Some(bytes) = tokens.get(id.to_string().as_str()).map_err(backend)? else {
                return Ok(None);
            };
            let stored: StoredToken = decode(bytes.value())?;
            let families = txn.open_table(REFRESH_FAMILIES).map_err(backend)?;
            let family_revoked = match families
                .get(stored.record.family.to_string().as_str())
                .map_err(backend)?
            {
                Some(bytes) => decode::<Family>(bytes.value())?.revoked,
                // A token whose family is gone cannot be trusted.
                None => true,
            };
            Ok(Some(RefreshTokenState {
                record: stored.record,
                used: stored.used,
                rotation: stored.rotation,
                family_revoked,
            }))
        })
        .await
    }

    async fn use_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        rotation: &RefreshRotation,
    ) -> Result<bool, StoreError> {
        let id = token.id.to_string();
        let rotation = rotation.clone();
        self.write("use_refresh_token", move |txn| {
            let mut tokens = txn.open_table(REFRESH_TOKENS).map_err(backend)?;
            let existing = tokens
                .get(id.as_str())
                .map_err(backend)?
                .map(|bytes| decode::<StoredToken>(bytes.value()))
                .transpose()?;
            let Some(mut stored) = existing else {
                return Ok(false);
            };
            if stored.used {
                return Ok(false);
            }
            stored.used = true;
            stored.rotation = Some(rotation);
            tokens
                .insert(id.as_str(), encode(&stored)?.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn revoke_token_family(&self, family: Uuid) -> Result<(), StoreError> {
        self.write("revoke_token_family", move |txn| {
            revoke_family(txn, &family.to_string())
        })
        .await
    }

    async fn revoke_user_tokens(&self, user: UserId) -> Result<(), StoreError> {
        self.write("revoke_user_tokens", move |txn| {
            let (start, end) = prefix_range(&user.to_string());
            let families: Vec<String> = {
                let by_user = txn.open_table(USER_FAMILIES).map_err(backend)?;
                let range = by_user
                    .range(start.as_str()..end.as_str())
                    .map_err(backend)?;
                range
                    .map(|entry| {
                        let (k, _) = entry.map_err(backend)?;
                        Ok(k.value()
                            .rsplit(super::KEY_SEPARATOR)
                            .next()
                            .unwrap_or("")
                            .to_owned())
                    })
                    .collect::<Result<_, StoreError>>()?
            };
            for family in families {
                revoke_family(txn, &family)?;
            }
            Ok(())
        })
        .await
    }
}
