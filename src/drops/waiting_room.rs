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
//! A room lives on its holder in the cluster ([`super::rooms`]); a draining holder hands
//! it over whole ([`RoomHandover`]): every place, every admission, the draw if it is
//! still to come.

use super::events::{DropAdmitted, DropQueue};
use fitpulse_actors::events::data::EventData;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::clock::SharedClock;
use serde::{Deserialize, Serialize};
use tokio::task::AbortHandle;
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The drop's start: the draw, and the first admissions.
    starts_at: UnixMillis,
    queue: Mutex<Queue>,
}

/// A room as it moves to another node: its terms and its whole queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomHandover {
    pub drop_id: Uuid,
    pub rate: u32,
    pub opens_at: UnixMillis,
    pub starts_at: UnixMillis,
    early: Vec<UserId>,
    opened: bool,
    /// Not admitted yet, in order, with their tickets.
    waiting: Vec<(UserId, u64)>,
    /// Admitted, with their tickets and tokens.
    admitted: Vec<(UserId, u64, Option<String>)>,
    next_ticket: u64,
    admitted_below: u64,
}

impl RoomHandover {
    /// Buyers waiting in the handed-over room, early joiners included.
    pub fn waiting_count(&self) -> usize {
        self.early.len() + self.waiting.len()
    }
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinRefusal {
    /// The queue opens in this many milliseconds.
    NotOpen { in_ms: i64 },
}

/// The scope an admission token carries.
pub fn admission_scope(drop_id: Uuid) -> String {
    format!("drop:{drop_id}")
}

impl WaitingRoom {
    /// The room of a drop starting at `starts_at` whose queue opens at `opens_at` (the
    /// pre-queue window before the start).
    pub fn new(
        drop_id: Uuid,
        rate: u32,
        opens_at: UnixMillis,
        starts_at: UnixMillis,
    ) -> Arc<WaitingRoom> {
        Arc::new(WaitingRoom {
            drop_id,
            rate: rate.max(1),
            opens_at: opens_at.min(starts_at),
            starts_at,
            queue: Mutex::new(Queue::default()),
        })
    }

    pub fn drop_id(&self) -> Uuid {
        self.drop_id
    }

    /// The room, whole, for the node taking it over.
    pub fn handover(&self) -> RoomHandover {
        let queue = self.lock();
        let waiting: HashSet<UserId> = queue.waiting.iter().copied().collect();
        RoomHandover {
            drop_id: self.drop_id,
            rate: self.rate,
            opens_at: self.opens_at,
            starts_at: self.starts_at,
            early: queue.early.clone(),
            opened: queue.opened,
            waiting: queue
                .waiting
                .iter()
                .map(|user| (*user, queue.joined[user]))
                .collect(),
            admitted: queue
                .joined
                .iter()
                .filter(|(user, _)| !waiting.contains(user))
                .map(|(user, ticket)| (*user, *ticket, queue.tokens.get(user).cloned()))
                .collect(),
            next_ticket: queue.next_ticket,
            admitted_below: queue.admitted_below,
        }
    }

