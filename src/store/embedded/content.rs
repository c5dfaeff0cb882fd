//! Catalog items and operator settings in the embedded store, as JSON documents.

use async_trait::async_trait;
use fitpulse_actors::domain::{ItemRef, UnixMillis, now_millis};
use fitpulse_actors::ports::store::{ContentRecord, ContentStore, SettingStore, StoreError};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use super::{CONTENT, EmbeddedStore, KEY_SEPARATOR, SETTINGS, backend, decode, encode, key};

/// The stored value of a catalog row.
#[derive(Serialize, Deserialize)]
struct Row {
    doc: String,
    updated_at: UnixMillis,
}

#[async_trait]
impl ContentStore for EmbeddedStore {
    async fn put_content(&self, records: &[ContentRecord]) -> Result<(), StoreError> {
        let rows = records
            .iter()
            .map(|record| {
                let id = key(&[record.item.kind().as_str(), record.item.id()]);
                let row = encode(&Row {
                    doc: record.doc.clone(),
                    updated_at: record.updated_at,
                })?;
                Ok((id, row))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // One transaction: a batch (the demo seed) is one commit, not one per item.
        self.write("put_content", move |txn| {
            let mut table = txn.open_table(CONTENT).map_err(backend)?;
            for (id, row) in &rows {
                table.insert(id.as_str(), row.as_slice()).map_err(backend)?;
            }
            Ok(())
        })
        .await
    }

    async fn all_content(&self) -> Result<Vec<ContentRecord>, StoreError> {
        self.read("all_content", move |txn| {
            let table = txn.open_table(CONTENT).map_err(backend)?;
            let mut records = Vec::new();
            for entry in table.iter().map_err(backend)? {
                let (id, row) = entry.map_err(backend)?;
                let (kind, id) = id
                    .value()
                    .split_once(KEY_SEPARATOR)
                    .ok_or_else(|| StoreError::backend(std::io::Error::other("a malformed key")))?;
                let item = ItemRef::parse(kind, id).map_err(StoreError::backend)?;
                let row: Row = decode(row.value())?;
                records.push(ContentRecord {
                    item,
                    doc: row.doc,
                    updated_at: row.updated_at,
                });
            }
            Ok(records)
        })
        .await
    }
}

#[async_trait]
impl SettingStore for EmbeddedStore {
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.read("setting", move |txn| {
            let table = txn.open_table(SETTINGS).map_err(backend)?;
            let row = table.get(name.as_str()).map_err(backend)?;
            row.map(|r| decode::<Row>(r.value()).map(|r| r.doc))
                .transpose()
        })
        .await
    }

    async fn put_setting(&self, name: &str, doc: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        let row = encode(&Row {
            doc: doc.to_owned(),
            updated_at: now_millis(),
        })?;
        self.write("put_setting", move |txn| {
            let mut table = txn.open_table(SETTINGS).map_err(backend)?;
            table
                .insert(name.as_str(), row.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }
}
