//! The socket protocol as an AsyncAPI 3.0 document (`GET /v1/asyncapi.json`, and
//! `docs/asyncapi.json`, which a test keeps equal to it). Every payload schema comes from
//! the Rust types the server serializes and parses: the event data types ([`EventData`]),
//! the client frames' data and reply types (`frames::documents`). Nothing here restates a
//! field by hand but the envelopes of docs/protocol.md.

use std::sync::OnceLock;

use fitpulse_actors::events::data::{self, FrameDoc, Sequencing, doc};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::frames;
use crate::community::events as community;
use crate::content::events as content;
use crate::drops::events as drops;
use crate::http::contract::merge;
use crate::messages::events as messages;

const SCHEMAS_PATH: &str = "#/components/schemas/";

/// Every frame the server sends: the actors' and the services'.
pub fn server_frames() -> Vec<FrameDoc> {
    let mut frames = data::catalogue();
    frames.extend([
        doc::<content::ContentNew>(),
        doc::<content::PlanUpdated>(),
        doc::<content::ShoppingListUpdated>(),
        doc::<drops::OrderReserved>(),
        doc::<drops::OrderPaid>(),
        doc::<drops::OrderExpired>(),
        doc::<drops::DropStock>(),
        doc::<drops::DropSoldOut>(),
        doc::<drops::DropQueue>(),
        doc::<drops::DropAdmitted>(),
        doc::<messages::MessageFeature>(),
        doc::<messages::MessageStateChanged>(),
        doc::<community::CommunityActivity>(),
        doc::<community::CommunityPost>(),
        doc::<community::CommunityCommented>(),
        doc::<community::CommunityFollowed>(),
        doc::<community::CommunityRemoved>(),
        doc::<community::CommunityPostLiked>(),
    ]);
    frames
}

/// The document, built once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_json::to_string_pretty(&build()).expect("the AsyncAPI document serializes") + "\n"
    })
}

/// The name of a server frame's message, of a client frame's and of its reply.
pub fn server_message(kind: &str) -> String {
    kind.to_owned()
}
pub fn client_message(kind: &str) -> String {
    format!("send.{kind}")
}
pub fn reply_message(kind: &str) -> String {
    format!("reply.{kind}")
}
/// An error reply to any frame (also to one that could not be read).
pub const ERROR_REPLY: &str = "reply.error";
/// An admin-sent `custom.*` event.
pub const CUSTOM_EVENT: &str = "custom";

fn build() -> Value {
    let settings = SchemaSettings::draft07().with(|s| s.definitions_path = SCHEMAS_PATH.into());
    // What the server writes is described as serialized (every field it always sends is
    // required); what it reads, as deserialized (a field with a default may be left out).
    let mut generator = settings.clone().for_serialize().into_generator();
    let mut inputs = settings.for_deserialize().into_generator();
    let mut messages = Map::new();
    let mut operations = Map::new();
    let channel = json!({ "$ref": "#/channels/socket" });
    let message_ref = |name: &str| json!({ "$ref": format!("#/channels/socket/messages/{name}") });

    for frame in server_frames() {
        let data = (frame.schema)(&mut generator).to_value();
        let kind = frame.kind.as_str();
        let name = server_message(kind);
        messages.insert(
            name.clone(),
            json!({
                "name": kind,
                "title": kind,
                "summary": frame.summary,
                "payload": server_envelope(kind, frame.sequencing, data),
            }),
        );
        operations.insert(
            format!("receive.{kind}"),
            json!({ "action": "receive", "channel": channel, "summary": frame.summary, "messages": [message_ref(&name)] }),
        );
    }
    messages.insert(
        CUSTOM_EVENT.into(),
        json!({
            "name": "custom.*",
            "summary": "An event an admin pushed to the user (POST /v1/admin/users/{id}/events)",
            "payload": feed_envelope(json!({ "type": "string", "pattern": "^custom\\.[a-z0-9_.]+$" }), json!({ "type": "object" })),
        }),
    );
    operations.insert(
        "receive.custom".into(),
        json!({ "action": "receive", "channel": channel, "messages": [message_ref(CUSTOM_EVENT)] }),
    );

    let error = error_reply();
    messages.insert(
        ERROR_REPLY.into(),
        json!({ "name": "error", "summary": "The frame was refused; the socket stays open", "payload": error }),
    );
    for frame in frames::documents() {
        let data = (frame.data)(&mut inputs).to_value();
        let reply = (frame.reply)(&mut generator).to_value();
        let (send, answer) = (client_message(frame.kind), reply_message(frame.kind));
        messages.insert(
            send.clone(),
            json!({
                "name": frame.kind,
                "title": frame.kind,
                "summary": frame.summary,
                "payload": {
                    "type": "object",
                    "required": ["type"],
                    "additionalProperties": false,
                    "properties": {
                        "id": { "type": "integer", "minimum": 0, "description": "Chosen by the app; the reply carries it as `reply_to`" },
                        "type": { "const": frame.kind },
                        "data": data,
                    },
                },
            }),
        );
        messages.insert(
            answer.clone(),
            json!({
                "name": format!("{} reply", frame.kind),
                "payload": {
                    "type": "object",
                    "required": ["reply_to", "ok", "data"],
                    "additionalProperties": false,
                    "properties": {
                        "reply_to": { "type": ["integer", "null"] },
                        "ok": { "const": true },
                        "data": reply,
                    },
                },
            }),
        );
        operations.insert(
            format!("send.{}", frame.kind),
            json!({
                "action": "send",
                "channel": channel,
                "summary": frame.summary,
                "messages": [message_ref(&send)],
                "reply": { "channel": channel, "messages": [message_ref(&answer), message_ref(ERROR_REPLY)] },
            }),
        );
    }

    let channel_messages: Map<String, Value> = messages
        .keys()
        .map(|name| {
            let reference = json!({ "$ref": format!("#/components/messages/{name}") });
            (name.clone(), reference)
        })
        .collect();
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "fitpulse socket",
            "version": "1",
            "description": "One WebSocket per device (docs/protocol.md). Server frames: events of the user's feed carry `seq`; class events a participant receives carry `class_seq` and `class_id`; notices carry neither. Client frames get exactly one reply each, matched by `reply_to`.",
        },
        "defaultContentType": "application/json",
        "channels": {
            "socket": {
                "address": "/v1/ws",
                "title": "A device's socket",
                "description": "Authenticated with `Authorization: Bearer` or `?access_token=`; `?since=` resumes after that seq; `platform`, `app_version` and `locale` describe the device.",
                "messages": channel_messages,
            },
        },
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": merge(inputs.take_definitions(true), generator.take_definitions(true))
                .unwrap_or_else(|err| panic!("the socket's schemas disagree: {err}")),
        },
    })
}

