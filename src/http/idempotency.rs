//! `Idempotency-Key` for writes that cost money: the first request with a key runs and its
//! answer is stored; a retry with the same key and body gets that answer again (nothing
//! runs twice); the same key with a different body is 422; a retry while the first is
//! still running is 409, and once the first's claim lapsed without an answer (its node
//! died) a retry takes it over. Keys are scoped to the route and the caller, and
//! remembered for a day. The service that runs the write stores the answer with it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use fitpulse_actors::ports::store::{IdempotencyKey, StoredResponse};

use super::{ApiError, ErrorCode};

pub const HEADER: &str = "idempotency-key";

/// The request's key within `scope`: 1-200 printable characters, required.
pub fn key_of(req: &HttpRequest, scope: String) -> Result<IdempotencyKey, ApiError> {
    let key = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::new(ErrorCode::IdempotencyKeyRequired)
                .with_message("send an `Idempotency-Key` header (1-200 printable characters)")
        })?;
    Ok(IdempotencyKey {
        scope,
        key: key.to_owned(),
    })
}

/// What tells two bodies sent with one key apart.
pub fn fingerprint(body: &[u8]) -> String {
    crate::digest::sha256_hex(body)
}

/// The stored answer of the key's first request, replayed.
pub fn replay(stored: &StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .insert_header(("idempotent-replayed", "true"))
        .content_type("application/json")
        .body(stored.body.clone())
}

/// The key was sent before with another body.
pub fn reused() -> ApiError {
    ApiError::new(ErrorCode::IdempotencyKeyReused)
}

/// Another request with the key has not answered yet.
pub fn running() -> ApiError {
    ApiError::new(ErrorCode::Conflict)
        .with_message("a request with this Idempotency-Key is still running; retry shortly")
}
