//! A class participant's socket on another node, as the class reaches it without a hop:
//! the class's frames go on that node's sockets subject (`wire::SocketTraffic`), and a
//! frame for many participants of one node goes once, naming its sockets
//! ([`NodeRecipients`]). A cue to 6,000 participants on two other nodes is four bus
//! messages (at most 2,048 sockets named in each), not 6,000; the receiving node checks each socket's sequence and hands the
//! frame to its sockets' threads in one parcel each (`LocalDevices::take`).
//!
//! Everything a class sends such a socket leaves from the class's thread into the bus's
//! one publishing queue, so it arrives in the order sent: frames go straight from the
//! class, a close through the socket's proxy (which then stops) after the frames the class
//! sent before it. A node that does not say it takes class frames this way when it joins a
//! socket (`RemoteJoin::batched`: a node of an older version, during a rolling upgrade)
//! keeps the proxy's one message per frame and socket on the user's subject.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::wire::{MAX_RECIPIENTS, SocketTraffic};
use crate::device::{Deliver, DeviceKey};
use crate::domain::UserId;
use crate::events::Frame;
use crate::ports::bus::Bus;

/// One socket of another node, reached on that node's sockets subject; cheap to clone.
#[derive(Clone)]
pub struct RemoteSocket(Arc<Target>);

struct Target {
    bus: Arc<dyn Bus>,
    /// The node's sockets subject.
    subject: String,
    user: UserId,
    key: DeviceKey,
    /// The stream its sequence is checked in on arrival: the class id.
    stream: String,
    /// Cleared when the socket's proxy stops (the socket left, was replaced, or its node
    /// is gone) or its close was sent: a class then forgets the socket as it would on a
    /// closed mailbox.
    open: AtomicBool,
    /// The node takes several messages in one (`outgoing`).
    batches: bool,
}

impl RemoteSocket {
    pub(super) fn new(
        bus: Arc<dyn Bus>,
        node: &str,
        user: UserId,
        key: DeviceKey,
        stream: String,
        batches: bool,
    ) -> RemoteSocket {
        RemoteSocket(Arc::new(Target {
            bus,
            subject: super::subjects::sockets(node),
            user,
            key,
            stream,
            open: AtomicBool::new(true),
            batches,
        }))
    }

    /// Whether the socket's proxy still stands for it.
    pub fn is_open(&self) -> bool {
        self.0.open.load(Ordering::Acquire)
    }

    /// Its proxy stopped.
    pub(super) fn gone(&self) {
        self.0.open.store(false, Ordering::Release);
    }

    /// Sends one frame to this socket alone.
    pub fn send(&self, deliver: &Deliver) {
        let target = &self.0;
        publish(target, deliver, vec![(target.user, target.key)]);
    }

    /// Sends a catch-up frame the socket asked for: past its queue's bound on a node that
    /// takes batches (as on a local socket), an ordinary frame on one that does not.
    pub fn catch_up(&self, deliver: &Deliver) {
        let target = &self.0;
        if !target.batches {
            return self.send(deliver);
        }
        let catch_up = SocketTraffic::CatchUp {
            stream: target.stream.clone(),
            family: deliver.family.to_owned(),
            user: target.user,
            key: target.key,
            frame: Frame::clone(&deliver.frame),
        };
        super::outgoing::publish(&target.bus, &target.subject, catch_up.encode(), true);
    }

    /// Tells the socket's node to close it (after the frames this thread sent it before),
    /// once: nothing is sent to it after.
    pub fn close(&self, code: u16, reason: String) {
        if !self.0.open.swap(false, Ordering::AcqRel) {
            return;
        }
        let target = &self.0;
        let close = SocketTraffic::Close {
            user: target.user,
            key: target.key,
            code,
            reason,
        };
        // A full queue is counted by the bus; the socket is then closed when its node
        // notices the gap, or when the app leaves.
        super::outgoing::publish(&target.bus, &target.subject, close.encode(), target.batches);
    }
}

/// The sockets of other nodes one frame is for, put together per node (and stream).
#[derive(Default)]
pub struct NodeRecipients {
    per_node: Vec<(RemoteSocket, Vec<(UserId, DeviceKey)>)>,
}

