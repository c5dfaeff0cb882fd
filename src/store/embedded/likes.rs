//! Likes in the embedded store: one row per (user, item) and a count per item, changed
//! together in one transaction so the count always equals the rows.

use async_trait::async_trait;
use fitpulse_actors::domain::{ItemRef, UserId, now_millis};
use fitpulse_actors::ports::store::{LikeStore, Mark, StoreError};
use redb::ReadableTable;

use super::marks::marks_of;
use super::{EmbeddedStore, LIKE_COUNTS, LIKES, backend, key};

fn like_key(user: UserId, item: &ItemRef) -> String {
    key(&[&user.to_string(), item.kind().as_str(), item.id()])
}

fn count_key(item: &ItemRef) -> String {
    key(&[item.kind().as_str(), item.id()])
}

#[async_trait]
impl LikeStore for EmbeddedStore {
    async fn like(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        let (like, count) = (like_key(user, item), count_key(item));
        self.write("like", move |txn| {
            let mut likes = txn.open_table(LIKES).map_err(backend)?;
            if likes.get(like.as_str()).map_err(backend)?.is_some() {
                return Ok(false);
            }
            likes.insert(like.as_str(), now_millis()).map_err(backend)?;
            let mut counts = txn.open_table(LIKE_COUNTS).map_err(backend)?;
            let current = counts
                .get(count.as_str())
                .map_err(backend)?
                .map_or(0, |v| v.value());
            counts
                .insert(count.as_str(), current + 1)
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn unlike(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        let (like, count) = (like_key(user, item), count_key(item));
        self.write("unlike", move |txn| {
            let mut likes = txn.open_table(LIKES).map_err(backend)?;
            if likes.remove(like.as_str()).map_err(backend)?.is_none() {
                return Ok(false);
            }
            let mut counts = txn.open_table(LIKE_COUNTS).map_err(backend)?;
            let current = counts
                .get(count.as_str())
                .map_err(backend)?
                .map_or(0, |v| v.value());
            counts
                .insert(count.as_str(), current.saturating_sub(1))
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn like_count(&self, item: &ItemRef) -> Result<u64, StoreError> {
        let count = count_key(item);
        self.read("like_count", move |txn| {
            let counts = txn.open_table(LIKE_COUNTS).map_err(backend)?;
            Ok(counts
                .get(count.as_str())
                .map_err(backend)?
                .map_or(0, |v| v.value()))
        })
        .await
    }

    async fn has_liked(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        let like = like_key(user, item);
        self.read("has_liked", move |txn| {
            let likes = txn.open_table(LIKES).map_err(backend)?;
            Ok(likes.get(like.as_str()).map_err(backend)?.is_some())
        })
        .await
    }

    async fn likes_of(&self, user: UserId) -> Result<Vec<Mark>, StoreError> {
        self.read("likes_of", move |txn| marks_of(txn, LIKES, user))
            .await
    }
}
