//! The waiting room of a drop with an admission rate: buyers join a queue (before or after
//! the start), and from the start the room admits `admission_per_second` of them each
//! second, first come first served. An admitted buyer gets a short-lived admission token
//! (signed with the server's key, scope `drop:<id>`, an audience of its own so that no
//! other route accepts it)
//! over the socket (`drop.admitted`) and in the queue answer; the others see their position
//! (`drop.queue`, every two seconds while it moves).
//!
//! The queue lives in this node's memory: a drop's buyers should reach one node (route by
//! drop id) or the admission rate applies per node.

use fitpulse_actors::events::kinds;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::events::notice_frame;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::clock::SharedClock;
use serde_json::json;
use uuid::Uuid;

use crate::auth::tokens::AccessTokens;

/// How long an admission token is good for.
pub const ADMISSION_TTL_SECONDS: i64 = 120;
/// The room stops admitting this long after the start.
const OPEN_FOR: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Default)]
struct Queue {
    waiting: VecDeque<UserId>,
    /// Join order of everyone who ever joined (positions are stable).
    joined: HashMap<UserId, u64>,
    next_ticket: u64,
    /// Tickets below this are admitted.
    admitted_below: u64,
    tokens: HashMap<UserId, String>,
}

/// Where a buyer stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// People ahead in the queue (0 once admitted).
    pub ahead: u64,
    pub admission_token: Option<String>,
}

pub struct WaitingRoom {
    drop_id: Uuid,
    rate: u32,
    queue: Mutex<Queue>,
}

/// The scope an admission token carries.
pub fn admission_scope(drop_id: Uuid) -> String {
    format!("drop:{drop_id}")
}

impl WaitingRoom {
    pub fn new(drop_id: Uuid, rate: u32) -> Arc<WaitingRoom> {
        Arc::new(WaitingRoom {
            drop_id,
            rate: rate.max(1),
            queue: Mutex::new(Queue::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins (once; joining again keeps the place) and answers the standing.
    pub fn join(&self, user: UserId) -> Standing {
        let mut queue = self.lock();
        if !queue.joined.contains_key(&user) {
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.joined.insert(user, ticket);
            queue.waiting.push_back(user);
        }
        Self::standing_of(&queue, user)
    }

    pub fn standing(&self, user: UserId) -> Option<Standing> {
        let queue = self.lock();
        queue
            .joined
            .contains_key(&user)
            .then(|| Self::standing_of(&queue, user))
    }

    fn standing_of(queue: &Queue, user: UserId) -> Standing {
        let ticket = queue.joined.get(&user).copied().unwrap_or(u64::MAX);
        Standing {
            ahead: ticket.saturating_sub(queue.admitted_below),
            admission_token: queue.tokens.get(&user).cloned(),
        }
    }

    /// How many are waiting (not admitted yet).
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Admits the next `rate` buyers; answers them with their tokens.
    fn admit_next(&self, tokens: &AccessTokens) -> Vec<(UserId, String)> {
        let mut queue = self.lock();
        let mut admitted = Vec::new();
        for _ in 0..self.rate {
            let Some(user) = queue.waiting.pop_front() else {
                break;
            };
            let token = tokens
                .issue_admission(user, admission_scope(self.drop_id), ADMISSION_TTL_SECONDS)
                .token;
            queue.tokens.insert(user, token.clone());
            queue.admitted_below = queue.joined[&user] + 1;
            admitted.push((user, token));
        }
        admitted
    }

    fn waiting_positions(&self) -> Vec<(UserId, u64)> {
        let queue = self.lock();
        queue
            .waiting
            .iter()
            .map(|u| (*u, queue.joined[u].saturating_sub(queue.admitted_below)))
            .collect()
    }

    /// Admits buyers every second from `starts_at` on, tells them over their sockets, and
    /// tells the waiting their position every other second. Ends a day after the start.
    pub fn run(
        self: Arc<Self>,
        starts_at: UnixMillis,
        tokens: Arc<AccessTokens>,
        hub: Hub,
        clock: SharedClock,
    ) {
        tokio::spawn(async move {
            let ticks = OPEN_FOR.as_secs();
            for n in 0..ticks {
                // Tick n at the start plus n seconds: a late tick does not shift the next.
                clock.sleep_until(starts_at + n as i64 * 1000).await;
                let now = clock.now();
                for (user, token) in self.admit_next(&tokens) {
                    let data = json!({ "drop_id": self.drop_id, "admission_token": token,
                                       "expires_in": ADMISSION_TTL_SECONDS });
                    hub.notify_user(
                        user,
                        notice_frame(&kinds::DROP_ADMITTED, now, &data),
                        &kinds::DROP_ADMITTED,
                    );
                }
                if n % 2 == 0 {
                    for (user, ahead) in self.waiting_positions() {
                        let data = json!({ "drop_id": self.drop_id, "ahead": ahead });
                        hub.notify_user(
                            user,
                            notice_frame(&kinds::DROP_QUEUE, now, &data),
                            &kinds::DROP_QUEUE,
                        );
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_first_come_and_joining_again_keeps_them() {
        let room = WaitingRoom::new(Uuid::new_v4(), 2);
        let (a, b, c) = (UserId::random(), UserId::random(), UserId::random());
        assert_eq!(room.join(a).ahead, 0);
        assert_eq!(room.join(b).ahead, 1);
        assert_eq!(room.join(c).ahead, 2);
        assert_eq!(room.join(b).ahead, 1, "joining again keeps the place");
        assert_eq!(room.waiting(), 3);
    }
}
