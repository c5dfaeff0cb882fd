//! The community around workouts: check-ins, follows, blocks, groups with posts and
//! comments, reports and moderation, and the activity events they cause. Every rule of the
//! community lives here (who may see or write what, per-user write budgets, the day rules
//! of check-ins, group size bounds); the HTTP edge parses input, calls a [`Community`]
//! method and renders the answer or maps a [`CommunityError`] into the API catalogue.
//!
//! - [`checkins`]: one check-in a day, made or edited on the day itself, and streaks.
//! - [`follows`]: follows and blocks, and which users a block hides from whom.
//! - [`groups`]: groups, joining within a size bound, membership.
//! - [`posts`]: group posts, comments and likes, listed without blocked authors.
//! - [`reports`]: reports of abuse and the moderators' take-downs.
//! - [`activity`]: how events reach people (pushed to an audience, or pulled on read).
//! - [`limits`]: the per-user write budgets.
//!
//! Activity reaches people through the same hub and feed as every other event: an author's
//! activity is an event of their own feed, and a copy goes to each follower (and, for group
//! posts, each member), sequenced and stored in that user's feed so it survives until they
//! come back. An author with more followers than `push_limit` is not fanned out to:
//! followers pull that author's activity on read (`GET /v1/users/{id}/activity`), so one
//! popular user never turns into a burst of thousands of writes. Blocks work both ways: no
//! event of either user reaches the other.

pub mod activity;
pub mod checkins;
pub mod events;
pub mod follows;
pub mod groups;
pub mod limits;
pub mod posts;
pub mod reports;

use fitpulse_actors::domain::UserId;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::store::StoreError;

use crate::store::Stores;
use limits::Action;

pub use activity::NewActivity;
pub use checkins::{CheckinHistory, CheckinSaved, NewCheckin, streak};
pub use follows::{BlockedPage, MAX_BLOCKS};
pub use groups::GroupSummary;
pub use limits::CommunityLimits;
pub use posts::{Like, ListedPost};
pub use reports::ReportTarget;

/// Why the community refused or failed a request. The HTTP edge maps each case to the API
/// error catalogue; the messages here are the ones the API answers.
#[derive(Debug, thiserror::Error)]
pub enum CommunityError {
    /// The user does not exist, or a block hides them (blocked users look like nobody).
    #[error("no such user")]
    NoSuchUser,
    #[error("no such group")]
    NoSuchGroup,
    /// The post does not exist, is removed, or is not a post of that group.
    #[error("no such post")]
    NoSuchPost,
    /// Only members read and write inside a group.
    #[error("join the group first")]
    NotMember,
    /// The group holds its maximum of members already.
    #[error("the group is full ({0} members)")]
    GroupFull(u32),
    /// Over the user's write budget: seconds to wait.
    #[error("too many community writes; try again in {0} s")]
    RateLimited(u64),
    /// A value the community's rules refuse, naming the field and why.
    #[error("`{field}`: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("you block {MAX_BLOCKS} users already; unblock someone first")]
    TooManyBlocks,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CommunityError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        CommunityError::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

/// The community services of a node.
pub struct Community {
    stores: Stores,
    hub: Hub,
    limits: CommunityLimits,
    /// Authors with at least this many followers are pulled, not pushed.
    push_limit: usize,
    /// The largest group allowed.
    max_group_size: u32,
    /// Comments, follows and likes are also pushed to members whose app is closed.
    notifier: std::sync::OnceLock<std::sync::Arc<crate::push::Notifier>>,
    /// Business time: what day "today" is, when things were made.
    clock: SharedClock,
}

impl Community {
    pub fn new(
        stores: Stores,
        hub: Hub,
        settings: &crate::config::CommunitySettings,
        clock: SharedClock,
    ) -> Community {
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
            notifier: std::sync::OnceLock::new(),
            clock,
        }
    }

    /// Pushes comments, follows and likes through `notifier` from now on.
    pub fn push_through(self, notifier: std::sync::Arc<crate::push::Notifier>) -> Community {
        let _ = self.notifier.set(notifier);
        self
    }

    /// Pushes a social event to `to`, named after `actor` (batched per member, see
    /// `Notifier::social`), unless either blocked the other. A push that cannot be queued
    /// is logged: the event itself is in the member's feed already.
    pub async fn push_social(
        &self,
        to: UserId,
        actor: UserId,
        event: crate::push::texts::SocialEvent,
    ) {
        let Some(notifier) = self.notifier.get().filter(|n| n.enabled()) else {
            return;
        };
        let name = match self.blocked_either_way(to, actor).await {
            Ok(false) => match self.stores.users.user_by_id(actor).await {
                Ok(Some(user)) => user.display_name.as_str().to_owned(),
                Ok(None) => return,
                Err(err) => {
                    return tracing::warn!(user_id = %to, error = %err, "cannot name a social push");
                }
            },
            Ok(true) => return,
            Err(err) => {
                return tracing::warn!(user_id = %to, error = %err, "cannot check blocks for a social push");
            }
        };
        if let Err(err) = notifier.social(to, event, &name).await {
            tracing::warn!(user_id = %to, error = %err, "cannot queue a social push");
        }
    }

    /// Spends one unit of `user`'s budget for `action`, or says how long to wait.
    fn spend(&self, user: UserId, action: Action) -> Result<(), CommunityError> {
        self.limits
            .check(user, action)
            .map_err(CommunityError::RateLimited)
    }
}
