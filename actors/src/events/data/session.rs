//! What a user's session tells its sockets: attached, resume fell short, the token expires
//! soon (notices), and the entitlements changed (an event of the feed).

use schemars::JsonSchema;
use serde::Serialize;

use crate::event_data;

/// The socket is attached to the user's session (always the first frame).
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionReady {
    pub user_id: String,
    /// The newest `seq` of the user's feed.
    pub last_seq: u64,
    /// The read position shared by the user's devices (`feed.ack`).
    pub read_seq: u64,
    /// The `since` this socket resumed from; `null` for a fresh start.
    pub since: Option<u64>,
    /// The names of the user's active entitlements.
    pub entitlements: Vec<String>,
}

/// The events after `since` are no longer all kept (or `since` is ahead of the feed): the
/// app refetches its state. Live delivery continues after it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ResumeIncomplete {
    pub since: u64,
    /// The oldest `seq` still kept; `null` when none is.
    pub oldest_kept: Option<u64>,
    pub last_seq: u64,
}

/// The access token expires soon: send `auth.refresh`, or the socket closes 4001 at expiry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenExpiring {
    /// RFC 3339.
    pub expires_at: String,
    pub in_seconds: i64,
}

/// One active entitlement.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActiveEntitlement {
    pub name: String,
    /// `null` for one that does not expire.
    pub expires_at: Option<String>,
}

/// A purchase, renewal, grace, expiry, refund or revocation changed the user's
/// entitlements: the active ones (`[]` when none).
#[derive(Debug, Serialize, JsonSchema)]
pub struct EntitlementsChanged {
    pub entitlements: Vec<ActiveEntitlement>,
}

event_data! {
    EntitlementsChanged: ENTITLEMENTS_CHANGED, Feed, "The user's active entitlements changed";
    SessionReady: SESSION_READY, Notice, "The socket is attached to the user's session";
    ResumeIncomplete: RESUME_INCOMPLETE, Notice, "Missed events are no longer all kept: refetch";
    TokenExpiring: TOKEN_EXPIRING, Notice, "The access token expires soon: send auth.refresh";
}
