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

/// An edit of the user's plan: given the current document (if any), the change or why not.
pub type PlanEdit<E> = Box<dyn FnOnce(Option<&str>) -> Result<PlanChange, E> + Send>;

/// Applies an edit; answers the stored document, or the edit's own rejection.
pub struct EditPlan<E> {
    pub edit: PlanEdit<E>,
}

impl<E: Send + 'static> Message for EditPlan<E> {
    type Result = Result<Result<String, E>, SessionError>;
}

impl<E: Send + 'static> Handler<EditPlan<E>> for UserSession {
    type Result = ResponseFuture<Result<Result<String, E>, SessionError>>;

    fn handle(&mut self, msg: EditPlan<E>, ctx: &mut Context<Self>) -> Self::Result {
        let change = match (msg.edit)(self.plan.as_deref()) {
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
                    act.publish(change.event.as_str(), &change.event_data, ctx);
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
