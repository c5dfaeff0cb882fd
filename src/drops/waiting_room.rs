//! The waiting room of a drop with an admission rate: buyers join a queue from
//! `drops.pre_queue_seconds` before the start, and from the start the room admits
//! `admission_per_second` of them each second. Everyone who joined before the start gets
//! a place drawn at random at the start, so joining in the first second of the window is
//! worth no more than joining in the last (refreshing early gains nothing); later
//! arrivals queue behind them, first come first served. An admitted buyer gets a short-lived admission token
//! (signed with the server's key, scope `drop:<id>`, an audience of its own so that no
//! other route accepts it)
//! over the socket (`drop.admitted`) and in the queue answer; the others see their position
//! (`drop.queue`, every two seconds while it moves).
//!
//! The queue lives in this node's memory: a drop's buyers should reach one node (route by
//! drop id) or the admission rate applies per node.

use fitpulse_actors::events::kinds;
use std::collections::{HashMap, HashSet, VecDeque};
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
    /// Joined before the opening: places drawn when it comes.
    early: Vec<UserId>,
    early_set: HashSet<UserId>,
    opened: bool,
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
    /// People ahead in the queue (0 once admitted); none before the opening, when the
    /// early places are not drawn yet.
    pub ahead: Option<u64>,
    pub admission_token: Option<String>,
}

pub struct WaitingRoom {
    drop_id: Uuid,
    rate: u32,
    /// Joins are taken from this moment on.
    opens_at: UnixMillis,
    queue: Mutex<Queue>,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The queue opens in this many milliseconds.
    NotOpen { in_ms: i64 },
}

/// The scope an admission token carries.
pub fn admission_scope(drop_id: Uuid) -> String {
    format!("drop:{drop_id}")
}

impl WaitingRoom {
    /// The room of a drop whose queue opens at `opens_at` (the pre-queue window before
    /// its start).
    pub fn new(drop_id: Uuid, rate: u32, opens_at: UnixMillis) -> Arc<WaitingRoom> {
        Arc::new(WaitingRoom {
            drop_id,
            rate: rate.max(1),
            opens_at,
            queue: Mutex::new(Queue::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins (once; joining again keeps the place) and answers the standing.
    pub fn join(&self, user: UserId, now: UnixMillis) -> Result<Standing, JoinRefusal> {
        if now < self.opens_at {
            return Err(JoinRefusal::NotOpen {
                in_ms: self.opens_at - now,
            });
        }
        let mut queue = self.lock();
        if !queue.joined.contains_key(&user) && !queue.early_set.contains(&user) {
            if queue.opened {
                Self::enqueue(&mut queue, user);
            } else {
                queue.early_set.insert(user);
                queue.early.push(user);
            }
        }
        Ok(Self::standing_of(&queue, user))
    }

    fn enqueue(queue: &mut Queue, user: UserId) {
        let ticket = queue.next_ticket;
        queue.next_ticket += 1;
        queue.joined.insert(user, ticket);
        queue.waiting.push_back(user);
    }

    /// The opening: the early joiners' places are drawn, in a uniformly random order.
    fn open(&self) {
        use rand::seq::SliceRandom;
        let mut queue = self.lock();
        if queue.opened {
            return;
        }
        let mut early = std::mem::take(&mut queue.early);
        early.shuffle(&mut rand::thread_rng());
        for user in early {
            Self::enqueue(&mut queue, user);
        }
        queue.early_set = HashSet::new();
        queue.opened = true;
    }

    pub fn standing(&self, user: UserId) -> Option<Standing> {
        let queue = self.lock();
        (queue.joined.contains_key(&user) || queue.early_set.contains(&user))
            .then(|| Self::standing_of(&queue, user))
    }

    fn standing_of(queue: &Queue, user: UserId) -> Standing {
        Standing {
            ahead: queue
                .joined
                .get(&user)
                .map(|ticket| ticket.saturating_sub(queue.admitted_below)),
            admission_token: queue.tokens.get(&user).cloned(),
        }
    }

    /// How many are waiting (not admitted yet), early joiners included.
    pub fn waiting(&self) -> usize {
        let queue = self.lock();
        queue.waiting.len() + queue.early.len()
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
                if n == 0 {
                    self.open();
                }
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

    const OPENS: UnixMillis = 1_000_000;

    fn opened_room() -> Arc<WaitingRoom> {
        let room = WaitingRoom::new(Uuid::new_v4(), 2, OPENS);
        room.open();
        room
    }

    fn ahead(room: &WaitingRoom, user: UserId) -> Option<u64> {
        room.join(user, OPENS).expect("open").ahead
    }

    #[test]
    fn after_the_opening_places_are_first_come_and_joining_again_keeps_them() {
        let room = opened_room();
        let (a, b, c) = (UserId::random(), UserId::random(), UserId::random());
        assert_eq!(ahead(&room, a), Some(0));
        assert_eq!(ahead(&room, b), Some(1));
        assert_eq!(ahead(&room, c), Some(2));
        assert_eq!(ahead(&room, b), Some(1), "joining again keeps the place");
        assert_eq!(room.waiting(), 3);
    }

    #[test]
    fn a_join_before_the_window_is_refused_with_the_time_to_wait() {
        let room = WaitingRoom::new(Uuid::new_v4(), 2, OPENS);
        assert_eq!(
            room.join(UserId::random(), OPENS - 1_500),
            Err(JoinRefusal::NotOpen { in_ms: 1_500 })
        );
        assert_eq!(room.waiting(), 0);
    }

    #[test]
    fn early_places_are_drawn_at_the_opening_and_later_ones_queue_behind() {
        let room = WaitingRoom::new(Uuid::new_v4(), 2, OPENS);
        let early: Vec<UserId> = (0..8).map(|_| UserId::random()).collect();
        for user in &early {
            let standing = room.join(*user, OPENS).expect("open");
            assert_eq!(standing.ahead, None, "no place before the draw");
        }
        assert_eq!(room.join(early[3], OPENS).expect("open").ahead, None);
        assert_eq!(room.waiting(), 8, "joining again counts once");
        room.open();
        let mut places: Vec<u64> = early
            .iter()
            .map(|u| room.standing(*u).and_then(|s| s.ahead).expect("drawn"))
            .collect();
        places.sort_unstable();
        assert_eq!(places, (0..8).collect::<Vec<_>>(), "every place once");
        let late = UserId::random();
        assert_eq!(ahead(&room, late), Some(8), "behind every early joiner");
    }

    #[test]
    fn the_draw_is_not_the_join_order() {
        // 40 early joiners: the chance that a fair draw keeps the join order is 1/40!.
        let room = WaitingRoom::new(Uuid::new_v4(), 2, OPENS);
        let early: Vec<UserId> = (0..40).map(|_| UserId::random()).collect();
        for user in &early {
            room.join(*user, OPENS).expect("open");
        }
        room.open();
        let places: Vec<u64> = early
            .iter()
            .map(|u| room.standing(*u).and_then(|s| s.ahead).expect("drawn"))
            .collect();
        assert_ne!(places, (0..40).collect::<Vec<_>>());
    }
}
