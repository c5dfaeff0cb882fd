//! `ping`: answers the server time, so apps can check the socket and their clock.

use actix_web_actors::ws::WebsocketContext;
use fitpulse_actors::domain::now_millis;
use fitpulse_actors::events::rfc3339;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ws::{Connection, replies};

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "PingRequest")]
#[serde(deny_unknown_fields)]
pub struct Ping {}

#[derive(Serialize, JsonSchema)]
pub struct Pong {
    /// The server's clock (RFC 3339).
    server_time: String,
}

impl Ping {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        conn.reply(
            ctx,
            replies::ok(
                id,
                &Pong {
                    server_time: rfc3339(now_millis()),
                },
            ),
        );
    }
}
