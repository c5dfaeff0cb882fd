//! One-time account tokens in the embedded store, by hash; the single writer makes taking
//! one exact.

use async_trait::async_trait;
use fitpulse_actors::ports::accounts::{AccountToken, AccountTokenStore};
use fitpulse_actors::ports::store::StoreError;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::{ACCOUNT_TOKENS, EmbeddedStore, backend, decode, encode};

#[derive(Serialize, Deserialize)]
struct StoredToken {
    token: AccountToken,
    taken: bool,
}

#[async_trait]
impl AccountTokenStore for EmbeddedStore {
    async fn insert_account_token(&self, token: &AccountToken) -> Result<(), StoreError> {
        let stored = StoredToken {
            token: token.clone(),
            taken: false,
        };
        self.write("insert_account_token", move |txn| {
            let mut tokens = txn.open_table(ACCOUNT_TOKENS).map_err(backend)?;
            tokens
                .insert(stored.token.hash.as_str(), encode(&stored)?.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn take_account_token(&self, hash: &str) -> Result<Option<AccountToken>, StoreError> {
        let hash = hash.to_owned();
        self.write("take_account_token", move |txn| {
            let mut tokens = txn.open_table(ACCOUNT_TOKENS).map_err(backend)?;
            let existing = tokens
                .get(hash.as_str())
                .map_err(backend)?
                .map(|bytes| decode::<StoredToken>(bytes.value()))
                .transpose()?;
            let Some(mut stored) = existing.filter(|stored| !stored.taken) else {
                return Ok(None);
            };
            stored.taken = true;
            tokens
                .insert(hash.as_str(), encode(&stored)?.as_slice())
                .map_err(backend)?;
            Ok(Some(stored.token))
        })
        .await
    }
}
