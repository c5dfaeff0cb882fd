//! Groups and their membership.
//!
//! Group places: a join first takes a place with a compare-and-set loop on the group's
//! `group_member_counts` row, then inserts the membership `IF NOT EXISTS`; a leave deletes
//! the membership `IF EXISTS`, then gives its place back. A member row therefore never
//! exists without a place, so the cap is exact under any concurrency. Each membership is
//! also indexed under its user (`groups_by_user`) once it holds.

use fitpulse_actors::domain::{UserId, now_millis};
use fitpulse_actors::ports::community::{GroupRecord, JoinOutcome};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{exists_serial, in_doubt, user_ids};
use crate::store::scylla::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};

/// Attempts of a compare-and-set loop on a group's place count before giving up.
const CAS_ATTEMPTS: usize = 50;

pub(super) struct Statements {
    create: PreparedStatement,
    get: PreparedStatement,
    member_serial: PreparedStatement,
    add_member: PreparedStatement,
    remove_member: PreparedStatement,
    index_membership: PreparedStatement,
    unindex_membership: PreparedStatement,
    groups_of: PreparedStatement,
    members: PreparedStatement,
    places_serial: PreparedStatement,
    places_first: PreparedStatement,
    places_set: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            create: prepare(
                session,
                "INSERT INTO community_groups (id, name, owner_id, max_members, created_at) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .await?,
            get: prepare(
                session,
                "SELECT name, owner_id, max_members, created_at FROM community_groups WHERE id = ?",
            )
            .await?,
            member_serial: prepare_serial(
                session,
                "SELECT user_id FROM group_members WHERE group_id = ? AND user_id = ?",
            )
            .await?,
            index_membership: prepare(
                session,
                "INSERT INTO groups_by_user (user_id, group_id) VALUES (?, ?)",
            )
            .await?,
            unindex_membership: prepare(
                session,
                "DELETE FROM groups_by_user WHERE user_id = ? AND group_id = ?",
            )
            .await?,
            groups_of: prepare(
                session,
                "SELECT group_id FROM groups_by_user WHERE user_id = ?",
            )
            .await?,
            add_member: prepare(
                session,
                "INSERT INTO group_members (group_id, user_id, joined_at) VALUES (?, ?, ?) \
                 IF NOT EXISTS",
            )
            .await?,
            remove_member: prepare(
                session,
                "DELETE FROM group_members WHERE group_id = ? AND user_id = ? IF EXISTS",
            )
            .await?,
            members: prepare(
                session,
                "SELECT user_id FROM group_members WHERE group_id = ?",
            )
            .await?,
            places_serial: prepare_serial(
                session,
                "SELECT member_count FROM group_member_counts WHERE group_id = ?",
            )
            .await?,
            places_first: prepare(
                session,
                "INSERT INTO group_member_counts (group_id, member_count) VALUES (?, ?) \
                 IF NOT EXISTS",
            )
            .await?,
            places_set: prepare(
                session,
                "UPDATE group_member_counts SET member_count = ? WHERE group_id = ? \
                 IF member_count = ?",
            )
            .await?,
        })
    }
}

fn statements(store: &ScyllaStore) -> &Statements {
    &store.community_statements.groups
}

fn unsigned(v: i32) -> u32 {
    v.max(0) as u32
}

fn contended() -> StoreError {
    StoreError::unavailable(std::io::Error::other("too much contention; try again"))
}

pub(super) async fn create(store: &ScyllaStore, g: &GroupRecord) -> Result<(), StoreError> {
    let values = (
        g.id,
        g.name.as_str(),
        g.owner.as_uuid(),
        i32::try_from(g.max_members).unwrap_or(i32::MAX),
        CqlTimestamp(g.created_at),
    );
    store.exec(&statements(store).create, values).await
}

pub(super) async fn get(store: &ScyllaStore, id: Uuid) -> Result<Option<GroupRecord>, StoreError> {
    let row = store
        .maybe_row::<(String, Uuid, i32, CqlTimestamp)>(&statements(store).get, (id,))
        .await?;
    Ok(
        row.map(|(name, owner, max_members, created_at)| GroupRecord {
            id,
            name,
            owner: UserId::from_uuid(owner),
            max_members: unsigned(max_members),
            created_at: created_at.0,
        }),
    )
}

