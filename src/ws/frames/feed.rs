//! `feed.ack`: records how far the user has read; the position is persisted.

use actix_web_actors::ws::WebsocketContext;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::http::ErrorCode;
use crate::ws::{Connection, replies};

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "FeedAckRequest")]
#[serde(deny_unknown_fields)]
pub struct FeedAck {
    /// The newest seq the app has processed.
    seq: u64,
}

#[derive(Serialize, JsonSchema)]
pub struct Acked {
    /// The persisted read position, shared by the user's devices.
    read_seq: u64,
}

impl FeedAck {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let Some(user) = conn.user() else { return };
        let hub = conn.gateway().hub.clone();
        conn.reply_when_done(ctx, async move {
            match hub.ack_feed(user, self.seq).await {
                Ok(read_seq) => replies::ok(id, &Acked { read_seq }),
                Err(err) => replies::error(id, ErrorCode::from(&err), &err.to_string()),
            }
        });
    }
}
