//! The community around workouts: check-ins, follows, blocks, groups with posts and
//! comments, and the activity events they cause.
//!
//! Activity reaches people through the same hub and feed as every other event: an author's
//! activity is an event of their own feed, and a copy goes to each follower (and, for group
//! posts, each member), sequenced and stored in that user's feed so it survives until they
//! come back. An author with more followers than `push_limit` is not fanned out to:
//! followers pull that author's activity on read (`GET /v1/users/{id}/activity`), so one
//! popular user never turns into a burst of thousands of writes. Blocks work both ways: no
//! event of either user reaches the other.

pub mod limits;

use std::collections::HashSet;

use chrono::NaiveDate;
use fitpulse_actors::domain::{UserId, now_millis};
use fitpulse_actors::events::EventKind;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::community::CheckinRecord;
use fitpulse_actors::ports::store::StoreError;
use serde_json::Value;

use crate::store::Stores;
pub use limits::CommunityLimits;

/// How many users one member may block; beyond, unblock someone first.
pub const MAX_BLOCKS: usize = 1_000;

/// Why a block was refused.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("no such user")]
    NoSuchUser,
    #[error("you block {MAX_BLOCKS} users already; unblock someone first")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The community services of a node.
pub struct Community {
    pub stores: Stores,
    pub hub: Hub,
    pub limits: CommunityLimits,
    /// Authors with at least this many followers are pulled, not pushed.
    pub push_limit: usize,
    /// The largest group allowed.
    pub max_group_size: u32,
}

impl Community {
    pub fn new(stores: Stores, hub: Hub, settings: &crate::config::CommunitySettings) -> Community {
        Community {
            stores,
            hub,
            limits: CommunityLimits::new(
                settings.posts_per_minute,
                settings.comments_per_minute,
                settings.follows_per_minute,
            ),
            push_limit: settings.push_limit,
            max_group_size: settings.max_group_size,
        }
    }
}

/// Days since the Unix epoch of a date.
pub fn day_number(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date")).num_days() as i32
}

pub fn date_of_day(day: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("the epoch is a date")
        + chrono::Duration::days(i64::from(day))
}

/// Consecutive days with a check-in, ending today (or yesterday: a streak is not broken
/// before the day is over). `days` are newest first.
pub fn streak(days: &[i32], today: i32) -> u32 {
    let mut expected = match days.first() {
        Some(&d) if d == today || d == today - 1 => d,
        _ => return 0,
    };
    let mut count = 0;
    for &day in days {
        if day != expected {
            break;
        }
        count += 1;
        expected -= 1;
    }
    count
}

impl Community {
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

    /// Blocks `other` for `user`. Follows between the two end both ways, and an unblock does
    /// not bring them back: following again is a new, deliberate act. Only existing users
    /// can be blocked, and at most [`MAX_BLOCKS`] of them.
    pub async fn block(&self, user: UserId, other: UserId) -> Result<(), BlockError> {
        if self.stores.users.user_by_id(other).await?.is_none() {
            return Err(BlockError::NoSuchUser);
        }
        let community = &self.stores.community;
        let blocked = community.blocked(user).await?;
        if blocked.len() >= MAX_BLOCKS && !blocked.contains(&other) {
            return Err(BlockError::TooMany);
        }
        community.block(user, other).await?;
        community.unfollow(user, other).await?;
        community.unfollow(other, user).await?;
        Ok(())
    }

    /// `follower` follows `followee` unless a block stands between them (`Ok(None)`: the
    /// followee looks like nobody). `Some(changed)` otherwise. A block that lands while the
    /// follow is written wins: the follow is undone.
    pub async fn follow(
        &self,
        follower: UserId,
        followee: UserId,
    ) -> Result<Option<bool>, StoreError> {
        if self.stores.users.user_by_id(followee).await?.is_none()
            || self.blocked_either_way(follower, followee).await?
        {
            return Ok(None);
        }
        let changed = self.stores.community.follow(follower, followee).await?;
        if self.blocked_either_way(follower, followee).await? {
            self.stores.community.unfollow(follower, followee).await?;
            return Ok(None);
        }
        if changed {
            let data =
                serde_json::json!({ "type": "followed", "by_user_id": follower.to_string() });
            self.fan_out(follower, vec![followee], "community.followed", &data)
                .await?;
        }
        Ok(Some(changed))
    }

    /// True if either user blocked the other.
    pub async fn blocked_either_way(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        Ok(!self.blocked_between(a, &[b]).await?.is_empty())
    }

    /// Publishes `kind` to the author's own feed and to `audience` (minus the author and
    /// anyone blocked either way). Answers how many users it was pushed to.
    pub async fn fan_out(
        &self,
        author: UserId,
        audience: Vec<UserId>,
        kind: &str,
        data: &Value,
    ) -> Result<usize, StoreError> {
        let kind = EventKind::parse(kind).expect("community event kinds are valid");
        let text = data.to_string();
        if let Err(err) = self.hub.publish(author, kind.clone(), text.clone()).await {
            tracing::warn!(user_id = %author, error = %err, "cannot record an author's own activity");
        }
        let audience: Vec<UserId> = audience.into_iter().filter(|u| *u != author).collect();
        let hidden = self.blocked_between(author, &audience).await?;
        let mut pushed = 0;
        for user in audience.into_iter().filter(|u| !hidden.contains(u)) {
            let (hub, kind, text) = (self.hub.clone(), kind.clone(), text.clone());
            // Each recipient's session persists its copy; one slow session holds up nobody.
            tokio::spawn(async move {
                if let Err(err) = hub.publish(user, kind, text).await {
                    tracing::warn!(user_id = %user, error = %err, "cannot deliver a community event");
                }
            });
            pushed += 1;
        }
        Ok(pushed)
    }

    /// An activity of `author` for their followers: pushed when they have fewer than
    /// `push_limit`, pulled on read otherwise.
    pub async fn activity(
        &self,
        author: UserId,
        kind: &str,
        data: &Value,
    ) -> Result<usize, StoreError> {
        let followers = self
            .stores
            .community
            .followers(author, self.push_limit)
            .await?;
        let mut audience: HashSet<UserId> = if followers.len() >= self.push_limit {
            HashSet::new()
        } else {
            followers.into_iter().collect()
        };
        // The author's groups hear of it too, within the same bound.
        for group in self.stores.community.groups_of(author).await? {
            for member in self.stores.community.group_members(group).await? {
                if audience.len() >= self.push_limit {
                    break;
                }
                audience.insert(member);
            }
        }
        self.fan_out(author, audience.into_iter().collect(), kind, data)
            .await
    }

    /// Today as a day number.
    pub fn today() -> i32 {
        day_number(crate::content::plan::date_of(now_millis()))
    }

    /// The streak of `checkins` (newest first).
    pub fn streak_of(checkins: &[CheckinRecord]) -> u32 {
        let days: Vec<i32> = checkins.iter().map(|c| c.day).collect();
        streak(&days, Self::today())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_counts_consecutive_days_up_to_today_or_yesterday() {
        assert_eq!(streak(&[100, 99, 98, 96], 100), 3);
        assert_eq!(streak(&[99, 98], 100), 2, "today is not over yet");
        assert_eq!(streak(&[97, 96], 100), 0);
        assert_eq!(streak(&[], 100), 0);
    }

    #[test]
    fn day_numbers_round_trip() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        assert_eq!(date_of_day(day_number(date)), date);
        assert_eq!(
            day_number(NaiveDate::from_ymd_opt(1970, 1, 2).expect("date")),
            1
        );
    }
}
