//! The outbox: side effects (emails, calls to third parties, webhook processing) stored as
//! items in the same logical step as the state change that causes them, then carried out by
//! a worker with retries and a dead-letter state.
//!
//! - [`handler`]: what runs an item, found by the prefix of its kind (`email.`, `webhook.`).
//! - [`backoff`]: when a failed item is tried again.
//! - [`worker`]: the poll loop that claims due items, runs their handlers and records the
//!   outcome; [`OutboxWorker`] is started and stopped by the application.
//!
//! Delivery is at least once: a node that dies mid-attempt loses its lease and another node
//! runs the item again, so handlers must tolerate a repeat.

pub mod backoff;
pub mod handler;
pub mod worker;

pub use backoff::Backoff;
pub use handler::{HandleError, Handler, Handlers};
pub use worker::{Deliverer, OutboxWorker, WorkerConfig};
