//! Leaderboard pushes: the public top-N to everyone watching `all`, and to each member
//! their own place with their neighbourhood (3 above, 3 below) in the view they chose; a
//! member watching `following` gets the top of a board of themselves and the people they
//! follow. Each frame goes out only when it changed since the last one that member got.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::leaderboard::Entry;
use super::{LiveClass, View};
use actix::prelude::*;

use crate::domain::{UnixMillis, UserId};
use crate::events::data::EventData;
use crate::events::data::live::{LiveLeaderboard, LiveRank};
use crate::events::{Frame, notice_frame};

/// How many places above and below a member their neighbourhood shows.
pub const AROUND: usize = 3;

/// The entries around position `at` (0-based) of `board`, ranks as they are.
pub fn around(board: &[Entry], at: usize) -> Vec<Entry> {
    let from = at.saturating_sub(AROUND);
    let to = (at + AROUND + 1).min(board.len());
    board[from..to].to_vec()
}

/// `board` cut to the given users, ranked again from 1 in the same order.
pub fn sub_board(
    board: &[Entry],
    position: &HashMap<UserId, usize>,
    users: &[UserId],
) -> Vec<Entry> {
    let mut at: Vec<usize> = users
        .iter()
        .filter_map(|u| position.get(u).copied())
        .collect();
    at.sort_unstable();
    at.dedup();
    at.into_iter()
        .enumerate()
        .map(|(i, p)| Entry {
            rank: i + 1,
            ..board[p].clone()
        })
        .collect()
}

pub(super) fn fingerprint(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    // 0 stands for "nothing sent yet".
    hasher.finish().max(1)
}

/// The notice of `data` and the fingerprint of its data, serialized once: per-member
/// frames go out every second in a busy class.
pub(super) fn fingerprinted<D: EventData>(data: &D, now: UnixMillis) -> (u64, Frame) {
    let json = data.to_json();
    let print = fingerprint(&json);
    // Text `to_json` just wrote is valid JSON.
    let raw = serde_json::value::RawValue::from_string(json).expect("event data is JSON");
    (print, notice_frame(&D::KIND, now, &raw))
}

impl LiveClass {
    /// The member's board in their view, and their position on it.
    fn board_of(
        &self,
        user: UserId,
        view: View,
        ranked: &[Entry],
        position: &HashMap<UserId, usize>,
    ) -> Option<(Vec<Entry>, usize)> {
        match view {
            View::All => Some((Vec::new(), *position.get(&user)?)),
            View::Following => {
                let p = self.participants.get(&user)?;
                let mut users: Vec<UserId> = p
                    .following
                    .iter()
                    .copied()
                    .filter(|f| !self.hidden(user, *f))
                    .collect();
                users.push(user);
                let board = sub_board(ranked, position, &users);
                let me = user.to_string();
                let at = board.iter().position(|e| e.user_id == me)?;
                Some((board, at))
            }
        }
    }

