//! Likes in the scylla store: a row per (user, item) written with a lightweight transaction
//! on the user's partition (never hot), and a counter per item changed only by the write
//! that actually inserted or deleted the row. Counters are not idempotent, so they are
//! never retried.

use async_trait::async_trait;
use fitpulse_actors::domain::{ItemRef, UserId, now_millis};
use fitpulse_actors::ports::store::{LikeStore, Mark, StoreError};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{Counter, CqlTimestamp};
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};

pub(super) struct Statements {
    insert_like: PreparedStatement,
    delete_like: PreparedStatement,
    like_token: PreparedStatement,
    like_token_serial: PreparedStatement,
    increment: PreparedStatement,
    decrement: PreparedStatement,
    count: PreparedStatement,
    list: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        const TOKEN: &str =
            "SELECT like_token FROM likes_by_user WHERE user_id = ? AND kind = ? AND item_id = ?";
        Ok(Statements {
            insert_like: prepare(
                session,
                "INSERT INTO likes_by_user (user_id, kind, item_id, liked_at, like_token) \
                 VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            delete_like: prepare(
                session,
                "DELETE FROM likes_by_user WHERE user_id = ? AND kind = ? AND item_id = ? IF EXISTS",
            )
            .await?,
            like_token: prepare(session, TOKEN).await?,
            like_token_serial: prepare_serial(session, TOKEN).await?,
            increment: prepare(
                session,
                "UPDATE like_counts SET likes = likes + 1 WHERE kind = ? AND item_id = ?",
            )
            .await?,
            decrement: prepare(
                session,
                "UPDATE like_counts SET likes = likes - 1 WHERE kind = ? AND item_id = ?",
            )
            .await?,
            count: prepare(
                session,
                "SELECT likes FROM like_counts WHERE kind = ? AND item_id = ?",
            )
            .await?,
            list: prepare(
                session,
                "SELECT kind, item_id, liked_at FROM likes_by_user WHERE user_id = ?",
            )
            .await?,
        })
    }
}

impl ScyllaStore {
    /// The token of the like row, if there is one.
    async fn like_token(
        &self,
        user: UserId,
        item: &ItemRef,
        serial: bool,
    ) -> Result<Option<Uuid>, StoreError> {
        let st = &self.like_statements;
        let statement = if serial {
            &st.like_token_serial
        } else {
            &st.like_token
        };
        Ok(self
            .maybe_row::<(Option<Uuid>,)>(
                statement,
                (user.as_uuid(), item.kind().as_str(), item.id()),
            )
            .await?
            .map(|(token,)| token.unwrap_or_default()))
    }

    async fn change_count(&self, item: &ItemRef, up: bool) -> Result<(), StoreError> {
        let st = &self.like_statements;
        let statement = if up { &st.increment } else { &st.decrement };
        self.exec(statement, (item.kind().as_str(), item.id()))
            .await
    }
}

#[async_trait]
impl LikeStore for ScyllaStore {
    async fn like(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        self.ops
            .time("like", async {
                let token = Uuid::new_v4();
                let values = (
                    user.as_uuid(),
                    item.kind().as_str(),
                    item.id(),
                    CqlTimestamp(now_millis()),
                    token,
                );
                let inserted = match run_lwt(
                    &self.session,
                    &self.like_statements.insert_like,
                    values,
                )
                .await?
                {
                    Lwt::Applied => true,
                    Lwt::NotApplied => false,
                    Lwt::Unknown => self.like_token(user, item, true).await? == Some(token),
                };
                if inserted {
                    self.change_count(item, true).await?;
                }
                Ok(inserted)
            })
            .await
    }

    async fn unlike(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        self.ops
            .time("unlike", async {
                let values = (user.as_uuid(), item.kind().as_str(), item.id());
                let deleted = match run_lwt(
                    &self.session,
                    &self.like_statements.delete_like,
                    values,
                )
                .await?
                {
                    Lwt::Applied => true,
                    Lwt::NotApplied => false,
                    // Gone after an in-doubt delete: ours, unless another device of the
                    // same user unliked in the same instant (then the count is one low).
                    Lwt::Unknown => self.like_token(user, item, true).await?.is_none(),
                };
                if deleted {
                    self.change_count(item, false).await?;
                }
                Ok(deleted)
            })
            .await
    }

    async fn like_count(&self, item: &ItemRef) -> Result<u64, StoreError> {
        self.ops
            .time("like_count", async {
                let count = self
                    .maybe_row::<(Option<Counter>,)>(
                        &self.like_statements.count,
                        (item.kind().as_str(), item.id()),
                    )
                    .await?
                    .and_then(|(c,)| c)
                    .map_or(0, |c| c.0);
                Ok(u64::try_from(count).unwrap_or(0))
            })
            .await
    }

    async fn has_liked(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        self.ops
            .time("has_liked", async {
                Ok(self.like_token(user, item, false).await?.is_some())
            })
            .await
    }

    async fn likes_of(&self, user: UserId) -> Result<Vec<Mark>, StoreError> {
        self.ops
            .time("likes_of", async {
                self.read_marks(&self.like_statements.list, user).await
            })
            .await
    }
}
