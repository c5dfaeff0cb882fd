//! Saves (bookmarks) in the scylla store: a row per (user, item) in the user's partition,
//! written with a lightweight transaction so "did this change anything" is exact. The
//! partition is one user's, never hot.

use async_trait::async_trait;
use fitpulse_actors::domain::{ItemRef, UserId, now_millis};
use fitpulse_actors::ports::store::{Mark, SaveStore, StoreError};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::{ConnectError, Lwt, ScyllaStore, prepare, run_lwt};

pub(super) struct Statements {
    insert: PreparedStatement,
    delete: PreparedStatement,
    list: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            insert: prepare(
                session,
                "INSERT INTO saves_by_user (user_id, kind, item_id, saved_at) \
                 VALUES (?, ?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            delete: prepare(
                session,
                "DELETE FROM saves_by_user WHERE user_id = ? AND kind = ? AND item_id = ? IF EXISTS",
            )
            .await?,
            list: prepare(
                session,
                "SELECT kind, item_id, saved_at FROM saves_by_user WHERE user_id = ?",
            )
            .await?,
        })
    }
}

impl ScyllaStore {
    /// Reads a user's marks (likes or saves) from rows of `(kind, item_id, at)`.
    pub(super) async fn read_marks(
        &self,
        statement: &PreparedStatement,
        user: UserId,
    ) -> Result<Vec<Mark>, StoreError> {
        let rows: Vec<(String, String, Option<CqlTimestamp>)> =
            self.rows(statement, (user.as_uuid(),)).await?;
        rows.into_iter()
            .map(|(kind, id, at)| {
                Ok(Mark {
                    item: ItemRef::parse(&kind, &id).map_err(StoreError::backend)?,
                    at: at.map_or(0, |t| t.0),
                })
            })
            .collect()
    }
}

#[async_trait]
impl SaveStore for ScyllaStore {
    async fn save(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        self.ops
            .time("save", async {
                let values = (
                    user.as_uuid(),
                    item.kind().as_str(),
                    item.id(),
                    CqlTimestamp(now_millis()),
                );
                // An in-doubt save left the row in place either way; report a change.
                Ok(!matches!(
                    run_lwt(&self.session, &self.save_statements.insert, values).await?,
                    Lwt::NotApplied
                ))
            })
            .await
    }

    async fn unsave(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError> {
        self.ops
            .time("unsave", async {
                let values = (user.as_uuid(), item.kind().as_str(), item.id());
                Ok(!matches!(
                    run_lwt(&self.session, &self.save_statements.delete, values).await?,
                    Lwt::NotApplied
                ))
            })
            .await
    }

    async fn saved_of(&self, user: UserId) -> Result<Vec<Mark>, StoreError> {
        self.ops
            .time("saved_of", async {
                self.read_marks(&self.save_statements.list, user).await
            })
            .await
    }
}
