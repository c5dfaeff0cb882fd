//! The user feed in the embedded store. Events are pruned when appending: beyond
//! `FEED_MAX_EVENTS` per user, or older than `FEED_TTL_SECONDS`. Expired events are also
//! skipped when reading, so retention does not depend on writes arriving.

use async_trait::async_trait;
use fitpulse_actors::domain::{UserId, now_millis};
use fitpulse_actors::ports::store::{
    FEED_MAX_EVENTS, FEED_TTL_SECONDS, FeedEvent, FeedHead, FeedStore, StoreError,
};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{EmbeddedStore, FEED_EVENTS, FEED_STATE, backend, decode, encode, key, prefix_range};

#[derive(Default, Serialize, Deserialize)]
struct State {
    last_seq: u64,
    read_seq: u64,
}

fn event_key(user: &str, seq: u64) -> String {
    key(&[user, &format!("{seq:020}")])
}

fn expired_before() -> i64 {
    now_millis() - i64::from(FEED_TTL_SECONDS) * 1000
}

fn load_state(txn: &WriteTransaction, user: &str) -> Result<State, StoreError> {
    let table = txn.open_table(FEED_STATE).map_err(backend)?;
    let row = table.get(user).map_err(backend)?;
    Ok(match row {
        Some(bytes) => decode(bytes.value())?,
        None => State::default(),
    })
}

fn save_state(txn: &WriteTransaction, user: &str, state: &State) -> Result<(), StoreError> {
    let mut table = txn.open_table(FEED_STATE).map_err(backend)?;
    table
        .insert(user, encode(state)?.as_slice())
        .map_err(backend)?;
    Ok(())
}

/// One session's pending events. Sessions flush at once when a broadcast reaches them
/// all, so their appends share transactions (`grouped`): one commit per group, not one per
/// session.
pub(super) struct FeedAppend {
    user: String,
    events: Vec<FeedEvent>,
}

/// Appends the events, then prunes the user's feed: the newest `FEED_MAX_EVENTS`, none
/// expired.
pub(super) fn append(txn: &WriteTransaction, op: &FeedAppend) -> Result<(), StoreError> {
    let FeedAppend { user, events } = op;
    let mut table = txn.open_table(FEED_EVENTS).map_err(backend)?;
    for event in events {
        table
            .insert(
                event_key(user, event.seq).as_str(),
                encode(event)?.as_slice(),
            )
            .map_err(backend)?;
    }
    let mut state = load_state(txn, user)?;
    state.last_seq = events.iter().map(|e| e.seq).fold(state.last_seq, u64::max);
    let keep_from = state.last_seq.saturating_sub(FEED_MAX_EVENTS as u64 - 1);
    let (start, _) = prefix_range(user);
    let cutoff = event_key(user, keep_from);
    table
        .retain_in(start.as_str()..cutoff.as_str(), |_, _| false)
        .map_err(backend)?;
    let too_old = expired_before();
    let (start, end) = prefix_range(user);
    let mut expired = Vec::new();
    for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
        let (k, v) = entry.map_err(backend)?;
        if decode::<FeedEvent>(v.value())?.at >= too_old {
            break;
        }
        expired.push(k.value().to_owned());
    }
    for k in expired {
        table.remove(k.as_str()).map_err(backend)?;
    }
    drop(table);
    save_state(txn, user, &state)
}

#[async_trait]
impl FeedStore for EmbeddedStore {
    async fn append_events(&self, user: UserId, events: &[FeedEvent]) -> Result<(), StoreError> {
        let op = FeedAppend {
            user: user.to_string(),
            events: events.to_vec(),
        };
        self.ops
            .time("append_events", self.feed_appends.submit(op))
            .await
    }

    async fn feed_head(&self, user: UserId) -> Result<FeedHead, StoreError> {
        self.read("feed_head", move |txn| {
            let table = txn.open_table(FEED_STATE).map_err(backend)?;
            let state: State = match table.get(user.to_string().as_str()).map_err(backend)? {
                Some(bytes) => decode(bytes.value())?,
                None => State::default(),
            };
            Ok(FeedHead {
                last_seq: state.last_seq,
                read_seq: state.read_seq,
            })
        })
        .await
    }

    async fn events_after(
        &self,
        user: UserId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        self.read("events_after", move |txn| {
            let user = user.to_string();
            let table = txn.open_table(FEED_EVENTS).map_err(backend)?;
            let (_, end) = prefix_range(&user);
            let start = event_key(&user, after.saturating_add(1));
            let too_old = expired_before();
            let mut events = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
                if events.len() >= limit {
                    break;
                }
                let event: FeedEvent = decode(entry.map_err(backend)?.1.value())?;
                if event.at >= too_old {
                    events.push(event);
                }
            }
            Ok(events)
        })
        .await
    }

    async fn oldest_seq(&self, user: UserId) -> Result<Option<u64>, StoreError> {
        Ok(self.events_after(user, 0, 1).await?.first().map(|e| e.seq))
    }

    async fn set_read_seq(&self, user: UserId, seq: u64) -> Result<(), StoreError> {
        self.write("set_read_seq", move |txn| {
            let user = user.to_string();
            let mut state = load_state(txn, &user)?;
            state.read_seq = seq;
            save_state(txn, &user, &state)
        })
        .await
    }
}
