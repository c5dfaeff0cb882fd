//! Likes in the embedded store: one row per (user, item) and a count per item, changed
//! together in one transaction so the count always equals the rows. Likes and unlikes
//! arriving together share a transaction (`grouped`): a burst pays one commit.

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

/// A like (`liking`) or unlike of one item by one user, with its keys.
pub(super) struct LikeOp {
    like: String,
    count: String,
    liking: bool,
}

impl LikeOp {
    fn new(user: UserId, item: &ItemRef, liking: bool) -> LikeOp {
        LikeOp {
            like: like_key(user, item),
            count: count_key(item),
            liking,
        }
    }
}

/// Applies a like or unlike inside a (group's) transaction: the row and the count change
/// together, and nothing changes when the row already is as asked. Answers whether it
/// changed anything.
pub(super) fn apply(txn: &redb::WriteTransaction, op: &LikeOp) -> Result<bool, StoreError> {
    let LikeOp {
        like,
        count,
        liking,
    } = op;
    let liking = *liking;
    let mut likes = txn.open_table(LIKES).map_err(backend)?;
    let changed = if liking {
        if likes.get(like.as_str()).map_err(backend)?.is_some() {
            false
        } else {
            likes.insert(like.as_str(), now_millis()).map_err(backend)?;
            true
        }
    } else {
        likes.remove(like.as_str()).map_err(backend)?.is_some()
    };
    if !changed {
        return Ok(false);
    }
    let mut counts = txn.open_table(LIKE_COUNTS).map_err(backend)?;
    let current = counts
        .get(count.as_str())
        .map_err(backend)?
        .map_or(0, |v| v.value());
    let next = if liking {
        current + 1
    } else {
        current.saturating_sub(1)
    };
    counts.insert(count.as_str(), next).map_err(backend)?;
    Ok(true)
}

#[async_trait]
impl LikeStore for EmbeddedStore {
    async fn like(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        let op = LikeOp::new(user, item, true);
        self.ops.time("like", self.likes.submit(op)).await
    }

    async fn unlike(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        let op = LikeOp::new(user, item, false);
        self.ops.time("unlike", self.likes.submit(op)).await
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
