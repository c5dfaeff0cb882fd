//! Who is in the cluster: every node announces itself on the bus once per heartbeat
//! (identity, HTTP address, load, whether it is draining) and keeps the announcements of
//! the others. A node that has not been heard from for `node_timeout` while the bus is up
//! is gone; while the bus is down the last view is kept, since silence then says nothing.
//! Nor does it while this node does not hear its own heartbeat come back: then its own
//! reading (or sending) lags, and everyone would look gone at once.
//!
//! Owners: when nobody holds a user's session (or a class), the node that starts one is
//! chosen by rendezvous hashing over the live, non-draining nodes, so every node that
//! asks picks the same one and a node leaving moves only its own share.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What a node says about itself in each heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub id: String,
    /// Where its HTTP listener is, for operators.
    pub http: String,
    pub started_at: i64,
    pub draining: bool,
    pub load: NodeLoad,
}

/// A node's load as it reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeLoad {
    pub sessions: usize,
    pub sockets: usize,
    pub classes: usize,
}

/// A node as this node sees it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    #[serde(flatten)]
    pub info: NodeInfo,
    /// Milliseconds since its last heartbeat reached this node (0 for this node).
    pub last_seen_ms: u64,
    pub this_node: bool,
}

struct Seen {
    info: NodeInfo,
    at: Instant,
}

/// The cluster view; cheap to clone, shared by every part of the node.
#[derive(Clone)]
pub struct Membership {
    me: Arc<RwLock<NodeInfo>>,
    /// When this node last heard its own heartbeat come back through the bus.
    me_heard: Arc<RwLock<Instant>>,
    others: Arc<RwLock<BTreeMap<String, Seen>>>,
    timeout: Duration,
}

impl Membership {
    pub fn new(me: NodeInfo, timeout: Duration) -> Self {
        Membership {
            me: Arc::new(RwLock::new(me)),
            me_heard: Arc::new(RwLock::new(Instant::now())),
            others: Arc::new(RwLock::new(BTreeMap::new())),
            timeout,
        }
    }

    pub fn node_id(&self) -> String {
        read(&self.me).id.clone()
    }

    /// This node's current announcement.
    pub fn me(&self) -> NodeInfo {
        read(&self.me).clone()
    }

    pub fn update_me(&self, change: impl FnOnce(&mut NodeInfo)) {
        change(&mut self.me.write().unwrap_or_else(|e| e.into_inner()));
    }

    /// Records a node's heartbeat; true when it is another node's and that node restarted
    /// under the same id since it was last heard. Our own echo says our reading keeps up.
    pub fn heard(&self, info: NodeInfo) -> bool {
        self.heard_at(info, Instant::now())
    }

    fn heard_at(&self, info: NodeInfo, now: Instant) -> bool {
        if info.id == read(&self.me).id {
            *self.me_heard.write().unwrap_or_else(|e| e.into_inner()) = now;
            return false;
        }
        let mut others = self.others.write().unwrap_or_else(|e| e.into_inner());
        let restarted = others
            .get(&info.id)
            .is_some_and(|seen| seen.info.started_at != info.started_at);
        others.insert(info.id.clone(), Seen { info, at: now });
        restarted
    }

    /// Forgets nodes silent for longer than the timeout; only called while the bus is up.
    /// Forgets nobody while this node's own heartbeat has not come back for that long: a
    /// node too busy to read its subscriptions, or whose heartbeat waits behind its own
    /// traffic, would count every other node gone at once and close every socket they
    /// serve (1011), into the same overload.
    pub fn expire(&self) -> Vec<String> {
        self.expire_at(Instant::now())
    }

    fn expire_at(&self, now: Instant) -> Vec<String> {
        let me_heard = *read(&self.me_heard);
        if now.saturating_duration_since(me_heard) > self.timeout {
            return Vec::new();
        }
        let mut others = self.others.write().unwrap_or_else(|e| e.into_inner());
        let gone: Vec<String> = others
            .iter()
            .filter(|(_, seen)| now.saturating_duration_since(seen.at) > self.timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            others.remove(id);
        }
        gone
    }

    /// Counts every known node as just heard (after the bus was away).
    pub fn touch_all(&self) {
        *self.me_heard.write().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let mut others = self.others.write().unwrap_or_else(|e| e.into_inner());
        for seen in others.values_mut() {
            seen.at = Instant::now();
        }
    }

    /// Whether a node is in the view (this node always is).
    pub fn is_alive(&self, node: &str) -> bool {
        node == read(&self.me).id || read(&self.others).contains_key(node)
    }

