//! Frames handed to sockets on the sockets' own threads.
//!
//! Every thread that serves sockets (an HTTP worker's arbiter) is a [`Home`]: it keeps a
//! bounded outbox per socket, which the socket's actor drains as a stream. Whoever fans a
//! frame out from another thread (a live class to its participants) sends through
//! [`send_shared`] and [`send_one`]: what a thread sends is put together per home and
//! handed over as one parcel once the thread has run what it was woken for (or at
//! [`flush`]). That is one cross-thread message per home and cue instead of one per
//! socket, the wakes that follow stay on the home's thread, and frames that pile up for
//! one socket leave in one write (its actor drains them in one poll). Frames from one
//! thread reach each socket in the order they were sent.
//!
//! A socket reached this way is still closed 4009 when its outbox is full: the client
//! stopped reading. Senders see that at once through the socket's [`Route`] (its actor may
//! not be polled again while the client's window is shut) and forget it, as they did with
//! a full mailbox.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};

use actix::ArbiterHandle;
use futures_util::Stream;

use crate::device::{CloseDevice, Deliver, DeviceKey};

/// A thread that serves sockets, as senders on other threads reach it.
#[derive(Clone)]
pub struct Home {
    id: u32,
    arbiter: ArbiterHandle,
}

impl std::fmt::Debug for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Home").field("id", &self.id).finish()
    }
}

/// The way to one socket on this node: its home, and whether it still takes frames, which
/// any thread can read. Senders check it before queueing, so a socket whose outbox
/// overflowed (its client stopped reading, and its actor may not even be polled again) or
/// that is gone is forgotten by whoever sends to it, as a full or closed mailbox was.
#[derive(Clone, Debug)]
pub struct Route {
    home: Home,
    state: Arc<AtomicU8>,
}

const OPEN: u8 = 0;
const OVERFLOWED: u8 = 1;
const GONE: u8 = 2;

/// Whether a socket takes frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    /// Its outbox overflowed: a client too slow to read, being closed 4009.
    TooSlow,
    /// Its actor stopped.
    Gone,
}

impl Route {
    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn status(&self) -> Status {
        match self.state.load(Ordering::Acquire) {
            OPEN => Status::Open,
            OVERFLOWED => Status::TooSlow,
            _ => Status::Gone,
        }
    }
}

/// What one home is handed at once, in the order it was sent.
struct Parcel {
    items: Vec<Item>,
}

enum Item {
    /// One frame for many sockets (a class event to everyone there).
    Shared {
        keys: Vec<DeviceKey>,
        deliver: Deliver,
    },
    /// A frame for one socket; `bounded: false` for the bounded catch-up a socket asked
    /// for, which may pass the outbox's bound.
    One {
        key: DeviceKey,
        deliver: Deliver,
        bounded: bool,
    },
    /// The sender lets go of the socket: it closes after what was sent before.
    Close { key: DeviceKey, close: CloseDevice },
}

/// What a socket's actor takes from its outbox.
pub enum Handed {
    Frame(Deliver),
    /// Whoever sent it forgot the socket; close it with this code.
    Close(CloseDevice),
    /// The outbox overflowed: the client stopped reading. Close it 4009; its senders saw
    /// the overflow through its [`Route`] and forgot it.
    TooSlow,
}

thread_local! {
    /// This thread's home id (0 until it serves a socket) and its sockets' outboxes.
    static HERE: Local = Local {
        id: Cell::new(0),
        outboxes: RefCell::new(HashMap::new()),
    };
}

struct Local {
    id: Cell<u32>,
    outboxes: RefCell<HashMap<DeviceKey, Rc<Outbox>>>,
}

