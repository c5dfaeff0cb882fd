//! Store ports: one trait per aggregate, implemented by every store backend and held to the
//! same behaviour by the shared conformance suite. Methods grow with each capability; a new
//! method lands in every backend at once.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use uuid::Uuid;

use crate::domain::{
    DeviceId, DisplayName, Email, ItemRef, Locale, Role, TimeZone, Units, UnixMillis, UserId,
};

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

/// A user account as stored. Anonymous device accounts have a device id and neither email
/// nor password; upgrading one attaches an email and password and drops the device id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    pub email: Option<Email>,
    pub display_name: DisplayName,
    pub password_hash: Option<String>,
    pub roles: BTreeSet<Role>,
    #[serde(default)]
    pub locale: Locale,
    #[serde(default)]
    pub units: Units,
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    pub created_at: UnixMillis,
    /// The owner of `email` proved it (a verification link, or a provider that vouches
    /// for it); false again when the email changes.
    #[serde(default)]
    pub email_verified: bool,
    /// The zone the member's days are counted in; UTC when unknown.
    #[serde(default)]
    pub timezone: Option<TimeZone>,
}

/// Profile fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub display_name: Option<DisplayName>,
    pub locale: Option<Locale>,
    pub units: Option<Units>,
    pub timezone: Option<TimeZone>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a new user; `Conflict { what: "email" }` (or `"device"`) if another user
    /// holds the email (or device id), also when several creates race for it.
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_device(&self, device: &DeviceId) -> Result<Option<UserRecord>, StoreError>;
    /// Applies `update`; `None` if the user does not exist.
    async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
    ) -> Result<Option<UserRecord>, StoreError>;
    /// Turns an anonymous account into an email account under the same id: claims the
    /// email (`Conflict { what: "email" }` if taken), sets the password hash and releases
    /// the device id. False if the user does not exist.
    async fn attach_email(
        &self,
        id: UserId,
        email: &Email,
        password_hash: &str,
    ) -> Result<bool, StoreError>;
    /// Replaces the user's roles; false if the user does not exist.
    async fn set_roles(&self, id: UserId, roles: &BTreeSet<Role>) -> Result<bool, StoreError>;
    /// Replaces the password hash; false if the user does not exist.
    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<bool, StoreError>;
    /// Marks the email verified if it is still `email`; false otherwise (changed since, or
    /// no such user).
    async fn verify_email(&self, id: UserId, email: &Email) -> Result<bool, StoreError>;
    /// Moves an account with an email to `email` (unverified), releasing the old address;
    /// `Conflict { what: "email" }` if another user holds it, false if no such user.
    async fn change_email(&self, id: UserId, email: &Email) -> Result<bool, StoreError>;
    /// Removes the user's record, email and device claims and entitlements; true if the
    /// user existed. Refresh tokens are revoked separately.
    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError>;
}

/// A refresh token as stored: only a hash of its secret, and the family it rotates in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub family: Uuid,
    pub user: UserId,
    pub secret_hash: String,
    pub expires_at: UnixMillis,
}

/// How a refresh token was exchanged: the token that succeeded it, whose secret is kept
/// only sealed with the exchanged token's own secret, so that whoever presents the exchanged
/// token again shortly after (a second tab, an app and its widget) gets the same successor
/// while the store alone reveals no usable token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRotation {
    pub successor: Uuid,
    pub sealed_secret: String,
    pub at: UnixMillis,
}

/// A stored refresh token with what rotation needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenState {
    pub record: RefreshTokenRecord,
    /// Already exchanged for a newer token: presenting it again is a reuse.
    pub used: bool,
    /// The exchange that used it, when the store knows it (tokens used before rotations
    /// were recorded have none).
    pub rotation: Option<RefreshRotation>,
    /// Its family was revoked (reuse detected, logout, account deleted).
    pub family_revoked: bool,
}

