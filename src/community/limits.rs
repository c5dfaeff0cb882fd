//! Per-user rate limits on community writes, so one account cannot flood groups or
//! follow thousands of people: posts, comments and follows each have their own budget.

use std::num::NonZeroU32;

use fitpulse_actors::domain::UserId;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Post,
    Comment,
    Follow,
}

pub struct CommunityLimits {
    posts: DefaultKeyedRateLimiter<UserId>,
    comments: DefaultKeyedRateLimiter<UserId>,
    follows: DefaultKeyedRateLimiter<UserId>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl CommunityLimits {
    /// Per user and minute: `posts`, `comments` and `follows` (follow and unfollow).
    pub fn new(posts: u32, comments: u32, follows: u32) -> CommunityLimits {
        CommunityLimits {
            posts: RateLimiter::keyed(per_minute(posts)),
            comments: RateLimiter::keyed(per_minute(comments)),
            follows: RateLimiter::keyed(per_minute(follows)),
        }
    }

    /// `Err(seconds)` to wait when the user is over the budget of `action`.
    pub fn check(&self, user: UserId, action: Action) -> Result<(), u64> {
        let limiter = match action {
            Action::Post => &self.posts,
            Action::Comment => &self.comments,
            Action::Follow => &self.follows,
        };
        // The limiter's own clock: making a new one probes the CPU on every call.
        limiter.check_key(&user).map_err(|not_until| {
            not_until
                .wait_time_from(limiter.clock().now())
                .as_secs()
                .max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_a_budget_per_action() {
        let limits = CommunityLimits::new(2, 1, 1);
        let (a, b) = (UserId::random(), UserId::random());
        assert!(limits.check(a, Action::Post).is_ok());
        assert!(limits.check(a, Action::Post).is_ok());
        assert!(limits.check(a, Action::Post).is_err());
        assert!(
            limits.check(a, Action::Comment).is_ok(),
            "another action's budget"
        );
        assert!(
            limits.check(b, Action::Post).is_ok(),
            "another user's budget"
        );
    }
}
