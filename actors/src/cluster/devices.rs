//! The sockets of this node, by user: where notices for a user or for everyone go, and
//! what lets frames sent by the holder of a session or class on another node reach them.
//! The first socket of a user subscribes to the user's subject and the last one
//! unsubscribes (interest-based), so a node only receives traffic for users connected to
//! it; a node alone on its bus subscribes to nothing.
//!
//! Frames from another node are checked per socket and stream: an event frame whose `seq`
//! skips ahead means the bus lost something (a restart, a full queue), so the socket is
//! closed with 1011 and the app resumes with `since`, which replays what was lost.
//! Repeated frames are dropped. A class's frame for many sockets of this node arrives once
//! on the node's sockets subject ([`LocalDevices::take_all`]), with whatever else the
//! holder's thread had for this node's sockets then (other cues, sessions' frames), and
//! goes to them in one parcel per socket thread, like a class held here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use tokio::task::AbortHandle;

use super::RESUME_BATCH;
use super::wire::{DeviceTraffic, SocketTraffic, USER_STREAM, frame_seq};
use crate::device::{
    CloseDevice, Deliver, DeviceHandle, DeviceKey, DeviceMailbox, close, family_label,
};
use crate::domain::UserId;
use crate::events::Frame;
use crate::fanout;
use crate::ports::bus::Bus;
use crate::ports::observer::ClusterObserver;

/// What one socket receives from elsewhere, per stream (`u` for the user's feed, or a
/// class id). Lists, not maps: a socket has one or two streams, and every byte here is
/// paid per socket.
struct Stream {
    name: String,
    /// What was last seen from another node.
    last: Seen,
    /// The node serving it from elsewhere (the session's or a class's holder).
    holder: Option<String>,
}

struct Socket {
    key: DeviceKey,
    mailbox: DeviceMailbox,
    /// Its thread's outbox: frames and closes from here queue after what classes and
    /// sessions on this node sent it.
    route: Option<fanout::Route>,
    streams: Vec<Stream>,
}

/// How far a socket's stream from another node has come.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Seen {
    /// Nothing yet: the next frame is the start.
    Nothing,
    Last(u64),
    /// Frames were lost and the socket is closing to resume: it takes nothing more.
    Lost,
}

impl From<Option<u64>> for Seen {
    fn from(since: Option<u64>) -> Seen {
        since.map_or(Seen::Nothing, Seen::Last)
    }
}

/// What to do with a frame from another node, by its sequence.
enum InSequence {
    Take,
    /// Already taken, or after a loss already found: dropped.
    Skip,
    /// Something before it was lost: the caller closes the socket so the app resumes.
    Lost,
}

fn missed_events() -> CloseDevice {
    CloseDevice {
        code: close::INTERNAL,
        reason: MISSED_EVENTS.into(),
    }
}

const MISSED_EVENTS: &str = "missed events; reconnect and resume";

impl Socket {
    fn handle(&self) -> DeviceHandle {
        DeviceHandle {
            key: self.key,
            mailbox: self.mailbox.clone(),
            client: Default::default(),
            route: self.route.clone(),
            remote: None,
        }
    }

    fn close(&self, close: CloseDevice) {
        self.handle().close(close);
    }

    /// A user's `resume.incomplete`: the app refetches, and what follows starts anew.
    fn restart_if_incomplete(&mut self, stream: &str, frame: &Frame) {
        if stream == USER_STREAM && frame.starts_with(r#"{"type":"resume.incomplete""#) {
            self.stream(stream).last = Seen::Nothing;
        }
    }

    /// Checks an event frame's `seq` against the last one `stream` took. A gap is counted
    /// and marks the stream lost once: the caller closes the socket (1011) so that the app
    /// resumes and gets what was lost, and later frames are skipped, not counted again.
    fn in_sequence(
        &mut self,
        stream: &str,
        seq: Option<u64>,
        user: UserId,
        observer: &dyn ClusterObserver,
    ) -> InSequence {
        let Some(seq) = seq else {
            return InSequence::Take;
        };
        let last = &mut self.stream(stream).last;
        match *last {
            Seen::Lost => InSequence::Skip,
            Seen::Last(previous) if seq <= previous => InSequence::Skip,
            Seen::Last(previous) if seq > previous + 1 => {
                observer.gap();
                tracing::warn!(user_id = %user, stream, missed_after = previous, got = seq, "frames lost on the bus; closing the socket so the app resumes");
                *last = Seen::Lost;
                InSequence::Lost
            }
            _ => {
                *last = Seen::Last(seq);
                InSequence::Take
            }
        }
    }

