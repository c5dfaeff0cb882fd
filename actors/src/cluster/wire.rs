//! What travels on a user's subject (`fitpulse.user.<id>`) to the nodes holding the
//! user's sockets: a frame for one socket, a close for one socket, or a notice for all of
//! them. One header line, then the frame bytes as they go on the socket, so nothing is
//! parsed or re-serialized on the way.

use bytes::{BufMut, Bytes, BytesMut};

use crate::device::DeviceKey;
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
        let mut out = BytesMut::with_capacity(header.len() + 1 + body.len());
        out.put_slice(header.as_bytes());
        out.put_u8(b'\n');
        out.put_slice(body);
        out.freeze()
    }

    pub fn decode(bytes: &Bytes) -> Option<DeviceTraffic> {
        let split = bytes.iter().position(|b| *b == b'\n')?;
        let header = std::str::from_utf8(&bytes[..split]).ok()?;
        let body = bytes.slice(split + 1..);
        let text = || Frame::try_from(body.clone()).ok();
        let mut parts = header.split(' ');
        match (
            parts.next()?,
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
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
    fn seq_is_read_from_event_frames_only() {
        assert_eq!(frame_seq(r#"{"seq":42,"type":"x"}"#), Some(42));
        assert_eq!(frame_seq(r#"{"class_seq":7,"class_id":"c"}"#), Some(7));
        assert_eq!(frame_seq(r#"{"type":"live.presence"}"#), None);
    }
}
