//! The community in the scylla store (schema and partition sizes in
//! `cql/0008_community.cql`).
//!
//! - Follows: a lightweight transaction on the follower's partition (`following_by_user`)
//!   decides whether anything changed; the mirror row in `followers_by_user` follows as a
//!   second, plain write. Not one batch, because a conditional batch may only touch one
//!   partition; the mirror is set to what the follower's row holds after every call, even
//!   when nothing changed, so retrying a call whose mirror write failed repairs it. (A
//!   follow and an unfollow of the same pair racing can leave the mirror stale until the
//!   pair's next call; `following_by_user` is the truth.)
//! - Group places: a join first takes a place with a compare-and-set loop on the group's
//!   `group_member_counts` row, then inserts the membership `IF NOT EXISTS`; a leave deletes
//!   the membership `IF EXISTS`, then gives its place back. A member row therefore never
//!   exists without a place, so the cap is exact under any concurrency.
//! - Posts and comments: the row by id and its copy in the group's or the post's listing go
//!   in one logged batch, so a listing never shows what the post row does not say.
//! - Reports: day buckets, plus an index of the days that hold any, written first.
//!
//! A lightweight transaction whose outcome is unknown (a CAS timeout) is settled by a
//! SERIAL read where one can tell (membership, follow rows) and otherwise leans towards
//! never exceeding a cap: a place that may have been taken is kept (the group can read one
//! place fuller than it is), a place that may not have been freed is not given back, and
//! the caller gets an `Unavailable` error to retry rather than a guessed answer.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId, now_millis};
use fitpulse_actors::ports::community::{
    CheckinRecord, CommunityStore, GroupRecord, JoinOutcome, PostRecord, ReportRecord,
};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlValue};
use uuid::Uuid;

use super::outbox::logged_batch;
use super::{ConnectError, Lwt, ScyllaStore, execution_error, prepare, prepare_serial, run_lwt};

/// Attempts of a compare-and-set loop on a group's place count before giving up.
const CAS_ATTEMPTS: usize = 50;
/// The one partition of `report_days`.
const REPORT_DAYS_BUCKET: i32 = 0;
const MILLIS_PER_DAY: i64 = 86_400_000;

pub(super) struct Statements {
    put_checkin: PreparedStatement,
    checkins: PreparedStatement,
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
    create_group: PreparedStatement,
    group: PreparedStatement,
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
    put_post: PreparedStatement,
    get_post: PreparedStatement,
    list_post: PreparedStatement,
    unlist_post: PreparedStatement,
    group_posts: PreparedStatement,
    list_comment: PreparedStatement,
    unlist_comment: PreparedStatement,
    comments: PreparedStatement,
    put_report: PreparedStatement,
    mark_report_day: PreparedStatement,
    report_days: PreparedStatement,
    reports_of_day: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            put_checkin: prepare(
                session,
                "INSERT INTO checkins_by_user (user_id, day, mood, satisfaction, note, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .await?,
            checkins: prepare(
                session,
                "SELECT day, mood, satisfaction, note, updated_at FROM checkins_by_user \
                 WHERE user_id = ? LIMIT ?",
            )
            .await?,
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
            create_group: prepare(
                session,
                "INSERT INTO community_groups (id, name, owner_id, max_members, created_at) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .await?,
            group: prepare(
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
            groups_of: prepare(session, "SELECT group_id FROM groups_by_user WHERE user_id = ?")
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
            put_post: prepare(
                session,
                "INSERT INTO posts (id, group_id, parent_id, author_id, body, image_ref, \
                 created_at, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            get_post: prepare(
                session,
                "SELECT group_id, parent_id, author_id, body, image_ref, created_at, removed \
                 FROM posts WHERE id = ?",
            )
            .await?,
            list_post: prepare(
                session,
                "INSERT INTO group_posts (group_id, created_at, id, author_id, body, image_ref, \
                 removed) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            unlist_post: prepare(
                session,
                "DELETE FROM group_posts WHERE group_id = ? AND created_at = ? AND id = ?",
            )
            .await?,
            group_posts: prepare(
                session,
                "SELECT created_at, id, author_id, body, image_ref, removed FROM group_posts \
                 WHERE group_id = ? LIMIT ?",
            )
            .await?,
            list_comment: prepare(
                session,
                "INSERT INTO post_comments (post_id, created_at, id, group_id, author_id, body, \
                 image_ref, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            unlist_comment: prepare(
                session,
                "DELETE FROM post_comments WHERE post_id = ? AND created_at = ? AND id = ?",
            )
            .await?,
            comments: prepare(
                session,
                "SELECT created_at, id, group_id, author_id, body, image_ref, removed \
                 FROM post_comments WHERE post_id = ?",
            )
            .await?,
            put_report: prepare(
                session,
                "INSERT INTO reports_by_day (day, created_at, id, reporter_id, target_kind, \
                 target_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            mark_report_day: prepare(
                session,
                "INSERT INTO report_days (bucket, day) VALUES (?, ?)",
            )
            .await?,
            report_days: prepare(session, "SELECT day FROM report_days WHERE bucket = ?").await?,
            reports_of_day: prepare(
                session,
                "SELECT created_at, id, reporter_id, target_kind, target_id, reason \
                 FROM reports_by_day WHERE day = ? LIMIT ?",
            )
            .await?,
        })
    }
}