impl Home {
    /// The home of the current thread, when it runs an arbiter (an HTTP worker does).
    pub fn here() -> Option<Home> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let arbiter = actix::Arbiter::try_current()?;
        let id = HERE.with(|here| {
            if here.id.get() == 0 {
                here.id.set(NEXT.fetch_add(1, Ordering::Relaxed));
            }
            here.id.get()
        });
        Some(Home { id, arbiter })
    }

    /// Hands the parcel to the home's thread. When that thread is gone (the node is
    /// shutting down, its sockets with it) there is nobody left to tell.
    fn hand(&self, parcel: Parcel) {
        self.arbiter.spawn_fn(move || unpack(parcel));
    }
}

thread_local! {
    /// What this thread sent to sockets and has not handed over yet, per home.
    static OUTGOING: RefCell<Outgoing> = const { RefCell::new(Outgoing { homes: Vec::new() }) };
}

struct Outgoing {
    /// A few homes (one per HTTP worker): a list beats a map.
    homes: Vec<(Home, Parcel)>,
}

impl Outgoing {
    fn parcel(&mut self, home: &Home) -> &mut Parcel {
        let index = match self.homes.iter().position(|(h, _)| h.id == home.id) {
            Some(index) => index,
            None => {
                self.homes
                    .push((home.clone(), Parcel { items: Vec::new() }));
                self.homes.len() - 1
            }
        };
        &mut self.homes[index].1
    }
}

/// Sockets one frame is for, put together per home.
#[derive(Default)]
pub struct Recipients {
    per_home: Vec<(Home, Vec<DeviceKey>)>,
}

impl Recipients {
    pub fn add(&mut self, home: &Home, key: DeviceKey) {
        match self.per_home.iter_mut().find(|(h, _)| h.id == home.id) {
            Some((_, keys)) => keys.push(key),
            None => self.per_home.push((home.clone(), vec![key])),
        }
    }
}

/// Sends `deliver` to every socket of `to`, a parcel per home. Parcels leave on [`flush`],
/// or once the sending thread has run what it was woken for.
pub fn send_shared(deliver: &Deliver, to: Recipients) {
    if to.per_home.is_empty() {
        return;
    }
    queue(|outgoing| {
        for (home, keys) in to.per_home {
            outgoing.parcel(&home).items.push(Item::Shared {
                keys,
                deliver: deliver.clone(),
            });
        }
    });
}

/// Sends `deliver` to one socket; `bounded: false` lets it pass the socket's bound (the
/// bounded catch-up the socket asked for). Leaves like [`send_shared`].
pub fn send_one(home: &Home, key: DeviceKey, deliver: Deliver, bounded: bool) {
    queue(|outgoing| {
        outgoing.parcel(home).items.push(Item::One {
            key,
            deliver,
            bounded,
        })
    });
}

/// Closes one socket after whatever this thread sent it before. Leaves like [`send_shared`].
pub fn close_one(home: &Home, key: DeviceKey, close: CloseDevice) {
    queue(|outgoing| outgoing.parcel(home).items.push(Item::Close { key, close }));
}

/// Adds to what this thread sends; the first addition since the last flush schedules one
/// after whatever the thread is running now, so nothing waits for an explicit flush.
fn queue(add: impl FnOnce(&mut Outgoing)) {
    let first = OUTGOING.with(|outgoing| {
        let mut outgoing = outgoing.borrow_mut();
        let first = outgoing.homes.is_empty();
        add(&mut outgoing);
        first
    });
    if first {
        after_this_run(flush);
    }
}

/// Runs `then` on this thread once it has run what it is running now (a thread-local
/// queue's flush).
pub(crate) fn after_this_run(then: fn()) {
    // Through the arbiter's own queue, not `actix::spawn`: a plain tokio task on an
    // arbiter's thread (a bus subscription, a drain) runs outside the arbiter's local task
    // set, where spawning locally panics.
    let later =
        actix::Arbiter::try_current().is_some_and(|arbiter| arbiter.spawn(async move { then() }));
    if !later {
        // A thread with nothing to run later (no arbiter, or one stopping): at once.
        then();
    }
}

