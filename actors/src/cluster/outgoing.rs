//! What a thread sends on other nodes' sockets subjects, put together per subject: once the
//! thread has run what it was woken for, each node gets one bus message with everything
//! for it, in the order sent (`wire::encode_batch`). A feature message through 9,500
//! sessions on a shard is then a few bus messages per node, not one per socket; a class's
//! cue and the ranks after it travel together.
//!
//! Everything a thread sends one node goes through here, frames and closes alike, so they
//! keep their order. A batch stays under `MAX_BATCH` parts and the smaller of
//! `MAX_BATCH_BYTES` and what the bus takes (a part larger than that goes alone). A node that does not take batches (one of an older version during a
//! rolling upgrade) gets each message at once, as before.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;

use super::wire::{MAX_BATCH, encode_batch};
use crate::ports::bus::Bus;

/// Bytes one batch carries at most before it leaves without waiting for the thread (less
/// when the bus takes smaller messages, `Bus::max_payload`).
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Room a batch's header takes, at most: `M`, the count and each part's length.
fn header_room(parts: usize) -> usize {
    24 + 21 * parts
}

struct Pending {
    subject: String,
    bus: Arc<dyn Bus>,
    parts: Vec<Bytes>,
    bytes: usize,
}

thread_local! {
    /// What this thread has for each subject and has not published yet.
    static PENDING: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
}

/// Publishes `part` (an encoded `SocketTraffic`) on `subject`: with what this thread sends
/// the same subject until it has run what it is running now, when the node takes batches;
/// at once otherwise.
pub fn publish(bus: &Arc<dyn Bus>, subject: &str, part: Bytes, batches: bool) {
    if !batches {
        // A full queue is counted by the bus; the receiving node finds the gap by sequence.
        let _ = bus.publish(subject, part);
        return;
    }
    let limit = MAX_BATCH_BYTES.min(bus.max_payload());
    let (first, before, full) = PENDING.with(|pending| {
        let mut pending = pending.borrow_mut();
        let first = pending.is_empty();
        let index = match pending.iter().position(|p| p.subject == subject) {
            Some(index) => index,
            None => {
                pending.push(Pending {
                    subject: subject.to_owned(),
                    bus: bus.clone(),
                    parts: Vec::new(),
                    bytes: 0,
                });
                pending.len() - 1
            }
        };
        let entry = &mut pending[index];
        // What is pending leaves first when this part would take the batch past the limit.
        let before = (!entry.parts.is_empty()
            && entry.bytes + part.len() + header_room(entry.parts.len() + 1) > limit)
            .then(|| Pending {
                subject: entry.subject.clone(),
                bus: entry.bus.clone(),
                parts: std::mem::take(&mut entry.parts),
                bytes: std::mem::take(&mut entry.bytes),
            });
        entry.bytes += part.len();
        entry.parts.push(part);
        let full = entry.parts.len() >= MAX_BATCH || entry.bytes >= limit;
        (first, before, full.then(|| pending.remove(index)))
    });
    for batch in [before, full].into_iter().flatten() {
        send(batch);
    }
    if first {
        crate::fanout::after_this_run(flush);
    }
}

/// Publishes everything this thread has pending.
pub fn flush() {
    let pending = PENDING.with(|pending| std::mem::take(&mut *pending.borrow_mut()));
    for entry in pending {
        send(entry);
    }
}

fn send(entry: Pending) {
    let payload = match entry.parts.len() {
        0 => return,
        1 => entry.parts.into_iter().next().unwrap_or_default(),
        _ => encode_batch(&entry.parts),
    };
    // A full queue is counted by the bus; the receiving node finds the gap by sequence.
    let _ = entry.bus.publish(&entry.subject, payload);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::wire::{SocketTraffic, decode_socket_traffic};
    use super::*;
    use crate::domain::UserId;

    use super::super::recording_bus::RecordingBus as Recording;

    /// Each bus message as the subject and the keys of the closes it carries.
    fn taken(recording: &Recording) -> Vec<(String, Vec<u64>)> {
        recording
            .published()
            .iter()
            .map(|(subject, payload)| {
                let keys = decode_socket_traffic(payload)
                    .expect("well formed")
                    .into_iter()
                    .map(|t| match t {
                        SocketTraffic::Close { key, .. } => key,
                        SocketTraffic::Frames { .. } | SocketTraffic::CatchUp { .. } => 0,
                    })
                    .collect();
                (subject.clone(), keys)
            })
            .collect()
    }

    fn close(key: u64) -> Bytes {
        SocketTraffic::Close {
            user: UserId::random(),
            key,
            code: 1011,
            reason: "r".into(),
        }
        .encode()
    }

    #[actix::test]
    async fn what_a_thread_sends_a_node_leaves_in_one_message_per_node_in_order() {
        let recording = Arc::new(Recording::default());
        let bus: Arc<dyn Bus> = recording.clone();
        for key in [1, 2, 3] {
            publish(&bus, "a", close(key), true);
            publish(&bus, "b", close(10 + key), true);
        }
        assert!(taken(&recording).is_empty(), "not before the thread yields");
        for _ in 0..100 {
            if !taken(&recording).is_empty() {
                break;
            }
            actix::clock::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            taken(&recording),
            [("a".into(), vec![1, 2, 3]), ("b".into(), vec![11, 12, 13])]
        );
    }

    #[actix::test]
    async fn a_full_batch_leaves_at_once_and_the_rest_follows_in_order() {
        let recording = Arc::new(Recording::default());
        let bus: Arc<dyn Bus> = recording.clone();
        for key in 0..(MAX_BATCH as u64 + 2) {
            publish(&bus, "a", close(key), true);
        }
        assert_eq!(taken(&recording).len(), 1, "the full batch went at once");
        flush();
        let taken = taken(&recording);
        let keys: Vec<u64> = taken.iter().flat_map(|(_, keys)| keys.clone()).collect();
        assert_eq!(taken.len(), 2);
        assert_eq!(keys, (0..(MAX_BATCH as u64 + 2)).collect::<Vec<_>>());
    }

    #[actix::test]
    async fn no_batch_is_larger_than_the_bus_takes() {
        let part = close(1).len();
        let max_payload = 3 * part + header_room(3);
        let recording = Arc::new(Recording(Default::default(), max_payload));
        let bus: Arc<dyn Bus> = recording.clone();
        for key in 0..10 {
            publish(&bus, "a", close(key), true);
        }
        flush();
        let sizes: Vec<usize> = recording.published().iter().map(|(_, p)| p.len()).collect();
        assert!(sizes.iter().all(|size| *size <= max_payload), "{sizes:?}");
        assert!(sizes.len() < 10, "still batched: {sizes:?}");
        let keys: Vec<u64> = taken(&recording).into_iter().flat_map(|(_, k)| k).collect();
        assert_eq!(keys, (0..10).collect::<Vec<_>>());
    }

    #[actix::test]
    async fn a_node_that_takes_no_batches_gets_each_message_at_once() {
        let recording = Arc::new(Recording::default());
        let bus: Arc<dyn Bus> = recording.clone();
        publish(&bus, "old", close(1), false);
        publish(&bus, "old", close(2), false);
        assert_eq!(
            taken(&recording),
            [("old".into(), vec![1]), ("old".into(), vec![2])]
        );
        // The published bytes are the messages themselves, readable by an older node.
        let raw = recording.0.lock().expect("lock")[0].1.clone();
        assert!(SocketTraffic::decode(&raw).is_some());
    }
}
