//! `Idempotency-Key` for writes that cost money: the first request with a key runs and its
//! answer is stored; a retry with the same key and body gets that answer again (nothing
//! runs twice); the same key with a different body is 422; a retry while the first is
//! still running is 409. Keys are scoped to the route and the caller, and remembered for a
//! day.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use fitpulse_actors::ports::store::{IdempotencyClaim, IdempotencyKey, StoredResponse};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{ApiError, ErrorCode};
use crate::store::Stores;

pub const HEADER: &str = "idempotency-key";

/// A claimed key: run the request, then [`Claim::finish`] with its answer.
pub struct Claim {
    key: IdempotencyKey,
}

/// What to do with a request carrying a key.
pub enum Idempotent {
    Run(Claim),
    Replay(HttpResponse),
}

/// Reads and claims the request's key within `scope` for a body fingerprinted by `body`.
pub async fn claim(
    req: &HttpRequest,
    stores: &Stores,
    scope: String,
    body: &[u8],
) -> Result<Idempotent, ApiError> {
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
    let fingerprint: String = Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = IdempotencyKey {
        scope,
        key: key.to_owned(),
    };
    match stores.idempotency.claim(&key, &fingerprint).await? {
        IdempotencyClaim::Fresh => Ok(Idempotent::Run(Claim { key })),
        IdempotencyClaim::Seen {
            fingerprint: first, ..
        } if first != fingerprint => Err(ApiError::new(ErrorCode::IdempotencyKeyReused)),
        IdempotencyClaim::Seen { response: None, .. } => Err(ApiError::new(ErrorCode::Conflict)
            .with_message("a request with this Idempotency-Key is still running; retry shortly")),
        IdempotencyClaim::Seen {
            response: Some(stored),
            ..
        } => {
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            Ok(Idempotent::Replay(
                HttpResponse::build(status)
                    .insert_header(("idempotent-replayed", "true"))
                    .content_type("application/json")
                    .body(stored.body),
            ))
        }
    }
}

impl Claim {
    /// Stores the answer for retries and answers it.
    pub async fn finish(
        self,
        stores: &Stores,
        status: StatusCode,
        body: Value,
    ) -> Result<HttpResponse, ApiError> {
        let text = body.to_string();
        stores
            .idempotency
            .complete(
                &self.key,
                &StoredResponse {
                    status: status.as_u16(),
                    body: text.clone(),
                },
            )
            .await?;
        Ok(HttpResponse::build(status)
            .content_type("application/json")
            .body(text))
    }
}
