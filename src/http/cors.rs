//! Cross-origin access for web apps served from other origins (`http.cors.allowed_origins`).
//! Only the listed origins get CORS headers; any other origin's request is served as if it
//! had no `Origin` (the browser then keeps the answer from the page), so same-origin
//! consoles, cURL and servers are never refused. Preflights are answered for the methods
//! and headers the API takes. The answers a client needs to see are exposed: `ETag`,
//! `Retry-After`, `x-request-id`. No credentials mode: the API takes bearer tokens, not
//! cookies.

use actix_cors::Cors;
use actix_web::http::{Method, header};

use crate::config::CorsSettings;

/// How long a browser may reuse a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: usize = 600;

/// The middleware for `settings`; `None` when no origin is allowed.
pub fn middleware(settings: &CorsSettings) -> Option<Cors> {
    if settings.allowed_origins.is_empty() {
        return None;
    }
    let cors = settings
        .allowed_origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            header::HeaderName::from_static("x-request-id"),
        ])
        .max_age(PREFLIGHT_MAX_AGE);
    Some(cors)
}
