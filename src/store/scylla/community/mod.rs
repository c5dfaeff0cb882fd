//! The community in the scylla store (schema and partition sizes in
//! `cql/0008_community.cql`). One file per part, each with its own prepared statements;
//! this module prepares them all, holds the helpers they share, and implements the
//! `CommunityStore` port by timing each call into the part that answers it.
//!
//! - [`checkins`]: one row per user and day.
//! - [`follows`]: follows, with their mirror of followers, and blocks with theirs.
//! - [`groups`]: groups, their capped membership and each user's index of groups.
//! - [`posts`]: posts and comments, with their group or thread listings.
//! - [`reports`]: reports in day buckets, with an index of the days.
//!
//! A lightweight transaction whose outcome is unknown (a CAS timeout) is settled by a
//! SERIAL read where one can tell (membership, follow rows) and otherwise leans towards
//! never exceeding a cap: a place that may have been taken is kept (the group can read one
//! place fuller than it is), a place that may not have been freed is not given back, and
//! the caller gets an `Unavailable` error to retry rather than a guessed answer.

mod checkins;
mod follows;
mod groups;
mod posts;
mod reports;

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::community::{
    CheckinRecord, CommunityStore, GroupRecord, JoinOutcome, PostRecord, ReportRecord,
};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{ConnectError, ScyllaStore, run_batch};

/// The prepared statements of every part.
pub(super) struct Statements {
    checkins: checkins::Statements,
    follows: follows::Statements,
    groups: groups::Statements,
    posts: posts::Statements,
    reports: reports::Statements,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            checkins: checkins::Statements::prepare(session).await?,
            follows: follows::Statements::prepare(session).await?,
            groups: groups::Statements::prepare(session).await?,
            posts: posts::Statements::prepare(session).await?,
            reports: reports::Statements::prepare(session).await?,
        })
    }
}

/// A CQL `LIMIT` for `limit` (callers answer an empty list for 0, which CQL refuses).
fn cql_limit(limit: usize) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

/// A lightweight transaction timed out and a read could not show it applied.
fn in_doubt() -> StoreError {
    StoreError::unavailable(std::io::Error::other(
        "a write's outcome is unknown after a timeout; try again",
    ))
}

/// Reads a list of user ids (one uuid column).
async fn user_ids(
    store: &ScyllaStore,
    statement: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<Vec<UserId>, StoreError> {
    Ok(store
        .rows::<(Uuid,)>(statement, values)
        .await?
        .into_iter()
        .map(|(id,)| UserId::from_uuid(id))
        .collect())
}

/// True if a SERIAL read finds a row, settling any transaction in flight on it.
async fn exists_serial(
    store: &ScyllaStore,
    statement: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<bool, StoreError> {
    Ok(store
        .maybe_row::<(Uuid,)>(statement, values)
        .await?
        .is_some())
}

#[async_trait]
impl CommunityStore for ScyllaStore {
    async fn put_checkin(&self, user: UserId, c: &CheckinRecord) -> Result<(), StoreError> {
        self.ops
            .time("put_checkin", checkins::put(self, user, c))
            .await
    }

    async fn checkins(&self, user: UserId, limit: usize) -> Result<Vec<CheckinRecord>, StoreError> {
        self.ops
            .time("checkins", checkins::list(self, user, limit))
            .await
    }

    async fn follow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError> {
        self.ops
            .time("follow", follows::follow(self, follower, followee))
            .await
    }

    async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError> {
        self.ops
            .time("unfollow", follows::unfollow(self, follower, followee))
            .await
    }

    async fn followers(&self, user: UserId, limit: usize) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time("followers", follows::followers(self, user, limit))
            .await
    }

    async fn following(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time("following", follows::following(self, user))
            .await
    }

    async fn block(&self, user: UserId, other: UserId) -> Result<(), StoreError> {
        self.ops
            .time("block", follows::block(self, user, other))
            .await
    }

    async fn unblock(&self, user: UserId, other: UserId) -> Result<(), StoreError> {
        self.ops
            .time("unblock", follows::unblock(self, user, other))
            .await
    }

    async fn blocked_page(
        &self,
        user: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time(
                "blocked_page",
                follows::blocked_page(self, user, after, limit),
            )
            .await
    }

    async fn blockers_among(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time(
                "blockers_among",
                follows::blockers_among(self, user, candidates),
            )
            .await
    }

    async fn blocked(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        self.ops.time("blocked", follows::blocked(self, user)).await
    }

    async fn create_group(&self, g: &GroupRecord) -> Result<(), StoreError> {
        self.ops.time("create_group", groups::create(self, g)).await
    }

    async fn group(&self, id: Uuid) -> Result<Option<GroupRecord>, StoreError> {
        self.ops.time("group", groups::get(self, id)).await
    }

    async fn join_group(
        &self,
        group: Uuid,
        user: UserId,
        max_members: u32,
    ) -> Result<JoinOutcome, StoreError> {
        self.ops
            .time("join_group", groups::join(self, group, user, max_members))
            .await
    }

    async fn leave_group(&self, group: Uuid, user: UserId) -> Result<bool, StoreError> {
        self.ops
            .time("leave_group", groups::leave(self, group, user))
            .await
    }

    async fn groups_of(&self, user: UserId) -> Result<Vec<Uuid>, StoreError> {
        self.ops
            .time("groups_of", groups::groups_of(self, user))
            .await
    }

    async fn group_members(&self, group: Uuid) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time("group_members", groups::members(self, group))
            .await
    }

    async fn put_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        self.ops.time("put_post", posts::put(self, post)).await
    }

    async fn post(&self, id: Uuid) -> Result<Option<PostRecord>, StoreError> {
        self.ops.time("post", posts::get(self, id)).await
    }

    async fn group_posts(&self, group: Uuid, limit: usize) -> Result<Vec<PostRecord>, StoreError> {
        self.ops
            .time("group_posts", posts::of_group(self, group, limit))
            .await
    }

    async fn comments(&self, post: Uuid) -> Result<Vec<PostRecord>, StoreError> {
        self.ops.time("comments", posts::comments(self, post)).await
    }

    async fn put_report(&self, r: &ReportRecord) -> Result<(), StoreError> {
        self.ops.time("put_report", reports::put(self, r)).await
    }

    async fn reports(&self, limit: usize) -> Result<Vec<ReportRecord>, StoreError> {
        self.ops.time("reports", reports::newest(self, limit)).await
    }
}
