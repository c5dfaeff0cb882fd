//! What travels between nodes for sockets. On a user's subject (`fitpulse.user.<id>`), to
//! the nodes holding the user's sockets: a session's frame for one socket, a close for one
//! socket, or a notice for all of them. On a node's sockets subject
//! (`fitpulse.node.<id>.sockets`): a class's frame with the sockets of that node it is for
//! (one message per frame and node, however many of its participants the node holds), or a
//! close for one of them, or a batch of such messages (`M`) a holder's thread had for the
//! node at once. One header line, then the frame bytes as they go on the socket, so
//! nothing is parsed or re-serialized on the way.

use bytes::{BufMut, Bytes, BytesMut};

use crate::device::DeviceKey;
use crate::domain::UserId;
use crate::events::Frame;

/// One message on a user's subject.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceTraffic {
    /// A frame for socket `key` of node `node`. `stream` is `u` for the user's feed or a
    /// class id: sequence numbers are checked per stream.
    Frame {
        node: String,
        key: DeviceKey,
        stream: String,
        family: String,
        frame: Frame,
    },
    /// Close socket `key` of node `node`.
    Close {
        node: String,
        key: DeviceKey,
        code: u16,
        reason: String,
    },
    /// A notice for every socket of the user, on every node but `origin`.
    Notice {
        origin: String,
        family: String,
        frame: Frame,
    },
}

/// The stream name of a user's own feed.
pub const USER_STREAM: &str = "u";

impl DeviceTraffic {
    pub fn encode(&self) -> Bytes {
        let (header, body) = match self {
            DeviceTraffic::Frame {
                node,
                key,
                stream,
                family,
                frame,
            } => (
                format!("F {node} {key} {stream} {family}"),
                frame.as_bytes().as_ref(),
            ),
            DeviceTraffic::Close {
                node,
                key,
                code,
                reason,
            } => (format!("C {node} {key} {code}"), reason.as_bytes()),
            DeviceTraffic::Notice {
                origin,
                family,
                frame,
            } => (format!("N {origin} {family}"), frame.as_bytes().as_ref()),
        };
        header_then(&header, body)
    }

    pub fn decode(bytes: &Bytes) -> Option<DeviceTraffic> {
        let (kind, [a, b, c, d], body) = split_header(bytes)?;
        let text = || Frame::try_from(body.clone()).ok();
        match (kind, a, b, c, d) {
            ("F", Some(node), Some(key), Some(stream), Some(family)) => {
                Some(DeviceTraffic::Frame {
                    node: node.into(),
                    key: key.parse().ok()?,
                    stream: stream.into(),
                    family: family.into(),
                    frame: text()?,
                })
            }
            ("C", Some(node), Some(key), Some(code), None) => Some(DeviceTraffic::Close {
                node: node.into(),
                key: key.parse().ok()?,
                code: code.parse().ok()?,
                reason: text()?.to_string(),
            }),
            ("N", Some(origin), Some(family), None, None) => Some(DeviceTraffic::Notice {
                origin: origin.into(),
                family: family.into(),
                frame: text()?,
            }),
            _ => None,
        }
    }
}

/// Sockets one message on a node's sockets subject names, at most: bounds what decoding a
/// message costs (a class sends more in several messages).
pub const MAX_RECIPIENTS: usize = 2048;

/// One message on a node's sockets subject.
#[derive(Debug, Clone, PartialEq)]
pub enum SocketTraffic {
    /// A frame of `stream` (a class id) for the sockets `to` (user, socket key) of the
    /// node; sequence numbers are checked per socket and stream, as for [`DeviceTraffic`].
    Frames {
        stream: String,
        family: String,
        to: Vec<(UserId, DeviceKey)>,
        frame: Frame,
    },
    /// Close one socket of the node.
    Close {
        user: UserId,
        key: DeviceKey,
        code: u16,
        reason: String,
    },
    /// A catch-up frame the socket asked for (resuming): past its queue's bound, like a
    /// local socket's. Sent only to nodes that take batches.
    CatchUp {
        stream: String,
        family: String,
        user: UserId,
        key: DeviceKey,
        frame: Frame,
    },
}

