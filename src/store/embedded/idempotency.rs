//! Idempotency keys in the embedded store. An entry expires after
//! `IDEMPOTENCY_TTL_SECONDS`; an expired entry is replaced by the next claim.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, now_millis};
use fitpulse_actors::ports::store::{
    IDEMPOTENCY_TTL_SECONDS, IdempotencyClaim, IdempotencyKey, IdempotencyStore, StoreError,
    StoredResponse,
};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::{EmbeddedStore, IDEMPOTENCY, backend, key};

#[derive(Serialize, Deserialize)]
struct Entry {
    fingerprint: String,
    response: Option<StoredResponse>,
    expires_at: UnixMillis,
}

fn entry_key(k: &IdempotencyKey) -> String {
    key(&[&k.scope, &k.key])
}

#[async_trait]
impl IdempotencyStore for EmbeddedStore {
    async fn claim(
        &self,
        k: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<IdempotencyClaim, StoreError> {
        let (id, fingerprint) = (entry_key(k), fingerprint.to_owned());
        self.write("idempotency_claim", move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY).map_err(backend)?;
            let now = now_millis();
            if let Some(bytes) = table.get(id.as_str()).map_err(backend)? {
                let entry: Entry =
                    serde_json::from_slice(bytes.value()).map_err(StoreError::backend)?;
                if entry.expires_at > now {
                    return Ok(IdempotencyClaim::Seen {
                        fingerprint: entry.fingerprint,
                        response: entry.response,
                    });
                }
            }
            let entry = Entry {
                fingerprint,
                response: None,
                expires_at: now + i64::from(IDEMPOTENCY_TTL_SECONDS) * 1000,
            };
            let bytes = serde_json::to_vec(&entry).map_err(StoreError::backend)?;
            table
                .insert(id.as_str(), bytes.as_slice())
                .map_err(backend)?;
            Ok(IdempotencyClaim::Fresh)
        })
        .await
    }

    async fn complete(
        &self,
        k: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let (id, response) = (entry_key(k), response.clone());
        self.write("idempotency_complete", move |txn| {
            let mut table = txn.open_table(IDEMPOTENCY).map_err(backend)?;
            let existing = table.get(id.as_str()).map_err(backend)?.map(|bytes| {
                serde_json::from_slice::<Entry>(bytes.value()).map_err(StoreError::backend)
            });
            // Completing a key nobody claimed is a caller bug; refuse rather than invent one.
            let Some(entry) = existing.transpose()? else {
                return Err(StoreError::backend(std::io::Error::other(
                    "idempotency key completed without a claim",
                )));
            };
            let entry = Entry {
                response: Some(response),
                ..entry
            };
            let bytes = serde_json::to_vec(&entry).map_err(StoreError::backend)?;
            table
                .insert(id.as_str(), bytes.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}