    /// A room taken over from a draining node, as it was there.
    pub fn adopted(handover: RoomHandover) -> Arc<WaitingRoom> {
        let mut queue = Queue {
            early_set: handover.early.iter().copied().collect(),
            early: handover.early,
            opened: handover.opened,
            next_ticket: handover.next_ticket,
            admitted_below: handover.admitted_below,
            ..Queue::default()
        };
        for (user, ticket) in handover.waiting {
            queue.joined.insert(user, ticket);
            queue.waiting.push_back(user);
        }
        for (user, ticket, token) in handover.admitted {
            queue.joined.insert(user, ticket);
            if let Some(token) = token {
                queue.tokens.insert(user, token);
            }
        }
        Arc::new(WaitingRoom {
            drop_id: handover.drop_id,
            rate: handover.rate.max(1),
            opens_at: handover.opens_at,
            starts_at: handover.starts_at,
            queue: Mutex::new(queue),
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
    ///
    /// A room started (or taken over) after the start begins at its next tick after now:
    /// the ticks before were its earlier holder's, or had nobody waiting.
    pub fn run(
        self: Arc<Self>,
        tokens: Arc<AccessTokens>,
        hub: Hub,
        clock: SharedClock,
    ) -> AbortHandle {
        let task = tokio::spawn(async move {
            let starts_at = self.starts_at;
            let ticks = OPEN_FOR.as_secs() as i64;
            let now = clock.now();
            let first = if now < starts_at {
                0
            } else {
                (now - starts_at) / 1000 + 1
            };
            for n in first..ticks {
                // Tick n at the start plus n seconds: a late tick does not shift the next.
                clock.sleep_until(starts_at + n * 1000).await;
                self.open();
                let now = clock.now();
                for (user, token) in self.admit_next(&tokens) {
                    let admitted = DropAdmitted {
                        drop_id: self.drop_id,
                        admission_token: token,
                        expires_in: ADMISSION_TTL_SECONDS,
                    };
                    hub.notify_user(user, admitted.notice(now), &DropAdmitted::KIND);
                }
                if n % 2 == 0 {
                    for (user, ahead) in self.waiting_positions() {
                        let queue = DropQueue {
                            drop_id: self.drop_id,
                            ahead,
                        };
                        hub.notify_user(user, queue.notice(now), &DropQueue::KIND);
                    }
                }
            }
        });
        task.abort_handle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENS: UnixMillis = 1_000_000;

    fn opened_room() -> Arc<WaitingRoom> {
        let room = WaitingRoom::new(Uuid::new_v4(), 2, OPENS, OPENS + 60_000);
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
        let room = WaitingRoom::new(Uuid::new_v4(), 2, OPENS, OPENS + 60_000);
        assert_eq!(
            room.join(UserId::random(), OPENS - 1_500),
            Err(JoinRefusal::NotOpen { in_ms: 1_500 })
        );
        assert_eq!(room.waiting(), 0);
    }

    #[test]
    fn early_places_are_drawn_at_the_opening_and_later_ones_queue_behind() {
        let room = WaitingRoom::new(Uuid::new_v4(), 2, OPENS, OPENS + 60_000);
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
    fn a_handed_over_room_keeps_every_place_token_and_the_draw_to_come() {
        let room = WaitingRoom::new(Uuid::new_v4(), 2, OPENS, OPENS + 60_000);
        let early: Vec<UserId> = (0..3).map(|_| UserId::random()).collect();
        for user in &early {
            room.join(*user, OPENS).expect("open");
        }
        let before_draw = WaitingRoom::adopted(room.handover());
        assert_eq!(before_draw.waiting(), 3);
        assert_eq!(before_draw.standing(early[0]).expect("kept").ahead, None);

        room.open();
        let late = UserId::random();
        room.join(late, OPENS).expect("open");
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens =
            AccessTokens::from_settings(&crate::config::Settings::default().auth, dir.path())
                .expect("a generated key");
        let admitted = room.admit_next(&tokens);
        assert_eq!(admitted.len(), 2);
        let moved = WaitingRoom::adopted(room.handover());
        for user in early.iter().chain([&late]) {
            assert_eq!(moved.standing(*user), room.standing(*user), "{user}");
        }
        assert_eq!(moved.waiting(), 2);
        // Joining again there keeps the place, and newcomers queue behind.
        assert_eq!(moved.join(late, OPENS), room.join(late, OPENS));
        assert_eq!(ahead(&moved, UserId::random()), Some(2));
    }

    #[test]
    fn the_draw_is_not_the_join_order() {
        // 40 early joiners: the chance that a fair draw keeps the join order is 1/40!.
        let room = WaitingRoom::new(Uuid::new_v4(), 2, OPENS, OPENS + 60_000);
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
