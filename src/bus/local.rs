//! The in-process bus: subjects matched exactly, requests answered by the first
//! subscriber, "no responders" when there is none. One process has nothing to share,
//! so the server runs without a cluster on it; several nodes in one process (tests) can
//! share one and behave as they would over NATS.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use fitpulse_actors::ports::bus::{Bus, BusError, BusMessage, BusSubscription};
use tokio::sync::mpsc;

/// Messages a subscriber may have waiting before more are dropped (like a NATS slow
/// consumer).
const SUBSCRIBER_QUEUE: usize = 65_536;

type Subscribers = HashMap<String, Vec<(u64, mpsc::Sender<BusMessage>)>>;

#[derive(Clone, Default)]
pub struct LocalBus {
    subjects: Arc<Mutex<Subscribers>>,
    next_id: Arc<AtomicU64>,
}

impl LocalBus {
    pub fn new() -> Self {
        Self::default()
    }

    fn send(&self, subject: &str, message: BusMessage) -> bool {
        let subjects = self.subjects.lock().unwrap_or_else(|e| e.into_inner());
        let Some(subscribers) = subjects.get(subject) else {
            return false;
        };
        for (_, subscriber) in subscribers {
            if subscriber.try_send(message.clone()).is_err() {
                tracing::warn!(subject, "a local bus subscriber is full; message dropped");
            }
        }
        !subscribers.is_empty()
    }
}

/// Removes its subscriber when the subscription is dropped.
struct Unsubscribe {
    subjects: Weak<Mutex<Subscribers>>,
    subject: String,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        let Some(subjects) = self.subjects.upgrade() else {
            return;
        };
        let mut subjects = subjects.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = subjects.get_mut(&self.subject) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                subjects.remove(&self.subject);
            }
        }
    }
}

#[async_trait::async_trait]
impl Bus for LocalBus {
    fn publish(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
        self.send(
            subject,
            BusMessage {
                payload,
                reply: None,
                trace: tracing::Span::none(),
            },
        );
        Ok(())
    }

    async fn request(
        &self,
        subject: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, BusError> {
        let inbox = format!("_INBOX.{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut answers = self.subscribe(&inbox).await?;
        // One process: the handler's spans are not exported apart from the caller's.
        let message = BusMessage {
            payload,
            reply: Some(inbox),
            trace: tracing::Span::none(),
        };
        if !self.send(subject, message) {
            return Err(BusError::NoResponders);
        }
        use futures_util::StreamExt;
        match tokio::time::timeout(timeout, answers.next()).await {
            Ok(Some(answer)) => Ok(answer.payload),
            Ok(None) => Err(BusError::Failed("the local bus closed".into())),
            Err(_) => Err(BusError::TimedOut),
        }
    }

    async fn subscribe(&self, subject: &str) -> Result<BusSubscription, BusError> {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.subjects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(subject.to_owned())
            .or_default()
            .push((id, tx));
        let guard = Unsubscribe {
            subjects: Arc::downgrade(&self.subjects),
            subject: subject.to_owned(),
            id,
        };
        let stream = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
            rx.recv().await.map(|message| (message, (rx, guard)))
        });
        Ok(Box::pin(stream))
    }

    fn connected(&self) -> bool {
        true
    }

    async fn reconnected(&self) {
        std::future::pending::<()>().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn publishes_reach_every_subscriber_of_the_exact_subject() {
        let bus = LocalBus::new();
        let mut a = bus.subscribe("x.1").await.expect("subscribe");
        let mut b = bus.subscribe("x.1").await.expect("subscribe");
        let mut other = bus.subscribe("x.2").await.expect("subscribe");
        bus.publish("x.1", Bytes::from_static(b"hi"))
            .expect("publish");
        assert_eq!(a.next().await.expect("a").payload, "hi");
        assert_eq!(b.next().await.expect("b").payload, "hi");
        let nothing = tokio::time::timeout(Duration::from_millis(50), other.next()).await;
        assert!(nothing.is_err(), "x.2 got x.1's message");
    }

    #[tokio::test]
    async fn requests_are_answered_or_have_no_responders() {
        let bus = LocalBus::new();
        let none = bus
            .request("svc", Bytes::new(), Duration::from_secs(1))
            .await;
        assert_eq!(none, Err(BusError::NoResponders));
        let mut service = bus.subscribe("svc").await.expect("subscribe");
        let server = bus.clone();
        tokio::spawn(async move {
            let message = service.next().await.expect("request");
            let reply = message.reply.expect("reply subject");
            server
                .publish(&reply, Bytes::from_static(b"pong"))
                .expect("answer");
        });
        let answer = bus
            .request("svc", Bytes::from_static(b"ping"), Duration::from_secs(5))
            .await;
        assert_eq!(answer, Ok(Bytes::from_static(b"pong")));
    }

    #[tokio::test]
    async fn dropping_a_subscription_unsubscribes() {
        let bus = LocalBus::new();
        let subscription = bus.subscribe("gone").await.expect("subscribe");
        drop(subscription);
        let answer = bus
            .request("gone", Bytes::new(), Duration::from_secs(1))
            .await;
        assert_eq!(answer, Err(BusError::NoResponders));
    }
}