impl SocketTraffic {
    pub fn encode(&self) -> Bytes {
        match self {
            SocketTraffic::Frames {
                stream,
                family,
                to,
                frame,
            } => {
                let header = format!("B {stream} {family} {}\n", to.len());
                // A hyphenated id, a slash, a key of up to 20 digits and a space each.
                let mut out =
                    BytesMut::with_capacity(header.len() + to.len() * 58 + 1 + frame.len());
                out.put_slice(header.as_bytes());
                for (index, (user, key)) in to.iter().enumerate() {
                    if index > 0 {
                        out.put_u8(b' ');
                    }
                    out.put_slice(format!("{user}/{key}").as_bytes());
                }
                out.put_u8(b'\n');
                out.put_slice(frame.as_bytes());
                out.freeze()
            }
            SocketTraffic::CatchUp {
                stream,
                family,
                user,
                key,
                frame,
            } => header_then(
                &format!("U {stream} {family} {user}/{key}"),
                frame.as_bytes(),
            ),
            SocketTraffic::Close {
                user,
                key,
                code,
                reason,
            } => header_then(&format!("X {user} {key} {code}"), reason.as_bytes()),
        }
    }

    /// Reads a message; `None` for anything malformed, or naming more than
    /// [`MAX_RECIPIENTS`] sockets.
    pub fn decode(bytes: &Bytes) -> Option<SocketTraffic> {
        let (kind, [a, b, c, d], rest) = split_header(bytes)?;
        match (kind, a, b, c, d) {
            ("B", Some(stream), Some(family), Some(count), None) => {
                let count: usize = count.parse().ok()?;
                if count == 0 || count > MAX_RECIPIENTS {
                    return None;
                }
                let split = rest.iter().position(|b| *b == b'\n')?;
                let list = std::str::from_utf8(&rest[..split]).ok()?;
                let mut to = Vec::with_capacity(count);
                for entry in list.split(' ') {
                    if to.len() == count {
                        return None;
                    }
                    let (user, key) = entry.split_once('/')?;
                    to.push((user.parse().ok()?, key.parse().ok()?));
                }
                if to.len() != count {
                    return None;
                }
                Some(SocketTraffic::Frames {
                    stream: stream.into(),
                    family: family.into(),
                    to,
                    frame: Frame::try_from(rest.slice(split + 1..)).ok()?,
                })
            }
            ("U", Some(stream), Some(family), Some(target), None) => {
                let (user, key) = target.split_once('/')?;
                Some(SocketTraffic::CatchUp {
                    stream: stream.into(),
                    family: family.into(),
                    user: user.parse().ok()?,
                    key: key.parse().ok()?,
                    frame: Frame::try_from(rest).ok()?,
                })
            }
            ("X", Some(user), Some(key), Some(code), None) => Some(SocketTraffic::Close {
                user: user.parse().ok()?,
                key: key.parse().ok()?,
                code: code.parse().ok()?,
                reason: std::str::from_utf8(&rest).ok()?.to_owned(),
            }),
            _ => None,
        }
    }
}

/// A message of one header line (without its newline) and a body.
fn header_then(header: &str, body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(header.len() + 1 + body.len());
    out.put_slice(header.as_bytes());
    out.put_u8(b'\n');
    out.put_slice(body);
    out.freeze()
}

/// Messages one batch on a node's sockets subject carries at most (see [`encode_batch`]).
pub const MAX_BATCH: usize = 512;

/// Several messages for one node's sockets subject as one bus message, in order:
/// `M <count> <length>...` on the header line, then each message's bytes. A holder's
/// thread sends what it has for one node this way (`cluster::outgoing`).
pub fn encode_batch(parts: &[Bytes]) -> Bytes {
    let mut header = format!("M {}", parts.len());
    for part in parts {
        header.push(' ');
        header.push_str(&part.len().to_string());
    }
    header.push('\n');
    let body: usize = parts.iter().map(Bytes::len).sum();
    let mut out = BytesMut::with_capacity(header.len() + body);
    out.put_slice(header.as_bytes());
    for part in parts {
        out.put_slice(part);
    }
    out.freeze()
}

