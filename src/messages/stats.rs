//! Each feature message's counts (deliveries, first reads, clicks and dismissals), kept in
//! memory on the node where they happen and added to the store by a periodic flush: a
//! broadcast that 19,000 sessions deliver costs one store write per node, not one per
//! session. A flush that fails keeps its counts for the next one: losing counts is the
//! worse error, so a write whose outcome the store could not tell (a CQL timeout after a
//! replica applied it) may count twice when it is tried again. Every count also goes to
//! `fitpulse_message_events_total` at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use fitpulse_actors::ports::messages::{MessageEvent, MessageStats, MessageStore};
use fitpulse_actors::ports::observer::BroadcastObserver;
use fitpulse_actors::ports::store::StoreError;
use uuid::Uuid;

use crate::metrics::Metrics;

/// This node's counts not yet in the store, and the flushes that move them there.
pub struct StatsRecorder {
    store: Arc<dyn MessageStore>,
    metrics: Metrics,
    pending: Mutex<HashMap<Uuid, MessageStats>>,
    /// Held while a flush writes. A flush taken after another one waits for it, so a reader
    /// that flushes first also sees what the other flush was still writing.
    writing: tokio::sync::Mutex<()>,
}

impl StatsRecorder {
    pub fn new(store: Arc<dyn MessageStore>, metrics: Metrics) -> Arc<StatsRecorder> {
        Arc::new(StatsRecorder {
            store,
            metrics,
            pending: Mutex::default(),
            writing: tokio::sync::Mutex::new(()),
        })
    }

    /// Counts one `event` of `message`.
    pub fn record(&self, message: Uuid, event: MessageEvent) {
        self.metrics.message_event(event);
        self.pending().entry(message).or_default().count(event);
    }

    /// What a broadcast of `message` carries to its sessions: each one that delivers it
    /// counts one delivery.
    pub fn deliveries(self: &Arc<Self>, message: Uuid) -> Arc<dyn BroadcastObserver> {
        Arc::new(Deliveries {
            message,
            recorder: self.clone(),
        })
    }

