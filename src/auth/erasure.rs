//! Deleting an account end to end: the user's session on this node persists and stops for
//! good, the account is erased in the store ([`Accounts::delete`]), and the like counts
//! the member contributed to drop by one in every node's catalog.

use fitpulse_actors::domain::UserId;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::store::LikeStore;

use super::accounts::{AccountError, Accounts};
use crate::content::Content;

/// What deleting an account needs besides the account flows.
pub struct Erasure<'a> {
    pub accounts: &'a Accounts,
    pub hub: &'a Hub,
    pub content: &'a Content,
    pub likes: &'a dyn LikeStore,
}

impl Erasure<'_> {
    /// Erases `user`; false when there was no such account.
    pub async fn erase(&self, user: UserId) -> Result<bool, AccountError> {
        // Nothing of the session may be written after the erasure.
        self.hub.end_session(user).await;
        let liked = self.likes.likes_of(user).await?;
        if !self.accounts.delete(user).await? {
            return Ok(false);
        }
        for mark in liked {
            self.content.count_like(&mark.item, false);
        }
        tracing::info!(user_id = %user, "account erased");
        Ok(true)
    }
}
