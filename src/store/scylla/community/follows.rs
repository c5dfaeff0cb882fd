//! Follows and blocks.
//!
//! - Follows: a lightweight transaction on the follower's partition (`following_by_user`)
//!   decides whether anything changed; the mirror row in `followers_by_user` follows as a
//!   second, plain write. Not one batch, because a conditional batch may only touch one
//!   partition; the mirror is set to what the follower's row holds after every call, even
//!   when nothing changed, so retrying a call whose mirror write failed repairs it. (A
//!   follow and an unfollow of the same pair racing can leave the mirror stale until the
//!   pair's next call; `following_by_user` is the truth.)
//! - Blocks answer nothing, so a plain upsert or delete is idempotent on its own; no
//!   lightweight transaction is needed to tell whether it changed anything. The block and
//!   its mirror in `blocked_by` land together (a logged batch).

use fitpulse_actors::domain::{UserId, now_millis};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::{cql_limit, exists_serial, in_doubt, run_batch, user_ids};
use crate::store::scylla::outbox::logged_batch;
use crate::store::scylla::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};

/// Candidates per read of who blocked a user: IN lists stay small for the coordinator.
const BLOCKERS_PER_READ: usize = 100;

pub(super) struct Statements {
    follow: PreparedStatement,
    unfollow: PreparedStatement,
    follows_serial: PreparedStatement,
    add_follower: PreparedStatement,
    remove_follower: PreparedStatement,
    followers: PreparedStatement,
    following: PreparedStatement,
    block: PreparedStatement,
    block_mirror: PreparedStatement,
    unblock: PreparedStatement,
    unblock_mirror: PreparedStatement,
    blocked: PreparedStatement,
    blocked_first: PreparedStatement,
    blocked_after: PreparedStatement,
    blockers_among: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            follow: prepare(
                session,
                "INSERT INTO following_by_user (user_id, followee_id, followed_at) \
                 VALUES (?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            unfollow: prepare(
                session,
                "DELETE FROM following_by_user WHERE user_id = ? AND followee_id = ? IF EXISTS",
            )
            .await?,
            follows_serial: prepare_serial(
                session,
                "SELECT followee_id FROM following_by_user WHERE user_id = ? AND followee_id = ?",
            )
            .await?,
            add_follower: prepare(
                session,
                "INSERT INTO followers_by_user (user_id, follower_id, followed_at) VALUES (?, ?, ?)",
            )
            .await?,
            remove_follower: prepare(
                session,
                "DELETE FROM followers_by_user WHERE user_id = ? AND follower_id = ?",
            )
            .await?,
            followers: prepare(
                session,
                "SELECT follower_id FROM followers_by_user WHERE user_id = ? LIMIT ?",
            )
            .await?,
            following: prepare(
                session,
                "SELECT followee_id FROM following_by_user WHERE user_id = ?",
            )
            .await?,
            block: prepare(
                session,
                "INSERT INTO blocks_by_user (user_id, blocked_id, blocked_at) VALUES (?, ?, ?)",
            )
            .await?,
            block_mirror: prepare(
                session,
                "INSERT INTO blocked_by (blocked_id, user_id) VALUES (?, ?)",
            )
            .await?,
            unblock: prepare(
                session,
                "DELETE FROM blocks_by_user WHERE user_id = ? AND blocked_id = ?",
            )
            .await?,
            unblock_mirror: prepare(
                session,
                "DELETE FROM blocked_by WHERE blocked_id = ? AND user_id = ?",
            )
            .await?,
            blocked: prepare(
                session,
                "SELECT blocked_id FROM blocks_by_user WHERE user_id = ?",
            )
            .await?,
            blocked_first: prepare(
                session,
                "SELECT blocked_id FROM blocks_by_user WHERE user_id = ? LIMIT ?",
            )
            .await?,
            blocked_after: prepare(
                session,
                "SELECT blocked_id FROM blocks_by_user WHERE user_id = ? AND blocked_id > ? LIMIT ?",
            )
            .await?,
            blockers_among: prepare(
                session,
                "SELECT user_id FROM blocked_by WHERE blocked_id = ? AND user_id IN ?",
            )
            .await?,
        })
    }
}

fn statements(store: &ScyllaStore) -> &Statements {
    &store.community_statements.follows
}

