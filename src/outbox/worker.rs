//! The outbox worker. Every poll interval it asks the store for due items, claims each
//! (a lease, so one node runs an item at a time), runs the item's handler and records the
//! outcome: done, another attempt after a backoff, or dead once out of attempts or on a
//! permanent error. A few items run at once; the next poll starts when the batch is done.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::commerce::{OutboxItem, OutboxStore};
use fitpulse_actors::ports::store::StoreError;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::handler::{HandleError, Handlers};
use crate::config::OutboxSettings;
use crate::metrics::{DeliveryResult, Metrics};

/// Items of one poll run at most this many at a time.
pub const PARALLEL_DELIVERIES: usize = 8;
/// How often the pending gauge is refreshed: counting is a scan, so not on every poll.
const PENDING_REFRESH: Duration = Duration::from_secs(5);
/// Polls in a row while each finds work, before the next tick: bounds one tick's work.
const MAX_POLLS_PER_TICK: usize = 100;
/// The longest error text kept on an item.
const MAX_ERROR_CHARS: usize = 1_000;

/// Timings and limits of the worker, from `outbox.*` settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub poll_interval: Duration,
    pub batch: usize,
    pub lease: Duration,
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl From<&OutboxSettings> for WorkerConfig {
    fn from(settings: &OutboxSettings) -> Self {
        WorkerConfig {
            poll_interval: Duration::from_millis(settings.poll_interval_ms),
            batch: settings.batch,
            lease: Duration::from_millis(settings.lease_ms),
            max_attempts: settings.max_attempts,
            backoff: Backoff::new(settings.backoff_base_ms, settings.backoff_max_ms),
        }
    }
}

impl WorkerConfig {
    /// One attempt may run this long; the rest of the lease is a margin for recording the
    /// outcome before another node may claim the item.
    fn attempt_limit(&self) -> Duration {
        self.lease.mul_f64(0.9)
    }
}

/// Runs due items: one [`Deliverer::poll`] is one pass over what is due.
pub struct Deliverer {
    store: Arc<dyn OutboxStore>,
    handlers: Handlers,
    config: WorkerConfig,
    metrics: Metrics,
    clock: SharedClock,
}

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PollSummary {
    pub delivered: usize,
    pub retried: usize,
    pub dead: usize,
    /// Due items another worker had claimed, or that were no longer pending.
    pub skipped: usize,
}

impl PollSummary {
    /// Whether this worker attempted anything (items claimed elsewhere do not count).
    pub fn worked(&self) -> bool {
        self.delivered + self.retried + self.dead > 0
    }
}

impl Deliverer {
    /// A deliverer that reads due times and backoffs from `clock`.
    pub fn new(
        store: Arc<dyn OutboxStore>,
        handlers: Handlers,
        config: WorkerConfig,
        metrics: Metrics,
        clock: SharedClock,
    ) -> Deliverer {
        Deliverer {
            store,
            handlers,
            config,
            metrics,
            clock,
        }
    }

    /// Takes the items due now (up to a batch) and attempts each once.
    pub async fn poll(&self) -> Result<PollSummary, StoreError> {
        let now = self.clock.now();
        let items = self.store.due(now, self.config.batch).await?;
        let outcomes: Vec<Option<DeliveryResult>> = futures_util::stream::iter(items)
            .map(|item| self.attempt(item))
            .buffer_unordered(PARALLEL_DELIVERIES)
            .collect()
            .await;
        let mut summary = PollSummary::default();
        for outcome in outcomes {
            match outcome {
                Some(DeliveryResult::Delivered) => summary.delivered += 1,
                Some(DeliveryResult::Retried) => summary.retried += 1,
                Some(DeliveryResult::Dead) => summary.dead += 1,
                None => summary.skipped += 1,
            }
        }
        Ok(summary)
    }

    /// Refreshes `fitpulse_outbox_pending` from the store.
    pub async fn refresh_pending(&self) -> Result<(), StoreError> {
        let pending = self.store.pending_count().await?;
        self.metrics
            .outbox_pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        Ok(())
    }

