//! Entitlement changes reaching a user's session: the session replaces what it holds (so
//! `session.ready` and premium checks on its sockets see the new state at once) and tells
//! every device with an `entitlements.changed` event, kept in the feed like any other so a
//! device that was offline learns it on resume.

use actix::prelude::*;

use super::{SessionError, UserSession};
use crate::events::data::EventData;
use crate::events::data::session::{ActiveEntitlement, EntitlementsChanged};
use crate::ports::store::Entitlement;

/// Replaces the session's entitlements; answers the event's seq once persisted.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<u64, SessionError>")]
pub struct ReplaceEntitlements {
    pub entitlements: Vec<Entitlement>,
}

impl Handler<ReplaceEntitlements> for UserSession {
    type Result = ResponseFuture<Result<u64, SessionError>>;

    fn handle(&mut self, msg: ReplaceEntitlements, ctx: &mut Context<Self>) -> Self::Result {
        let now = self.deps.clock.now();
        let changed = EntitlementsChanged {
            entitlements: msg
                .entitlements
                .iter()
                .filter(|e| e.is_active_at(now))
                .map(|e| ActiveEntitlement {
                    name: e.name.clone(),
                    expires_at: e.expires_at.map(crate::events::rfc3339),
                })
                .collect(),
        };
        self.entitlements = msg.entitlements;
        let (_, persisted) = self.publish(&EntitlementsChanged::KIND, &changed.to_json(), ctx);
        Box::pin(async move { persisted.await.unwrap_or(Err(SessionError::Unavailable)) })
    }
}
