//! `plan.get`: the user's current plan, from their session's memory.

use actix_web_actors::ws::WebsocketContext;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::content::plan::UserPlan;

use crate::http::ErrorCode;
use crate::ws::{Connection, replies};

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "PlanGetRequest")]
#[serde(deny_unknown_fields)]
pub struct PlanGet {}

#[derive(Serialize, JsonSchema)]
pub struct StoredPlan {
    /// The stored plan document, or `null` without a plan.
    plan: Option<UserPlan>,
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
                    let plan = plan.and_then(|text| {
                        serde_json::from_str(&text)
                            .inspect_err(|err| tracing::warn!(user_id = %user, error = %err, "a stored plan cannot be read"))
                            .ok()
                    });
                    replies::ok(id, &StoredPlan { plan })
                }
                Err(err) => replies::error(id, ErrorCode::from(&err), &err.to_string()),
            }
        });
    }
}
