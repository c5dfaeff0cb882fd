//! What the outbox worker runs: a handler per item kind, found by the longest registered
//! prefix of the kind (`email.` for `email.send`, `webhook.` for `webhook.appstore`).

use std::sync::Arc;

use async_trait::async_trait;
use fitpulse_actors::ports::commerce::OutboxItem;

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth another attempt later (a server down, a timeout).
    #[error("{0}")]
    Retry(String),
    /// Worth another attempt, and the other side said when (an HTTP `Retry-After`): the
    /// next attempt waits that long instead of the backoff.
    #[error("{0}")]
    RetryAfter(String, std::time::Duration),
    /// No attempt can succeed (a malformed payload): the item goes straight to dead.
    #[error("{0}")]
    Permanent(String),
}

#[async_trait]
pub trait Handler: Send + Sync {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandleError>;
}

/// Handlers by kind prefix.
#[derive(Default, Clone)]
pub struct Handlers {
    by_prefix: Vec<(String, Arc<dyn Handler>)>,
}

impl Handlers {
    pub fn new() -> Handlers {
        Handlers::default()
    }

    pub fn register(&mut self, prefix: &str, handler: Arc<dyn Handler>) {
        self.by_prefix.push((prefix.to_owned(), handler));
    }

    /// The handler of `kind`: the one with the longest matching prefix.
    pub fn find(&self, kind: &str) -> Option<&Arc<dyn Handler>> {
        self.by_prefix
            .iter()
            .filter(|(prefix, _)| kind.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, handler)| handler)
    }
}
