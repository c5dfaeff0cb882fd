//! The community in the embedded store: check-ins, follows (both directions), blocks,
//! groups with their members, posts, comments and reports. Every call is one write or read
//! transaction, so a follow and its mirror row, or a member count and the new member, never
//! disagree; newest-first lists come from keys whose time part sorts in reverse.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::community::{
    CheckinRecord, CommunityStore, GroupRecord, JoinOutcome, PostRecord, ReportRecord,
};
use fitpulse_actors::ports::store::StoreError;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    BLOCKED_BY, BLOCKS, CHECKINS, COMMUNITY_GROUPS, EmbeddedStore, FOLLOWERS, FOLLOWING,
    GROUP_MEMBERS, GROUP_POSTS, GROUPS_BY_USER, KEY_SEPARATOR, POST_COMMENTS, POSTS, REPORTS,
    ascending, backend, decode, descending, encode, key, prefix_range,
};

#[derive(Serialize, Deserialize)]
struct CheckinRow {
    mood: String,
    satisfaction: u8,
    note: Option<String>,
    updated_at: UnixMillis,
}

#[derive(Serialize, Deserialize)]
struct GroupRow {
    name: String,
    owner: UserId,
    max_members: u32,
    created_at: UnixMillis,
}

#[derive(Serialize, Deserialize)]
struct PostRow {
    group: Uuid,
    parent: Option<Uuid>,
    author: UserId,
    text: String,
    image_ref: Option<String>,
    created_at: UnixMillis,
    removed: bool,
}

impl PostRow {
    fn record(self, id: Uuid) -> PostRecord {
        PostRecord {
            id,
            group: self.group,
            parent: self.parent,
            author: self.author,
            text: self.text,
            image_ref: self.image_ref,
            created_at: self.created_at,
            removed: self.removed,
        }
    }

    /// The listing row that makes this post findable: its group's list for a post, its
    /// parent's thread for a comment.
    fn listing_key(&self, id: Uuid) -> String {
        match self.parent {
            None => key(&[
                &self.group.to_string(),
                &descending(self.created_at),
                &id.to_string(),
            ]),
            Some(parent) => key(&[
                &parent.to_string(),
                &ascending(self.created_at),
                &id.to_string(),
            ]),
        }
    }

    fn listing(&self) -> TableDefinition<'static, &'static str, ()> {
        if self.parent.is_none() {
            GROUP_POSTS
        } else {
            POST_COMMENTS
        }
    }
}

/// A stored post as an account erasure needs it: who wrote it, what it answers, and the
/// listing row that makes it findable.
pub(super) struct PostPlace {
    pub author: UserId,
    pub parent: Option<Uuid>,
    pub listing: TableDefinition<'static, &'static str, ()>,
    pub listing_key: String,
}

/// Where the post `id`, stored as `row`, sits.
pub(super) fn post_place(id: &str, row: &[u8]) -> Result<PostPlace, StoreError> {
    let id = parse_uuid(id)?;
    let row: PostRow = decode(row)?;
    Ok(PostPlace {
        author: row.author,
        parent: row.parent,
        listing: row.listing(),
        listing_key: row.listing_key(id),
    })
}

#[derive(Serialize, Deserialize)]
struct ReportRow {
    reporter: UserId,
    target_kind: String,
    target_id: String,
    reason: String,
    created_at: UnixMillis,
}

fn user_key(a: UserId, b: UserId) -> String {
    key(&[&a.to_string(), &b.to_string()])
}

/// The last part of a composite key.
fn last_part(k: &str) -> Result<&str, StoreError> {
    k.rsplit_once(KEY_SEPARATOR)
        .map(|(_, last)| last)
        .ok_or_else(|| StoreError::backend(std::io::Error::other("a malformed community key")))
}

fn parse_uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(StoreError::backend)
}

/// The users named by the last part of every key under `owner` in `table`, at most `limit`.
fn users_under(
    table: &impl ReadableTable<&'static str, ()>,
    owner: &str,
    limit: usize,
) -> Result<Vec<UserId>, StoreError> {
    let (start, end) = prefix_range(owner);
    let mut found = Vec::new();
    for entry in table
        .range(start.as_str()..end.as_str())
        .map_err(backend)?
        .take(limit)
    {
        let (k, _) = entry.map_err(backend)?;
        found.push(UserId::from_uuid(parse_uuid(last_part(k.value())?)?));
    }
    Ok(found)
}