    /// Every known node, this one first.
    pub fn nodes(&self) -> Vec<NodeView> {
        let mut nodes = vec![NodeView {
            info: self.me(),
            last_seen_ms: 0,
            this_node: true,
        }];
        nodes.extend(read(&self.others).values().map(|seen| NodeView {
            info: seen.info.clone(),
            last_seen_ms: seen.at.elapsed().as_millis() as u64,
            this_node: false,
        }));
        nodes
    }

    /// The node that should start the holder of `key`: the highest rendezvous score among
    /// live nodes that are not draining. `None` only when every node is draining.
    pub fn owner(&self, key: &str) -> Option<String> {
        let me = read(&self.me);
        let others = read(&self.others);
        std::iter::once(&*me)
            .chain(others.values().map(|seen| &seen.info))
            .filter(|node| !node.draining)
            .max_by_key(|node| (score(key, &node.id), node.id.clone()))
            .map(|node| node.id.clone())
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

/// FNV-1a over key and node: stable across processes and builds, unlike `DefaultHasher`.
fn score(key: &str, node: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes().chain([0xff]).chain(node.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV's low bits mix poorly for similar inputs; a final avalanche spreads them.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            http: String::new(),
            started_at: 0,
            draining: false,
            load: NodeLoad::default(),
        }
    }

    fn view(me: &str, others: &[&str]) -> Membership {
        let view = Membership::new(node(me), Duration::from_secs(3));
        for other in others {
            view.heard(node(other));
        }
        view
    }

    #[test]
    fn every_node_picks_the_same_owner() {
        let a = view("a", &["b", "c"]);
        let b = view("b", &["c", "a"]);
        let c = view("c", &["a", "b"]);
        for i in 0..200 {
            let key = format!("user-{i}");
            let owner = a.owner(&key);
            assert_eq!(owner, b.owner(&key));
            assert_eq!(owner, c.owner(&key));
        }
    }

    #[test]
    fn owners_spread_and_a_leaving_node_moves_only_its_share() {
        let all = view("a", &["b", "c"]);
        let without_c = view("a", &["b"]);
        let mut per_node = BTreeMap::<String, usize>::new();
        for i in 0..3000 {
            let key = format!("user-{i}");
            let owner = all.owner(&key).expect("owner");
            *per_node.entry(owner.clone()).or_default() += 1;
            if owner != "c" {
                assert_eq!(without_c.owner(&key), Some(owner), "{key} moved");
            }
        }
        assert_eq!(per_node.len(), 3);
        assert!(per_node.values().all(|n| *n > 800), "{per_node:?}");
    }

    #[test]
    fn draining_nodes_own_nothing() {
        let view = view("a", &["b"]);
        view.update_me(|me| me.draining = true);
        for i in 0..50 {
            assert_eq!(view.owner(&format!("k{i}")).as_deref(), Some("b"));
        }
        let mut b = node("b");
        b.draining = true;
        view.heard(b);
        assert_eq!(view.owner("k1"), None);
    }

    #[test]
    fn a_node_heard_with_a_new_start_time_restarted() {
        let view = view("a", &[]);
        assert!(!view.heard(node("b")), "first heard");
        assert!(!view.heard(node("b")), "same run");
        let mut again = node("b");
        again.started_at = 42;
        assert!(view.heard(again), "restarted under the same id");
    }

    #[test]
    fn silent_nodes_expire() {
        let view = Membership::new(node("a"), Duration::from_secs(3));
        let start = Instant::now();
        view.heard_at(node("b"), start);
        let later = start + Duration::from_secs(4);
        view.heard_at(node("a"), later);
        assert_eq!(view.expire_at(later), vec!["b".to_string()]);
        assert!(!view.is_alive("b"));
        assert!(view.is_alive("a"));
    }

    #[test]
    fn a_node_that_does_not_hear_itself_counts_nobody_gone() {
        let view = Membership::new(node("a"), Duration::from_secs(3));
        let start = Instant::now();
        view.heard_at(node("a"), start);
        view.heard_at(node("b"), start);
        view.heard_at(node("c"), start);
        // Four seconds without a heartbeat from anyone, its own included: its reading lags.
        let later = start + Duration::from_secs(4);
        assert_eq!(view.expire_at(later), Vec::<String>::new());
        assert!(view.is_alive("b") && view.is_alive("c"));
        // It catches up: its own heartbeat and c's come through; b stayed silent.
        view.heard_at(node("c"), later);
        view.heard_at(node("a"), later);
        assert_eq!(view.expire_at(later), vec!["b".to_string()]);
        assert!(view.is_alive("c"));
    }
}
