//! Every event kind the server itself sends, checked when compiled. Sequenced kinds go into
//! a user's feed (or a class's event list) and are replayed on resume; notices concern the
//! moment and are never replayed. Apps may also receive admin-sent kinds, which are checked
//! at run time by `EventKind::parse`.

use super::EventKind;

// Sequenced, in a user's feed.
pub const COMMUNITY_ACTIVITY: EventKind = EventKind::known("community.activity");
pub const COMMUNITY_COMMENTED: EventKind = EventKind::known("community.commented");
pub const COMMUNITY_FOLLOWED: EventKind = EventKind::known("community.followed");
pub const COMMUNITY_POST: EventKind = EventKind::known("community.post");
pub const COMMUNITY_POST_LIKED: EventKind = EventKind::known("community.post_liked");
pub const COMMUNITY_REMOVED: EventKind = EventKind::known("community.removed");
pub const ENTITLEMENTS_CHANGED: EventKind = EventKind::known("entitlements.changed");
pub const MESSAGE_FEATURE: EventKind = EventKind::known("message.feature");
pub const MESSAGE_STATE: EventKind = EventKind::known("message.state");
pub const ORDER_EXPIRED: EventKind = EventKind::known("order.expired");
pub const ORDER_PAID: EventKind = EventKind::known("order.paid");
pub const ORDER_RESERVED: EventKind = EventKind::known("order.reserved");
pub const PLAN_SHOPPING_LIST_UPDATED: EventKind = EventKind::known("plan.shopping_list_updated");
pub const PLAN_UPDATED: EventKind = EventKind::known("plan.updated");

// Sequenced per class: a class's own event list, caught up on join.
pub const LIVE_CANCELLED: EventKind = EventKind::known("live.cancelled");
pub const LIVE_CUE: EventKind = EventKind::known("live.cue");
pub const LIVE_ENDED: EventKind = EventKind::known("live.ended");
pub const LIVE_INTERVAL: EventKind = EventKind::known("live.interval");
pub const LIVE_STARTED: EventKind = EventKind::known("live.started");

// Notices: no `seq`, never replayed.
pub const CONTENT_NEW: EventKind = EventKind::known("content.new");
pub const DROP_ADMITTED: EventKind = EventKind::known("drop.admitted");
pub const DROP_QUEUE: EventKind = EventKind::known("drop.queue");
pub const DROP_SOLD_OUT: EventKind = EventKind::known("drop.sold_out");
pub const DROP_STOCK: EventKind = EventKind::known("drop.stock");
pub const LIVE_COUNTDOWN: EventKind = EventKind::known("live.countdown");
pub const LIVE_FLAGGED: EventKind = EventKind::known("live.flagged");
pub const LIVE_FRIEND_JOINED: EventKind = EventKind::known("live.friend_joined");
pub const LIVE_HIGH_FIVE: EventKind = EventKind::known("live.high_five");
pub const LIVE_LEADERBOARD: EventKind = EventKind::known("live.leaderboard");
pub const LIVE_PERSONAL_RECORD: EventKind = EventKind::known("live.personal_record");
pub const LIVE_PRESENCE: EventKind = EventKind::known("live.presence");
pub const LIVE_RANK: EventKind = EventKind::known("live.rank");
pub const LIVE_REPLAY_BOARD: EventKind = EventKind::known("live.replay_board");
pub const LIVE_ROSTER: EventKind = EventKind::known("live.roster");
pub const LIVE_SNAPSHOT: EventKind = EventKind::known("live.snapshot");
pub const RESUME_INCOMPLETE: EventKind = EventKind::known("resume.incomplete");
pub const SESSION_READY: EventKind = EventKind::known("session.ready");
pub const TOKEN_EXPIRING: EventKind = EventKind::known("token.expiring");

/// The class event kinds, in the order a class goes through them.
pub const CLASS_EVENTS: [EventKind; 5] = [
    LIVE_STARTED,
    LIVE_CUE,
    LIVE_INTERVAL,
    LIVE_ENDED,
    LIVE_CANCELLED,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_kind_reads_back_like_a_parsed_one() {
        let parsed = EventKind::parse("live.cue").expect("valid");
        assert_eq!(parsed, LIVE_CUE);
        assert_eq!(LIVE_CUE.family(), "live");
        let json = serde_json::to_string(&COMMUNITY_POST).expect("json");
        assert_eq!(
            serde_json::from_str::<EventKind>(&json).expect("kind"),
            COMMUNITY_POST
        );
    }

    #[test]
    #[should_panic(expected = "a malformed event kind")]
    fn a_malformed_known_kind_is_refused() {
        // In a `const` item this is a compile error; at run time it panics the same way.
        let raw = String::from("Live.cue").leak();
        let _ = EventKind::known(raw);
    }
}
