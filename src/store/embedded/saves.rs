//! Saves (bookmarks) in the embedded store: one row per (user, item).

use async_trait::async_trait;
use fitpulse_actors::domain::{ItemRef, UserId, now_millis};
use fitpulse_actors::ports::store::{Mark, SaveStore, StoreError};

use super::marks::marks_of;
use super::{EmbeddedStore, SAVES, backend, key};
use redb::ReadableTable;

fn save_key(user: UserId, item: &ItemRef) -> String {
    key(&[&user.to_string(), item.kind().as_str(), item.id()])
}

#[async_trait]
impl SaveStore for EmbeddedStore {
    async fn save(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        let row = save_key(user, item);
        self.write("save", move |txn| {
            let mut saves = txn.open_table(SAVES).map_err(backend)?;
            if saves.get(row.as_str()).map_err(backend)?.is_some() {
                return Ok(false);
            }
            saves.insert(row.as_str(), now_millis()).map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn unsave(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        let row = save_key(user, item);
        self.write("unsave", move |txn| {
            let mut saves = txn.open_table(SAVES).map_err(backend)?;
            Ok(saves.remove(row.as_str()).map_err(backend)?.is_some())
        })
        .await
    }

    async fn saved_of(&self, user: UserId) -> Result<Vec<Mark>, StoreError> {
        self.read("saved_of", move |txn| marks_of(txn, SAVES, user))
            .await
    }
}
