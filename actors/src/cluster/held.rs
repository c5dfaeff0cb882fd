//! Requests for what this node holds: a session's, class's or room's control subject
//! is subscribed while it is held here, and other nodes' requests on it are carried
//! out through the served node. A target's requests are started in the order they came
//! and answered as each is done, without one slow answer holding up the next: a class
//! busy with a cue still takes the joins of a launch minute.

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::AbortHandle;
use tracing::Instrument;

use super::{Cluster, LocalNode, RemoteError, Request, Target, subjects};
use crate::ports::bus::BusMessage;

/// While alive, this node answers requests for a target it holds.
pub struct HoldGuard(AbortHandle);

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A request for a target this node holds, waiting for [`Cluster::serve`]'s node.
pub(super) struct Held {
    request: Request,
    answer: oneshot::Sender<Result<Box<RawValue>, RemoteError>>,
    /// The span of the request as received (see [`BusMessage::trace`]).
    trace: tracing::Span,
}

/// Requests for held targets queued before they are carried out, at most.
pub(super) const HELD_QUEUE: usize = 4096;

/// Requests for one held class or room being carried out at once, at most: enough for a
/// join storm into one class to be answered while the class is busy with a cue (32 a
/// second even if each took the whole 2 s request timeout), few enough that one target
/// cannot fill the held queue alone.
pub const HELD_IN_FLIGHT: usize = 64;

/// Requests of one target carried out at once. A user's session takes one at a time, as
/// before: its requests come from its own user's few sockets, not a crowd, and its
/// mailbox is small, so an attach waiting for room there could be overtaken by the
/// detach that followed it (which is sent without waiting) and leave the session holding
/// a socket that is gone.
fn window(target: Target) -> usize {
    match target {
        Target::User(_) => 1,
        Target::Class(_) | Target::Room(_) => HELD_IN_FLIGHT,
    }
}

impl Cluster {
    /// Subscribes to the target's control subject and carries out its requests while the
    /// guard lives: started in the order they came, without waiting for one answer
    /// before starting the next (at most [`window`] at once). Alone on its bus, nobody
    /// else would ask: no subscription is made.
    pub fn hold(&self, target: Target) -> Option<HoldGuard> {
        if self.inner.config.alone {
            return None;
        }
        let this = self.clone();
        let task = tokio::spawn(async move {
            match this.inner.bus.subscribe(&subjects::control(target)).await {
                Ok(mut requests) => {
                    let window = Arc::new(Semaphore::new(window(target)));
                    while let Some(message) = requests.next().await {
                        let Ok(slot) = window.clone().acquire_owned().await else {
                            break;
                        };
                        this.hand_over_held(message, slot).await;
                    }
                }
                Err(err) => {
                    tracing::warn!(target = %target.key(), error = %err, "cannot subscribe to a control subject")
                }
            }
        });
        Some(HoldGuard(task.abort_handle()))
    }

    /// Queues one request for a held target to be carried out (after those queued before
    /// it) and answers it once it is, in a task of its own that gives its `slot` back.
    async fn hand_over_held(&self, message: BusMessage, slot: OwnedSemaphorePermit) {
        let Some(reply) = message.reply else {
            return;
        };
        let request = match serde_json::from_slice::<Request>(&message.payload) {
            Ok(request) => request,
            Err(err) => return self.reply(&reply, Err(RemoteError::Malformed(err.to_string()))),
        };
        let (tx, rx) = oneshot::channel();
        let held = Held {
            request,
            answer: tx,
            trace: message.trace.clone(),
        };
        if self.inner.held.send(held).await.is_err() {
            return self.reply(&reply, Err(RemoteError::Busy));
        }
        let this = self.clone();
        tokio::spawn(async move {
            let answer = rx.await.unwrap_or(Err(RemoteError::Busy));
            this.reply(&reply, answer);
            drop(slot);
        });
    }
}

