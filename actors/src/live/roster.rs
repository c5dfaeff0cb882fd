//! Who is in the class, as each member sees it: people they follow first, then everyone
//! else by when they joined, with people blocked either way left out. Each member gets
//! the first page as `live.roster` (at most once a second, when the page changed for them), the
//! rest through `GET /v1/live/classes/{id}/roster`; someone joining tells the members here
//! who follow them with `live.friend_joined`.

use std::collections::HashSet;

use super::LiveClass;
use crate::domain::UserId;
use crate::events::data::EventData;
use crate::events::data::live::{LiveFriendJoined, LiveRoster, RosterEntry};

/// Where a roster page continues: after the entry of join order `order` in the section of
/// people the viewer follows (`f`) or of everyone else (`o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RosterCursor {
    pub following: bool,
    pub order: u64,
}

impl RosterCursor {
    pub fn encode(&self) -> String {
        format!("{}{}", if self.following { 'f' } else { 'o' }, self.order)
    }

    pub fn parse(raw: &str) -> Option<RosterCursor> {
        let following = match raw.chars().next()? {
            'f' => true,
            'o' => false,
            _ => return None,
        };
        let order = raw[1..].parse().ok()?;
        Some(RosterCursor { following, order })
    }
}

/// One page of the roster for one viewer.
#[derive(Debug, Clone, PartialEq)]
pub struct RosterPageOut {
    pub following_here: usize,
    pub entries: Vec<RosterEntry>,
    pub next: Option<RosterCursor>,
}

impl LiveClass {
    /// Either blocked the other: neither sees the other in the roster.
    pub(super) fn hidden(&self, a: UserId, b: UserId) -> bool {
        let blocks = |x: UserId, y: UserId| {
            self.participants
                .get(&x)
                .is_some_and(|p| p.blocked.contains(&y))
        };
        blocks(a, b) || blocks(b, a)
    }

    fn entry(&self, viewer: UserId, user: UserId, following: bool) -> RosterEntry {
        let p = &self.participants[&user];
        let coach_view = viewer == self.record.coach;
        RosterEntry {
            user_id: user.to_string(),
            name: p.name.clone(),
            avatar_url: None,
            following,
            flagged: coach_view.then_some(p.flagged).flatten().map(str::to_owned),
        }
    }

    /// A page of the roster for `viewer`, after `cursor`, at most `limit` entries.
    pub(super) fn roster_page(
        &self,
        viewer: UserId,
        cursor: Option<RosterCursor>,
        limit: usize,
    ) -> RosterPageOut {
        let followed: HashSet<UserId> = self
            .participants
            .get(&viewer)
            .map(|p| p.following.clone())
            .unwrap_or_default();
        // People the viewer follows who are here, by join order.
        let mut friends: Vec<(u64, UserId)> = followed
            .iter()
            .filter_map(|f| {
                let p = self.participants.get(f)?;
                (p.counted() && !self.hidden(viewer, *f)).then_some((p.order, *f))
            })
            .collect();
        friends.sort_unstable();
        let following_here = friends.len();
        let mut entries = Vec::new();
        let mut last = None;
        let in_friends = cursor.is_none_or(|c| c.following);
        if in_friends {
            let after = cursor.map(|c| c.order);
            for (order, user) in friends.iter().filter(|(o, _)| after.is_none_or(|a| *o > a)) {
                if entries.len() == limit {
                    return RosterPageOut {
                        following_here,
                        entries,
                        next: last,
                    };
                }
                entries.push(self.entry(viewer, *user, true));
                last = Some(RosterCursor {
                    following: true,
                    order: *order,
                });
            }
        }
        let after = cursor.filter(|c| !c.following).map(|c| c.order);
        let range = match after {
            Some(a) => self.present_order.range(a + 1..),
            None => self.present_order.range(..),
        };
        for (order, user) in range {
            if followed.contains(user) || self.hidden(viewer, *user) {
                continue;
            }
            if entries.len() == limit {
                return RosterPageOut {
                    following_here,
                    entries,
                    next: last,
                };
            }
            entries.push(self.entry(viewer, *user, false));
            last = Some(RosterCursor {
                following: false,
                order: *order,
            });
        }
        RosterPageOut {
            following_here,
            entries,
            next: None,
        }
    }