    /// The shared top to everyone watching `all` now, then each member's own frames in
    /// chunks (see [`PushRanks`]).
    pub(super) fn push_boards(&mut self, ctx: &mut Context<Self>) {
        let now = self.deps.clock.now();
        let ranked = self.ranked();
        let size = self.deps.config.leaderboard_size;
        let top: Vec<Entry> = ranked.iter().take(size).cloned().collect();
        // The shared top goes out with each member's own frames, so a member's board and
        // rank of one tick leave in one socket write.
        let mut shared = None;
        if top != self.last_top {
            shared = Some(
                LiveLeaderboard {
                    class_id: self.record.id.to_string(),
                    view: View::All.as_str(),
                    top: top.clone(),
                    ranked: ranked.len(),
                }
                .notice(now),
            );
            self.last_top = top;
        }
        let position: HashMap<UserId, usize> = ranked
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.user_id.parse().ok()?, i)))
            .collect();
        // Each line once: a member's neighbourhood is seven of them side by side.
        let lines = ranked
            .iter()
            .map(|e| serde_json::to_string(e).expect("an entry serializes"))
            .collect();
        // Everyone present: the coach and members without a metric get the shared top.
        let members = self
            .participants
            .iter()
            .filter(|(_, p)| p.present())
            .map(|(u, p)| (*u, p.view))
            .collect();
        let started = self.rank_round.is_none();
        // A round still going (a huge class on a busy node) goes on with the newer board.
        // A newer round keeps a top the older one had not delivered to everyone yet.
        let shared = shared.or_else(|| self.rank_round.as_mut().and_then(|r| r.top.take()));
        self.rank_round = Some(RankRound {
            ranked,
            lines,
            position,
            members,
            top: shared,
            next: 0,
            now,
        });
        if started {
            ctx.notify(PushRanks);
        }
    }

    /// One member's frames of the round: their rank with its neighbourhood, and in the
    /// `following` view their own top; each only when it changed.
    fn push_member(&mut self, round: &RankRound, user: UserId, view: View) {
        if let (View::All, Some(top)) = (view, &round.top) {
            self.send_to(user, top, "live");
        }
        let Some((board, at)) = self.board_of(user, view, &round.ranked, &round.position) else {
            return;
        };
        let class_id = self.record.id;
        let size = self.deps.config.leaderboard_size;
        let mut frames = Vec::with_capacity(2);
        let (rank, of, near) = match view {
            View::All => {
                let from = at.saturating_sub(AROUND);
                let to = (at + AROUND + 1).min(round.lines.len());
                (at + 1, round.lines.len(), round.lines[from..to].join(","))
            }
            View::Following => {
                let data = LiveLeaderboard {
                    class_id: class_id.to_string(),
                    view: view.as_str(),
                    top: board.iter().take(size).cloned().collect(),
                    ranked: board.len(),
                };
                let (print, frame) = fingerprinted(&data, round.now);
                let p = self.participants.get_mut(&user).expect("a member");
                if p.sent_board != print {
                    p.sent_board = print;
                    frames.push(frame);
                }
                let near: Vec<String> = around(&board, at)
                    .iter()
                    .map(|e| serde_json::to_string(e).expect("an entry serializes"))
                    .collect();
                (at + 1, board.len(), near.join(","))
            }
        };
        // `LiveRank` written by hand from the lines serialized once (same fields).
        let data = format!(
            r#"{{"class_id":"{class_id}","view":"{}","rank":{rank},"of":{of},"around":[{near}]}}"#,
            view.as_str()
        );
        let print = fingerprint(&data);
        let p = self.participants.get_mut(&user).expect("a member");
        p.rank = Some(rank);
        if p.sent_rank != print {
            p.sent_rank = print;
            let raw = serde_json::value::RawValue::from_string(data).expect("rank data is JSON");
            frames.push(notice_frame(&LiveRank::KIND, round.now, &raw));
        }
        for frame in frames {
            self.send_to(user, &frame, "live");
        }
    }

    /// The member switched views: their next push is in the new view, whatever it shows.
    pub(super) fn choose_view(&mut self, user: UserId, view: View) {
        if let Some(p) = self.participants.get_mut(&user) {
            p.view = view;
            p.sent_rank = 0;
            p.sent_board = 0;
            self.leaderboard_dirty = true;
            // The shared top is sent again too, so a member back on `all` sees it now.
            self.last_top.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Sample;

    fn board(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| Entry {
                rank: i + 1,
                user_id: format!("u{i}"),
                name: format!("n{i}"),
                sample: Sample::default(),
            })
            .collect()
    }

    #[test]
    fn the_neighbourhood_is_three_above_and_three_below_cut_at_the_ends() {
        let b = board(10);
        let ranks = |v: Vec<Entry>| v.iter().map(|e| e.rank).collect::<Vec<_>>();
        assert_eq!(ranks(around(&b, 5)), [3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(ranks(around(&b, 0)), [1, 2, 3, 4]);
        assert_eq!(ranks(around(&b, 9)), [7, 8, 9, 10]);
    }

    #[test]
    fn a_sub_board_keeps_the_order_and_ranks_again_from_one() {
        let b = board(6);
        let users: Vec<UserId> = (0..3).map(|_| UserId::random()).collect();
        let position: HashMap<UserId, usize> = [(users[0], 4), (users[1], 1), (users[2], 3)]
            .into_iter()
            .collect();
        let sub = sub_board(&b, &position, &users);
        let got: Vec<(usize, &str)> = sub.iter().map(|e| (e.rank, e.user_id.as_str())).collect();
        assert_eq!(got, [(1, "u1"), (2, "u3"), (3, "u4")]);
    }
}

/// Members whose own frames one [`PushRanks`] builds: the class takes cues and metrics
/// between chunks, so a 10,000-member round never holds a cue back for long.
const RANK_CHUNK: usize = 500;

/// A push of each member's own board frames, under way.
pub(super) struct RankRound {
    ranked: Vec<Entry>,
    /// Each entry of `ranked` as JSON.
    lines: Vec<String>,
    position: HashMap<UserId, usize>,
    members: Vec<(UserId, View)>,
    /// The shared top for members watching `all`, when it changed.
    top: Option<Frame>,
    next: usize,
    now: UnixMillis,
}

/// Builds the next chunk of the round's member frames.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct PushRanks;

impl Handler<PushRanks> for LiveClass {
    type Result = ();

    fn handle(&mut self, _: PushRanks, ctx: &mut Context<Self>) {
        let Some(round) = self.rank_round.take() else {
            return;
        };
        let to = (round.next + RANK_CHUNK).min(round.members.len());
        for i in round.next..to {
            let (user, view) = round.members[i];
            self.push_member(&round, user, view);
        }
        // This chunk's frames leave now, one parcel per socket thread.
        crate::fanout::flush();
        // The rest follows once the class has taken what waits in its mailbox; a tick in
        // between replaces the round with a newer board, and the next chunk takes that.
        if to < round.members.len() {
            self.rank_round = Some(RankRound { next: to, ..round });
            ctx.notify(PushRanks);
        }
    }
}
