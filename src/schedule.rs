//! Work that falls due at a moment of the node's [`Clock`](fitpulse_actors::ports::clock):
//! reservations that lapse, messages that start. One task per queue sleeps until the
//! earliest item is due, then runs everything due in a wave (up to `wave` items at once,
//! earliest first, ties in the order they were pushed) and starts the next wave only once
//! this one is done. So a hundred thousand pending reservations cost one sleeping task,
//! not a hundred thousand, a burst of lapses runs concurrently, and what falls due later
//! never overtakes what fell due earlier.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::clock::SharedClock;
use tokio::sync::Notify;

pub struct DueQueue<T> {
    clock: SharedClock,
    items: Mutex<Pending<T>>,
    /// Wakes the runner when an item may now be due sooner than it was sleeping for.
    pushed: Notify,
}

struct Pending<T> {
    due: BTreeMap<(UnixMillis, u64), T>,
    pushes: u64,
}

impl<T: Send + 'static> DueQueue<T> {
    /// A queue whose items `handle` runs once due, in waves of at most `wave` items, on a
    /// task of its own.
    pub fn start<F, Fut>(clock: SharedClock, wave: usize, handle: F) -> Arc<DueQueue<T>>
    where
        F: Fn(T) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let wave = wave.max(1);
        let queue = Arc::new(DueQueue {
            clock,
            items: Mutex::new(Pending {
                due: BTreeMap::new(),
                pushes: 0,
            }),
            pushed: Notify::new(),
        });
        // The task holds the queue weakly: dropping the last handle ends it.
        let weak = Arc::downgrade(&queue);
        tokio::spawn(async move {
            loop {
                let (due, woken) = {
                    let Some(queue) = weak.upgrade() else { return };
                    let due = queue.pop_due(wave);
                    let woken = due.is_empty().then(|| queue.wait());
                    (due, woken)
                };
                match woken {
                    Some(woken) => woken.await,
                    None => {
                        futures_util::future::join_all(due.into_iter().map(&handle)).await;
                    }
                }
            }
        });
        queue
    }

    /// Adds an item due at `at` (at once when that has passed).
    pub fn push(&self, at: UnixMillis, item: T) {
        {
            let mut items = self.items.lock().expect("queue lock");
            items.pushes += 1;
            let key = (at, items.pushes);
            items.due.insert(key, item);
        }
        self.pushed.notify_one();
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.items.lock().expect("queue lock").due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Up to `most` of the items due now, earliest first.
    fn pop_due(&self, most: usize) -> Vec<T> {
        let now = self.clock.now();
        let mut items = self.items.lock().expect("queue lock");
        let mut due = Vec::new();
        while due.len() < most {
            match items.due.first_key_value() {
                Some((&(at, _), _)) if at <= now => {
                    due.extend(items.due.pop_first().map(|(_, item)| item));
                }
                _ => break,
            }
        }
        due
    }

    /// Resolves when the earliest item falls due or a push may have changed which is
    /// earliest. Owns what it waits on, so the queue itself can go away meanwhile.
    fn wait(self: &Arc<Self>) -> impl Future<Output = ()> + Send + 'static {
        let first = self
            .items
            .lock()
            .expect("queue lock")
            .due
            .first_key_value()
            .map(|(&(at, _), _)| at);
        let sleep = first.map(|at| self.clock.sleep_until(at));
        let queue = Arc::downgrade(self);
        async move {
            let pushed = async {
                match queue.upgrade() {
                    // A push between reading the first item and here left a permit: no
                    // wake-up is lost.
                    Some(queue) => queue.pushed.notified().await,
                    None => std::future::pending().await,
                }
            };
            match sleep {
                Some(sleep) => {
                    tokio::select! {
                        () = sleep => {}
                        () = pushed => {}
                    }
                }
                None => pushed.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fitpulse_actors::ports::clock::ManualClock;
    use tokio::sync::mpsc;

    use super::*;

    type Done = mpsc::UnboundedReceiver<&'static str>;

    fn queue(clock: &Arc<ManualClock>, wave: usize) -> (Arc<DueQueue<&'static str>>, Done) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = DueQueue::start(clock.clone(), wave, move |item| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(item);
            }
        });
        (queue, rx)
    }

    #[tokio::test]
    async fn items_run_once_due_earliest_first_and_ties_in_push_order() {
        let clock = ManualClock::starting_at(0);
        let (queue, mut done) = queue(&clock, 1);
        queue.push(2_000, "late");
        queue.push(1_000, "first tie");
        queue.push(1_000, "second tie");
        queue.push(-5, "overdue");
        assert_eq!(done.recv().await, Some("overdue"));
        clock.advance(Duration::from_millis(1_000));
        assert_eq!(done.recv().await, Some("first tie"));
        assert_eq!(done.recv().await, Some("second tie"));
        // The positive control: a later push that is due now runs before "late", which
        // therefore was still waiting.
        queue.push(500, "pushed later, due sooner");
        assert_eq!(done.recv().await, Some("pushed later, due sooner"));
        assert_eq!(queue.len(), 1, "late waits for its moment");
        clock.advance(Duration::from_millis(1_000));
        assert_eq!(done.recv().await, Some("late"));
    }

    #[tokio::test]
    async fn an_item_pushed_sooner_than_the_one_slept_for_wakes_the_runner() {
        let clock = ManualClock::starting_at(0);
        let (queue, mut done) = queue(&clock, 1);
        queue.push(60_000, "in a minute");
        // Let the runner go to sleep for the minute.
        tokio::task::yield_now().await;
        queue.push(10, "soon");
        clock.advance(Duration::from_millis(10));
        assert_eq!(done.recv().await, Some("soon"));
        assert_eq!(queue.len(), 1);
    }

    #[tokio::test]
    async fn a_wave_runs_at_once_and_the_next_waits_until_it_is_done() {
        let clock = ManualClock::starting_at(0);
        let (release, released) = tokio::sync::watch::channel(false);
        let (tx, mut started) = mpsc::unbounded_channel();
        let queue = DueQueue::start(clock.clone(), 8, move |item: &'static str| {
            let (tx, mut released) = (tx.clone(), released.clone());
            async move {
                let _ = tx.send(item);
                let _ = released.wait_for(|go| *go).await;
            }
        });
        queue.push(0, "a");
        queue.push(0, "b");
        queue.push(1, "later");
        // Both of the first wave start while neither is finished.
        assert_eq!(started.recv().await, Some("a"));
        assert_eq!(started.recv().await, Some("b"));
        clock.advance(Duration::from_millis(5));
        assert_eq!(queue.len(), 1, "the next wave waits for this one");
        release.send_replace(true);
        assert_eq!(started.recv().await, Some("later"));
    }
}