type CheckinRow = (i32, String, i32, Option<String>, CqlTimestamp);
type PostRow = (
    Uuid,
    Option<Uuid>,
    Uuid,
    String,
    Option<String>,
    CqlTimestamp,
    Option<bool>,
);
type ListedPostRow = (
    CqlTimestamp,
    Uuid,
    Uuid,
    String,
    Option<String>,
    Option<bool>,
);
type CommentRow = (
    CqlTimestamp,
    Uuid,
    Uuid,
    Uuid,
    String,
    Option<String>,
    Option<bool>,
);
type ReportRow = (CqlTimestamp, Uuid, Uuid, String, String, String);

/// A CQL `LIMIT` for `limit` (callers answer an empty list for 0, which CQL refuses).
fn cql_limit(limit: usize) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

fn unsigned(v: i32) -> u32 {
    v.max(0) as u32
}

/// The UTC day of a time, the bucket of a report.
fn day_of(at: UnixMillis) -> i32 {
    at.div_euclid(MILLIS_PER_DAY) as i32
}

fn contended() -> StoreError {
    StoreError::unavailable(std::io::Error::other("too much contention; try again"))
}

/// A lightweight transaction timed out and a read could not show it applied.
fn in_doubt() -> StoreError {
    StoreError::unavailable(std::io::Error::other(
        "a write's outcome is unknown after a timeout; try again",
    ))
}

/// Where a post is listed: its group's list (posts) or its parent's thread (comments).
fn listing_of(post: &PostRecord) -> (Option<Uuid>, Uuid, UnixMillis) {
    (post.parent, post.group, post.created_at)
}

fn post_values(p: &PostRecord) -> Vec<Option<CqlValue>> {
    vec![
        Some(CqlValue::Uuid(p.id)),
        Some(CqlValue::Uuid(p.group)),
        p.parent.map(CqlValue::Uuid),
        Some(CqlValue::Uuid(p.author.as_uuid())),
        Some(CqlValue::Text(p.text.clone())),
        p.image_ref.clone().map(CqlValue::Text),
        Some(CqlValue::Timestamp(CqlTimestamp(p.created_at))),
        Some(CqlValue::Boolean(p.removed)),
    ]
}

impl ScyllaStore {
    /// Adds or removes the user's index row of a membership (idempotent).
    async fn index_membership(
        &self,
        group: Uuid,
        user: UserId,
        on: bool,
    ) -> Result<(), StoreError> {
        let st = &self.community_statements;
        let statement = if on {
            &st.index_membership
        } else {
            &st.unindex_membership
        };
        self.session
            .execute_unpaged(statement, (user.as_uuid(), group))
            .await
            .map(|_| ())
            .map_err(execution_error)
    }
}

