//! One-time account tokens: the links in password-reset and email-verification emails.
//! The store keeps only a hash of each token; a token is taken once, by one caller.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{Email, UnixMillis, UserId};
use crate::ports::store::StoreError;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountTokenPurpose {
    PasswordReset,
    VerifyEmail,
}

impl AccountTokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountTokenPurpose::PasswordReset => "password_reset",
            AccountTokenPurpose::VerifyEmail => "verify_email",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "password_reset" => Some(AccountTokenPurpose::PasswordReset),
            "verify_email" => Some(AccountTokenPurpose::VerifyEmail),
            _ => None,
        }
    }
}

/// A token as stored: a SHA-256 of it, for whom, for which address, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountToken {
    pub hash: String,
    pub purpose: AccountTokenPurpose,
    pub user: UserId,
    /// The address the email went to: the token is void once the account's email changed.
    pub email: Email,
    pub expires_at: UnixMillis,
}

#[async_trait]
pub trait AccountTokenStore: Send + Sync {
    async fn insert_account_token(&self, token: &AccountToken) -> Result<(), StoreError>;
    /// Takes the token with this hash: answers it to exactly one of any number of concurrent
    /// callers, and `None` to the others, for an unknown hash and for a token taken before.
    /// Expiry is the caller's to check.
    async fn take_account_token(&self, hash: &str) -> Result<Option<AccountToken>, StoreError>;
}

/// A provider whose ID tokens sign members in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocialProvider {
    Apple,
    Google,
}

impl SocialProvider {
    pub const ALL: [SocialProvider; 2] = [SocialProvider::Apple, SocialProvider::Google];

    pub fn as_str(self) -> &'static str {
        match self {
            SocialProvider::Apple => "apple",
            SocialProvider::Google => "google",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

/// An account's link to a provider's subject (`sub` of its ID tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub provider: SocialProvider,
    pub subject: String,
    pub user: UserId,
    /// The address the provider gave when the link was made (Apple's may be a relay).
    pub email: Option<Email>,
    pub linked_at: UnixMillis,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// Links the identity; `Conflict { what: "identity" }` if the subject is linked to an
    /// account already (any, also the same one), also when several links race for it.
    async fn link_identity(&self, identity: &Identity) -> Result<(), StoreError>;
    async fn identity(
        &self,
        provider: SocialProvider,
        subject: &str,
    ) -> Result<Option<Identity>, StoreError>;
    /// Every identity linked to the user, by provider.
    async fn identities_of(&self, user: UserId) -> Result<Vec<Identity>, StoreError>;
    /// Removes the user's link to `provider`; false if there was none.
    async fn unlink_identity(
        &self,
        user: UserId,
        provider: SocialProvider,
    ) -> Result<bool, StoreError>;
}

/// A member's export of their data: asked for, then ready with the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub requested_at: UnixMillis,
    pub ready_at: Option<UnixMillis>,
    /// The JSON document, once ready.
    pub document: Option<String>,
}

/// Everything a backend stores about one user, as a whole: erasure knows every table, and
/// the export reads what no other port lists by user.
#[async_trait]
pub trait AccountDataStore: Send + Sync {
    /// The user's posts and comments (a whole-table scan where no index by author exists).
    async fn authored(
        &self,
        user: UserId,
    ) -> Result<Vec<crate::ports::community::PostRecord>, StoreError>;
    /// The user's drop orders (a whole-table scan where no index by user exists).
    async fn orders_of(
        &self,
        user: UserId,
    ) -> Result<Vec<crate::ports::drops::OrderRecord>, StoreError>;
    async fn put_export(&self, user: UserId, export: &ExportRecord) -> Result<(), StoreError>;
    /// Stores a built export only if its request (the same `requested_at`) is still there:
    /// false when the account was erased, or a newer request replaced it, meanwhile.
    async fn finish_export(&self, user: UserId, export: &ExportRecord) -> Result<bool, StoreError>;
    async fn export_of(&self, user: UserId) -> Result<Option<ExportRecord>, StoreError>;
    /// Erases every row about `user` (profile, sign-ins, tokens, feed, plan, likes, saves,
    /// check-ins, follows, blocks, group memberships, posts and comments, message states,
    /// reminders, quotas, workouts, personal records, class timelines, replays), keeping only what accounting needs (subscriptions and orders),
    /// moved to `pseudonym`. Repeating it is harmless.
    async fn erase_user(&self, user: UserId, pseudonym: UserId) -> Result<(), StoreError>;
    /// Every row, in every table, whose key or value contains `needle` (and every table
    /// the erasure does not know), as `table: key`: a whole-store walk, for checking an
    /// erasure, never for serving requests.
    async fn rows_mentioning(&self, needle: &str) -> Result<Vec<String>, StoreError>;
}