/// Hands every home what this thread has for it now.
pub fn flush() {
    let homes = OUTGOING.with(|outgoing| std::mem::take(&mut outgoing.borrow_mut().homes));
    for (home, parcel) in homes {
        home.hand(parcel);
    }
}

/// On the home's thread: each frame into its socket's outbox, in the order sent.
fn unpack(parcel: Parcel) {
    HERE.with(|here| {
        let outboxes = here.outboxes.borrow();
        for item in parcel.items {
            match item {
                Item::Shared { keys, deliver } => {
                    for key in keys {
                        if let Some(outbox) = outboxes.get(&key) {
                            outbox.push(Handed::Frame(deliver.clone()), true);
                        }
                    }
                }
                Item::One {
                    key,
                    deliver,
                    bounded,
                } => {
                    if let Some(outbox) = outboxes.get(&key) {
                        outbox.push(Handed::Frame(deliver), bounded);
                    }
                }
                Item::Close { key, close } => {
                    if let Some(outbox) = outboxes.get(&key) {
                        // A close always fits: it is the last thing the socket takes.
                        outbox.push(Handed::Close(close), false);
                    }
                }
            }
        }
    });
}

/// One socket's frames waiting for its actor.
struct Outbox {
    queue: RefCell<VecDeque<Handed>>,
    capacity: usize,
    /// A close is queued: it is the last thing the socket takes.
    closing: Cell<bool>,
    /// What senders on other threads read (`Route::status`); once it is `OVERFLOWED` the
    /// socket is closed as too slow and nothing more is kept.
    state: Arc<AtomicU8>,
    waker: RefCell<Option<Waker>>,
}

impl Outbox {
    fn overflowed(&self) -> bool {
        self.state.load(Ordering::Relaxed) == OVERFLOWED
    }

    fn push(&self, handed: Handed, bounded: bool) {
        if self.overflowed() || self.closing.get() {
            return;
        }
        let mut queue = self.queue.borrow_mut();
        if bounded && queue.len() >= self.capacity {
            queue.clear();
            queue.shrink_to_fit();
            self.state.store(OVERFLOWED, Ordering::Release);
        } else {
            self.closing.set(matches!(handed, Handed::Close(_)));
            queue.push_back(handed);
        }
        // Only an empty outbox needs a wake: one with frames is already due a poll.
        if queue.len() <= 1
            && let Some(waker) = self.waker.borrow().as_ref()
        {
            waker.wake_by_ref();
        }
    }
}

/// Frames an emptied outbox may keep room for.
const IDLE_CAPACITY: usize = 8;

/// The socket's side of its outbox, drained by the socket's actor; dropping it (the actor
/// stopped) takes the outbox off its home.
pub struct Inbox {
    key: DeviceKey,
    outbox: Rc<Outbox>,
    told_to_close: bool,
}

/// Opens the outbox of socket `key` on the current thread (an arbiter's), holding up to
/// `capacity` frames: the socket's side, and the route senders reach it by.
pub fn open(key: DeviceKey, capacity: usize) -> Option<(Inbox, Route)> {
    let home = Home::here()?;
    let state = Arc::new(AtomicU8::new(OPEN));
    let outbox = Rc::new(Outbox {
        queue: RefCell::new(VecDeque::new()),
        capacity: capacity.max(1),
        closing: Cell::new(false),
        state: state.clone(),
        waker: RefCell::new(None),
    });
    HERE.with(|here| here.outboxes.borrow_mut().insert(key, outbox.clone()));
    let inbox = Inbox {
        key,
        outbox,
        told_to_close: false,
    };
    Some((inbox, Route { home, state }))
}

