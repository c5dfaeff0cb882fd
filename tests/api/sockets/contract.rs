//! Every frame a test socket receives is checked against the AsyncAPI document
//! (`fitpulse::ws::asyncapi`): a server frame against the message of its `type`, a reply
//! against the reply message of the frame it answers (or the error reply). A frame that
//! does not match fails the test, so the protocol and its document cannot drift.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use fitpulse::ws::asyncapi::{self, CUSTOM_EVENT, ERROR_REPLY};
use serde_json::Value;

struct Document {
    doc: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static DOCUMENT: LazyLock<Document> = LazyLock::new(|| Document {
    doc: serde_json::from_str(asyncapi::document()).expect("JSON document"),
    validators: Mutex::default(),
});

fn validator(message: &str) -> Arc<jsonschema::Validator> {
    let mut validators = DOCUMENT.validators.lock().expect("validators");
    validators
        .entry(message.to_owned())
        .or_insert_with(|| {
            let payload = DOCUMENT.doc["components"]["messages"][message]["payload"].clone();
            assert!(
                payload.is_object(),
                "contract: the AsyncAPI document has no message `{message}`"
            );
            // The payload as the root, the components beside it so that
            // `#/components/schemas/...` resolves in the same document.
            let mut root = payload;
            root["components"] = DOCUMENT.doc["components"].clone();
            Arc::new(jsonschema::draft7::new(&root).expect("the schema compiles"))
        })
        .clone()
}

fn check_against(message: &str, frame: &Value) {
    let errors: Vec<String> = validator(message)
        .iter_errors(frame)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "contract: a frame does not match `{message}` of the AsyncAPI document: {errors:?}\nframe: {frame}"
    );
}

/// Panics unless `frame` (from the server) meets the document. `sent` names the type of
/// each client frame by id, to find what a reply answers.
pub fn check(frame: &Value, sent: &HashMap<u64, String>) {
    if frame.get("reply_to").is_some() {
        if frame.get("error").is_some() {
            // An error answers a frame this socket sent, or one without a readable id.
            let id = frame["reply_to"].as_u64();
            assert!(
                id.is_none_or(|id| sent.contains_key(&id)),
                "contract: an error reply to no frame this socket sent: {frame}"
            );
            return check_against(ERROR_REPLY, frame);
        }
        let kind = frame["reply_to"]
            .as_u64()
            .and_then(|id| sent.get(&id))
            .unwrap_or_else(|| panic!("contract: a reply to no frame this socket sent: {frame}"));
        return check_against(&asyncapi::reply_message(kind), frame);
    }
    let kind = frame["type"].as_str().unwrap_or_default();
    if kind.starts_with("custom.") {
        return check_against(CUSTOM_EVENT, frame);
    }
    check_against(&asyncapi::server_message(kind), frame);
}
