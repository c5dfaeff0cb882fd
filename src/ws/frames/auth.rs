//! `auth.refresh`: a new access token for the same user keeps the socket open past the
//! old token's expiry.

use actix_web_actors::ws::WebsocketContext;
use fitpulse_actors::events::rfc3339;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::tokens::Principal;
use crate::http::{ApiError, ErrorCode};
use crate::ws::{Connection, replies};

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "AuthRefreshRequest")]
#[serde(deny_unknown_fields)]
pub struct AuthRefresh {
    /// A new access token of the same user.
    access_token: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Refreshed {
    /// When the new token expires (RFC 3339).
    expires_at: String,
}

impl AuthRefresh {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let verified = conn.gateway().auth.authenticate(&self.access_token);
        let reply = match verified {
            Ok(caller) if Some(caller.principal.clone()) == conn.user().map(Principal::User) => {
                let expires_at = caller.expires_at;
                conn.token_refreshed(caller, ctx);
                let expires_at = rfc3339(expires_at * 1000);
                replies::ok(id, &Refreshed { expires_at })
            }
            Ok(_) => replies::error(id, ErrorCode::Forbidden, "the token is for another user"),
            Err(err) => replies::error(id, ApiError::from(err.clone()).code(), &err.to_string()),
        };
        conn.reply(ctx, reply);
    }
}
