//! `ping`: answers the server time, so apps can check the socket and their clock.

use actix_web_actors::ws::WebsocketContext;
use fitpulse_actors::domain::now_millis;
use fitpulse_actors::events::rfc3339;
use serde::Deserialize;
use serde_json::json;

use crate::ws::{Connection, replies};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {}

impl Ping {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        conn.reply(
            ctx,
            replies::ok(id, json!({ "server_time": rfc3339(now_millis()) })),
        );
    }
}