#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Stores a token and registers its family under the user.
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError>;
    async fn refresh_token(&self, id: Uuid) -> Result<Option<RefreshTokenState>, StoreError>;
    /// Marks the token used by `rotation`; true for exactly one of any number of
    /// concurrent callers, and only that caller's rotation is kept.
    async fn use_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        rotation: &RefreshRotation,
    ) -> Result<bool, StoreError>;
    async fn revoke_token_family(&self, family: Uuid) -> Result<(), StoreError>;
    /// Revokes every family of the user.
    async fn revoke_user_tokens(&self, user: UserId) -> Result<(), StoreError>;
}

/// A user's access tokens issued at or before `at` stopped working then (the account was
/// deleted, or every login of it was ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub user: UserId,
    pub at: UnixMillis,
}

/// Revocations of access tokens, which are otherwise checked by signature alone. Each is
/// kept only while a token it voids can still be alive (`keep_until`), so the whole set
/// stays as small as one access-token lifetime of revocations.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records `revocation`, kept until `keep_until`.
    async fn revoke_tokens(
        &self,
        revocation: Revocation,
        keep_until: UnixMillis,
    ) -> Result<(), StoreError>;
    /// The revocations made at or after `since` and still kept at `now`, oldest first.
    async fn revocations_since(
        &self,
        since: UnixMillis,
        now: UnixMillis,
    ) -> Result<Vec<Revocation>, StoreError>;
}

/// Something a user may use, such as `premium`, until `expires_at` (forever if `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    pub name: String,
    pub expires_at: Option<UnixMillis>,
    /// What granted it: a product purchase, a promotion, an operator.
    pub source: String,
}

impl Entitlement {
    pub fn is_active_at(&self, now: UnixMillis) -> bool {
        self.expires_at.is_none_or(|until| until > now)
    }
}

#[async_trait]
pub trait EntitlementStore: Send + Sync {
    /// Grants or replaces the user's entitlement of the same name.
    async fn grant_entitlement(
        &self,
        user: UserId,
        entitlement: &Entitlement,
    ) -> Result<(), StoreError>;
    /// Every entitlement of the user, active or not, ordered by name.
    async fn entitlements(&self, user: UserId) -> Result<Vec<Entitlement>, StoreError>;
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
    /// Everything the user likes, in no particular order.
    async fn likes_of(&self, user: UserId) -> Result<Vec<Mark>, StoreError>;
}

/// A user's like or save of one item, and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub item: ItemRef,
    pub at: UnixMillis,
}

/// Items a user keeps for later (bookmarks): no counts, just the user's own list.
#[async_trait]
pub trait SaveStore: Send + Sync {
    /// True if this changed anything; saving twice keeps one save.
    async fn save(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError>;
    /// True if there was a save to remove.
    async fn unsave(&self, user: UserId, item: &ItemRef) -> Result<bool, StoreError>;
    /// Everything the user saved, in no particular order.
    async fn saved_of(&self, user: UserId) -> Result<Vec<Mark>, StoreError>;
}

/// A catalog item as stored: its JSON document (the store does not look inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentRecord {
    pub item: ItemRef,
    pub doc: String,
    pub updated_at: UnixMillis,
}

/// The catalog's source of truth. Reads are served from an in-memory read model loaded with
/// `all_content` at start, so the store only sees editors' writes and that one scan.
#[async_trait]
pub trait ContentStore: Send + Sync {
    /// Inserts or replaces the items (unpublishing is a replace with a flag in `doc`).
    async fn put_content(&self, records: &[ContentRecord]) -> Result<(), StoreError>;
    /// Every stored item, published or not.
    async fn all_content(&self) -> Result<Vec<ContentRecord>, StoreError>;
}

/// Named documents edited by operators, such as the client configuration.
#[async_trait]
pub trait SettingStore: Send + Sync {
    async fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    async fn put_setting(&self, name: &str, doc: &str) -> Result<(), StoreError>;
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

/// A key as it stands (see [`IdempotencyStore::seen`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenKey {
    pub fingerprint: String,
    pub response: Option<StoredResponse>,
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
    /// What a key holds now, without claiming it: the fingerprint of the body it was first
    /// sent with, and its answer once there is one. `None`: never sent (or forgotten).
    async fn seen(&self, key: &IdempotencyKey) -> Result<Option<SeenKey>, StoreError>;
    /// Stores the response of the request that holds `key`.
    async fn complete(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError>;
}

/// How long a user's feed events are kept for resume (a week).
pub const FEED_TTL_SECONDS: u32 = 7 * 24 * 60 * 60;
/// At most this many recent events per user are kept for resume by stores that prune by
/// count (the embedded store); older ones answer `resume.incomplete`.
pub const FEED_MAX_EVENTS: usize = 1000;

/// One event of a user's feed as stored: `data` is its JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedEvent {
    pub seq: u64,
    pub kind: String,
    pub at: UnixMillis,
    pub data: String,
}

