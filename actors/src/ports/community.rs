//! Store ports for the community: daily check-ins, follows, blocks, groups with their posts
//! and comments, and abuse reports. Every partition is one user's, one group's or one
//! post's; fan-out to followers happens in the server, never as one hot write.

use async_trait::async_trait;
use uuid::Uuid;

use super::store::StoreError;
use crate::domain::{UnixMillis, UserId};

/// A user's check-in of one day (`day`: days since the Unix epoch, UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckinRecord {
    pub day: i32,
    /// A short mood word such as `great`, `tired`.
    pub mood: String,
    /// 1-5.
    pub satisfaction: u8,
    pub note: Option<String>,
    pub updated_at: UnixMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub id: Uuid,
    pub name: String,
    pub owner: UserId,
    pub max_members: u32,
    pub created_at: UnixMillis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined,
    AlreadyMember,
    Full,
}

/// A post in a group or a comment on one (`parent` is the post a comment belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRecord {
    pub id: Uuid,
    pub group: Uuid,
    pub parent: Option<Uuid>,
    pub author: UserId,
    pub text: String,
    pub image_ref: Option<String>,
    pub created_at: UnixMillis,
    /// Taken down by a moderator: kept for the record, never shown.
    pub removed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub id: Uuid,
    pub reporter: UserId,
    /// `post`, `comment` or `user`.
    pub target_kind: String,
    pub target_id: String,
    pub reason: String,
    pub created_at: UnixMillis,
}

#[async_trait]
pub trait CommunityStore: Send + Sync {
    /// Inserts or replaces the user's check-in of `checkin.day`.
    async fn put_checkin(&self, user: UserId, checkin: &CheckinRecord) -> Result<(), StoreError>;
    /// The user's check-ins, newest day first, at most `limit`.
    async fn checkins(&self, user: UserId, limit: usize) -> Result<Vec<CheckinRecord>, StoreError>;

    /// True if this changed anything.
    async fn follow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError>;
    async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError>;
    /// Who follows `user`, at most `limit`.
    async fn followers(&self, user: UserId, limit: usize) -> Result<Vec<UserId>, StoreError>;
    /// Whom `user` follows.
    async fn following(&self, user: UserId) -> Result<Vec<UserId>, StoreError>;

    async fn block(&self, user: UserId, other: UserId) -> Result<(), StoreError>;
    async fn unblock(&self, user: UserId, other: UserId) -> Result<(), StoreError>;
    /// Whom `user` blocked (the server caps how many; see `community`).
    async fn blocked(&self, user: UserId) -> Result<Vec<UserId>, StoreError>;
    /// Whom `user` blocked, ordered by user id, after `after`, at most `limit`.
    async fn blocked_page(
        &self,
        user: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<UserId>, StoreError>;
    /// Which of `candidates` blocked `user`: what a fan-out from `user` must skip, in a
    /// bounded number of reads however many candidates there are.
    async fn blockers_among(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError>;

    async fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError>;
    async fn group(&self, id: Uuid) -> Result<Option<GroupRecord>, StoreError>;
    /// Adds the user unless the group already has `max_members`; exact under concurrency.
    async fn join_group(
        &self,
        group: Uuid,
        user: UserId,
        max_members: u32,
    ) -> Result<JoinOutcome, StoreError>;
    /// True if the user was a member.
    async fn leave_group(&self, group: Uuid, user: UserId) -> Result<bool, StoreError>;
    async fn group_members(&self, group: Uuid) -> Result<Vec<UserId>, StoreError>;
    /// The groups the user is a member of.
    async fn groups_of(&self, user: UserId) -> Result<Vec<Uuid>, StoreError>;

    /// Inserts or replaces a post or comment.
    async fn put_post(&self, post: &PostRecord) -> Result<(), StoreError>;
    async fn post(&self, id: Uuid) -> Result<Option<PostRecord>, StoreError>;
    /// A group's posts (not comments), newest first, at most `limit`, removed ones included.
    async fn group_posts(&self, group: Uuid, limit: usize) -> Result<Vec<PostRecord>, StoreError>;
    /// A post's comments, oldest first, removed ones included.
    async fn comments(&self, post: Uuid) -> Result<Vec<PostRecord>, StoreError>;

    async fn put_report(&self, report: &ReportRecord) -> Result<(), StoreError>;
    /// The newest reports first, at most `limit`.
    async fn reports(&self, limit: usize) -> Result<Vec<ReportRecord>, StoreError>;
}
