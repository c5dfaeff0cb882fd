//! Process lifecycle shared by the server, the readiness probe and the shutdown sequence:
//! whether the node is draining, and the one-shot request to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Cheap to clone; every clone sees the same state.
#[derive(Clone)]
pub struct Lifecycle {
    inner: Arc<Inner>,
}

struct Inner {
    draining: AtomicBool,
    stop: watch::Sender<bool>,
}

impl Lifecycle {
    pub fn new() -> Self {
        Lifecycle {
            inner: Arc::new(Inner {
                draining: AtomicBool::new(false),
                stop: watch::channel(false).0,
            }),
        }
    }

    /// True once shutdown began: readiness fails so load balancers move traffic away.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    pub(crate) fn begin_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Asks the running application to shut down gracefully, as SIGTERM does.
    pub fn request_shutdown(&self) {
        self.inner.stop.send_replace(true);
    }

    /// Resolves once [`Lifecycle::request_shutdown`] has been called (also if it already was).
    pub async fn shutdown_requested(&self) {
        let mut rx = self.inner.stop.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shutdown_requested_before_anyone_waits_is_not_lost() {
        let lifecycle = Lifecycle::new();
        lifecycle.request_shutdown();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            lifecycle.shutdown_requested(),
        )
        .await
        .expect("the earlier request is seen");
    }

    #[test]
    fn draining_is_off_until_it_begins() {
        let lifecycle = Lifecycle::new();
        assert!(!lifecycle.is_draining());
        lifecycle.clone().begin_draining();
        assert!(lifecycle.is_draining());
    }
}