pub(super) async fn join(
    store: &ScyllaStore,
    group: Uuid,
    user: UserId,
    max_members: u32,
) -> Result<JoinOutcome, StoreError> {
    if is_member(store, group, user).await? {
        return Ok(JoinOutcome::AlreadyMember);
    }
    if !take_place(store, group, max_members).await? {
        return Ok(JoinOutcome::Full);
    }
    let values = (group, user.as_uuid(), CqlTimestamp(now_millis()));
    match run_lwt(&store.session, &statements(store).add_member, values).await? {
        Lwt::Applied => {
            index_membership(store, group, user, true).await?;
            Ok(JoinOutcome::Joined)
        }
        // A concurrent join of the same user won; the place taken here goes back.
        Lwt::NotApplied => {
            give_place(store, group).await?;
            Ok(JoinOutcome::AlreadyMember)
        }
        // The place stays taken either way: a member row never lacks a place.
        Lwt::Unknown if is_member(store, group, user).await? => {
            index_membership(store, group, user, true).await?;
            Ok(JoinOutcome::Joined)
        }
        Lwt::Unknown => Err(in_doubt()),
    }
}

pub(super) async fn leave(
    store: &ScyllaStore,
    group: Uuid,
    user: UserId,
) -> Result<bool, StoreError> {
    let values = (group, user.as_uuid());
    match run_lwt(&store.session, &statements(store).remove_member, values).await? {
        Lwt::Applied => {
            give_place(store, group).await?;
            index_membership(store, group, user, false).await?;
            Ok(true)
        }
        Lwt::NotApplied => Ok(false),
        Lwt::Unknown if is_member(store, group, user).await? => Err(in_doubt()),
        // Gone, but maybe by a concurrent leave that frees the place itself: the place is
        // not given back here, so it is never freed twice.
        Lwt::Unknown => Ok(true),
    }
}

pub(super) async fn groups_of(store: &ScyllaStore, user: UserId) -> Result<Vec<Uuid>, StoreError> {
    let rows = store
        .rows::<(Uuid,)>(&statements(store).groups_of, (user.as_uuid(),))
        .await?;
    Ok(rows.into_iter().map(|(g,)| g).collect())
}

pub(super) async fn members(store: &ScyllaStore, group: Uuid) -> Result<Vec<UserId>, StoreError> {
    user_ids(store, &statements(store).members, (group,)).await
}

async fn is_member(store: &ScyllaStore, group: Uuid, user: UserId) -> Result<bool, StoreError> {
    exists_serial(
        store,
        &statements(store).member_serial,
        (group, user.as_uuid()),
    )
    .await
}

/// Adds or removes the user's index row of a membership (idempotent).
async fn index_membership(
    store: &ScyllaStore,
    group: Uuid,
    user: UserId,
    on: bool,
) -> Result<(), StoreError> {
    let st = statements(store);
    let statement = if on {
        &st.index_membership
    } else {
        &st.unindex_membership
    };
    store.exec(statement, (user.as_uuid(), group)).await
}

/// The group's taken places at SERIAL; `None` before its first join.
async fn places(store: &ScyllaStore, group: Uuid) -> Result<Option<i32>, StoreError> {
    let row = store
        .maybe_row::<(Option<i32>,)>(&statements(store).places_serial, (group,))
        .await?;
    Ok(row.map(|(n,)| n.unwrap_or(0)))
}

/// Takes one place if fewer than `max` are taken; false if the group is full.
async fn take_place(store: &ScyllaStore, group: Uuid, max: u32) -> Result<bool, StoreError> {
    let st = statements(store);
    for _ in 0..CAS_ATTEMPTS {
        let taken = places(store, group).await?;
        let now = taken.unwrap_or(0);
        if unsigned(now) >= max {
            return Ok(false);
        }
        let outcome = match taken {
            None => run_lwt(&store.session, &st.places_first, (group, 1_i32)).await?,
            Some(now) => run_lwt(&store.session, &st.places_set, (now + 1, group, now)).await?,
        };
        match outcome {
            Lwt::Applied => return Ok(true),
            Lwt::NotApplied => continue,
            // The place may be taken: keep it (never over the cap) and let the caller
            // retry; at worst the group reads one place fuller than it is.
            Lwt::Unknown => return Err(in_doubt()),
        }
    }
    Err(contended())
}

/// Gives one place back.
async fn give_place(store: &ScyllaStore, group: Uuid) -> Result<(), StoreError> {
    for _ in 0..CAS_ATTEMPTS {
        let Some(now) = places(store, group).await?.filter(|n| *n > 0) else {
            return Ok(());
        };
        let values = (now - 1, group, now);
        match run_lwt(&store.session, &statements(store).places_set, values).await? {
            Lwt::NotApplied => continue,
            // Unknown: not retried, so a place is never given back twice.
            Lwt::Applied | Lwt::Unknown => return Ok(()),
        }
    }
    Err(contended())
}