    /// Each present participant's first page, to those for whom the page changed. A
    /// change of the count alone sends nobody a roster: `live.presence` carries it, one
    /// frame for everyone, where a roster is a frame of its own per member (in a class
    /// of 10,000, a join storm would otherwise send 10,000 rosters every second, and
    /// the first cue after it would wait behind them).
    pub(super) fn push_rosters(&mut self) {
        let class_id = self.record.id.to_string();
        let now = self.deps.clock.now();
        let size = self.deps.config.roster_page_size;
        let present = self.present();
        let viewers: Vec<UserId> = self
            .participants
            .iter()
            .filter(|(_, p)| p.present())
            .map(|(u, _)| *u)
            .collect();
        for viewer in viewers {
            let page = self.roster_page(viewer, None, size);
            let mut data = LiveRoster {
                class_id: class_id.clone(),
                participants: 0,
                following_here: page.following_here,
                entries: page.entries,
                next_cursor: page.next.map(|c| c.encode()),
            };
            let print = super::board::fingerprint(&data.to_json());
            let p = self.participants.get_mut(&viewer).expect("a participant");
            if p.sent_roster != print {
                p.sent_roster = print;
                data.participants = present;
                self.send_to(viewer, &data.notice(now), "live");
            }
        }
    }

    /// Indexes whom `user` follows (read from the store) and tells the members here who
    /// follow `user` that they arrived.
    pub(super) fn social_loaded(
        &mut self,
        user: UserId,
        following: HashSet<UserId>,
        blocked: HashSet<UserId>,
        announce: bool,
    ) {
        for followee in &following {
            self.followers.entry(*followee).or_default().insert(user);
        }
        let Some(p) = self.participants.get_mut(&user) else {
            return;
        };
        p.following = following;
        p.blocked = blocked;
        let (name, coach) = (p.name.clone(), p.coach);
        self.roster_dirty = true;
        self.leaderboard_dirty = true;
        if !announce || coach {
            return;
        }
        let fans: Vec<UserId> = self
            .followers
            .get(&user)
            .into_iter()
            .flatten()
            .copied()
            .filter(|f| {
                *f != user
                    && self.participants.get(f).is_some_and(|p| p.counted())
                    && !self.hidden(*f, user)
            })
            .collect();
        if fans.is_empty() {
            return;
        }
        let frame = LiveFriendJoined {
            class_id: self.record.id.to_string(),
            user_id: user.to_string(),
            name,
            avatar_url: None,
        }
        .notice(self.deps.clock.now());
        for fan in fans {
            self.send_to(fan, &frame, "live");
        }
    }

    /// Forgets a participant's follows (before reading them again).
    pub(super) fn unindex(&mut self, user: UserId) {
        let following: Vec<UserId> = self
            .participants
            .get(&user)
            .map(|p| p.following.iter().copied().collect())
            .unwrap_or_default();
        for followee in following {
            if let Some(set) = self.followers.get_mut(&followee) {
                set.remove(&user);
                if set.is_empty() {
                    self.followers.remove(&followee);
                }
            }
        }
    }
}

/// Reads at most `limit` of a list into a set (a user following 100,000 people costs the
/// class no more than `limit`).
pub fn bounded(list: Vec<UserId>, limit: usize) -> HashSet<UserId> {
    list.into_iter().take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_garbage_is_refused() {
        for c in [
            RosterCursor {
                following: true,
                order: 0,
            },
            RosterCursor {
                following: false,
                order: 981,
            },
        ] {
            assert_eq!(RosterCursor::parse(&c.encode()), Some(c));
        }
        for bad in ["", "x1", "f", "o-1", "f1.5", "o18446744073709551616"] {
            assert_eq!(RosterCursor::parse(bad), None, "{bad}");
        }
    }
}