/// The posts listed under `owner` in a listing table, in key order, at most `limit`.
fn posts_under(
    listing: &impl ReadableTable<&'static str, ()>,
    posts: &impl ReadableTable<&'static str, &'static [u8]>,
    owner: Uuid,
    limit: usize,
) -> Result<Vec<PostRecord>, StoreError> {
    let (start, end) = prefix_range(&owner.to_string());
    let mut found = Vec::new();
    for entry in listing
        .range(start.as_str()..end.as_str())
        .map_err(backend)?
        .take(limit)
    {
        let (k, _) = entry.map_err(backend)?;
        let id = parse_uuid(last_part(k.value())?)?;
        if let Some(row) = posts.get(id.to_string().as_str()).map_err(backend)? {
            found.push(decode::<PostRow>(row.value())?.record(id));
        }
    }
    Ok(found)
}

/// Inserts `k` into `table` unless present; true if it was absent.
fn insert_new(
    txn: &WriteTransaction,
    table: TableDefinition<&str, ()>,
    k: &str,
) -> Result<bool, StoreError> {
    let mut table = txn.open_table(table).map_err(backend)?;
    Ok(table.insert(k, ()).map_err(backend)?.is_none())
}

/// Removes `k` from `table`; true if it was there.
fn remove(
    txn: &WriteTransaction,
    table: TableDefinition<&str, ()>,
    k: &str,
) -> Result<bool, StoreError> {
    let mut table = txn.open_table(table).map_err(backend)?;
    Ok(table.remove(k).map_err(backend)?.is_some())
}

/// Mirrors blocks made before `BLOCKED_BY` existed (once: only while it is empty).
pub(super) fn fill_blocked_by(txn: &WriteTransaction) -> Result<(), redb::Error> {
    use redb::ReadableTableMetadata;
    let blocks = txn.open_table(BLOCKS)?;
    let mut mirror = txn.open_table(BLOCKED_BY)?;
    if !mirror.is_empty()? {
        return Ok(());
    }
    for entry in blocks.iter()? {
        let (k, _) = entry?;
        if let Some((user, blocked)) = k.value().split_once(KEY_SEPARATOR) {
            mirror.insert(key(&[blocked, user]).as_str(), ())?;
        }
    }
    Ok(())
}

