//! `plan.get`: the user's current plan, from their session's memory.

use actix_web_actors::ws::WebsocketContext;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::ErrorCode;
use crate::ws::{Connection, replies};

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "PlanGetRequest")]
#[serde(deny_unknown_fields)]
pub struct PlanGet {}

#[derive(Serialize, JsonSchema)]
pub struct StoredPlan {
    /// The stored plan document (`template_id`, `start_date`, `done`, `swaps`, `checked`,
    /// `extras`), or `null` without a plan.
    plan: Option<serde_json::Map<String, Value>>,
}

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
                    let plan = plan.and_then(|p| serde_json::from_str(&p).ok());
                    replies::ok(id, &StoredPlan { plan })
                }
                Err(err) => replies::error(id, ErrorCode::from(&err), &err.to_string()),
            }
        });
    }
}
