//! Cacheable answers: a strong `ETag`, `Cache-Control`, optional `Vary`, and `304 Not
//! Modified` when the caller's `If-None-Match` already names the tag.
//!
//! Tags come either from the body (hash of the bytes) or, where the server knows what a
//! body depends on, from those inputs (a read model's version and the query), which lets a
//! 304 be answered without rendering anything.

use actix_web::http::header::{self, ETag, EntityTag, IfNoneMatch};
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// How a cacheable answer may be kept.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    pub max_age_seconds: u32,
    /// `public` (shared caches may keep it) or `private` (only the caller's).
    pub public: bool,
    /// The answer depends on the caller's token.
    pub vary_authorization: bool,
}

/// A strong tag from arbitrary bytes.
pub fn tag_of(bytes: &[u8]) -> EntityTag {
    let digest = Sha256::digest(bytes);
    EntityTag::new_strong(digest.iter().take(12).map(|b| format!("{b:02x}")).collect())
}

/// True when the request's `If-None-Match` already names `tag`.
pub fn not_modified(req: &HttpRequest, tag: &EntityTag) -> bool {
    match <IfNoneMatch as header::Header>::parse(req) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(tag)),
        Err(_) => false,
    }
}

/// Answers `body` (JSON text) under `tag`, or 304 when the caller has it.
pub fn respond(
    req: &HttpRequest,
    tag: EntityTag,
    policy: CachePolicy,
    body: impl FnOnce() -> String,
) -> HttpResponse {
    let fresh = not_modified(req, &tag);
    let mut builder = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    let scope = if policy.public { "public" } else { "private" };
    builder.insert_header(ETag(tag)).insert_header((
        header::CACHE_CONTROL,
        format!("{scope}, max-age={}", policy.max_age_seconds),
    ));
    if policy.vary_authorization {
        builder.insert_header((header::VARY, "Authorization"));
    }
    if fresh {
        builder.finish()
    } else {
        builder.content_type("application/json").body(body())
    }
}

/// Answers `body` under a tag computed from its bytes.
pub fn respond_hashed(req: &HttpRequest, policy: CachePolicy, body: String) -> HttpResponse {
    let tag = tag_of(body.as_bytes());
    respond(req, tag, policy, || body)
}
