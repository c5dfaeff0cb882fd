//! What the session layer reports to the outside world (metrics, in the server crate).

/// Receives the session layer's countable happenings.
pub trait SessionObserver: Send + Sync {
    fn session_started(&self);
    fn session_stopped(&self);
    /// A device's queue was full: it is closed with 4009.
    fn slow_consumer(&self);
}

/// Observes nothing; for tests and tools.
pub struct NoObserver;

impl SessionObserver for NoObserver {
    fn session_started(&self) {}
    fn session_stopped(&self) {}
    fn slow_consumer(&self) {}
}