    /// Claims and runs one item; `None` when it was not ours to run or its outcome could
    /// not be stored (the lease then runs out and the item is tried again).
    #[tracing::instrument(skip_all, fields(outbox.id = %item.id, outbox.kind = %item.kind, outbox.attempt = item.attempts + 1))]
    async fn attempt(&self, item: OutboxItem) -> Option<DeliveryResult> {
        let lease_ms = i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX);
        match self.store.claim(item.id, self.clock.now(), lease_ms).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(err) => {
                tracing::warn!(error = %err, "cannot claim an outbox item");
                return None;
            }
        }
        let outcome = self.run_handler(&item).await;
        let asked_delay = match &outcome {
            Err(HandleError::RetryAfter(_, after)) => Some(*after),
            _ => None,
        };
        let attempts = item.attempts.saturating_add(1);
        let (result, stored) = match outcome {
            Ok(()) => {
                tracing::debug!("outbox item delivered");
                (
                    DeliveryResult::Delivered,
                    self.store.complete(item.id).await,
                )
            }
            Err(HandleError::Retry(reason) | HandleError::RetryAfter(reason, _))
                if attempts < self.config.max_attempts =>
            {
                let delay_ms = match asked_delay {
                    // What the other side asked for, within the backoff's cap.
                    // At least a second: `Retry-After: 0` must not spend every attempt
                    // within one tick.
                    Some(after) => u64::try_from(after.as_millis())
                        .unwrap_or(u64::MAX)
                        .clamp(1_000, self.config.backoff.ceiling_ms(u32::MAX).max(1_000)),
                    None => self.config.backoff.delay_ms(attempts),
                };
                let next_at = self.clock.now() + i64::try_from(delay_ms).unwrap_or(i64::MAX / 2);
                tracing::warn!(error = %reason, delay_ms, "outbox item failed; retrying later");
                let stored = self
                    .store
                    .fail(item.id, attempts, Some(next_at), &truncate(&reason))
                    .await;
                (DeliveryResult::Retried, stored)
            }
            Err(err) => {
                let reason = match &err {
                    HandleError::Retry(reason) | HandleError::RetryAfter(reason, _) => {
                        format!("out of attempts; last: {reason}")
                    }
                    HandleError::Permanent(reason) => reason.clone(),
                };
                tracing::error!(error = %reason, "outbox item is dead");
                let stored = self
                    .store
                    .fail(item.id, attempts, None, &truncate(&reason))
                    .await;
                (DeliveryResult::Dead, stored)
            }
        };
        if let Err(err) = stored {
            tracing::warn!(error = %err, "cannot record an outbox attempt; it will run again");
            return None;
        }
        self.metrics.outbox_delivery(&item.kind, result);
        Some(result)
    }

    /// The handler's answer, bounded by the lease; a panic is a failed attempt, not a dead
    /// worker.
    async fn run_handler(&self, item: &OutboxItem) -> Result<(), HandleError> {
        let Some(handler) = self.handlers.find(&item.kind) else {
            return Err(HandleError::Permanent(format!(
                "no handler for kind `{}`",
                item.kind
            )));
        };
        let run = AssertUnwindSafe(handler.handle(item)).catch_unwind();
        match tokio::time::timeout(self.config.attempt_limit(), run).await {
            Ok(Ok(result)) => result,
            Ok(Err(_panic)) => Err(HandleError::Retry("the handler panicked".into())),
            Err(_elapsed) => Err(HandleError::Retry(format!(
                "the attempt took longer than {} ms",
                self.config.attempt_limit().as_millis()
            ))),
        }
    }
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// The running poll loop; stop it with [`OutboxWorker::stop`]. Dropping it aborts the loop.
pub struct OutboxWorker {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl OutboxWorker {
    /// Spawns the poll loop on the current runtime.
    pub fn start(deliverer: Deliverer) -> OutboxWorker {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(Arc::new(deliverer), stopped));
        OutboxWorker {
            stop,
            task: Some(task),
        }
    }

    /// Lets the current poll finish (at most `grace`), then ends the loop. Items cut off by
    /// the grace keep their lease until it runs out and are then run again.
    pub async fn stop(mut self, grace: Duration) {
        self.stop.send_replace(true);
        let Some(mut task) = self.task.take() else {
            return;
        };
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            tracing::warn!("shutdown: outbox deliveries did not finish within the grace period");
            task.abort();
        }
    }
}

