//! Catalog items and operator settings in the scylla store, as JSON documents. Items live
//! in one partition per kind (see `cql/0004_content.cql`), read page by page at start.

use async_trait::async_trait;
use fitpulse_actors::domain::{ContentKind, ItemRef, now_millis};
use fitpulse_actors::ports::store::{ContentRecord, ContentStore, SettingStore, StoreError};
use futures_util::TryStreamExt;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::{ConnectError, ScyllaStore, prepare};

pub(super) struct Statements {
    put: PreparedStatement,
    by_kind: PreparedStatement,
    get_setting: PreparedStatement,
    put_setting: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        let mut by_kind = prepare(
            session,
            "SELECT id, doc, updated_at FROM content_items WHERE kind = ?",
        )
        .await?;
        by_kind.set_page_size(500);
        Ok(Statements {
            put: prepare(
                session,
                "INSERT INTO content_items (kind, id, doc, updated_at) VALUES (?, ?, ?, ?)",
            )
            .await?,
            by_kind,
            get_setting: prepare(session, "SELECT doc FROM settings WHERE name = ?").await?,
            put_setting: prepare(
                session,
                "INSERT INTO settings (name, doc, updated_at) VALUES (?, ?, ?)",
            )
            .await?,
        })
    }
}

#[async_trait]
impl ContentStore for ScyllaStore {
    async fn put_content(&self, records: &[ContentRecord]) -> Result<(), StoreError> {
        self.ops
            .time("put_content", async {
                // One write per item: a batch across partitions would only burden one
                // coordinator, and each write is idempotent, so a failed run can be repeated.
                for record in records {
                    let values = (
                        record.item.kind().as_str(),
                        record.item.id(),
                        record.doc.as_str(),
                        CqlTimestamp(record.updated_at),
                    );
                    self.exec(&self.content_statements.put, values).await?;
                }
                Ok(())
            })
            .await
    }

    async fn all_content(&self) -> Result<Vec<ContentRecord>, StoreError> {
        self.ops
            .time("all_content", async {
                let mut records = Vec::new();
                for kind in ContentKind::ALL {
                    let mut rows = self
                        .session
                        .execute_iter(self.content_statements.by_kind.clone(), (kind.as_str(),))
                        .await
                        .map_err(StoreError::unavailable)?
                        .rows_stream::<(String, String, Option<CqlTimestamp>)>()
                        .map_err(StoreError::backend)?;
                    while let Some((id, doc, updated_at)) =
                        rows.try_next().await.map_err(StoreError::unavailable)?
                    {
                        records.push(ContentRecord {
                            item: ItemRef::parse(kind.as_str(), &id)
                                .map_err(StoreError::backend)?,
                            doc,
                            updated_at: updated_at.map_or(0, |t| t.0),
                        });
                    }
                }
                Ok(records)
            })
            .await
    }
}

#[async_trait]
impl SettingStore for ScyllaStore {
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.ops
            .time("setting", async {
                let row: Option<(Option<String>,)> = self
                    .maybe_row(&self.content_statements.get_setting, (name,))
                    .await?;
                Ok(row.and_then(|(doc,)| doc))
            })
            .await
    }

    async fn put_setting(&self, name: &str, doc: &str) -> Result<(), StoreError> {
        self.ops
            .time("put_setting", async {
                self.exec(
                    &self.content_statements.put_setting,
                    (name, doc, CqlTimestamp(now_millis())),
                )
                .await
            })
            .await
    }
}
