//! Reply envelopes: `{"reply_to":7,"ok":true,"data":{...}}` and
//! `{"reply_to":7,"error":{"code":"...","message":"..."}}` (`reply_to` is null when the
//! frame had no readable id).

use bytestring::ByteString;
use serde::Serialize;
use serde_json::json;

use crate::http::ErrorCode;

pub fn ok(id: Option<u64>, data: &impl Serialize) -> ByteString {
    ByteString::from(json!({ "reply_to": id, "ok": true, "data": data }).to_string())
}

/// The data of a reply that says nothing but "done": `{}`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Done {}

/// An error reply with a code of the catalogue (`crate::http::error`).
pub fn error(id: Option<u64>, code: ErrorCode, message: &str) -> ByteString {
    ByteString::from(
        json!({ "reply_to": id, "error": { "code": code.as_str(), "message": message } })
            .to_string(),
    )
}
