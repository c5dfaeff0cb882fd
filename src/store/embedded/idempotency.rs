//! Idempotency keys in the embedded store. An entry expires after
//! `IDEMPOTENCY_TTL_SECONDS`; an expired entry is replaced by the next claim.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, now_millis};
use fitpulse_actors::ports::store::{
    IDEMPOTENCY_TTL_SECONDS, IdempotencyClaim, IdempotencyKey, IdempotencyStore, SeenKey,
    StoreError, StoredResponse,
};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::{EmbeddedStore, IDEMPOTENCY, backend, key};

#[derive(Serialize, Deserialize)]
pub(super) struct Entry {
    pub(super) fingerprint: String,
    pub(super) response: Option<StoredResponse>,
    pub(super) expires_at: UnixMillis,
    /// When the request holding it started (0 for entries older than the field).
    #[serde(default)]
    pub(super) claimed_at: UnixMillis,
}

impl Entry {
    /// A claim made at `now` for a body hashing to `fingerprint`.
    pub(super) fn claimed(fingerprint: String, now: UnixMillis) -> Entry {
        Entry {
            fingerprint,
            response: None,
            expires_at: now + i64::from(IDEMPOTENCY_TTL_SECONDS) * 1000,
            claimed_at: now,
        }
    }
}

pub(super) fn entry_key(k: &IdempotencyKey) -> String {
    key(&[&k.scope, &k.key])
}

/// The key's entry, unless it expired.
pub(super) fn live_entry(
    table: &redb::Table<&str, &[u8]>,
    id: &str,
    now: UnixMillis,
) -> Result<Option<Entry>, StoreError> {
    let Some(bytes) = table.get(id).map_err(backend)? else {
        return Ok(None);
    };
    let entry: Entry = serde_json::from_slice(bytes.value()).map_err(StoreError::backend)?;
    Ok((entry.expires_at > now).then_some(entry))
}

pub(super) fn put_entry(
    table: &mut redb::Table<&str, &[u8]>,
    id: &str,
    entry: &Entry,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(entry).map_err(StoreError::backend)?;
    table.insert(id, bytes.as_slice()).map_err(backend)?;
    Ok(())
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
            if let Some(entry) = live_entry(&table, &id, now)? {
                return Ok(IdempotencyClaim::Seen {
                    fingerprint: entry.fingerprint,
                    response: entry.response,
                });
            }
            put_entry(&mut table, &id, &Entry::claimed(fingerprint, now))?;
            Ok(IdempotencyClaim::Fresh)
        })
        .await
    }

    async fn seen(&self, k: &IdempotencyKey) -> Result<Option<SeenKey>, StoreError> {
        let id = entry_key(k);
        self.read("idempotency_seen", move |txn| {
            let table = txn.open_table(IDEMPOTENCY).map_err(backend)?;
            let Some(bytes) = table.get(id.as_str()).map_err(backend)? else {
                return Ok(None);
            };
            let entry: Entry =
                serde_json::from_slice(bytes.value()).map_err(StoreError::backend)?;
            Ok((entry.expires_at > now_millis()).then_some(SeenKey {
                fingerprint: entry.fingerprint,
                response: entry.response,
            }))
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
            put_entry(&mut table, &id, &entry)
        })
        .await
    }
}
