//! The bus subjects of a cluster, in one place.

use crate::domain::UserId;

/// Every node's heartbeat.
pub const HEARTBEAT: &str = "fitpulse.cluster.heartbeat";
/// Notices for every socket of every node, and cluster-wide announcements.
pub const BROADCAST: &str = "fitpulse.broadcast";

/// Requests to start a holder on this node (when nobody holds the target).
pub fn node(id: &str) -> String {
    format!("fitpulse.node.{id}")
}

/// Frames and closes for sockets of this node, sent by the holders of classes and sessions
/// on other nodes (`wire::SocketTraffic`, batched per sending thread).
pub fn sockets(node: &str) -> String {
    format!("fitpulse.node.{node}.sockets")
}

/// Notices for the user's sockets on other nodes, and a session's frames for a socket on
/// a node that takes no batches (an older version).
pub fn user(user: UserId) -> String {
    format!("fitpulse.user.{user}")
}

/// Requests for the holder of a target.
pub fn control(target: super::ops::Target) -> String {
    match target {
        super::ops::Target::User(user) => format!("fitpulse.user.{user}.ctl"),
        super::ops::Target::Class(class) => format!("fitpulse.live.{class}.ctl"),
        super::ops::Target::Room(drop) => format!("fitpulse.room.{drop}.ctl"),
    }
}