impl NodeRecipients {
    pub fn add(&mut self, socket: &RemoteSocket) {
        let target = &socket.0;
        let entry = (target.user, target.key);
        let same = |first: &RemoteSocket| {
            first.0.subject == target.subject && first.0.stream == target.stream
        };
        match self.per_node.iter_mut().find(|(first, _)| same(first)) {
            Some((_, to)) => to.push(entry),
            None => self.per_node.push((socket.clone(), vec![entry])),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.per_node.is_empty()
    }

    /// Sends `deliver` to every socket added: one bus message per node (more for a node
    /// with more than [`MAX_RECIPIENTS`] of them).
    pub fn send(self, deliver: &Deliver) {
        for (first, mut to) in self.per_node {
            let target = &first.0;
            while !to.is_empty() {
                let rest = to.split_off(to.len().min(MAX_RECIPIENTS));
                publish(target, deliver, to);
                to = rest;
            }
        }
    }
}

/// Sends `deliver` to the sockets `to` of `target`'s node, in `target`'s stream.
fn publish(target: &Target, deliver: &Deliver, to: Vec<(UserId, DeviceKey)>) {
    let frames = SocketTraffic::Frames {
        stream: target.stream.clone(),
        family: deliver.family.to_owned(),
        to,
        frame: Frame::clone(&deliver.frame),
    };
    super::outgoing::publish(
        &target.bus,
        &target.subject,
        frames.encode(),
        target.batches,
    );
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::Bytes;

    use super::super::wire::DeviceTraffic;
    use super::super::{Holder, Proxies, Reach};
    use super::*;
    use crate::device::CloseDevice;
    use crate::domain::ClassId;

    use super::super::recording_bus::RecordingBus as Recording;

    /// What was published, decoded.
    fn taken(recording: &Recording) -> Vec<(String, SocketTraffic)> {
        recording
            .published()
            .into_iter()
            .map(|(subject, payload)| {
                let traffic = SocketTraffic::decode(&payload).expect("well formed");
                (subject, traffic)
            })
            .collect()
    }

    fn cue(text: &'static str) -> Deliver {
        Deliver {
            frame: Frame::from_static(text),
            family: "live",
            created: Instant::now(),
        }
    }

    #[test]
    fn a_frame_for_participants_on_two_nodes_is_one_message_per_node() {
        let recording = Arc::new(Recording::default());
        let bus: Arc<dyn Bus> = recording.clone();
        let class = "c1".to_owned();
        let users: Vec<UserId> = (0..5).map(|_| UserId::random()).collect();
        let sockets: Vec<RemoteSocket> = users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let node = if i % 2 == 0 { "n2" } else { "n3" };
                RemoteSocket::new(
                    bus.clone(),
                    node,
                    *user,
                    i as DeviceKey,
                    class.clone(),
                    false,
                )
            })
            .collect();
        let mut everyone = NodeRecipients::default();
        sockets.iter().for_each(|s| everyone.add(s));
        everyone.send(&cue(r#"{"class_seq":1}"#));

        let taken = taken(&recording);
        assert_eq!(taken.len(), 2, "one message per node");
        let for_node = |node: &str| -> Vec<(UserId, DeviceKey)> {
            let subject = super::super::subjects::sockets(node);
            match taken.iter().find(|(s, _)| *s == subject) {
                Some((
                    _,
                    SocketTraffic::Frames {
                        to,
                        stream,
                        frame,
                        family,
                    },
                )) => {
                    assert_eq!((stream.as_str(), family.as_str()), ("c1", "live"));
                    assert_eq!(&**frame, r#"{"class_seq":1}"#);
                    to.clone()
                }
                other => panic!("no frames for {node}: {other:?}"),
            }
        };
        assert_eq!(
            for_node("n2"),
            vec![(users[0], 0), (users[2], 2), (users[4], 4)]
        );
        assert_eq!(for_node("n3"), vec![(users[1], 1), (users[3], 3)]);
    }

    #[test]
    fn a_node_with_more_participants_than_one_message_names_gets_several() {
        let recording = Arc::new(Recording::default());
        let bus: Arc<dyn Bus> = recording.clone();
        let mut everyone = NodeRecipients::default();
        let count = MAX_RECIPIENTS * 2 + 1;
        for key in 0..count {
            let socket = RemoteSocket::new(
                bus.clone(),
                "n2",
                UserId::random(),
                key as u64,
                "c".into(),
                false,
            );
            everyone.add(&socket);
        }
        everyone.send(&cue("{}"));
        let sizes: Vec<usize> = taken(&recording)
            .into_iter()
            .map(|(_, traffic)| match traffic {
                SocketTraffic::Frames { to, .. } => to.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![MAX_RECIPIENTS, MAX_RECIPIENTS, 1]);
    }

    /// Waits (at most 5 s) until `count` messages were published.
    async fn published(recording: &Recording, count: usize) -> Vec<(String, Bytes)> {
        for _ in 0..500 {
            let published = recording.0.lock().expect("lock").clone();
            if published.len() >= count {
                return published;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{count} messages were not published in time");
    }

    /// A class's proxies on a recording bus, for one participant.
    struct ClassProxies {
        recording: Arc<Recording>,
        proxies: Proxies,
        user: UserId,
        holder: Holder,
    }

    fn class_proxies() -> ClassProxies {
        let recording = Arc::new(Recording::default());
        let user = UserId::random();
        ClassProxies {
            proxies: Proxies::new(recording.clone()),
            recording,
            user,
            holder: Holder::Class(ClassId::random(), user),
        }
    }

    #[actix::test]
    async fn a_class_reaches_a_node_that_did_not_say_it_takes_batches_through_the_proxy() {
        let ClassProxies {
            recording,
            proxies,
            user,
            holder,
        } = class_proxies();
        let old = proxies.start(user, "old", 1, holder, Default::default(), Reach::Proxy);
        let new = proxies.start(user, "new", 2, holder, Default::default(), Reach::Frames);
        assert!(old.remote.is_none() && new.remote.is_some());

        new.try_deliver(cue(r#"{"class_seq":1}"#)).expect("sent");
        old.try_deliver(cue(r#"{"class_seq":1}"#)).expect("sent");
        let published = published(&recording, 2).await;
        let on = |subject: String| published.iter().find(|(s, _)| *s == subject).cloned();
        let (_, batch) = on(super::super::subjects::sockets("new")).expect("on new's subject");
        assert!(matches!(
            SocketTraffic::decode(&batch),
            Some(SocketTraffic::Frames { to, .. }) if to == vec![(user, 2)]
        ));
        let (_, single) = on(super::super::subjects::user(user)).expect("on the user's subject");
        assert!(matches!(
            DeviceTraffic::decode(&single),
            Some(DeviceTraffic::Frame { node, key: 1, .. }) if node == "old"
        ));
    }

    #[actix::test]
    async fn a_class_forgets_a_socket_whose_proxy_stopped() {
        let ClassProxies {
            recording,
            proxies,
            user,
            holder,
        } = class_proxies();
        let socket = proxies.start(user, "n2", 1, holder, Default::default(), Reach::Frames);
        // Positive control: taken while its proxy stands.
        socket.try_deliver(cue(r#"{"class_seq":1}"#)).expect("sent");
        proxies.dismiss(holder, "n2", 1);
        let remote = socket
            .remote
            .clone()
            .expect("reached on its node's subject");
        for _ in 0..500 {
            if !remote.is_open() {
                let sent = recording.0.lock().expect("lock").len();
                assert!(socket.try_deliver(cue(r#"{"class_seq":2}"#)).is_err());
                socket.deliver(cue(r#"{"class_seq":3}"#));
                assert_eq!(recording.0.lock().expect("lock").len(), sent);
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("a socket whose proxy stopped still counts as open");
    }

    /// Socket 9 of `user` got cues 1 and 2, then its close as too slow.
    fn assert_two_cues_then_closed(taken: &[SocketTraffic], user: UserId) {
        assert!(
            matches!(&taken[0], SocketTraffic::Frames { frame, .. } if &**frame == r#"{"class_seq":1}"#)
        );
        assert!(
            matches!(&taken[1], SocketTraffic::Frames { frame, .. } if &**frame == r#"{"class_seq":2}"#)
        );
        assert_eq!(
            taken[2],
            SocketTraffic::Close {
                user,
                key: 9,
                code: 4009,
                reason: "too slow to read".into()
            }
        );
    }

    #[actix::test]
    async fn a_class_sockets_frames_and_its_close_leave_in_the_order_sent() {
        let ClassProxies {
            recording,
            proxies,
            user,
            holder,
        } = class_proxies();
        let socket = proxies.start(user, "n2", 9, holder, Default::default(), Reach::Frames);
        socket.try_deliver(cue(r#"{"class_seq":1}"#)).expect("sent");
        socket.deliver(cue(r#"{"class_seq":2}"#));
        // Sent after the frames from this thread; its proxy stops.
        socket.close(CloseDevice {
            code: 4009,
            reason: "too slow to read".into(),
        });
        let published = published(&recording, 3).await;
        let taken: Vec<SocketTraffic> = published
            .iter()
            .map(|(_, payload)| SocketTraffic::decode(payload).expect("well formed"))
            .collect();
        assert_two_cues_then_closed(&taken, user);
    }

    #[actix::test]
    async fn a_sessions_frames_and_close_for_a_node_that_takes_batches_leave_in_one_message() {
        let recording = Arc::new(Recording::default());
        let proxies = Proxies::new(recording.clone());
        let user = UserId::random();
        let holder = Holder::Session(user);
        let older = proxies.start(user, "n1", 8, holder, Default::default(), Reach::Frames);
        assert!(
            older.remote.is_none(),
            "a session batches or keeps the proxy"
        );
        let socket = proxies.start(user, "n2", 9, holder, Default::default(), Reach::Batches);
        // A catch-up frame (past the bound), then a live one, then the close.
        socket.deliver(cue(r#"{"seq":1}"#));
        socket.try_deliver(cue(r#"{"seq":2}"#)).expect("sent");
        socket.close(CloseDevice {
            code: 1011,
            reason: "session ended; reconnect".into(),
        });
        let published = published(&recording, 1).await;
        assert_eq!(published.len(), 1, "one bus message for all three");
        let (subject, payload) = &published[0];
        assert_eq!(*subject, super::super::subjects::sockets("n2"));
        let taken = super::super::wire::decode_socket_traffic(payload).expect("a batch");
        assert!(matches!(
            &taken[0],
            SocketTraffic::CatchUp { stream, user: u, key: 9, frame, .. }
                if stream == "u" && *u == user && &**frame == r#"{"seq":1}"#
        ));
        assert!(matches!(
            &taken[1],
            SocketTraffic::Frames { stream, to, frame, .. }
                if stream == "u" && *to == vec![(user, 9)] && &**frame == r#"{"seq":2}"#
        ));
        assert_eq!(taken.len(), 3);
        assert!(matches!(
            taken.last(),
            Some(SocketTraffic::Close {
                key: 9,
                code: 1011,
                ..
            })
        ));
        // Nothing more after the close, not even from its proxy.
        assert!(socket.try_deliver(cue(r#"{"seq":3}"#)).is_err());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(recording.0.lock().expect("lock").len(), 1);
    }

    #[test]
    fn one_sockets_frames_and_its_close_leave_in_the_order_sent() {
        let recording = Arc::new(Recording::default());
        let bus: Arc<dyn Bus> = recording.clone();
        let user = UserId::random();
        let socket = RemoteSocket::new(bus, "n2", user, 9, "c".into(), false);
        socket.send(&cue(r#"{"class_seq":1}"#));
        let mut one = NodeRecipients::default();
        one.add(&socket);
        one.send(&cue(r#"{"class_seq":2}"#));
        socket.close(4009, "too slow to read".into());
        let taken: Vec<SocketTraffic> = taken(&recording).into_iter().map(|(_, t)| t).collect();
        assert!(matches!(&taken[0], SocketTraffic::Frames { to, .. } if *to == vec![(user, 9)]));
        assert_two_cues_then_closed(&taken, user);
        assert_eq!(taken.len(), 3);
    }
}