impl ScyllaStore {
    /// Runs a read and collects its rows as `R`.
    async fn community_rows<R>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        let rows = self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(execution_error)?
            .into_rows_result()
            .map_err(StoreError::backend)?;
        rows.rows::<R>()
            .map_err(StoreError::backend)?
            .map(|r| r.map_err(StoreError::backend))
            .collect()
    }

    /// Reads a list of user ids (one uuid column).
    async fn user_ids(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<UserId>, StoreError> {
        Ok(self
            .community_rows::<(Uuid,)>(statement, values)
            .await?
            .into_iter()
            .map(|(id,)| UserId::from_uuid(id))
            .collect())
    }

    /// True if a SERIAL read finds a row, settling any transaction in flight on it.
    async fn exists_serial(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<bool, StoreError> {
        Ok(!self
            .community_rows::<(Uuid,)>(statement, values)
            .await?
            .is_empty())
    }

    /// Sets the mirror row of `follower` under `followee` to `present`.
    async fn set_follower(
        &self,
        followee: UserId,
        follower: UserId,
        present: bool,
    ) -> Result<(), StoreError> {
        let st = &self.community_statements;
        let result = if present {
            let values = (
                followee.as_uuid(),
                follower.as_uuid(),
                CqlTimestamp(now_millis()),
            );
            self.session.execute_unpaged(&st.add_follower, values).await
        } else {
            let values = (followee.as_uuid(), follower.as_uuid());
            self.session
                .execute_unpaged(&st.remove_follower, values)
                .await
        };
        result.map(|_| ()).map_err(execution_error)
    }

    async fn is_member(&self, group: Uuid, user: UserId) -> Result<bool, StoreError> {
        self.exists_serial(
            &self.community_statements.member_serial,
            (group, user.as_uuid()),
        )
        .await
    }

    /// The group's taken places at SERIAL; `None` before its first join.
    async fn places(&self, group: Uuid) -> Result<Option<i32>, StoreError> {
        let rows = self
            .community_rows::<(Option<i32>,)>(&self.community_statements.places_serial, (group,))
            .await?;
        Ok(rows.first().map(|(n,)| n.unwrap_or(0)))
    }

    /// Takes one place if fewer than `max` are taken; false if the group is full.
    async fn take_place(&self, group: Uuid, max: u32) -> Result<bool, StoreError> {
        let st = &self.community_statements;
        for _ in 0..CAS_ATTEMPTS {
            let taken = self.places(group).await?;
            let now = taken.unwrap_or(0);
            if unsigned(now) >= max {
                return Ok(false);
            }
            let outcome = match taken {
                None => run_lwt(&self.session, &st.places_first, (group, 1_i32)).await?,
                Some(now) => run_lwt(&self.session, &st.places_set, (now + 1, group, now)).await?,
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
    async fn give_place(&self, group: Uuid) -> Result<(), StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(now) = self.places(group).await?.filter(|n| *n > 0) else {
                return Ok(());
            };
            let values = (now - 1, group, now);
            match run_lwt(&self.session, &self.community_statements.places_set, values).await? {
                Lwt::NotApplied => continue,
                // Unknown: not retried, so a place is never given back twice.
                Lwt::Applied | Lwt::Unknown => return Ok(()),
            }
        }
        Err(contended())
    }

    async fn read_post(&self, id: Uuid) -> Result<Option<PostRecord>, StoreError> {
        let rows = self
            .community_rows::<PostRow>(&self.community_statements.get_post, (id,))
            .await?;
        Ok(rows.into_iter().next().map(
            |(group, parent, author, text, image_ref, created_at, removed)| PostRecord {
                id,
                group,
                parent,
                author: UserId::from_uuid(author),
                text,
                image_ref,
                created_at: created_at.0,
                removed: removed.unwrap_or(false),
            },
        ))
    }
}

#[async_trait]
impl CommunityStore for ScyllaStore {
    async fn put_checkin(&self, user: UserId, c: &CheckinRecord) -> Result<(), StoreError> {
        self.ops
            .time("put_checkin", async {
                let values = (
                    user.as_uuid(),
                    c.day,
                    c.mood.as_str(),
                    i32::from(c.satisfaction),
                    c.note.as_deref(),
                    CqlTimestamp(c.updated_at),
                );
                self.session
                    .execute_unpaged(&self.community_statements.put_checkin, values)
                    .await
                    .map(|_| ())
                    .map_err(execution_error)
            })
            .await
    }

    async fn checkins(&self, user: UserId, limit: usize) -> Result<Vec<CheckinRecord>, StoreError> {
        self.ops
            .time("checkins", async {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let values = (user.as_uuid(), cql_limit(limit));
                let rows = self
                    .community_rows::<CheckinRow>(&self.community_statements.checkins, values)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(
                        |(day, mood, satisfaction, note, updated_at)| CheckinRecord {
                            day,
                            mood,
                            satisfaction: satisfaction.clamp(0, i32::from(u8::MAX)) as u8,
                            note,
                            updated_at: updated_at.0,
                        },
                    )
                    .collect())
            })
            .await
    }

    async fn follow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError> {
        self.ops
            .time("follow", async {
                let st = &self.community_statements;
                let pair = (follower.as_uuid(), followee.as_uuid());
                let values = (pair.0, pair.1, CqlTimestamp(now_millis()));
                let (following, changed) = match run_lwt(&self.session, &st.follow, values).await? {
                    Lwt::Applied => (true, true),
                    Lwt::NotApplied => (true, false),
                    Lwt::Unknown => {
                        let present = self.exists_serial(&st.follows_serial, pair).await?;
                        (present, present)
                    }
                };
                self.set_follower(followee, follower, following).await?;
                if !following {
                    return Err(in_doubt());
                }
                Ok(changed)
            })
            .await
    }

    async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError> {
        self.ops
            .time("unfollow", async {
                let st = &self.community_statements;
                let pair = (follower.as_uuid(), followee.as_uuid());
                let (following, changed) = match run_lwt(&self.session, &st.unfollow, pair).await? {
                    Lwt::Applied => (false, true),
                    Lwt::NotApplied => (false, false),
                    Lwt::Unknown => {
                        let present = self.exists_serial(&st.follows_serial, pair).await?;
                        (present, !present)
                    }
                };
                self.set_follower(followee, follower, following).await?;
                if following {
                    return Err(in_doubt());
                }
                Ok(changed)
            })
            .await
    }

    async fn followers(&self, user: UserId, limit: usize) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time("followers", async {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let values = (user.as_uuid(), cql_limit(limit));
                self.user_ids(&self.community_statements.followers, values)
                    .await
            })
            .await
    }

    async fn following(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time("following", async {
                self.user_ids(&self.community_statements.following, (user.as_uuid(),))
                    .await
            })
            .await
    }

    // Blocks answer nothing, so a plain upsert or delete is idempotent on its own; no
    // lightweight transaction is needed to tell whether it changed anything. The block and
    // its mirror land together (a logged batch).
    async fn block(&self, user: UserId, other: UserId) -> Result<(), StoreError> {
        self.ops
            .time("block", async {
                let st = &self.community_statements;
                let mut batch = super::outbox::logged_batch();
                batch.append_statement(st.block.clone());
                batch.append_statement(st.block_mirror.clone());
                let values = (
                    (user.as_uuid(), other.as_uuid(), CqlTimestamp(now_millis())),
                    (other.as_uuid(), user.as_uuid()),
                );
                self.session
                    .batch(&batch, values)
                    .await
                    .map(|_| ())
                    .map_err(execution_error)
            })
            .await
    }

    async fn unblock(&self, user: UserId, other: UserId) -> Result<(), StoreError> {
        self.ops
            .time("unblock", async {
                let st = &self.community_statements;
                let mut batch = super::outbox::logged_batch();
                batch.append_statement(st.unblock.clone());
                batch.append_statement(st.unblock_mirror.clone());
                let values = (
                    (user.as_uuid(), other.as_uuid()),
                    (other.as_uuid(), user.as_uuid()),
                );
                self.session
                    .batch(&batch, values)
                    .await
                    .map(|_| ())
                    .map_err(execution_error)
            })
            .await
    }

    async fn blocked_page(
        &self,
        user: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time("blocked_page", async {
                let st = &self.community_statements;
                let limit = i32::try_from(limit).unwrap_or(i32::MAX);
                match after {
                    Some(after) => {
                        self.user_ids(&st.blocked_after, (user.as_uuid(), after.as_uuid(), limit))
                            .await
                    }
                    None => {
                        self.user_ids(&st.blocked_first, (user.as_uuid(), limit))
                            .await
                    }
                }
            })
            .await
    }

    async fn blockers_among(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        /// Candidates per read: IN lists stay small for the coordinator.
        const PER_READ: usize = 100;
        self.ops
            .time("blockers_among", async {
                let mut found = Vec::new();
                for chunk in candidates.chunks(PER_READ) {
                    let ids: Vec<uuid::Uuid> = chunk.iter().map(|c| c.as_uuid()).collect();
                    found.extend(
                        self.user_ids(
                            &self.community_statements.blockers_among,
                            (user.as_uuid(), ids),
                        )
                        .await?,
                    );
                }
                Ok(found)
            })
            .await
    }

    async fn blocked(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time("blocked", async {
                self.user_ids(&self.community_statements.blocked, (user.as_uuid(),))
                    .await
            })
            .await
    }

    async fn create_group(&self, g: &GroupRecord) -> Result<(), StoreError> {
        self.ops
            .time("create_group", async {
                let values = (
                    g.id,
                    g.name.as_str(),
                    g.owner.as_uuid(),
                    i32::try_from(g.max_members).unwrap_or(i32::MAX),
                    CqlTimestamp(g.created_at),
                );
                self.session
                    .execute_unpaged(&self.community_statements.create_group, values)
                    .await
                    .map(|_| ())
                    .map_err(execution_error)
            })
            .await
    }

    async fn group(&self, id: Uuid) -> Result<Option<GroupRecord>, StoreError> {
        self.ops
            .time("group", async {
                let rows = self
                    .community_rows::<(String, Uuid, i32, CqlTimestamp)>(
                        &self.community_statements.group,
                        (id,),
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .next()
                    .map(|(name, owner, max_members, created_at)| GroupRecord {
                        id,
                        name,
                        owner: UserId::from_uuid(owner),
                        max_members: unsigned(max_members),
                        created_at: created_at.0,
                    }))
            })
            .await
    }

    async fn join_group(
        &self,
        group: Uuid,
        user: UserId,
        max_members: u32,
    ) -> Result<JoinOutcome, StoreError> {
        self.ops
            .time("join_group", async {
                if self.is_member(group, user).await? {
                    return Ok(JoinOutcome::AlreadyMember);
                }
                if !self.take_place(group, max_members).await? {
                    return Ok(JoinOutcome::Full);
                }
                let values = (group, user.as_uuid(), CqlTimestamp(now_millis()));
                match run_lwt(&self.session, &self.community_statements.add_member, values).await? {
                    Lwt::Applied => {
                        self.index_membership(group, user, true).await?;
                        Ok(JoinOutcome::Joined)
                    }
                    // A concurrent join of the same user won; the place taken here goes back.
                    Lwt::NotApplied => {
                        self.give_place(group).await?;
                        Ok(JoinOutcome::AlreadyMember)
                    }
                    // The place stays taken either way: a member row never lacks a place.
                    Lwt::Unknown if self.is_member(group, user).await? => {
                        self.index_membership(group, user, true).await?;
                        Ok(JoinOutcome::Joined)
                    }
                    Lwt::Unknown => Err(in_doubt()),
                }
            })
            .await
    }

    async fn leave_group(&self, group: Uuid, user: UserId) -> Result<bool, StoreError> {
        self.ops
            .time("leave_group", async {
                let values = (group, user.as_uuid());
                match run_lwt(
                    &self.session,
                    &self.community_statements.remove_member,
                    values,
                )
                .await?
                {
                    Lwt::Applied => {
                        self.give_place(group).await?;
                        self.index_membership(group, user, false).await?;
                        Ok(true)
                    }
                    Lwt::NotApplied => Ok(false),
                    Lwt::Unknown if self.is_member(group, user).await? => Err(in_doubt()),
                    // Gone, but maybe by a concurrent leave that frees the place itself:
                    // the place is not given back here, so it is never freed twice.
                    Lwt::Unknown => Ok(true),
                }
            })
            .await
    }

    async fn groups_of(&self, user: UserId) -> Result<Vec<Uuid>, StoreError> {
        self.ops
            .time("groups_of", async {
                let rows = self
                    .session
                    .execute_unpaged(&self.community_statements.groups_of, (user.as_uuid(),))
                    .await
                    .map_err(execution_error)?
                    .into_rows_result()
                    .map_err(StoreError::backend)?;
                rows.rows::<(Uuid,)>()
                    .map_err(StoreError::backend)?
                    .map(|r| r.map(|(g,)| g).map_err(StoreError::backend))
                    .collect()
            })
            .await
    }

    async fn group_members(&self, group: Uuid) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time("group_members", async {
                self.user_ids(&self.community_statements.members, (group,))
                    .await
            })
            .await
    }

    async fn put_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        self.ops
            .time("put_post", async {
                let st = &self.community_statements;
                let mut batch = logged_batch();
                let mut values: Vec<Vec<Option<CqlValue>>> = Vec::new();
                // A replacement that moves the post (another time or parent) must not leave
                // its old listing row behind.
                let previous = self.read_post(post.id).await?;
                if let Some(previous) = previous.filter(|p| listing_of(p) != listing_of(post)) {
                    let (statement, owner) = match previous.parent {
                        None => (&st.unlist_post, previous.group),
                        Some(parent) => (&st.unlist_comment, parent),
                    };
                    batch.append_statement(statement.clone());
                    values.push(vec![
                        Some(CqlValue::Uuid(owner)),
                        Some(CqlValue::Timestamp(CqlTimestamp(previous.created_at))),
                        Some(CqlValue::Uuid(previous.id)),
                    ]);
                }
                batch.append_statement(st.put_post.clone());
                values.push(post_values(post));
                let mut listed = vec![
                    Some(CqlValue::Timestamp(CqlTimestamp(post.created_at))),
                    Some(CqlValue::Uuid(post.id)),
                ];
                match post.parent {
                    None => {
                        batch.append_statement(st.list_post.clone());
                        listed.insert(0, Some(CqlValue::Uuid(post.group)));
                    }
                    Some(parent) => {
                        batch.append_statement(st.list_comment.clone());
                        listed.insert(0, Some(CqlValue::Uuid(parent)));
                        listed.push(Some(CqlValue::Uuid(post.group)));
                    }
                }
                listed.extend([
                    Some(CqlValue::Uuid(post.author.as_uuid())),
                    Some(CqlValue::Text(post.text.clone())),
                    post.image_ref.clone().map(CqlValue::Text),
                    Some(CqlValue::Boolean(post.removed)),
                ]);
                values.push(listed);
                self.session
                    .batch(&batch, values)
                    .await
                    .map(|_| ())
                    .map_err(execution_error)
            })
            .await
    }

    async fn post(&self, id: Uuid) -> Result<Option<PostRecord>, StoreError> {
        self.ops
            .time("post", async { self.read_post(id).await })
            .await
    }

    async fn group_posts(&self, group: Uuid, limit: usize) -> Result<Vec<PostRecord>, StoreError> {
        self.ops
            .time("group_posts", async {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let rows = self
                    .community_rows::<ListedPostRow>(
                        &self.community_statements.group_posts,
                        (group, cql_limit(limit)),
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(
                        |(created_at, id, author, text, image_ref, removed)| PostRecord {
                            id,
                            group,
                            parent: None,
                            author: UserId::from_uuid(author),
                            text,
                            image_ref,
                            created_at: created_at.0,
                            removed: removed.unwrap_or(false),
                        },
                    )
                    .collect())
            })
            .await
    }

    async fn comments(&self, post: Uuid) -> Result<Vec<PostRecord>, StoreError> {
        self.ops
            .time("comments", async {
                let rows = self
                    .community_rows::<CommentRow>(&self.community_statements.comments, (post,))
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(
                        |(created_at, id, group, author, text, image_ref, removed)| PostRecord {
                            id,
                            group,
                            parent: Some(post),
                            author: UserId::from_uuid(author),
                            text,
                            image_ref,
                            created_at: created_at.0,
                            removed: removed.unwrap_or(false),
                        },
                    )
                    .collect())
            })
            .await
    }

    async fn put_report(&self, r: &ReportRecord) -> Result<(), StoreError> {
        self.ops
            .time("put_report", async {
                let st = &self.community_statements;
                let day = day_of(r.created_at);
                // The day goes into the index first: a failure after it leaves an empty
                // bucket to skip, never a report that no read can reach.
                self.session
                    .execute_unpaged(&st.mark_report_day, (REPORT_DAYS_BUCKET, day))
                    .await
                    .map_err(execution_error)?;
                let values = (
                    day,
                    CqlTimestamp(r.created_at),
                    r.id,
                    r.reporter.as_uuid(),
                    r.target_kind.as_str(),
                    r.target_id.as_str(),
                    r.reason.as_str(),
                );
                self.session
                    .execute_unpaged(&st.put_report, values)
                    .await
                    .map(|_| ())
                    .map_err(execution_error)
            })
            .await
    }

    async fn reports(&self, limit: usize) -> Result<Vec<ReportRecord>, StoreError> {
        self.ops
            .time("reports", async {
                let st = &self.community_statements;
                let mut found = Vec::new();
                if limit == 0 {
                    return Ok(found);
                }
                let days = self
                    .community_rows::<(i32,)>(&st.report_days, (REPORT_DAYS_BUCKET,))
                    .await?;
                for (day,) in days {
                    let values = (day, cql_limit(limit - found.len()));
                    let rows = self
                        .community_rows::<ReportRow>(&st.reports_of_day, values)
                        .await?;
                    found.extend(rows.into_iter().map(
                        |(created_at, id, reporter, target_kind, target_id, reason)| ReportRecord {
                            id,
                            reporter: UserId::from_uuid(reporter),
                            target_kind,
                            target_id,
                            reason,
                            created_at: created_at.0,
                        },
                    ));
                    if found.len() >= limit {
                        break;
                    }
                }
                Ok(found)
            })
            .await
    }
}