impl Drop for OutboxWorker {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(deliverer: Arc<Deliverer>, mut stopped: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(deliverer.config.poll_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pending_refreshed: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => return,
            _ = ticks.tick() => {}
        }
        if pending_refreshed.is_none_or(|at| at.elapsed() >= PENDING_REFRESH) {
            pending_refreshed = Some(tokio::time::Instant::now());
            log_store_error("count pending outbox items", deliverer.refresh_pending()).await;
        }
        // While polls find work, poll again at once: a fan-out's next page, or a burst
        // larger than a batch, does not wait a poll interval per batch.
        for _ in 0..MAX_POLLS_PER_TICK {
            match deliverer.poll().await {
                Ok(summary) if summary.worked() => {}
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot poll the outbox");
                    break;
                }
            }
            if *stopped.borrow() {
                return;
            }
        }
    }
}

async fn log_store_error<T>(what: &str, work: impl Future<Output = Result<T, StoreError>>) {
    if let Err(err) = work.await {
        tracing::warn!(error = %err, "cannot {what}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use fitpulse_actors::ports::clock::ManualClock;
    use fitpulse_actors::ports::commerce::OutboxState;
    use uuid::Uuid;

    use super::*;
    use crate::outbox::Handler;
    use crate::store::embedded::EmbeddedStore;

    const START: fitpulse_actors::domain::UnixMillis = 1_700_000_000_000;

    /// Answers from a script, one entry per call (the last one repeats).
    struct Scripted {
        answers: Mutex<Vec<Result<(), HandleError>>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(answers: Vec<Result<(), HandleError>>) -> Arc<Scripted> {
            Arc::new(Scripted {
                answers: Mutex::new(answers),
                calls: AtomicUsize::new(0),
            })
        }
    }

    #[async_trait]
    impl Handler for Scripted {
        async fn handle(&self, _item: &OutboxItem) -> Result<(), HandleError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut answers = self.answers.lock().expect("not poisoned");
            if answers.len() > 1 {
                answers.remove(0)
            } else {
                match &answers[0] {
                    Ok(()) => Ok(()),
                    Err(HandleError::Retry(r)) => Err(HandleError::Retry(r.clone())),
                    Err(HandleError::RetryAfter(r, after)) => {
                        Err(HandleError::RetryAfter(r.clone(), *after))
                    }
                    Err(HandleError::Permanent(r)) => Err(HandleError::Permanent(r.clone())),
                }
            }
        }
    }

    struct Panics;

    #[async_trait]
    impl Handler for Panics {
        async fn handle(&self, _item: &OutboxItem) -> Result<(), HandleError> {
            panic!("a bug in a handler");
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Arc<EmbeddedStore>,
        metrics: Metrics,
        clock: Arc<ManualClock>,
    }

    impl Fixture {
        async fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("temp dir");
            let metrics = Metrics::new();
            let store = Arc::new(
                EmbeddedStore::open(dir.path(), &metrics)
                    .await
                    .expect("store opens"),
            );
            Fixture {
                _dir: dir,
                store,
                metrics,
                clock: ManualClock::starting_at(START),
            }
        }

        fn deliverer(&self, handlers: Handlers, max_attempts: u32) -> Deliverer {
            Deliverer::new(
                self.store.clone(),
                handlers,
                WorkerConfig {
                    poll_interval: Duration::from_millis(10),
                    batch: 10,
                    lease: Duration::from_secs(60),
                    max_attempts,
                    backoff: Backoff::new(1_000, 10_000),
                },
                self.metrics.clone(),
                self.clock.clone(),
            )
        }

        async fn enqueue(&self, kind: &str) -> Uuid {
            let item = OutboxItem::new(Uuid::new_v4(), kind, "{}".into(), START);
            assert!(self.store.enqueue(&item).await.expect("enqueued"));
            item.id
        }

        async fn item(&self, id: Uuid) -> OutboxItem {
            self.store
                .outbox_item(id)
                .await
                .expect("read")
                .expect("exists")
        }

        fn advance(&self, ms: u64) {
            self.clock.advance(Duration::from_millis(ms));
        }
    }

    fn handlers(prefix: &str, handler: Arc<dyn Handler>) -> Handlers {
        let mut handlers = Handlers::new();
        handlers.register(prefix, handler);
        handlers
    }

    #[tokio::test]
    async fn a_successful_attempt_completes_the_item() {
        let fx = Fixture::new().await;
        let id = fx.enqueue("email.send").await;
        let deliverer = fx.deliverer(handlers("email.", Scripted::new(vec![Ok(())])), 3);
        let summary = deliverer.poll().await.expect("poll");
        assert_eq!(summary.delivered, 1);
        assert_eq!(fx.item(id).await.state, OutboxState::Done);
        assert!(fx.metrics.render().contains(
            "fitpulse_outbox_deliveries_total{kind_family=\"email\",result=\"delivered\"} 1"
        ));
    }

    #[tokio::test]
    async fn a_retryable_failure_waits_out_its_backoff_then_goes_dead_after_max_attempts() {
        let fx = Fixture::new().await;
        let id = fx.enqueue("email.send").await;
        let handler = Scripted::new(vec![Err(HandleError::Retry("smtp down".into()))]);
        let deliverer = fx.deliverer(handlers("email.", handler.clone()), 3);

        assert_eq!(deliverer.poll().await.expect("poll").retried, 1);
        let item = fx.item(id).await;
        assert_eq!(item.state, OutboxState::Pending);
        assert_eq!(item.attempts, 1);
        assert_eq!(item.last_error.as_deref(), Some("smtp down"));
        // Equal jitter: the first retry waits between half and all of the base.
        assert!(
            (START + 500..=START + 1_000).contains(&item.next_at),
            "{}",
            item.next_at
        );

        // Not due yet: nothing runs.
        assert_eq!(
            deliverer.poll().await.expect("poll"),
            PollSummary::default()
        );
        assert_eq!(handler.calls.load(Ordering::SeqCst), 1);

        fx.advance(1_000);
        assert_eq!(deliverer.poll().await.expect("poll").retried, 1);
        let item = fx.item(id).await;
        assert_eq!(item.attempts, 2);
        assert!(
            item.next_at >= START + 1_000 + 1_000,
            "second wait is longer"
        );

        fx.advance(2_000);
        assert_eq!(deliverer.poll().await.expect("poll").dead, 1);
        let item = fx.item(id).await;
        assert_eq!(item.state, OutboxState::Dead);
        assert_eq!(item.attempts, 3);
        assert!(
            item.last_error
                .as_deref()
                .is_some_and(|e| e.contains("smtp down")),
            "{item:?}"
        );
        assert!(fx.metrics.render().contains("fitpulse_outbox_dead_total 1"));

        fx.advance(60_000);
        assert_eq!(
            deliverer.poll().await.expect("poll"),
            PollSummary::default()
        );
        assert_eq!(handler.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_retry_after_waits_what_the_other_side_asked_not_the_backoff() {
        let fx = Fixture::new().await;
        let id = fx.enqueue("push.device").await;
        let handler = Scripted::new(vec![
            Err(HandleError::RetryAfter(
                "503".into(),
                Duration::from_secs(7),
            )),
            Ok(()),
        ]);
        let deliverer = fx.deliverer(handlers("push.", handler.clone()), 3);
        assert_eq!(deliverer.poll().await.expect("poll").retried, 1);
        // The backoff would be at most 1 s; the provider asked for 7.
        assert_eq!(fx.item(id).await.next_at, START + 7_000);
        fx.advance(6_999);
        assert_eq!(
            deliverer.poll().await.expect("poll"),
            PollSummary::default()
        );
        fx.advance(1);
        assert_eq!(deliverer.poll().await.expect("poll").delivered, 1);
        assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_permanent_failure_goes_dead_at_once() {
        let fx = Fixture::new().await;
        let id = fx.enqueue("email.send").await;
        let handler = Scripted::new(vec![Err(HandleError::Permanent("bad payload".into()))]);
        let deliverer = fx.deliverer(handlers("email.", handler), 8);
        assert_eq!(deliverer.poll().await.expect("poll").dead, 1);
        let item = fx.item(id).await;
        assert_eq!(item.state, OutboxState::Dead);
        assert_eq!(item.attempts, 1);
        assert_eq!(item.last_error.as_deref(), Some("bad payload"));
    }

    #[tokio::test]
    async fn an_item_without_a_handler_goes_dead_naming_its_kind() {
        let fx = Fixture::new().await;
        let id = fx.enqueue("sms.send").await;
        let deliverer = fx.deliverer(handlers("email.", Scripted::new(vec![Ok(())])), 8);
        assert_eq!(deliverer.poll().await.expect("poll").dead, 1);
        let item = fx.item(id).await;
        assert_eq!(item.state, OutboxState::Dead);
        assert!(
            item.last_error
                .as_deref()
                .is_some_and(|e| e.contains("sms.send"))
        );
    }

    #[tokio::test]
    async fn a_panicking_handler_counts_as_a_failed_attempt() {
        let fx = Fixture::new().await;
        let id = fx.enqueue("email.send").await;
        let deliverer = fx.deliverer(handlers("email.", Arc::new(Panics)), 8);
        assert_eq!(deliverer.poll().await.expect("poll").retried, 1);
        let item = fx.item(id).await;
        assert_eq!(item.state, OutboxState::Pending);
        assert_eq!(item.attempts, 1);
    }

    #[tokio::test]
    async fn an_item_claimed_elsewhere_is_skipped() {
        let fx = Fixture::new().await;
        let id = fx.enqueue("email.send").await;
        assert!(fx.store.claim(id, START, 60_000).await.expect("claim"));
        let handler = Scripted::new(vec![Ok(())]);
        let deliverer = fx.deliverer(handlers("email.", handler.clone()), 8);
        assert_eq!(deliverer.poll().await.expect("poll").skipped, 1);
        assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
        // Once the other lease runs out, it is ours.
        fx.advance(60_001);
        assert_eq!(deliverer.poll().await.expect("poll").delivered, 1);
    }

    #[tokio::test]
    async fn a_revived_item_gets_fresh_attempts() {
        let fx = Fixture::new().await;
        let id = fx.enqueue("email.send").await;
        let handler = Scripted::new(vec![Err(HandleError::Permanent("rejected".into())), Ok(())]);
        let deliverer = fx.deliverer(handlers("email.", handler), 8);
        assert_eq!(deliverer.poll().await.expect("poll").dead, 1);
        assert!(fx.store.revive(id, START).await.expect("revive"));
        assert_eq!(deliverer.poll().await.expect("poll").delivered, 1);
        assert_eq!(fx.item(id).await.state, OutboxState::Done);
    }

    #[tokio::test]
    async fn the_pending_gauge_counts_what_waits() {
        let fx = Fixture::new().await;
        fx.enqueue("email.send").await;
        fx.enqueue("email.send").await;
        let deliverer = fx.deliverer(Handlers::new(), 8);
        deliverer.refresh_pending().await.expect("count");
        assert!(fx.metrics.render().contains("fitpulse_outbox_pending 2"));
    }

    #[tokio::test]
    async fn the_worker_delivers_on_its_own_and_stops_when_asked() {
        let fx = Fixture::new().await;
        let id = fx.enqueue("email.send").await;
        let worker =
            OutboxWorker::start(fx.deliverer(handlers("email.", Scripted::new(vec![Ok(())])), 8));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while fx.item(id).await.state != OutboxState::Done {
            assert!(tokio::time::Instant::now() < deadline, "not delivered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::timeout(Duration::from_secs(10), worker.stop(Duration::from_secs(5)))
            .await
            .expect("the worker stops");
    }

    #[tokio::test]
    async fn a_worker_that_finds_work_polls_again_without_waiting_for_the_next_tick() {
        let fx = Fixture::new().await;
        let ids = [
            fx.enqueue("email.send").await,
            fx.enqueue("email.send").await,
            fx.enqueue("email.send").await,
        ];
        // One item per poll and an hour between ticks: only polling again at once
        // delivers all three now.
        let deliverer = Deliverer::new(
            fx.store.clone(),
            handlers("email.", Scripted::new(vec![Ok(())])),
            WorkerConfig {
                poll_interval: Duration::from_secs(3_600),
                batch: 1,
                lease: Duration::from_secs(60),
                max_attempts: 3,
                backoff: Backoff::new(1_000, 10_000),
            },
            fx.metrics.clone(),
            fx.clock.clone(),
        );
        let worker = OutboxWorker::start(deliverer);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        for id in ids {
            while fx.item(id).await.state != OutboxState::Done {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{id} waits for a tick"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        worker.stop(Duration::from_secs(5)).await;
    }

    #[test]
    fn long_errors_are_cut() {
        let long = "x".repeat(5_000);
        let cut = truncate(&long);
        assert_eq!(cut.len(), MAX_ERROR_CHARS + 3);
        assert_eq!(truncate("short"), "short");
    }
}
