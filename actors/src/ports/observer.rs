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

/// Hears what sessions do with one broadcast (a feature message's counts, in the server
/// crate); each broadcast carries its own.
pub trait BroadcastObserver: Send + Sync {
    /// A session took the broadcast into its user's feed: once per user and broadcast.
    fn delivered(&self);
}

impl BroadcastObserver for NoObserver {
    fn delivered(&self) {}
}

/// Receives the live-class layer's countable happenings.
pub trait LiveObserver: Send + Sync {
    fn class_started(&self);
    fn class_stopped(&self);
    /// Participants joined (positive) or left (negative) on this node.
    fn participants_changed(&self, delta: i64);
    /// One frame was handed to every local participant of a class in this long.
    fn broadcast(&self, duration: std::time::Duration);
    /// A member (anyone but the class's coach) joined a class for the first time in its
    /// run; joining again from another device or after a drop does not count again.
    fn member_attended(&self);
    /// A class ended and its results were recorded with `members` members (the coach
    /// excluded) still present: they finished it.
    fn members_completed(&self, members: u64);
    /// A metric sample was dropped as implausible (`reason`: see `live::plausibility`).
    fn metric_rejected(&self, reason: &'static str);
}

impl LiveObserver for NoObserver {
    fn class_started(&self) {}
    fn class_stopped(&self) {}
    fn participants_changed(&self, _: i64) {}
    fn broadcast(&self, _: std::time::Duration) {}
    fn member_attended(&self) {}
    fn members_completed(&self, _: u64) {}
    fn metric_rejected(&self, _: &'static str) {}
}

/// Receives the cluster layer's countable happenings.
pub trait ClusterObserver: Send + Sync {
    /// A request to another node ended: `answered`, `retried` (busy, unreachable) or
    /// `failed` (gave up after the retry window).
    fn request(&self, outcome: &'static str);
    /// A socket missed frames from another node (bus loss) and was closed to resume.
    fn gap(&self);
}

impl ClusterObserver for NoObserver {
    fn request(&self, _: &'static str) {}
    fn gap(&self) {}
}
