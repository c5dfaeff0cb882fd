//! Follows and blocks. Following is budgeted per user and announced to the followee;
//! nobody follows or blocks themselves. A block works both ways and ends the follows
//! between the two users; while it stands, each looks like nobody to the other.

use super::events::CommunityFollowed;
use crate::push::texts::SocialEvent;
use std::collections::HashSet;

use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::StoreError;

use super::limits::Action;
use super::{Community, CommunityError};

/// How many users one member may block; beyond, unblock someone first.
pub const MAX_BLOCKS: usize = 1_000;
/// How many followers a listing shows.
const FOLLOWERS_SHOWN: usize = 1_000;

/// A page of the users someone blocked, and where the next page starts.
#[derive(Debug, Clone)]
pub struct BlockedPage {
    pub users: Vec<UserId>,
    /// The cursor of the next page; `None` on the last one.
    pub next: Option<UserId>,
}

impl Community {
    /// `follower` follows `followee`; answers whether anything changed. A followee who
    /// does not exist, or a block either way, answers [`CommunityError::NoSuchUser`]. A
    /// block that lands while the follow is written wins: the follow is undone.
    pub async fn follow(&self, follower: UserId, followee: UserId) -> Result<bool, CommunityError> {
        if follower == followee {
            return Err(CommunityError::invalid(
                "user_id",
                "you cannot follow yourself",
            ));
        }
        self.spend(follower, Action::Follow)?;
        if self.stores.users.user_by_id(followee).await?.is_none()
            || self.blocked_either_way(follower, followee).await?
        {
            return Err(CommunityError::NoSuchUser);
        }
        let changed = self.stores.community.follow(follower, followee).await?;
        if self.blocked_either_way(follower, followee).await? {
            self.stores.community.unfollow(follower, followee).await?;
            return Err(CommunityError::NoSuchUser);
        }
        if changed {
            let data = CommunityFollowed::Followed {
                by_user_id: follower.to_string(),
            };
            self.fan_out(follower, vec![followee], &data).await?;
            self.push_social(followee, follower, SocialEvent::Follow)
                .await;
        }
        Ok(changed)
    }

    /// Stops following (within the same budget as following); answers whether anything
    /// changed.
    pub async fn unfollow(
        &self,
        follower: UserId,
        followee: UserId,
    ) -> Result<bool, CommunityError> {
        self.spend(follower, Action::Follow)?;
        Ok(self.stores.community.unfollow(follower, followee).await?)
    }

    /// Whom `user` follows.
    pub async fn following(&self, user: UserId) -> Result<Vec<UserId>, CommunityError> {
        Ok(self.stores.community.following(user).await?)
    }

    /// Who follows `user` (the first thousand).
    pub async fn followers(&self, user: UserId) -> Result<Vec<UserId>, CommunityError> {
        Ok(self
            .stores
            .community
            .followers(user, FOLLOWERS_SHOWN)
            .await?)
    }

    /// Blocks `other` for `user`. Follows between the two end both ways, and an unblock does
    /// not bring them back: following again is a new, deliberate act. Only existing users
    /// can be blocked, and at most [`MAX_BLOCKS`] of them (blocking someone already
    /// blocked always answers).
    pub async fn block(&self, user: UserId, other: UserId) -> Result<(), CommunityError> {
        if user == other {
            return Err(CommunityError::invalid(
                "user_id",
                "you cannot block yourself",
            ));
        }
        if self.stores.users.user_by_id(other).await?.is_none() {
            return Err(CommunityError::NoSuchUser);
        }
        let community = &self.stores.community;
        let blocked = community.blocked(user).await?;
        if blocked.len() >= MAX_BLOCKS && !blocked.contains(&other) {
            return Err(CommunityError::TooManyBlocks);
        }
        community.block(user, other).await?;
        community.unfollow(user, other).await?;
        community.unfollow(other, user).await?;
        Ok(())
    }

    pub async fn unblock(&self, user: UserId, other: UserId) -> Result<(), CommunityError> {
        Ok(self.stores.community.unblock(user, other).await?)
    }

    /// Whom `user` blocked, ordered by user id, `limit` after the cursor `after`.
    pub async fn blocked_page(
        &self,
        user: UserId,
        after: Option<UserId>,
        limit: usize,
    ) -> Result<BlockedPage, CommunityError> {
        // One more than asked tells whether another page follows.
        let mut users = self
            .stores
            .community
            .blocked_page(user, after, limit + 1)
            .await?;
        let more = users.len() > limit;
        users.truncate(limit);
        let next = more.then(|| users.last().copied()).flatten();
        Ok(BlockedPage { users, next })
    }

    /// Users who blocked `user` or whom `user` blocked, among `candidates`: two reads
    /// whatever the number of candidates (whom `user` blocked is bounded by
    /// [`MAX_BLOCKS`]; who blocked `user` is read for the candidates in batches).
    pub async fn blocked_between(
        &self,
        user: UserId,
        candidates: &[UserId],
    ) -> Result<HashSet<UserId>, StoreError> {
        let mut hidden: HashSet<UserId> = self
            .stores
            .community
            .blocked(user)
            .await?
            .into_iter()
            .collect();
        let unknown: Vec<UserId> = candidates
            .iter()
            .filter(|c| !hidden.contains(c))
            .copied()
            .collect();
        hidden.extend(self.stores.community.blockers_among(user, &unknown).await?);
        Ok(hidden)
    }

    /// True if either user blocked the other.
    pub async fn blocked_either_way(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        Ok(!self.blocked_between(a, &[b]).await?.is_empty())
    }
}
