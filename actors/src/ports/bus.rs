//! The cluster bus as the core sees it: fire-and-forget publishes, request/reply and
//! subscriptions on exact subjects. `src/bus` implements it with an in-process router
//! (`local`, one process) and NATS (`nats`, many nodes).
//!
//! Publishes never wait: a backend queues them within a bound and counts what it had to
//! drop, so an actor can publish from its handler. Everything sent over the bus that must
//! not be lost carries a sequence number the receiver checks (see `cluster::devices`).

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

/// A message received on a subscription.
#[derive(Debug, Clone)]
pub struct BusMessage {
    pub payload: Bytes,
    /// Where to send the answer, for requests.
    pub reply: Option<String>,
    /// The span handling this message belongs to: a child of the sender's span when the
    /// message carried the sender's trace context, else none (not traced).
    pub trace: tracing::Span,
}

/// Messages of one subscription; dropping it unsubscribes.
pub type BusSubscription = Pin<Box<dyn Stream<Item = BusMessage> + Send>>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// Nobody subscribes to the subject (NATS answers this at once).
    #[error("no one answers on this subject")]
    NoResponders,
    #[error("the bus is not connected")]
    Disconnected,
    #[error("no answer in time")]
    TimedOut,
    /// The outgoing queue is full; the message was dropped (and counted).
    #[error("the bus send queue is full")]
    QueueFull,
    #[error("the bus failed: {0}")]
    Failed(String),
}

#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Queues a message for `subject`; never waits.
    fn publish(&self, subject: &str, payload: Bytes) -> Result<(), BusError>;

    /// Sends a request and waits at most `timeout` for the first answer. A backend that
    /// crosses processes carries the current span's trace context with it.
    async fn request(
        &self,
        subject: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, BusError>;

    /// Subscribes to exactly `subject`; the subscription is active when this returns.
    async fn subscribe(&self, subject: &str) -> Result<BusSubscription, BusError>;

    /// Publishes a node's liveness (its heartbeat) on a way of its own where the backend
    /// has one, so that it does not wait behind the node's bulk traffic: a node busy
    /// sending frames is alive, and must not be taken for gone. Received through
    /// [`Bus::subscribe_control`].
    fn publish_control(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
        self.publish(subject, payload)
    }

    /// Subscribes to what [`Bus::publish_control`] sends on `subject`.
    async fn subscribe_control(&self, subject: &str) -> Result<BusSubscription, BusError> {
        self.subscribe(subject).await
    }

    /// Whether the bus is connected right now (readiness, and whether to wait on it).
    fn connected(&self) -> bool;

    /// The largest message the bus takes, as its server says (batches stay under it).
    fn max_payload(&self) -> usize {
        usize::MAX
    }

    /// Resolves each time the connection comes back after a loss.
    async fn reconnected(&self);
}