/// Reads a message on a node's sockets subject: one [`SocketTraffic`], or a batch of them
/// (at most [`MAX_BATCH`], none itself a batch). `None` when any part is malformed: a
/// batch is taken whole or not at all.
pub fn decode_socket_traffic(bytes: &Bytes) -> Option<Vec<SocketTraffic>> {
    if !bytes.starts_with(b"M ") {
        return SocketTraffic::decode(bytes).map(|one| vec![one]);
    }
    let split = bytes.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&bytes[2..split]).ok()?;
    let mut words = header.split(' ');
    let count: usize = words.next()?.parse().ok()?;
    if count == 0 || count > MAX_BATCH {
        return None;
    }
    let mut parts = Vec::with_capacity(count);
    let mut at = split + 1;
    for word in words {
        if parts.len() == count {
            return None;
        }
        let length: usize = word.parse().ok()?;
        let end = at.checked_add(length).filter(|end| *end <= bytes.len())?;
        // Copied out: a frame kept in a slow socket's queue holds its own bytes, not the
        // whole batch's.
        let part = Bytes::copy_from_slice(&bytes[at..end]);
        if part.starts_with(b"M ") {
            return None;
        }
        parts.push(SocketTraffic::decode(&part)?);
        at = end;
    }
    (parts.len() == count && at == bytes.len()).then_some(parts)
}

/// A message's header line as its kind and the next four words (`None` where it has
/// fewer), and the bytes after the line.
fn split_header(bytes: &Bytes) -> Option<(&str, [Option<&str>; 4], Bytes)> {
    let split = bytes.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&bytes[..split]).ok()?;
    let mut words = header.split(' ');
    let kind = words.next()?;
    let rest = [words.next(), words.next(), words.next(), words.next()];
    Some((kind, rest, bytes.slice(split + 1..)))
}