impl Stream for Inbox {
    type Item = Handed;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Handed>> {
        let this = self.get_mut();
        if this.outbox.overflowed() {
            if this.told_to_close {
                return Poll::Pending;
            }
            this.told_to_close = true;
            return Poll::Ready(Some(Handed::TooSlow));
        }
        let mut queue = this.outbox.queue.borrow_mut();
        if let Some(handed) = queue.pop_front() {
            return Poll::Ready(Some(handed));
        }
        // A burst grew the queue; an idle socket does not keep that memory (every byte
        // here is paid per socket).
        if queue.capacity() > IDLE_CAPACITY {
            *queue = VecDeque::new();
        }
        drop(queue);
        let mut waker = this.outbox.waker.borrow_mut();
        if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.outbox.state.store(GONE, Ordering::Release);
        // The thread may be ending (its locals going first); then there is nothing to undo.
        let _ = HERE.try_with(|here| {
            if let Ok(mut outboxes) = here.outboxes.try_borrow_mut() {
                outboxes.remove(&self.key);
            }
        });
    }
}

/// What a socket took from its outbox, as tests compare it.
#[cfg(test)]
pub(crate) fn handed_text(item: Option<Handed>) -> String {
    match item {
        Some(Handed::Frame(d)) => d.frame.to_string(),
        Some(Handed::Close(c)) => format!("close {}", c.code),
        Some(Handed::TooSlow) => "too slow".into(),
        None => "end".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::handed_text as text;
    use super::*;
    use crate::events::Frame;
    use futures_util::StreamExt;
    use std::time::Instant;

    fn deliver(text: &'static str) -> Deliver {
        Deliver {
            frame: Frame::from_static(text),
            family: "live",
            created: Instant::now(),
        }
    }

    fn closing(code: u16) -> CloseDevice {
        CloseDevice {
            code,
            reason: "closing".into(),
        }
    }

    fn opened(key: DeviceKey, capacity: usize) -> Inbox {
        open(key, capacity).expect("an arbiter runs this test").0
    }

    #[actix::test]
    async fn a_parcel_reaches_each_socket_of_its_home_in_order() {
        let home = Home::here().expect("an arbiter runs this test");
        let (mut a, mut b) = (opened(1001, 8), opened(1002, 8));
        let mut everyone = Recipients::default();
        for key in [1001, 1002, 1003] {
            everyone.add(&home, key);
        }
        send_shared(&deliver("cue 1"), everyone);
        send_one(&home, 1002, deliver("rank of b"), true);
        send_one(&home, 1001, deliver("rank of a"), true);
        // Nothing flushed by hand: the parcel leaves once this task yields.
        assert_eq!(text(a.next().await), "cue 1");
        assert_eq!(text(a.next().await), "rank of a");
        assert_eq!(text(b.next().await), "cue 1");
        assert_eq!(text(b.next().await), "rank of b");
    }

    #[actix::test]
    async fn a_full_outbox_closes_its_socket_as_too_slow_and_keeps_nothing() {
        let home = Home::here().expect("an arbiter runs this test");
        let (mut slow, mut fine) = (opened(2001, 2), opened(2002, 8));
        for text in ["f0", "f1", "f2"] {
            let mut both = Recipients::default();
            both.add(&home, 2001);
            both.add(&home, 2002);
            send_shared(&deliver(text), both);
        }
        flush();
        // A positive control first: the socket that reads gets all three.
        for expected in ["f0", "f1", "f2"] {
            assert_eq!(text(fine.next().await), expected);
        }
        assert_eq!(text(slow.next().await), "too slow");
        assert!(slow.outbox.queue.borrow().is_empty());
    }

    #[actix::test]
    async fn a_close_comes_after_what_was_sent_before_it_even_past_the_bound() {
        let home = Home::here().expect("an arbiter runs this test");
        let mut inbox = opened(4001, 1);
        send_one(&home, 4001, deliver("last words"), true);
        close_one(&home, 4001, closing(4010));
        flush();
        assert_eq!(text(inbox.next().await), "last words");
        assert_eq!(text(inbox.next().await), "close 4010");
    }

    #[actix::test]
    async fn senders_see_a_socket_that_overflowed_or_is_gone() {
        let (mut slow, route) = open(7001, 1).expect("an arbiter runs this test");
        let (gone, gone_route) = open(7002, 1).expect("an arbiter runs this test");
        assert_eq!(route.status(), Status::Open);
        send_one(route.home(), 7001, deliver("one"), true);
        send_one(route.home(), 7001, deliver("two"), true);
        flush();
        // The socket takes its close once polled; senders know before that.
        assert_eq!(text(slow.next().await), "too slow");
        assert_eq!(route.status(), Status::TooSlow);
        assert_eq!(gone_route.status(), Status::Open);
        drop(gone);
        assert_eq!(gone_route.status(), Status::Gone);
    }

    #[actix::test]
    async fn a_queued_close_is_the_last_thing_a_socket_takes_even_on_a_full_queue() {
        let home = Home::here().expect("an arbiter runs this test");
        let mut inbox = opened(7101, 1);
        send_one(&home, 7101, deliver("last words"), true);
        close_one(&home, 7101, closing(1001));
        // Another sender's frame after the close would overflow the queue: it is dropped
        // and the close stays.
        send_one(&home, 7101, deliver("too late"), true);
        flush();
        assert_eq!(text(inbox.next().await), "last words");
        assert_eq!(text(inbox.next().await), "close 1001");
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(Pin::new(&mut inbox).poll_next(&mut cx).is_pending());
    }

    #[actix::test]
    async fn an_outbox_gives_back_the_room_of_a_burst_once_drained() {
        let home = Home::here().expect("an arbiter runs this test");
        let mut inbox = opened(6001, 256);
        for _ in 0..200 {
            send_one(&home, 6001, deliver("burst"), true);
        }
        flush();
        for _ in 0..200 {
            assert_eq!(text(inbox.next().await), "burst");
        }
        assert!(inbox.outbox.queue.borrow().capacity() >= 200);
        // Drained: the next poll finds it empty and lets the room go.
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(Pin::new(&mut inbox).poll_next(&mut cx).is_pending());
        assert!(inbox.outbox.queue.borrow().capacity() <= IDLE_CAPACITY);
    }

    #[actix::test]
    async fn a_sender_on_a_thread_without_an_arbiter_hands_over_at_once() {
        let home = Home::here().expect("an arbiter runs this test");
        let mut inbox = opened(5001, 8);
        let sender = home.clone();
        std::thread::spawn(move || send_one(&sender, 5001, deliver("from afar"), true))
            .join()
            .expect("the sender thread");
        assert_eq!(text(inbox.next().await), "from afar");
    }

    #[actix::test]
    async fn a_plain_tokio_task_on_an_arbiters_thread_hands_over_after_it_yields() {
        let home = Home::here().expect("an arbiter runs this test");
        let mut inbox = opened(5101, 8);
        // A bus subscription's task: on the arbiter's thread, outside its local task set.
        tokio::spawn(async move {
            send_one(&home, 5101, deliver("from a task"), true);
            close_one(&home, 5101, closing(1001));
        })
        .await
        .expect("the task ends without a panic");
        assert_eq!(text(inbox.next().await), "from a task");
        assert_eq!(text(inbox.next().await), "close 1001");
    }

    #[actix::test]
    async fn catch_up_may_pass_the_bound_and_a_closed_socket_is_skipped() {
        let home = Home::here().expect("an arbiter runs this test");
        let mut inbox = opened(3001, 1);
        drop(opened(3002, 1));
        send_one(&home, 3001, deliver("snapshot"), false);
        send_one(&home, 3001, deliver("catch-up"), false);
        send_one(&home, 3002, deliver("to nobody"), false);
        flush();
        assert_eq!(text(inbox.next().await), "snapshot");
        assert_eq!(text(inbox.next().await), "catch-up");
        assert!(HERE.with(|here| !here.outboxes.borrow().contains_key(&3002)));
    }
}
