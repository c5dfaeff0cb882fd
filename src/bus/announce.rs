//! Announcements between nodes: a node tells the others that something happened (a new
//! feature message, a catalog change, a revoked account) as `<origin node> <body>` on a
//! subject every node listens to; each other node applies it, and a node skips its own.

use std::sync::Arc;

use fitpulse_actors::ports::bus::{Bus, BusError};
use futures_util::StreamExt;

/// Publishes announcements on one subject for this node.
pub struct Announcer {
    bus: Arc<dyn Bus>,
    node: String,
    subject: &'static str,
}

impl Announcer {
    /// Listens on `subject` (active when this returns) and hands every other node's
    /// announcement body to `apply`; answers the announcer for this node's own.
    pub async fn listen(
        bus: Arc<dyn Bus>,
        node: &str,
        subject: &'static str,
        apply: impl Fn(&str) + Send + 'static,
    ) -> Result<Announcer, BusError> {
        let mut heard = bus.subscribe(subject).await?;
        let me = node.to_owned();
        tokio::spawn(async move {
            while let Some(message) = heard.next().await {
                let text = String::from_utf8_lossy(&message.payload);
                match text.split_once(' ') {
                    Some((origin, body)) if origin != me => apply(body),
                    Some(_) => {}
                    None => tracing::warn!(subject, announcement = %text, "malformed announcement"),
                }
            }
        });
        Ok(Announcer {
            bus,
            node: node.to_owned(),
            subject,
        })
    }

    /// Tells the other nodes; a full bus queue is logged (and counted by the bus).
    pub fn announce(&self, body: &str) {
        let text = format!("{} {body}", self.node);
        if let Err(err) = self.bus.publish(self.subject, text.into()) {
            tracing::warn!(subject = self.subject, error = %err, "cannot announce to the other nodes");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::bus::local::LocalBus;

    #[tokio::test]
    async fn other_nodes_hear_an_announcement_and_its_sender_does_not() {
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::new());
        let heard = Arc::new(Mutex::new(Vec::new()));
        let listener = |node: &'static str| {
            let heard = heard.clone();
            move |body: &str| heard.lock().expect("lock").push(format!("{node}: {body}"))
        };
        let a = Announcer::listen(bus.clone(), "a", "t.x", listener("a"))
            .await
            .expect("a");
        let _b = Announcer::listen(bus.clone(), "b", "t.x", listener("b"))
            .await
            .expect("b");
        a.announce("hello world");
        for _ in 0..100 {
            if !heard.lock().expect("lock").is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(*heard.lock().expect("lock"), ["b: hello world"]);
    }
}