/// Where a user's feed stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedHead {
    /// The highest sequence number ever assigned (it survives the events' expiry).
    pub last_seq: u64,
    /// What the user has read, as acknowledged by an app.
    pub read_seq: u64,
}

/// Resolves once an append held back behind others should go at once (see
/// [`FeedStore::append_events_behind`]); a dropped sender counts as hurrying.
pub type Hurry = tokio::sync::oneshot::Receiver<()>;

#[async_trait]
pub trait FeedStore: Send + Sync {
    /// Appends events (ascending, above the current head) and advances `last_seq`.
    /// Writing the same seq again overwrites it, so a retried batch is harmless.
    async fn append_events(&self, user: UserId, events: &[FeedEvent]) -> Result<(), StoreError>;
    /// The same for an append nobody waits for (feed entries written behind their
    /// delivery, such as every session's entry of a feature message): a backend may hold
    /// it back so that appends someone waits for go first, until `hurry` resolves (someone
    /// now waits for what follows it, or nobody is left to say so).
    async fn append_events_behind(
        &self,
        user: UserId,
        events: &[FeedEvent],
        hurry: Hurry,
    ) -> Result<(), StoreError> {
        drop(hurry);
        self.append_events(user, events).await
    }
    async fn feed_head(&self, user: UserId) -> Result<FeedHead, StoreError>;
    /// Up to `limit` kept events with `seq > after`, ascending.
    async fn events_after(
        &self,
        user: UserId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<FeedEvent>, StoreError>;
    /// The oldest kept event's seq, if any event is kept.
    async fn oldest_seq(&self, user: UserId) -> Result<Option<u64>, StoreError>;
    /// Records the read position; callers only ever move it forward.
    async fn set_read_seq(&self, user: UserId, seq: u64) -> Result<(), StoreError>;
}

#[async_trait]
pub trait PlanStore: Send + Sync {
    /// The user's current plan as a JSON document, if they follow one.
    async fn plan(&self, user: UserId) -> Result<Option<String>, StoreError>;
    async fn put_plan(&self, user: UserId, plan: &str) -> Result<(), StoreError>;
}

#[async_trait]
pub trait LiveClassStore: Send + Sync {
    async fn create_class(&self, class: &crate::domain::LiveClassRecord) -> Result<(), StoreError>;
    async fn class(
        &self,
        id: crate::domain::ClassId,
    ) -> Result<Option<crate::domain::LiveClassRecord>, StoreError>;
    /// Moves the class from `from` to `to`, stamping `at` as its start (to live) or end
    /// (to ended or cancelled). False if the class was not in `from`: of two racing
    /// transitions exactly one applies.
    async fn transition_class(
        &self,
        id: crate::domain::ClassId,
        from: crate::domain::ClassState,
        to: crate::domain::ClassState,
        at: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// Classes scheduled between `from` and `to`, by start time.
    async fn classes_between(
        &self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<crate::domain::LiveClassRecord>, StoreError>;
    /// The final results of an ended class, a JSON document.
    async fn put_results(
        &self,
        id: crate::domain::ClassId,
        results: &str,
    ) -> Result<(), StoreError>;
    async fn results(&self, id: crate::domain::ClassId) -> Result<Option<String>, StoreError>;
    /// Users who asked to be told when the class starts.
    async fn add_reminder(
        &self,
        id: crate::domain::ClassId,
        user: UserId,
    ) -> Result<(), StoreError>;
    async fn remove_reminder(
        &self,
        id: crate::domain::ClassId,
        user: UserId,
    ) -> Result<(), StoreError>;
    async fn reminders(&self, id: crate::domain::ClassId) -> Result<Vec<UserId>, StoreError>;
}