#[async_trait]
impl CommunityStore for EmbeddedStore {
    async fn put_checkin(&self, user: UserId, checkin: &CheckinRecord) -> Result<(), StoreError> {
        let k = key(&[&user.to_string(), &descending(i64::from(checkin.day))]);
        let row = encode(&CheckinRow {
            mood: checkin.mood.clone(),
            satisfaction: checkin.satisfaction,
            note: checkin.note.clone(),
            updated_at: checkin.updated_at,
        })?;
        self.write("put_checkin", move |txn| {
            let mut table = txn.open_table(CHECKINS).map_err(backend)?;
            table.insert(k.as_str(), row.as_slice()).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn checkins(&self, user: UserId, limit: usize) -> Result<Vec<CheckinRecord>, StoreError> {
        self.read("checkins", move |txn| {
            let table = txn.open_table(CHECKINS).map_err(backend)?;
            let (start, end) = prefix_range(&user.to_string());
            let mut found = Vec::new();
            for entry in table
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
                .take(limit)
            {
                let (k, v) = entry.map_err(backend)?;
                let sorted: u64 = last_part(k.value())?.parse().map_err(StoreError::backend)?;
                // Undoes `descending`; the value came from an i32, so it fits.
                let day = (!sorted ^ (1 << 63)) as i64 as i32;
                let row: CheckinRow = decode(v.value())?;
                found.push(CheckinRecord {
                    day,
                    mood: row.mood,
                    satisfaction: row.satisfaction,
                    note: row.note,
                    updated_at: row.updated_at,
                });
            }
            Ok(found)
        })
        .await
    }

    async fn follow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError> {
        self.write("follow", move |txn| {
            let changed = insert_new(txn, FOLLOWING, &user_key(follower, followee))?;
            insert_new(txn, FOLLOWERS, &user_key(followee, follower))?;
            Ok(changed)
        })
        .await
    }

    async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError> {
        self.write("unfollow", move |txn| {
            let changed = remove(txn, FOLLOWING, &user_key(follower, followee))?;
            remove(txn, FOLLOWERS, &user_key(followee, follower))?;
            Ok(changed)
        })
        .await
    }

    async fn followers(&self, user: UserId, limit: usize) -> Result<Vec<UserId>, StoreError> {
        self.read("followers", move |txn| {
            let table = txn.open_table(FOLLOWERS).map_err(backend)?;
            users_under(&table, &user.to_string(), limit)
        })
        .await
    }

    async fn following(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        self.read("following", move |txn| {
            let table = txn.open_table(FOLLOWING).map_err(backend)?;
            users_under(&table, &user.to_string(), usize::MAX)
        })
        .await
    }

    async fn block(&self, user: UserId, other: UserId) -> Result<(), StoreError> {
        self.write("block", move |txn| {
            insert_new(txn, BLOCKS, &user_key(user, other))?;
            insert_new(txn, BLOCKED_BY, &user_key(other, user)).map(|_| ())
        })
        .await
    }

    async fn unblock(&self, user: UserId, other: UserId) -> Result<(), StoreError> {
        self.write("unblock", move |txn| {
            remove(txn, BLOCKS, &user_key(user, other))?;
            remove(txn, BLOCKED_BY, &user_key(other, user)).map(|_| ())
        })
        .await
    }

    async fn blocked_page(
        &self,
        user: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError> {
        self.read("blocked_page", move |txn| {
            let table = txn.open_table(BLOCKS).map_err(backend)?;
            let (start, end) = prefix_range(&user.to_string());
            // Just past `after`: its key with the smallest possible suffix appended.
            let from = after.map_or(start, |a| format!("{}\u{0}", user_key(user, a)));
            let mut found = Vec::new();
            for entry in table
                .range(from.as_str()..end.as_str())
                .map_err(backend)?
                .take(limit)
            {
                let (k, _) = entry.map_err(backend)?;
                found.push(UserId::from_uuid(parse_uuid(last_part(k.value())?)?));
            }
            Ok(found)
        })
        .await
    }

    async fn blockers_among(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let candidates = candidates.to_vec();
        self.read("blockers_among", move |txn| {
            let table = txn.open_table(BLOCKED_BY).map_err(backend)?;
            let mut found = Vec::new();
            for candidate in candidates {
                if table
                    .get(user_key(user, candidate).as_str())
                    .map_err(backend)?
                    .is_some()
                {
                    found.push(candidate);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn blocked(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        self.read("blocked", move |txn| {
            let table = txn.open_table(BLOCKS).map_err(backend)?;
            users_under(&table, &user.to_string(), usize::MAX)
        })
        .await
    }

    async fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError> {
        let id = group.id.to_string();
        let row = encode(&GroupRow {
            name: group.name.clone(),
            owner: group.owner,
            max_members: group.max_members,
            created_at: group.created_at,
        })?;
        self.write("create_group", move |txn| {
            let mut table = txn.open_table(COMMUNITY_GROUPS).map_err(backend)?;
            table.insert(id.as_str(), row.as_slice()).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn group(&self, id: Uuid) -> Result<Option<GroupRecord>, StoreError> {
        self.read("group", move |txn| {
            let table = txn.open_table(COMMUNITY_GROUPS).map_err(backend)?;
            let row = table.get(id.to_string().as_str()).map_err(backend)?;
            row.map(|r| {
                let row: GroupRow = decode(r.value())?;
                Ok(GroupRecord {
                    id,
                    name: row.name,
                    owner: row.owner,
                    max_members: row.max_members,
                    created_at: row.created_at,
                })
            })
            .transpose()
        })
        .await
    }

    async fn join_group(
        &self,
        group: Uuid,
        user: UserId,
        max_members: u32,
    ) -> Result<JoinOutcome, StoreError> {
        self.write("join_group", move |txn| {
            let mut members = txn.open_table(GROUP_MEMBERS).map_err(backend)?;
            let group = group.to_string();
            let member = key(&[&group, &user.to_string()]);
            if members.get(member.as_str()).map_err(backend)?.is_some() {
                return Ok(JoinOutcome::AlreadyMember);
            }
            // Counting and inserting in the one write transaction is what makes the cap
            // exact: no other join can commit in between.
            let (start, end) = prefix_range(&group);
            let mut count: u64 = 0;
            for entry in members
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
            {
                entry.map_err(backend)?;
                count += 1;
            }
            if count >= u64::from(max_members) {
                return Ok(JoinOutcome::Full);
            }
            members.insert(member.as_str(), ()).map_err(backend)?;
            let mut by_user = txn.open_table(GROUPS_BY_USER).map_err(backend)?;
            by_user
                .insert(key(&[&user.to_string(), &group]).as_str(), ())
                .map_err(backend)?;
            Ok(JoinOutcome::Joined)
        })
        .await
    }

    async fn leave_group(&self, group: Uuid, user: UserId) -> Result<bool, StoreError> {
        let member = key(&[&group.to_string(), &user.to_string()]);
        let index = key(&[&user.to_string(), &group.to_string()]);
        self.write("leave_group", move |txn| {
            remove(txn, GROUPS_BY_USER, &index)?;
            remove(txn, GROUP_MEMBERS, &member)
        })
        .await
    }

    async fn groups_of(&self, user: UserId) -> Result<Vec<Uuid>, StoreError> {
        self.read("groups_of", move |txn| {
            let table = txn.open_table(GROUPS_BY_USER).map_err(backend)?;
            let (start, end) = prefix_range(&user.to_string());
            let mut groups = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
                let (k, _) = entry.map_err(backend)?;
                if let Some((_, group)) = k.value().split_once(super::KEY_SEPARATOR) {
                    groups.push(Uuid::parse_str(group).map_err(StoreError::backend)?);
                }
            }
            Ok(groups)
        })
        .await
    }

    async fn group_members(&self, group: Uuid) -> Result<Vec<UserId>, StoreError> {
        self.read("group_members", move |txn| {
            let table = txn.open_table(GROUP_MEMBERS).map_err(backend)?;
            users_under(&table, &group.to_string(), usize::MAX)
        })
        .await
    }

    async fn put_post(&self, post: &PostRecord) -> Result<(), StoreError> {
        let id = post.id;
        let row = PostRow {
            group: post.group,
            parent: post.parent,
            author: post.author,
            text: post.text.clone(),
            image_ref: post.image_ref.clone(),
            created_at: post.created_at,
            removed: post.removed,
        };
        self.write("put_post", move |txn| {
            let mut posts = txn.open_table(POSTS).map_err(backend)?;
            let previous = posts
                .get(id.to_string().as_str())
                .map_err(backend)?
                .map(|r| decode::<PostRow>(r.value()))
                .transpose()?;
            // A replacement that moves the post (another time or parent) must not leave
            // its old listing row behind.
            if let Some(previous) = previous {
                let old = previous.listing_key(id);
                if old != row.listing_key(id) {
                    remove(txn, previous.listing(), &old)?;
                }
            }
            posts
                .insert(id.to_string().as_str(), encode(&row)?.as_slice())
                .map_err(backend)?;
            insert_new(txn, row.listing(), &row.listing_key(id))?;
            Ok(())
        })
        .await
    }

    async fn post(&self, id: Uuid) -> Result<Option<PostRecord>, StoreError> {
        self.read("post", move |txn| {
            let posts = txn.open_table(POSTS).map_err(backend)?;
            let row = posts.get(id.to_string().as_str()).map_err(backend)?;
            row.map(|r| Ok(decode::<PostRow>(r.value())?.record(id)))
                .transpose()
        })
        .await
    }

    async fn group_posts(&self, group: Uuid, limit: usize) -> Result<Vec<PostRecord>, StoreError> {
        self.read("group_posts", move |txn| {
            let listing = txn.open_table(GROUP_POSTS).map_err(backend)?;
            let posts = txn.open_table(POSTS).map_err(backend)?;
            posts_under(&listing, &posts, group, limit)
        })
        .await
    }

    async fn comments(&self, post: Uuid) -> Result<Vec<PostRecord>, StoreError> {
        self.read("comments", move |txn| {
            let listing = txn.open_table(POST_COMMENTS).map_err(backend)?;
            let posts = txn.open_table(POSTS).map_err(backend)?;
            posts_under(&listing, &posts, post, usize::MAX)
        })
        .await
    }

    async fn put_report(&self, report: &ReportRecord) -> Result<(), StoreError> {
        let k = key(&[&descending(report.created_at), &report.id.to_string()]);
        let row = encode(&ReportRow {
            reporter: report.reporter,
            target_kind: report.target_kind.clone(),
            target_id: report.target_id.clone(),
            reason: report.reason.clone(),
            created_at: report.created_at,
        })?;
        self.write("put_report", move |txn| {
            let mut table = txn.open_table(REPORTS).map_err(backend)?;
            table.insert(k.as_str(), row.as_slice()).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn reports(&self, limit: usize) -> Result<Vec<ReportRecord>, StoreError> {
        self.read("reports", move |txn| {
            let table = txn.open_table(REPORTS).map_err(backend)?;
            let mut found = Vec::new();
            for entry in table.iter().map_err(backend)?.take(limit) {
                let (k, v) = entry.map_err(backend)?;
                let row: ReportRow = decode(v.value())?;
                found.push(ReportRecord {
                    id: parse_uuid(last_part(k.value())?)?,
                    reporter: row.reporter,
                    target_kind: row.target_kind,
                    target_id: row.target_id,
                    reason: row.reason,
                    created_at: row.created_at,
                });
            }
            Ok(found)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::{ascending, descending};

    #[test]
    fn time_key_parts_sort_like_their_values_including_negatives() {
        let values = [i64::MIN, -86_400_000, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        for pair in values.windows(2) {
            assert!(ascending(pair[0]) < ascending(pair[1]));
            assert!(descending(pair[0]) > descending(pair[1]));
        }
    }
}