fn at() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn feed_envelope(kind: Value, data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["seq", "type", "at", "data"],
        "additionalProperties": false,
        "properties": { "seq": { "type": "integer", "minimum": 1 }, "type": kind, "at": at(), "data": data },
    })
}

fn class_envelope(kind: Value, data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["class_seq", "class_id", "type", "at", "data"],
        "additionalProperties": false,
        "properties": {
            "class_seq": { "type": "integer", "minimum": 1 },
            "class_id": { "type": "string" },
            "type": kind,
            "at": at(),
            "data": data,
        },
    })
}

fn notice_envelope(kind: Value, data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["type", "at", "data"],
        "additionalProperties": false,
        "properties": { "type": kind, "at": at(), "data": data },
    })
}

fn server_envelope(kind: &str, sequencing: Sequencing, data: Value) -> Value {
    let kind = json!({ "const": kind });
    match sequencing {
        Sequencing::Feed => feed_envelope(kind, data),
        Sequencing::Notice => notice_envelope(kind, data),
        Sequencing::Class => {
            json!({ "oneOf": [class_envelope(kind.clone(), data.clone()), feed_envelope(kind, data)] })
        }
        Sequencing::FeedAndNotice => {
            json!({ "oneOf": [feed_envelope(kind.clone(), data.clone()), notice_envelope(kind, data)] })
        }
    }
}

fn error_reply() -> Value {
    json!({
        "type": "object",
        "required": ["reply_to", "error"],
        "additionalProperties": false,
        "properties": {
            "reply_to": { "type": ["integer", "null"], "description": "`null` when the frame had no readable id" },
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": false,
                "properties": {
                    "code": { "type": "string", "description": "A code of the error catalogue (docs/protocol.md)" },
                    "message": { "type": "string" },
                },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::from_str(document()).expect("JSON")
    }

    #[test]
    fn every_ref_points_into_the_components() {
        let doc = doc();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"").skip(1) {
            let target = part.split('"').next().expect("ref");
            let pointer = target.trim_start_matches('#');
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/asyncapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == document(),
            "docs/asyncapi.json is stale: run `cargo run -- asyncapi > docs/asyncapi.json`"
        );
    }

    /// Every frame type docs/protocol.md names (a dotted name of a known family, in a
    /// table, the text or an example) is a message of the document, and every message a
    /// frame the protocol names.
    #[test]
    fn the_document_has_every_frame_of_the_protocol() {
        let protocol = include_str!("../../docs/protocol.md");
        let families = [
            "session.",
            "resume.",
            "token.",
            "content.",
            "drop.",
            "plan.",
            "entitlements.",
            "order.",
            "message.",
            "community.",
            "live.",
            "feed.",
            "auth.",
        ];
        let doc = doc();
        let messages = doc["components"]["messages"].as_object().expect("messages");
        let mut named = std::collections::BTreeSet::new();
        let words = protocol.split(|c: char| !(c.is_ascii_lowercase() || c == '.' || c == '_'));
        for word in words.map(|w| w.trim_end_matches('.')) {
            let is_kind = families
                .iter()
                .any(|f| word.starts_with(f) && word.len() > f.len());
            if is_kind {
                named.insert(word.to_owned());
            }
        }
        named.insert("ping".into());
        for kind in &named {
            assert!(
                messages.contains_key(kind) || messages.contains_key(&client_message(kind)),
                "docs/protocol.md names `{kind}`, the AsyncAPI document has no such frame"
            );
        }
        for (name, message) in messages {
            let kind = message["name"].as_str().expect("name");
            if name.starts_with("reply.") || name == CUSTOM_EVENT {
                continue;
            }
            assert!(named.contains(kind), "`{kind}` is not in docs/protocol.md");
        }
    }
}
