//! `plan.get`: the user's current plan, from their session's memory.

use actix_web_actors::ws::WebsocketContext;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::ErrorCode;
use crate::ws::{Connection, replies};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanGet {}

impl PlanGet {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let Some(user) = conn.user() else { return };
        let hub = conn.gateway().hub.clone();
        conn.reply_when_done(ctx, async move {
            match hub.plan(user).await {
                Ok(plan) => {
                    // Stored plans are JSON documents; an unreadable one shows as null.
                    let plan: Value = plan
                        .and_then(|p| serde_json::from_str(&p).ok())
                        .unwrap_or(Value::Null);
                    replies::ok(id, json!({ "plan": plan }))
                }
                Err(err) => replies::error(id, ErrorCode::from(&err), &err.to_string()),
            }
        });
    }
}
