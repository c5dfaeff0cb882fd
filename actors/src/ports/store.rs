//! Store ports: one trait per aggregate, implemented by every store backend and held to the
//! same behaviour by the shared conformance suite. Methods grow with each capability; a new
//! method lands in every backend at once.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{Email, ItemRef, Role, UnixMillis, UserId};

/// How long an idempotency key is remembered; a retry after that counts as a new request.
pub const IDEMPOTENCY_TTL_SECONDS: u32 = 24 * 60 * 60;

/// Why a store call failed. Backends map their own errors into these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule refused the write (an email in use, a key already claimed).
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    /// The backend could not be reached or did not answer in time; the write did not happen
    /// or its outcome could not be established.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else the backend reported, including data it could not decode.
    #[error("the store failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(err))
    }

    pub fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Unavailable(Box::new(err))
    }
}

/// Tells whether the backend answers; drives `/readyz`.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A user account as stored. Anonymous device accounts have no email and no password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub email: Option<Email>,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub roles: BTreeSet<Role>,
    pub created_at: UnixMillis,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a new user; `Conflict { what: "email" }` if another user holds the email,
    /// also when several creates race for it.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError>;
}

#[async_trait]
pub trait LikeStore: Send + Sync {
    /// Records that `user` likes `item`; true if this changed anything. Liking twice
    /// counts once.
    async fn like(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError>;
    /// Removes the like; true if there was one.
    async fn unlike(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError>;
    async fn like_count(&self, item: &ItemRef) -> Result<u64, StoreError>;
    async fn has_liked(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError>;
}

/// An `Idempotency-Key` header value within the scope it was sent to (route and caller).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
}

/// The answer given to the first request with a key, replayed to its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// This caller holds the key and must run the request, then `complete` it.
    Fresh,
    /// Someone sent this key before: `fingerprint` identifies their request body, and
    /// `response` is their answer once it completed.
    Seen {
        fingerprint: String,
        response: Option<StoredResponse>,
    },
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for a request whose body hashes to `fingerprint`; exactly one of any
    /// number of concurrent claims of one key is `Fresh`.
    async fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<IdempotencyClaim, StoreError>;
    /// Stores the response of the request that holds `key`.
    async fn complete(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;
}
