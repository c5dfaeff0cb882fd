//! Plan edits and connection-wide notices handled by a `UserSession`.
//!
//! The session holds the user's plan document, so every change goes through it: edits of
//! one user are applied one after another against the current document (two devices
//! ticking items at once cannot lose each other's change), the new document is stored
//! before anything is answered, and then an event tells every device of the user.
//! What a plan means (templates, weeks, items) is the server's business: the session only
//! runs the edit it is given.

use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{SessionError, UserSession};
use crate::device::family_label;
use crate::events::{EventKind, Frame, family_of};

/// What an accepted edit produces: the new document and the event that announces it.
pub struct PlanChange {
    pub plan: String,
    pub event: EventKind,
    /// JSON text of the event's data.
    pub event_data: String,
}

/// Applies plan commands: what a plan means is the server's business, so the session is
/// given an editor. A command is JSON text (it may come from another node); a rejection
/// is JSON text too, for the caller to turn back into its own error.
pub trait PlanEditor: Send + Sync {
    fn apply(&self, command: &str, current: Option<&str>) -> Result<PlanChange, String>;
}

/// Applies a command; answers the stored document, or the editor's rejection.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<Result<String, String>, SessionError>")]
pub struct EditPlan {
    pub command: String,
}

impl Handler<EditPlan> for UserSession {
    type Result = ResponseFuture<Result<Result<String, String>, SessionError>>;

    fn handle(&mut self, msg: EditPlan, ctx: &mut Context<Self>) -> Self::Result {
        let change = match self
            .deps
            .plan_editor
            .apply(&msg.command, self.plan.as_deref())
        {
            Ok(change) => change,
            Err(rejected) => return Box::pin(std::future::ready(Ok(Err(rejected)))),
        };
        let (tx, rx) = oneshot::channel();
        let (plans, user, doc) = (self.deps.plans.clone(), self.user, change.plan.clone());
        let write = async move { plans.put_plan(user, &doc).await };
        // `wait`: the next edit sees this one's document, never the one before it.
        ctx.wait(write.into_actor(self).map(move |written, act, ctx| {
            let answer = match written {
                Ok(()) => {
                    act.plan = Some(change.plan.clone());
                    act.publish(&change.event, &change.event_data, ctx);
                    Ok(Ok(change.plan))
                }
                Err(err) => Err(err.into()),
            };
            let _ = tx.send(answer);
        }));
        Box::pin(async move { rx.await.unwrap_or(Err(SessionError::Unavailable)) })
    }
}

/// A connection notice (no seq, not stored) for every device of the user, such as
/// `content.new`. The frame is serialized once by the sender and shared.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Notify {
    pub frame: Frame,
    pub kind: &'static str,
}

impl Handler<Notify> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Notify, _: &mut Context<Self>) {
        self.deliver(
            &msg.frame,
            family_label(family_of(msg.kind)),
            Instant::now(),
        );
    }
}