/// Carries out requests for held targets through the served node, in the order they
/// were queued. Each request's operation is started here before the next is taken (its
/// future polled once): a session's or class's operation hands its message to the
/// actor's mailbox on that first poll, so a target's operations reach its actor in the
/// order they came (while the mailbox has room; a full one takes them as it frees up);
/// waiting for the answer goes on in a task of its own. A panic in that first poll costs
/// its own request (answered busy), not this loop and every held request after it.
pub(super) async fn carry_out_held(mut held: mpsc::Receiver<Held>, node: Arc<dyn LocalNode>) {
    while let Some(Held {
        request,
        answer,
        trace,
    }) = held.recv().await
    {
        let node = node.clone();
        let mut carried_out = Box::pin(
            async move {
                let _ = answer.send(node.execute(request.target, &request.op).await);
            }
            .instrument(trace),
        );
        let first_poll = std::future::poll_fn(|cx| {
            let poll = std::panic::AssertUnwindSafe(|| carried_out.as_mut().poll(cx));
            std::task::Poll::Ready(std::panic::catch_unwind(poll))
        });
        match first_poll.await {
            Ok(std::task::Poll::Pending) => {
                tokio::spawn(carried_out);
            }
            Ok(std::task::Poll::Ready(())) => {}
            Err(_) => tracing::error!("carrying out a held request panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use bytes::Bytes;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::cluster::{ClusterConfig, Reply};
    use crate::device::DeviceKey;
    use crate::domain::{ClassId, UserId};
    use crate::ports::bus::{Bus, BusError, BusSubscription};
    use crate::ports::observer::NoObserver;

    /// A bus the test drives: it hands messages to the subscriber of a subject and
    /// passes on whatever is published (the answers).
    struct DrivenBus {
        subscribers: Mutex<HashMap<String, mpsc::UnboundedSender<BusMessage>>>,
        published: mpsc::UnboundedSender<(String, Bytes)>,
    }

    #[async_trait::async_trait]
    impl Bus for DrivenBus {
        fn publish(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
            let _ = self.published.send((subject.to_owned(), payload));
            Ok(())
        }
        async fn request(&self, _: &str, _: Bytes, _: Duration) -> Result<Bytes, BusError> {
            Err(BusError::NoResponders)
        }
        async fn subscribe(&self, subject: &str) -> Result<BusSubscription, BusError> {
            let (tx, rx) = mpsc::unbounded_channel();
            self.subscribers
                .lock()
                .expect("lock")
                .insert(subject.to_owned(), tx);
            Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
                rx.recv().await.map(|message| (message, rx))
            })))
        }
        fn connected(&self) -> bool {
            true
        }
        async fn reconnected(&self) {
            std::future::pending::<()>().await
        }
    }

    /// The step the fake node panics on, when it starts.
    const PANICS: u64 = 1_000_000;

    /// What the fake node is asked to do: answer `n`, at once or when its gate opens.
    #[derive(Serialize, Deserialize)]
    struct Step {
        n: u64,
        gated: bool,
    }

    /// A node that writes down when each operation starts and ends; a gated one waits
    /// for the test, an ungated one yields a few times so answers finish out of order.
    #[derive(Default)]
    struct Recorder {
        log: Mutex<Vec<String>>,
        gates: Mutex<HashMap<u64, oneshot::Receiver<()>>>,
    }

    impl Recorder {
        fn log(&self) -> Vec<String> {
            self.log.lock().expect("lock").clone()
        }
        fn note(&self, line: String) {
            self.log.lock().expect("lock").push(line);
        }
    }

    #[async_trait::async_trait]
    impl LocalNode for Recorder {
        async fn execute(&self, _: Target, op: &RawValue) -> Result<Box<RawValue>, RemoteError> {
            let step: Step = serde_json::from_str(op.get()).expect("a step");
            self.note(format!("start {}", step.n));
            assert!(step.n != PANICS, "a step that panics");
            if step.gated {
                let gate = self.gates.lock().expect("lock").remove(&step.n);
                let _ = gate.expect("a gate for every gated step").await;
            } else {
                for _ in 0..step.n % 3 {
                    tokio::task::yield_now().await;
                }
            }
            self.note(format!("done {}", step.n));
            Ok(serde_json::value::to_raw_value(&step.n).expect("a number"))
        }
        fn socket_gone(&self, _: super::super::Holder, _: DeviceKey) {}
        async fn holds_user(&self, _: UserId) -> bool {
            false
        }
        async fn load(&self) -> (usize, usize) {
            (0, 0)
        }
    }

    struct Holding {
        bus: Arc<DrivenBus>,
        node: Arc<Recorder>,
        target: Target,
        answers: mpsc::UnboundedReceiver<(String, Bytes)>,
        _guard: HoldGuard,
    }

    impl Holding {
        /// A node holding one class, its control subject subscribed.
        async fn start() -> Holding {
            Holding::holding(Target::Class(ClassId::random())).await
        }

        /// A node holding `target`, its control subject subscribed.
        async fn holding(target: Target) -> Holding {
            let (published, answers) = mpsc::unbounded_channel();
            let bus = Arc::new(DrivenBus {
                subscribers: Mutex::default(),
                published,
            });
            let config = ClusterConfig {
                node_id: "n1".into(),
                http: "127.0.0.1:1".into(),
                heartbeat: Duration::from_secs(3600),
                node_timeout: Duration::from_secs(3600),
                request_timeout: Duration::from_secs(2),
                retry_for: Duration::from_secs(2),
                alone: false,
            };
            let cluster = Cluster::new(bus.clone(), config, 0, Arc::new(NoObserver));
            let node = Arc::new(Recorder::default());
            cluster.serve(node.clone()).await.expect("served");
            let guard = cluster.hold(target).expect("held on a shared bus");
            let control = subjects::control(target);
            for _ in 0..1000 {
                if bus.subscribers.lock().expect("lock").contains_key(&control) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Holding {
                bus,
                node,
                target,
                answers,
                _guard: guard,
            }
        }

        /// Sends request `n` to the held class; a gated one waits for the gate returned.
        fn ask(&self, n: u64, gated: bool) -> Option<oneshot::Sender<()>> {
            let gate = gated.then(|| {
                let (open, gate) = oneshot::channel();
                self.node.gates.lock().expect("lock").insert(n, gate);
                open
            });
            let op = serde_json::value::to_raw_value(&Step { n, gated }).expect("a step");
            let request = Request {
                target: self.target,
                op,
            };
            let message = BusMessage {
                payload: serde_json::to_vec(&request).expect("request").into(),
                reply: Some(format!("reply.{n}")),
                trace: tracing::Span::none(),
            };
            let subscribers = self.bus.subscribers.lock().expect("lock");
            let control = subscribers
                .get(&subjects::control(self.target))
                .expect("the control subject is subscribed");
            control.send(message).expect("the holder listens");
            gate
        }

        /// The next reply to a request, and which request it answers.
        async fn reply(&mut self) -> (String, Reply) {
            let wait = Duration::from_secs(10);
            loop {
                let (subject, payload) = tokio::time::timeout(wait, self.answers.recv())
                    .await
                    .expect("an answer within 10 s")
                    .expect("the bus is open");
                if subject.starts_with("reply.") {
                    return (subject, serde_json::from_slice(&payload).expect("a reply"));
                }
            }
        }

        /// The next answer to a request: which request, and what it answered.
        async fn answer(&mut self) -> (String, u64) {
            let (subject, reply) = self.reply().await;
            let answer = reply.answer.expect("carried out");
            (
                subject,
                serde_json::from_str(answer.get()).expect("a number"),
            )
        }
    }

    #[actix::test]
    async fn a_slow_answer_holds_up_no_later_request_of_the_same_target() {
        let mut holding = Holding::start().await;
        let open = holding.ask(1, true).expect("a gate");
        holding.ask(2, false);
        assert_eq!(holding.answer().await, ("reply.2".to_owned(), 2));
        let _ = open.send(());
        assert_eq!(holding.answer().await, ("reply.1".to_owned(), 1));
        assert_eq!(
            holding.node.log(),
            ["start 1", "start 2", "done 2", "done 1"]
        );
    }

    #[actix::test]
    async fn a_sessions_requests_are_carried_out_one_at_a_time() {
        let mut holding = Holding::holding(Target::User(UserId::random())).await;
        let open = holding.ask(1, true).expect("a gate");
        holding.ask(2, false);
        // Time for 2 to start and finish, were it not waiting for 1's answer.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        let _ = open.send(());
        assert_eq!(holding.answer().await, ("reply.1".to_owned(), 1));
        assert_eq!(holding.answer().await, ("reply.2".to_owned(), 2));
        assert_eq!(
            holding.node.log(),
            ["start 1", "done 1", "start 2", "done 2"]
        );
    }

    #[actix::test]
    async fn a_targets_requests_start_in_the_order_they_came_and_all_are_answered() {
        let mut holding = Holding::start().await;
        let count = 300;
        for n in 0..count {
            holding.ask(n, false);
        }
        let mut answered = Vec::new();
        for _ in 0..count {
            let (subject, n) = holding.answer().await;
            assert_eq!(subject, format!("reply.{n}"));
            answered.push(n);
        }
        let started: Vec<String> = holding
            .node
            .log()
            .into_iter()
            .filter(|line| line.starts_with("start"))
            .collect();
        let expected: Vec<String> = (0..count).map(|n| format!("start {n}")).collect();
        assert_eq!(started, expected);
        answered.sort_unstable();
        assert_eq!(answered, (0..count).collect::<Vec<_>>());
    }

    #[actix::test]
    async fn a_request_that_panics_is_answered_busy_and_the_next_is_carried_out() {
        let mut holding = Holding::start().await;
        holding.ask(PANICS, false);
        holding.ask(14, false);
        let (subject, reply) = holding.reply().await;
        assert_eq!(subject, format!("reply.{PANICS}"));
        assert!(matches!(reply.answer, Err(RemoteError::Busy)), "{reply:?}");
        assert_eq!(holding.answer().await, ("reply.14".to_owned(), 14));
    }

    #[actix::test]
    async fn no_more_than_the_window_of_one_targets_requests_run_at_once() {
        let mut holding = Holding::start().await;
        let window = HELD_IN_FLIGHT as u64;
        let mut gates: Vec<_> = (0..window)
            .map(|n| holding.ask(n, true).expect("a gate"))
            .collect();
        holding.ask(window, false);
        // Every slot taken: the next request starts only once one of them is answered.
        let _ = gates.remove(0).send(());
        assert_eq!(holding.answer().await, ("reply.0".to_owned(), 0));
        assert_eq!(holding.answer().await, (format!("reply.{window}"), window));
        let log = holding.node.log();
        let first_done = log.iter().position(|l| l == "done 0").expect("0 done");
        let last_start = log
            .iter()
            .position(|l| *l == format!("start {window}"))
            .expect("the request past the window started");
        assert!(
            first_done < last_start,
            "the request past the window started before a slot was free: {log:?}"
        );
        for gate in gates {
            let _ = gate.send(());
        }
    }
}