    fn stream(&mut self, name: &str) -> &mut Stream {
        match self.streams.iter().position(|s| s.name == name) {
            Some(index) => &mut self.streams[index],
            None => {
                self.streams.push(Stream {
                    name: name.to_owned(),
                    last: Seen::Nothing,
                    holder: None,
                });
                self.streams.last_mut().expect("just pushed")
            }
        }
    }
}

struct UserSockets {
    sockets: Vec<Socket>,
    subscription: Option<AbortHandle>,
}

impl UserSockets {
    fn get_mut(&mut self, key: DeviceKey) -> Option<&mut Socket> {
        self.sockets.iter_mut().find(|s| s.key == key)
    }
}

/// Cheap to clone; shared by the hub, the live registry and the subscription tasks.
#[derive(Clone)]
pub struct LocalDevices {
    node: Arc<str>,
    users: Arc<Mutex<HashMap<UserId, UserSockets>>>,
    /// `None` for a node alone on its bus: nothing can come from elsewhere.
    bus: Option<Arc<dyn Bus>>,
    observer: Arc<dyn ClusterObserver>,
}

impl LocalDevices {
    pub fn new(node: &str, bus: Option<Arc<dyn Bus>>, observer: Arc<dyn ClusterObserver>) -> Self {
        LocalDevices {
            node: node.into(),
            users: Arc::new(Mutex::new(HashMap::new())),
            bus,
            observer,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, UserSockets>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a socket; the user's first socket subscribes to the user's subject (active
    /// when this returns, so the holder's first frames are not missed).
    pub async fn register(&self, user: UserId, handle: DeviceHandle) {
        let first = {
            let mut users = self.lock();
            let entry = users.entry(user).or_insert_with(|| UserSockets {
                sockets: Vec::with_capacity(1),
                subscription: None,
            });
            let first = entry.sockets.is_empty() && entry.subscription.is_none();
            entry.sockets.retain(|s| s.key != handle.key);
            entry.sockets.push(Socket {
                key: handle.key,
                mailbox: handle.mailbox,
                route: handle.route,
                streams: Vec::new(),
            });
            first
        };
        let Some(bus) = self.bus.as_ref().filter(|_| first) else {
            return;
        };
        let subscription = match bus.subscribe(&super::subjects::user(user)).await {
            Ok(subscription) => subscription,
            Err(err) => {
                // Without it nothing from other nodes reaches these sockets: they reconnect
                // and the next first socket subscribes again.
                tracing::warn!(user_id = %user, error = %err, "cannot subscribe to a user's subject");
                if let Some(entry) = self.lock().remove(&user) {
                    for socket in &entry.sockets {
                        socket.close(CloseDevice {
                            code: close::INTERNAL,
                            reason: "reconnect and resume".into(),
                        });
                    }
                }
                return;
            }
        };
        let this = self.clone();
        let task = tokio::spawn(async move {
            let mut subscription = subscription;
            while let Some(message) = subscription.next().await {
                match DeviceTraffic::decode(&message.payload) {
                    Some(traffic) => this.dispatch(user, traffic),
                    None => {
                        tracing::warn!(user_id = %user, "malformed traffic on a user's subject")
                    }
                }
            }
        });
        let mut users = self.lock();
        match users.get_mut(&user) {
            Some(entry) if !entry.sockets.is_empty() => {
                if let Some(old) = entry.subscription.replace(task.abort_handle()) {
                    old.abort();
                }
            }
            // Every socket left while subscribing.
            _ => task.abort(),
        }
    }

    /// Removes a socket; the user's last socket unsubscribes.
    pub fn unregister(&self, user: UserId, key: DeviceKey) {
        let mut users = self.lock();
        let Some(entry) = users.get_mut(&user) else {
            return;
        };
        entry.sockets.retain(|s| s.key != key);
        if entry.sockets.is_empty() {
            if let Some(task) = entry.subscription.take() {
                task.abort();
            }
            users.remove(&user);
        }
    }

    /// Expects frames of `stream` for a socket from another node, continuing after
    /// `since` (or starting with whatever comes first).
    pub fn expect(&self, user: UserId, key: DeviceKey, stream: &str, since: Option<u64>) {
        if let Some(socket) = self.lock().get_mut(&user).and_then(|u| u.get_mut(key)) {
            socket.stream(stream).last = since.into();
        }
    }

    /// Records which node serves `stream` to a socket (so its loss can be noticed).
    pub fn served(&self, user: UserId, key: DeviceKey, stream: &str, node: &str) {
        if let Some(socket) = self.lock().get_mut(&user).and_then(|u| u.get_mut(key)) {
            socket.stream(stream).holder = Some(node.to_owned());
        }
    }

    /// The sockets served anything by `node`.
    pub fn served_by(&self, node: &str) -> Vec<DeviceHandle> {
        self.lock()
            .values()
            .flat_map(|u| &u.sockets)
            .filter(|s| {
                s.streams
                    .iter()
                    .any(|st| st.holder.as_deref() == Some(node))
            })
            .map(Socket::handle)
            .collect()
    }

    /// Hands a notice to every socket of the user on this node.
    pub fn notify_user(&self, user: UserId, frame: &Frame, family: &'static str) {
        if let Some(entry) = self.lock().get(&user) {
            for socket in &entry.sockets {
                deliver(socket, frame.clone(), family);
            }
        }
    }

    /// Hands a notice to every socket on this node.
    pub fn notify_all(&self, frame: &Frame, family: &'static str) {
        for entry in self.lock().values() {
            for socket in &entry.sockets {
                deliver(socket, frame.clone(), family);
            }
        }
    }

    /// Sockets on this node.
    pub fn count(&self) -> usize {
        self.lock().values().map(|u| u.sockets.len()).sum()
    }

    /// Every socket on this node, to close them (draining, or after the bus came back).
    pub fn all_by_user(&self) -> Vec<(UserId, DeviceHandle)> {
        self.lock()
            .iter()
            .flat_map(|(user, u)| u.sockets.iter().map(|s| (*user, s.handle())))
            .collect()
    }

    fn dispatch(&self, user: UserId, traffic: DeviceTraffic) {
        match traffic {
            DeviceTraffic::Frame {
                node,
                key,
                stream,
                family,
                frame,
            } if *node == *self.node => {
                self.in_sequence_to(user, key, &stream, frame, |socket, frame| {
                    deliver(socket, frame, family_label(&family))
                });
            }
            DeviceTraffic::Close {
                node,
                key,
                code,
                reason,
            } if *node == *self.node => self.close_socket(user, key, code, reason),
            DeviceTraffic::Notice {
                origin,
                family,
                frame,
            } if *origin != *self.node => {
                self.notify_user(user, &frame, family_label(&family));
            }
            _ => {}
        }
    }

    /// Takes what classes and sessions on another node sent this node's sockets at once
    /// (one bus message), in order; what goes to one socket thread leaves in one parcel.
    pub fn take_all(&self, traffic: Vec<SocketTraffic>) {
        for one in traffic {
            self.take(one);
        }
        fanout::flush();
    }

    /// Takes one message for this node's sockets: a frame goes to every socket named that
    /// is still here and in sequence.
    fn take(&self, traffic: SocketTraffic) {
        match traffic {
            SocketTraffic::Frames {
                stream,
                family,
                to,
                frame,
            } => {
                let seq = frame_seq(&frame);
                let family = family_label(&family);
                let mut here = fanout::Recipients::default();
                let mut lost = Vec::new();
                {
                    let mut users = self.lock();
                    for (user, key) in to {
                        let Some(socket) = users.get_mut(&user).and_then(|u| u.get_mut(key)) else {
                            continue;
                        };
                        socket.restart_if_incomplete(&stream, &frame);
                        match socket.in_sequence(&stream, seq, user, &*self.observer) {
                            InSequence::Take => {}
                            InSequence::Lost => {
                                lost.push(socket.handle());
                                continue;
                            }
                            InSequence::Skip => continue,
                        }
                        match &socket.route {
                            Some(route) => match route.status() {
                                fanout::Status::Open => here.add(route.home(), key),
                                // Overflowed (closing 4009) or gone: nothing more to it. Not
                                // through the mailbox, which the socket reads first: a frame
                                // there would arrive after the ones the overflow dropped.
                                fanout::Status::TooSlow | fanout::Status::Gone => {}
                            },
                            None => deliver(socket, frame.clone(), family),
                        }
                    }
                }
                let message = Deliver {
                    frame,
                    family,
                    created: Instant::now(),
                };
                fanout::send_shared(&message, here);
                close_lost(lost);
            }
            SocketTraffic::CatchUp {
                stream,
                family,
                user,
                key,
                frame,
            } => {
                self.in_sequence_to(user, key, &stream, frame, |socket, frame| {
                    // Past the queue's bound, as the session would hand it to a socket of
                    // its own node.
                    socket.handle().deliver(Deliver {
                        frame,
                        family: family_label(&family),
                        created: Instant::now(),
                    })
                });
            }
            SocketTraffic::Close {
                user,
                key,
                code,
                reason,
            } => self.close_socket(user, key, code, reason),
        }
    }

    /// Hands one socket's frame from another node to `hand` when it is in sequence; a
    /// frame after a loss closes the socket so the app resumes.
    fn in_sequence_to(
        &self,
        user: UserId,
        key: DeviceKey,
        stream: &str,
        frame: Frame,
        hand: impl FnOnce(&Socket, Frame),
    ) {
        let mut users = self.lock();
        let Some(socket) = users.get_mut(&user).and_then(|u| u.get_mut(key)) else {
            return;
        };
        socket.restart_if_incomplete(stream, &frame);
        match socket.in_sequence(stream, frame_seq(&frame), user, &*self.observer) {
            InSequence::Take => hand(socket, frame),
            InSequence::Lost => socket.close(missed_events()),
            InSequence::Skip => {}
        }
    }

    /// Closes one socket of this node, as another node asked.
    fn close_socket(&self, user: UserId, key: DeviceKey, code: u16, reason: String) {
        tracing::debug!(user_id = %user, key, code, "another node closes a socket here");
        if let Some(socket) = self
            .lock()
            .get(&user)
            .and_then(|u| u.sockets.iter().find(|s| s.key == key))
        {
            socket.close(CloseDevice {
                code,
                reason: reason.into(),
            });
        }
    }
}

/// Closes sockets that found a loss in one message: at once when they fit in one batch,
/// asked to resume in batches like any other when a lost message named many (one message
/// to a node names up to 2,048 of its sockets).
fn close_lost(lost: Vec<DeviceHandle>) {
    if lost.len() <= RESUME_BATCH {
        for socket in lost {
            socket.close(missed_events());
        }
        return;
    }
    tokio::spawn(super::ask_to_resume(lost, MISSED_EVENTS));
}

/// Hands a frame to a socket; a full queue closes it as too slow, like local delivery.
fn deliver(socket: &Socket, frame: Frame, family: &'static str) {
    let message = Deliver {
        frame,
        family,
        created: Instant::now(),
    };
    if let Err(actix::prelude::SendError::Full(_)) = socket.mailbox.try_deliver(message) {
        socket.close(CloseDevice {
            code: close::TOO_SLOW,
            reason: "too slow to read".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use actix::prelude::*;
    use futures_util::StreamExt;

    use super::*;
    use crate::device::ToDevice;
    use crate::fanout::{Inbox, handed_text as text};

    /// Counts the gaps found.
    #[derive(Default)]
    struct Gaps(AtomicUsize);

    impl ClusterObserver for Gaps {
        fn request(&self, _: &'static str) {}
        fn gap(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A socket's actor counting what reaches it through its mailbox (class frames from
    /// another node go through its outbox).
    struct Mailbox(Arc<AtomicUsize>);

    impl Actor for Mailbox {
        type Context = Context<Self>;
    }

    impl Handler<ToDevice> for Mailbox {
        type Result = ();
        fn handle(&mut self, _: ToDevice, _: &mut Context<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn socket(devices: &LocalDevices, user: UserId, key: DeviceKey) -> Inbox {
        socket_with(devices, user, key, 16, Arc::default()).await
    }

    async fn socket_with(
        devices: &LocalDevices,
        user: UserId,
        key: DeviceKey,
        capacity: usize,
        mailbox: Arc<AtomicUsize>,
    ) -> Inbox {
        let (inbox, route) = fanout::open(key, capacity).expect("an arbiter runs this test");
        let handle = DeviceHandle {
            key,
            mailbox: DeviceMailbox::new(Mailbox(mailbox).start().recipient()),
            client: Default::default(),
            route: Some(route),
            remote: None,
        };
        devices.register(user, handle).await;
        devices.expect(user, key, "c1", Some(4));
        inbox
    }

    /// The frame of cue `seq`, as sent and as a socket receives it.
    fn cue_text(seq: u64) -> String {
        format!(r#"{{"class_seq":{seq},"type":"live.cue"}}"#)
    }

    fn cue(seq: u64, to: Vec<(UserId, DeviceKey)>) -> SocketTraffic {
        SocketTraffic::Frames {
            stream: "c1".into(),
            family: "live".into(),
            to,
            frame: Frame::from(cue_text(seq)),
        }
    }

    #[actix::test]
    async fn a_class_frame_for_many_sockets_reaches_each_in_sequence_once() {
        let gaps = Arc::new(Gaps::default());
        let devices = LocalDevices::new("n1", None, gaps.clone());
        let (a, b) = (UserId::random(), UserId::random());
        let (mut on_a, mut on_b) = (socket(&devices, a, 1).await, socket(&devices, b, 2).await);
        let gone = (UserId::random(), 3);

        devices.take_all(vec![cue(5, vec![(a, 1), gone, (b, 2)])]);
        assert_eq!(text(on_a.next().await), cue_text(5));
        assert_eq!(text(on_b.next().await), cue_text(5));

        // A repeat is dropped: the next thing each socket gets is what follows it.
        devices.take_all(vec![cue(5, vec![(a, 1), (b, 2)])]);
        devices.take_all(vec![cue(6, vec![(a, 1), (b, 2)])]);
        assert_eq!(text(on_a.next().await), cue_text(6));
        assert_eq!(text(on_b.next().await), cue_text(6));

        // Seq 7 lost on the way to a: a is closed to resume, b goes on.
        devices.take_all(vec![cue(8, vec![(a, 1)])]);
        devices.take_all(vec![cue(7, vec![(b, 2)])]);
        assert_eq!(text(on_a.next().await), "close 1011");
        assert_eq!(text(on_b.next().await), cue_text(7));
        assert_eq!(gaps.0.load(Ordering::Relaxed), 1);

        // A close for one socket comes after the frames sent to it before.
        devices.take_all(vec![cue(8, vec![(b, 2)])]);
        devices.take_all(vec![SocketTraffic::Close {
            user: b,
            key: 2,
            code: 4009,
            reason: "too slow to read".into(),
        }]);
        assert_eq!(text(on_b.next().await), cue_text(8));
        assert_eq!(text(on_b.next().await), "close 4009");
    }

    #[actix::test]
    async fn a_loss_for_many_sockets_closes_each_once_and_counts_each_once() {
        let gaps = Arc::new(Gaps::default());
        let devices = LocalDevices::new("n1", None, gaps.clone());
        let many = RESUME_BATCH * 2 + 50;
        let mut lost = Vec::new();
        let mut to = Vec::new();
        for key in 0..many as DeviceKey {
            let user = UserId::random();
            lost.push(socket(&devices, user, key).await);
            to.push((user, key));
        }
        let b = UserId::random();
        let mut on_b = socket(&devices, b, 10_000).await;

        // Seq 5 never reached this node for the many: each closes to resume.
        devices.take_all(vec![cue(6, to.clone())]);
        for inbox in &mut lost {
            let handed = tokio::time::timeout(Duration::from_secs(10), inbox.next()).await;
            assert_eq!(text(handed.expect("closed within 10 s")), "close 1011");
        }
        assert_eq!(gaps.0.load(Ordering::Relaxed), many);

        // Later frames to them are skipped, not counted as more losses; b, in sequence,
        // shows they were taken.
        for seq in [5, 6, 7] {
            devices.take_all(vec![cue(seq + 2, to.clone())]);
            devices.take_all(vec![cue(seq, vec![(b, 10_000)])]);
        }
        for seq in [5, 6, 7] {
            assert_eq!(text(on_b.next().await), cue_text(seq));
        }
        assert_eq!(gaps.0.load(Ordering::Relaxed), many);
    }

    #[actix::test]
    async fn a_socket_that_overflowed_gets_nothing_more_by_any_way() {
        let devices = LocalDevices::new("n1", None, Arc::new(Gaps::default()));
        let (a, b) = (UserId::random(), UserId::random());
        let reached_by_mailbox = Arc::new(AtomicUsize::new(0));
        let mut slow = socket_with(&devices, a, 1, 1, reached_by_mailbox.clone()).await;
        let mut reader = socket(&devices, b, 2).await;
        for seq in [5, 6] {
            devices.take_all(vec![cue(seq, vec![(a, 1), (b, 2)])]);
            assert_eq!(text(reader.next().await), cue_text(seq));
        }
        // a holds one frame at most: the second overflowed it (it closes 4009).
        devices.take_all(vec![cue(7, vec![(a, 1), (b, 2)])]);
        assert_eq!(text(reader.next().await), cue_text(7));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            reached_by_mailbox.load(Ordering::Relaxed),
            0,
            "a frame after the overflow would arrive after the ones it dropped"
        );
        assert_eq!(text(slow.next().await), "too slow");
    }
}