    /// Adds every pending count to the store. Stops at the first failure, keeping what it
    /// did not write for the next flush.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _writing = self.writing.lock().await;
        let taken = std::mem::take(&mut *self.pending());
        let mut left = taken.into_iter();
        while let Some((message, delta)) = left.next() {
            if let Err(err) = self.store.add_message_stats(message, delta).await {
                self.put_back(std::iter::once((message, delta)).chain(left));
                return Err(err);
            }
        }
        Ok(())
    }

    /// Adds the pending counts of `message` to the store (a reader's own node's latest), and
    /// waits for a flush already writing.
    pub async fn flush_message(&self, message: Uuid) -> Result<(), StoreError> {
        let _writing = self.writing.lock().await;
        let Some(delta) = self.pending().remove(&message) else {
            return Ok(());
        };
        let written = self.store.add_message_stats(message, delta).await;
        if written.is_err() {
            self.put_back([(message, delta)]);
        }
        written
    }

    /// Flushes every `period` on a task of its own, until the recorder is dropped.
    pub fn flush_every(self: &Arc<Self>, period: Duration) {
        let recorder = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(recorder) = recorder.upgrade() else {
                    return;
                };
                if let Err(err) = recorder.flush().await {
                    tracing::warn!(error = %err, "cannot store feature-message counts; kept for the next flush");
                }
            }
        });
    }

    /// Merges counts that were not written back into the pending ones (which may have grown
    /// meanwhile).
    fn put_back(&self, unwritten: impl IntoIterator<Item = (Uuid, MessageStats)>) {
        let mut pending = self.pending();
        for (message, delta) in unwritten {
            pending.entry(message).or_default().add(&delta);
        }
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<Uuid, MessageStats>> {
        // The lock guards plain additions that cannot leave the map half-changed, so a
        // panic elsewhere while holding it leaves nothing to distrust.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts a delivery of one message per session that delivers its broadcast.
struct Deliveries {
    message: Uuid,
    recorder: Arc<StatsRecorder>,
}

impl BroadcastObserver for Deliveries {
    fn delivered(&self) {
        self.recorder.record(self.message, MessageEvent::Delivered);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use fitpulse_actors::domain::{UnixMillis, UserId};
    use fitpulse_actors::ports::messages::{
        MessageAction, MessageMark, MessageRecord, MessageState,
    };

    use super::*;

    /// Keeps counts in memory, and fails every add while `down` is set.
    #[derive(Default)]
    struct CountingStore {
        down: AtomicBool,
        counts: Mutex<HashMap<Uuid, MessageStats>>,
    }

    #[async_trait]
    impl MessageStore for CountingStore {
        async fn put_message(&self, _: &MessageRecord) -> Result<(), StoreError> {
            unreachable!("the recorder only adds and reads counts")
        }
        async fn message(&self, _: Uuid) -> Result<Option<MessageRecord>, StoreError> {
            unreachable!("the recorder only adds and reads counts")
        }
        async fn unexpired_messages(
            &self,
            _: UnixMillis,
        ) -> Result<Vec<MessageRecord>, StoreError> {
            unreachable!("the recorder only adds and reads counts")
        }
        async fn mark_message(
            &self,
            _: UserId,
            _: Uuid,
            _: MessageAction,
            _: UnixMillis,
        ) -> Result<MessageMark, StoreError> {
            unreachable!("the recorder only adds and reads counts")
        }
        async fn message_states(&self, _: UserId) -> Result<Vec<(Uuid, MessageState)>, StoreError> {
            unreachable!("the recorder only adds and reads counts")
        }
        async fn add_message_stats(
            &self,
            message: Uuid,
            delta: MessageStats,
        ) -> Result<(), StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::unavailable(std::io::Error::other("down")));
            }
            let mut counts = self.counts.lock().expect("test lock");
            counts.entry(message).or_default().add(&delta);
            Ok(())
        }
        async fn message_stats(&self, message: Uuid) -> Result<MessageStats, StoreError> {
            let counts = self.counts.lock().expect("test lock");
            Ok(counts.get(&message).copied().unwrap_or_default())
        }
    }

    fn recorder() -> (Arc<CountingStore>, Arc<StatsRecorder>) {
        let store = Arc::new(CountingStore::default());
        let recorder = StatsRecorder::new(store.clone(), Metrics::new());
        (store, recorder)
    }

    fn stats(delivered: u64, read: u64, clicked: u64, dismissed: u64) -> MessageStats {
        MessageStats {
            delivered,
            read,
            clicked,
            dismissed,
        }
    }

    #[tokio::test]
    async fn a_failed_flush_keeps_its_counts_for_the_next_one() {
        let (store, recorder) = recorder();
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        let deliveries = recorder.deliveries(first);
        deliveries.delivered();
        deliveries.delivered();
        recorder.record(first, MessageEvent::Read);
        recorder.record(second, MessageEvent::Dismissed);

        store.down.store(true, Ordering::SeqCst);
        assert!(recorder.flush().await.is_err());
        assert!(recorder.flush_message(first).await.is_err());
        // Counted while the store was down: added to what the failed flushes kept.
        recorder.record(first, MessageEvent::Clicked);
        assert_eq!(
            store.message_stats(first).await.expect("read"),
            stats(0, 0, 0, 0)
        );

        store.down.store(false, Ordering::SeqCst);
        recorder.flush().await.expect("flushed");
        assert_eq!(
            store.message_stats(first).await.expect("read"),
            stats(2, 1, 1, 0)
        );
        assert_eq!(
            store.message_stats(second).await.expect("read"),
            stats(0, 0, 0, 1)
        );

        recorder.flush().await.expect("flushed");
        assert_eq!(
            store.message_stats(first).await.expect("read"),
            stats(2, 1, 1, 0),
            "a flush that succeeded leaves nothing to add twice"
        );
    }

    #[tokio::test]
    async fn flushing_one_message_leaves_the_others_pending() {
        let (store, recorder) = recorder();
        let (asked, other) = (Uuid::new_v4(), Uuid::new_v4());
        recorder.record(asked, MessageEvent::Read);
        recorder.record(other, MessageEvent::Read);
        recorder.flush_message(asked).await.expect("flushed");
        assert_eq!(
            store.message_stats(asked).await.expect("read"),
            stats(0, 1, 0, 0)
        );
        assert_eq!(
            store.message_stats(other).await.expect("read"),
            stats(0, 0, 0, 0)
        );
        recorder.flush().await.expect("flushed");
        assert_eq!(
            store.message_stats(other).await.expect("read"),
            stats(0, 1, 0, 0)
        );
    }

    #[tokio::test]
    async fn every_count_reaches_the_metric_at_once() {
        let store = Arc::new(CountingStore::default());
        let metrics = Metrics::new();
        let recorder = StatsRecorder::new(store, metrics.clone());
        recorder.deliveries(Uuid::new_v4()).delivered();
        recorder.record(Uuid::new_v4(), MessageEvent::Clicked);
        let text = metrics.render();
        for series in [
            "fitpulse_message_events_total{event=\"delivered\"} 1",
            "fitpulse_message_events_total{event=\"clicked\"} 1",
            "fitpulse_message_events_total{event=\"read\"} 0",
        ] {
            assert!(text.contains(series), "{series} missing in {text}");
        }
    }
}