pub(super) async fn follow(
    store: &ScyllaStore,
    follower: UserId,
    followee: UserId,
) -> Result<bool, StoreError> {
    let st = statements(store);
    let pair = (follower.as_uuid(), followee.as_uuid());
    let values = (pair.0, pair.1, CqlTimestamp(now_millis()));
    let (following, changed) = match run_lwt(&store.session, &st.follow, values).await? {
        Lwt::Applied => (true, true),
        Lwt::NotApplied => (true, false),
        Lwt::Unknown => {
            let present = exists_serial(store, &st.follows_serial, pair).await?;
            (present, present)
        }
    };
    set_follower(store, followee, follower, following).await?;
    if !following {
        return Err(in_doubt());
    }
    Ok(changed)
}

pub(super) async fn unfollow(
    store: &ScyllaStore,
    follower: UserId,
    followee: UserId,
) -> Result<bool, StoreError> {
    let st = statements(store);
    let pair = (follower.as_uuid(), followee.as_uuid());
    let (following, changed) = match run_lwt(&store.session, &st.unfollow, pair).await? {
        Lwt::Applied => (false, true),
        Lwt::NotApplied => (false, false),
        Lwt::Unknown => {
            let present = exists_serial(store, &st.follows_serial, pair).await?;
            (present, !present)
        }
    };
    set_follower(store, followee, follower, following).await?;
    if following {
        return Err(in_doubt());
    }
    Ok(changed)
}

/// Sets the mirror row of `follower` under `followee` to `present`.
async fn set_follower(
    store: &ScyllaStore,
    followee: UserId,
    follower: UserId,
    present: bool,
) -> Result<(), StoreError> {
    let st = statements(store);
    if present {
        let values = (
            followee.as_uuid(),
            follower.as_uuid(),
            CqlTimestamp(now_millis()),
        );
        store.exec(&st.add_follower, values).await
    } else {
        let values = (followee.as_uuid(), follower.as_uuid());
        store.exec(&st.remove_follower, values).await
    }
}

pub(super) async fn followers(
    store: &ScyllaStore,
    user: UserId,
    limit: usize,
) -> Result<Vec<UserId>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let values = (user.as_uuid(), cql_limit(limit));
    user_ids(store, &statements(store).followers, values).await
}

pub(super) async fn following(
    store: &ScyllaStore,
    user: UserId,
) -> Result<Vec<UserId>, StoreError> {
    user_ids(store, &statements(store).following, (user.as_uuid(),)).await
}

pub(super) async fn block(
    store: &ScyllaStore,
    user: UserId,
    other: UserId,
) -> Result<(), StoreError> {
    let st = statements(store);
    let mut batch = logged_batch();
    batch.append_statement(st.block.clone());
    batch.append_statement(st.block_mirror.clone());
    let values = (
        (user.as_uuid(), other.as_uuid(), CqlTimestamp(now_millis())),
        (other.as_uuid(), user.as_uuid()),
    );
    run_batch(store, &batch, values).await
}

pub(super) async fn unblock(
    store: &ScyllaStore,
    user: UserId,
    other: UserId,
) -> Result<(), StoreError> {
    let st = statements(store);
    let mut batch = logged_batch();
    batch.append_statement(st.unblock.clone());
    batch.append_statement(st.unblock_mirror.clone());
    let values = (
        (user.as_uuid(), other.as_uuid()),
        (other.as_uuid(), user.as_uuid()),
    );
    run_batch(store, &batch, values).await
}

pub(super) async fn blocked(store: &ScyllaStore, user: UserId) -> Result<Vec<UserId>, StoreError> {
    user_ids(store, &statements(store).blocked, (user.as_uuid(),)).await
}

pub(super) async fn blocked_page(
    store: &ScyllaStore,
    user: UserId,
    after: Option<UserId>,
    limit: usize,
) -> Result<Vec<UserId>, StoreError> {
    let st = statements(store);
    let limit = cql_limit(limit);
    match after {
        Some(after) => {
            let values = (user.as_uuid(), after.as_uuid(), limit);
            user_ids(store, &st.blocked_after, values).await
        }
        None => user_ids(store, &st.blocked_first, (user.as_uuid(), limit)).await,
    }
}

pub(super) async fn blockers_among(
    store: &ScyllaStore,
    user: UserId,
    candidates: &[UserId],
) -> Result<Vec<UserId>, StoreError> {
    let mut found = Vec::new();
    for chunk in candidates.chunks(BLOCKERS_PER_READ) {
        let ids: Vec<uuid::Uuid> = chunk.iter().map(|c| c.as_uuid()).collect();
        let values = (user.as_uuid(), ids);
        found.extend(user_ids(store, &statements(store).blockers_among, values).await?);
    }
    Ok(found)
}