/// The sequence number of an event frame: a user event's `seq` (`{"seq":42,...`) or a
/// class event's `class_seq` (`{"class_seq":3,...`); notices have none.
pub fn frame_seq(frame: &str) -> Option<u64> {
    let rest = frame
        .strip_prefix("{\"seq\":")
        .or_else(|| frame.strip_prefix("{\"class_seq\":"))?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let all = [
            DeviceTraffic::Frame {
                node: "n1".into(),
                key: 42,
                stream: USER_STREAM.into(),
                family: "custom".into(),
                frame: Frame::from(r#"{"seq":7,"type":"custom.x","data":{"t":"a\nb"}}"#),
            },
            DeviceTraffic::Close {
                node: "n2".into(),
                key: 9,
                code: 4009,
                reason: "too slow to read".into(),
            },
            DeviceTraffic::Notice {
                origin: "n3".into(),
                family: "content".into(),
                frame: Frame::from(r#"{"type":"content.new"}"#),
            },
        ];
        for traffic in all {
            assert_eq!(DeviceTraffic::decode(&traffic.encode()), Some(traffic));
        }
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "F n1 x u custom\n{}",
            "X a b\n",
            "C n1 1\nreason",
            "no newline",
        ] {
            assert_eq!(DeviceTraffic::decode(&Bytes::from(bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn socket_traffic_round_trips() {
        let (a, b) = (UserId::random(), UserId::random());
        let all = [
            SocketTraffic::Frames {
                stream: "7d1c3a36-6a53-4c4e-9a3f-0d7f5b2c9e11".into(),
                family: "live".into(),
                to: vec![(a, 1), (b, u64::MAX), (a, 3)],
                frame: Frame::from(r#"{"class_seq":4,"type":"live.cue","data":{"t":"a\nb"}}"#),
            },
            SocketTraffic::Close {
                user: b,
                key: 12,
                code: 1011,
                reason: "reconnect and resume".into(),
            },
            SocketTraffic::CatchUp {
                stream: USER_STREAM.into(),
                family: "session".into(),
                user: a,
                key: 7,
                frame: Frame::from(r#"{"seq":3,"type":"custom.x","data":{"t":"a\nb"}}"#),
            },
        ];
        for traffic in all {
            assert_eq!(SocketTraffic::decode(&traffic.encode()), Some(traffic));
        }
    }

    #[test]
    fn malformed_socket_traffic_is_refused() {
        let user = UserId::random();
        let too_many = (0..=MAX_RECIPIENTS)
            .map(|key| format!("{user}/{key}"))
            .collect::<Vec<_>>()
            .join(" ");
        let refused = [
            String::new(),
            format!("B c live 2\n{user}/1\n{{}}"),
            format!("B c live 1\n{user}/1 {user}/2\n{{}}"),
            format!("B c live 1\n{user}/x\n{{}}"),
            "B c live 1\nnot-a-user/1\n{}".to_owned(),
            "B c live 0\n\n{}".to_owned(),
            format!("B c live {}\n{too_many}\n{{}}", MAX_RECIPIENTS + 1),
            format!("B c live 1\n{user}/1"),
            format!("X {user} 1\nreason"),
            format!("X {user} 1 99999999\nreason"),
            format!("U u session {user}\n{{}}"),
            format!("U u session {user}/x\n{{}}"),
            "U u session not-a-user/1\n{}".to_owned(),
        ];
        for bad in refused {
            assert_eq!(
                SocketTraffic::decode(&Bytes::from(bad.clone())),
                None,
                "{bad:.80}"
            );
        }
        // Positive control: the same shape with a valid count is read.
        let good = format!("B c live 1\n{user}/1\n{{}}");
        assert!(SocketTraffic::decode(&Bytes::from(good)).is_some());
    }

    #[test]
    fn a_batch_round_trips_in_order_and_a_single_message_reads_as_one() {
        let user = UserId::random();
        let parts = vec![
            SocketTraffic::Frames {
                stream: USER_STREAM.into(),
                family: "message".into(),
                to: vec![(user, 1)],
                frame: Frame::from(r#"{"seq":9,"type":"message.feature","data":{"t":"a\nb"}}"#),
            },
            SocketTraffic::Close {
                user,
                key: 1,
                code: 1011,
                reason: "reconnect and resume".into(),
            },
        ];
        let encoded: Vec<Bytes> = parts.iter().map(SocketTraffic::encode).collect();
        assert_eq!(
            decode_socket_traffic(&encode_batch(&encoded)),
            Some(parts.clone())
        );
        assert_eq!(
            decode_socket_traffic(&encoded[0]),
            Some(vec![parts[0].clone()])
        );
    }

    #[test]
    fn a_malformed_batch_is_refused_whole() {
        let user = UserId::random();
        let good = SocketTraffic::Close {
            user,
            key: 1,
            code: 1011,
            reason: "r".into(),
        }
        .encode();
        let n = good.len();
        let text = String::from_utf8(good.to_vec()).expect("text");
        let nested = format!("M 1 {n}\n{text}");
        let refused = [
            format!("M 2 {n}\n{text}"),
            format!("M 1 {n} {n}\n{text}{text}"),
            format!("M 1 {}\n{text}", n + 1),
            format!("M 1 {}\n{text}", n - 1),
            format!("M 1 {n}\n{text}trailing"),
            "M 0\n".to_owned(),
            format!("M {} {n}\n{text}", MAX_BATCH + 1),
            format!("M 1 {}\n{nested}", nested.len()),
            format!("M 2 {n} 3\n{text}B c"),
            format!("M 1 99999999999999999999999\n{text}"),
        ];
        for bad in refused {
            assert_eq!(
                decode_socket_traffic(&Bytes::from(bad.clone())),
                None,
                "{bad:.80}"
            );
        }
        // Positive control: the same part, counted and measured right.
        let fine = format!("M 1 {n}\n{text}");
        assert_eq!(
            decode_socket_traffic(&Bytes::from(fine)).map(|v| v.len()),
            Some(1)
        );
    }

    #[test]
    fn seq_is_read_from_event_frames_only() {
        assert_eq!(frame_seq(r#"{"seq":42,"type":"x"}"#), Some(42));
        assert_eq!(frame_seq(r#"{"class_seq":7,"class_id":"c"}"#), Some(7));
        assert_eq!(frame_seq(r#"{"type":"live.presence"}"#), None);
    }
}
