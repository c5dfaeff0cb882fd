//! The one error catalogue of the API, REST and socket alike. Every error a route or a
//! socket frame can answer has a stable snake_case code, an HTTP status and a message,
//! rendered on REST as `{"error":{"code":"...","message":"...","details":{}}}` and in a
//! socket reply as `{"reply_to":7,"error":{"code":"...","message":"..."}}`. Lower modules
//! return typed errors that convert into [`ApiError`] (or, on a socket, their
//! [`ErrorCode`]); unexpected ones answer an opaque 500 and log their cause.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, ResponseError, error::JsonPayloadError};
use fitpulse_actors::domain::text;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// Every error code the API can answer, with its status in [`ErrorCode::status`]. Its schema
/// (and `Deserialize`, for clients and tests) spell every variant in snake_case, as
/// [`ErrorCode::as_str`] does (a test holds them together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    MalformedJson,
    InvalidBody,
    InvalidQuery,
    InvalidPath,
    InvalidField,
    IdempotencyKeyRequired,
    Unauthorized,
    InvalidToken,
    InvalidSignature,
    StaleTimestamp,
    TokenExpired,
    Forbidden,
    PremiumRequired,
    NotFound,
    NoPlan,
    MethodNotAllowed,
    Conflict,
    SoldOut,
    LimitReached,
    NotStarted,
    NotAdmitted,
    IdempotencyKeyReused,
    EmailTaken,
    AlreadyUpgraded,
    EmailNotVerified,
    InvalidLink,
    AlreadyVerified,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    NotReady,
    NotConfigured,
    Internal,
    MalformedFrame,
    InvalidFrame,
    UnknownType,
    UnsupportedFrame,
    AckBeyondHead,
    Unavailable,
    ClassNotFound,
    ClassNotOpen,
    ClassOver,
    ClassNotLive,
    ImplausibleMetric,
    NoTimeline,
    ClockStopped,
    ClassNotEnded,
    NotJoined,
    UnknownParticipant,
}

impl ErrorCode {
    /// The catalogue: code string, HTTP status and default message of each error.
    #[rustfmt::skip]
    const fn entry(self) -> (&'static str, StatusCode, &'static str) {
        use ErrorCode::*;
        use StatusCode as S;
        match self {
            MalformedJson =>        ("malformed_json",         S::BAD_REQUEST,            "the body is not valid JSON"),
            InvalidBody =>          ("invalid_body",           S::BAD_REQUEST,            "the body does not have the expected shape"),
            InvalidQuery =>         ("invalid_query",          S::BAD_REQUEST,            "the query string is invalid"),
            InvalidPath =>          ("invalid_path",           S::BAD_REQUEST,            "a path parameter is invalid"),
            InvalidField =>         ("invalid_field",          S::BAD_REQUEST,            "a field has an invalid value"),
            IdempotencyKeyRequired => ("idempotency_key_required", S::BAD_REQUEST,        "this request needs an Idempotency-Key header"),
            Unauthorized =>         ("unauthorized",           S::UNAUTHORIZED,           "a valid access token is required"),
            InvalidToken =>         ("invalid_token",          S::UNAUTHORIZED,           "the access token is not valid"),
            InvalidSignature =>     ("invalid_signature",      S::UNAUTHORIZED,           "the signature does not verify"),
            StaleTimestamp =>       ("stale_timestamp",        S::BAD_REQUEST,            "the signed timestamp is outside the accepted window"),
            TokenExpired =>         ("token_expired",          S::UNAUTHORIZED,           "the access token has expired"),
            Forbidden =>            ("forbidden",              S::FORBIDDEN,              "the token does not allow this"),
            PremiumRequired =>      ("premium_required",       S::FORBIDDEN,              "this needs the premium entitlement"),
            NotFound =>             ("not_found",              S::NOT_FOUND,              "no such resource"),
            NoPlan =>               ("no_plan",                S::NOT_FOUND,              "you do not follow a plan; choose one with PUT /v1/me/plan"),
            MethodNotAllowed =>     ("method_not_allowed",     S::METHOD_NOT_ALLOWED,     "the method is not allowed on this resource"),
            Conflict =>             ("conflict",               S::CONFLICT,               "the request conflicts with the current state"),
            SoldOut =>              ("sold_out",               S::CONFLICT,               "sold out"),
            LimitReached =>         ("limit_reached",          S::CONFLICT,               "you already hold as many as one buyer may"),
            NotStarted =>           ("not_started",            S::CONFLICT,               "the sale has not started yet"),
            NotAdmitted =>          ("not_admitted",           S::CONFLICT,               "wait for your turn in the waiting room"),
            IdempotencyKeyReused => ("idempotency_key_reused", S::UNPROCESSABLE_ENTITY,   "this Idempotency-Key was used with a different request"),
            EmailTaken =>           ("email_taken",            S::CONFLICT,               "an account with this email already exists; sign in, or reset the password"),
            AlreadyUpgraded =>      ("already_upgraded",       S::CONFLICT,               "this account already has an email"),
            EmailNotVerified =>     ("email_not_verified",     S::FORBIDDEN,              "verify your email first, then refresh the access token"),
            InvalidLink =>          ("invalid_link",           S::BAD_REQUEST,            "the link is not valid, has expired or was already used"),
            AlreadyVerified =>      ("already_verified",       S::CONFLICT,               "this email is already verified"),
            PayloadTooLarge =>      ("payload_too_large",      S::PAYLOAD_TOO_LARGE,      "the body is larger than allowed"),
            UnsupportedMediaType => ("unsupported_media_type", S::UNSUPPORTED_MEDIA_TYPE, "the body must be application/json"),
            RateLimited =>          ("rate_limited",           S::TOO_MANY_REQUESTS,      "too many requests; slow down"),
            NotReady =>             ("not_ready",              S::SERVICE_UNAVAILABLE,    "the server is not ready to serve this"),
            NotConfigured =>        ("not_configured",         S::SERVICE_UNAVAILABLE,    "this is not configured on this server"),
            Internal =>             ("internal",               S::INTERNAL_SERVER_ERROR,  "an unexpected error occurred"),
            MalformedFrame =>       ("malformed_frame",        S::BAD_REQUEST,            "the frame is not JSON"),
            InvalidFrame =>         ("invalid_frame",          S::BAD_REQUEST,            "the frame does not have the expected shape"),
            UnknownType =>          ("unknown_type",           S::BAD_REQUEST,            "unknown frame type"),
            UnsupportedFrame =>     ("unsupported_frame",      S::BAD_REQUEST,            "frames are JSON text; binary frames are not accepted"),
            AckBeyondHead =>        ("ack_beyond_head",        S::BAD_REQUEST,            "the acknowledged seq is beyond the newest event"),
            Unavailable =>          ("unavailable",            S::SERVICE_UNAVAILABLE,    "not available right now; try again"),
            ClassNotFound =>        ("class_not_found",        S::NOT_FOUND,              "no such class"),
            ClassNotOpen =>         ("class_not_open",         S::CONFLICT,               "the class is not open yet"),
            ClassOver =>            ("class_over",             S::CONFLICT,               "the class is over"),
            ClassNotLive =>         ("class_not_live",         S::CONFLICT,               "the class is not live"),
            ImplausibleMetric =>    ("implausible_metric",     S::UNPROCESSABLE_ENTITY,   "the metric is implausible and was not counted"),
            NoTimeline =>           ("no_timeline",            S::CONFLICT,               "the class has no workout, so no intervals"),
            ClockStopped =>         ("clock_stopped",          S::CONFLICT,               "the class clock is not running"),
            ClassNotEnded =>        ("class_not_ended",        S::CONFLICT,               "the class has not ended"),
            NotJoined =>            ("not_joined",             S::CONFLICT,               "join the class first"),
            UnknownParticipant =>   ("unknown_participant",    S::NOT_FOUND,              "that participant is not in the class"),
        }
    }

    pub const fn as_str(self) -> &'static str {
        self.entry().0
    }

    pub const fn status(self) -> StatusCode {
        self.entry().1
    }

    pub const fn default_message(self) -> &'static str {
        self.entry().2
    }

    /// The code for an error response produced outside our handlers (router, framework).
    pub fn from_status(status: StatusCode) -> ErrorCode {
        use ErrorCode::*;
        match status {
            StatusCode::BAD_REQUEST => InvalidBody,
            StatusCode::UNAUTHORIZED => Unauthorized,
            StatusCode::FORBIDDEN => Forbidden,
            StatusCode::NOT_FOUND => NotFound,
            StatusCode::METHOD_NOT_ALLOWED => MethodNotAllowed,
            StatusCode::CONFLICT => Conflict,
            StatusCode::PAYLOAD_TOO_LARGE => PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => UnsupportedMediaType,
            StatusCode::TOO_MANY_REQUESTS => RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => NotReady,
            _ => Internal,
        }
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered by the API. Build one with [`ApiError::new`] or a `From` conversion.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
    details: Option<Value>,
    retry_after_seconds: Option<u64>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// A required one-line text field of 1 to `max` characters that passes the text policy
/// (`fitpulse_actors::domain::text`); answers the cleaned text (trimmed, NFC).
pub fn bounded_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    text::line(value, max).map_err(|e| ApiError::invalid_field(field, e))
}

/// Like [`bounded_text`] for texts that may span several lines (posts, comments, notes).
pub fn long_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    text::long(value, max).map_err(|e| ApiError::invalid_field(field, e))
}

/// True if the request says its body is JSON (`application/json` or a `+json` type).
pub fn is_json_request(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Refuses a body that does not say it is JSON with 415, as the JSON extractor does, for
/// routes that read the raw bytes (to fingerprint or verify them) before parsing.
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    if is_json_request(req) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::UnsupportedMediaType))
    }
}

/// A path segment that must be a UUID; `what` names it in the error.
pub fn uuid_path(raw: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| {
        ApiError::new(ErrorCode::InvalidPath).with_message(format!("`{what}`: not a UUID"))
    })
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        ApiError {
            code,
            message: Cow::Borrowed(code.default_message()),
            details: None,
            retry_after_seconds: None,
            source: None,
        }
    }

    /// A 429 telling the caller when to try again.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        ApiError {
            retry_after_seconds: Some(retry_after_seconds),
            ..ApiError::new(ErrorCode::RateLimited)
        }
        .with_details(serde_json::json!({ "retry_after_seconds": retry_after_seconds }))
    }

    /// A 400 naming the offending field and why.
    pub fn invalid_field(field: &str, reason: impl std::fmt::Display) -> Self {
        ApiError::new(ErrorCode::InvalidField)
            .with_message(format!("`{field}`: {reason}"))
            .with_details(serde_json::json!({ "field": field, "reason": reason.to_string() }))
    }

    /// A 400 naming the offending query parameter and why.
    pub fn invalid_query(param: &str, reason: impl std::fmt::Display) -> Self {
        ApiError::new(ErrorCode::InvalidQuery)
            .with_message(format!("`{param}`: {reason}"))
            .with_details(serde_json::json!({ "param": param, "reason": reason.to_string() }))
    }

    /// An opaque 500 that logs `cause` (and its chain) but never shows it to the caller.
    pub fn internal(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError {
            source: Some(Box::new(cause)),
            ..ApiError::new(ErrorCode::Internal)
        }
    }

    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl From<fitpulse_actors::ports::store::StoreError> for ApiError {
    fn from(err: fitpulse_actors::ports::store::StoreError) -> Self {
        use fitpulse_actors::ports::store::StoreError;
        match err {
            StoreError::Conflict { what } => {
                ApiError::new(ErrorCode::Conflict).with_message(format!("{what} already exists"))
            }
            StoreError::Unavailable(_) => ApiError {
                source: Some(Box::new(err)),
                retry_after_seconds: Some(1),
                ..ApiError::new(ErrorCode::NotReady)
            },
            StoreError::Backend(_) => ApiError::internal(err),
        }
    }
}

impl From<&fitpulse_actors::session::SessionError> for ErrorCode {
    fn from(err: &fitpulse_actors::session::SessionError) -> Self {
        use fitpulse_actors::session::SessionError;
        match err {
            SessionError::AckBeyondHead(_) => ErrorCode::AckBeyondHead,
            SessionError::Unavailable | SessionError::Store(_) => ErrorCode::Unavailable,
        }
    }
}

impl From<fitpulse_actors::session::SessionError> for ApiError {
    fn from(err: fitpulse_actors::session::SessionError) -> Self {
        let code = ErrorCode::from(&err);
        ApiError {
            retry_after_seconds: (code == ErrorCode::Unavailable).then_some(1),
            ..ApiError::new(code).with_message(err.to_string())
        }
    }
}

impl From<&fitpulse_actors::live::LiveError> for ErrorCode {
    fn from(err: &fitpulse_actors::live::LiveError) -> Self {
        use fitpulse_actors::live::LiveError;
        match err {
            LiveError::NotFound => ErrorCode::ClassNotFound,
            LiveError::NotOpen => ErrorCode::ClassNotOpen,
            LiveError::ClassOver => ErrorCode::ClassOver,
            LiveError::PremiumRequired => ErrorCode::PremiumRequired,
            LiveError::NotCoach => ErrorCode::Forbidden,
            LiveError::NotJoined => ErrorCode::NotJoined,
            LiveError::NotLive => ErrorCode::ClassNotLive,
            LiveError::Implausible(_) => ErrorCode::ImplausibleMetric,
            LiveError::NoTimeline => ErrorCode::NoTimeline,
            LiveError::ClockStopped => ErrorCode::ClockStopped,
            LiveError::RateLimited => ErrorCode::RateLimited,
            LiveError::UnknownParticipant => ErrorCode::UnknownParticipant,
            LiveError::Unavailable => ErrorCode::Unavailable,
        }
    }
}

impl From<&fitpulse_actors::replay::ReplayError> for ErrorCode {
    fn from(err: &fitpulse_actors::replay::ReplayError) -> Self {
        use fitpulse_actors::replay::ReplayError;
        match err {
            ReplayError::ClassNotFound => ErrorCode::ClassNotFound,
            ReplayError::ClassNotEnded => ErrorCode::ClassNotEnded,
            ReplayError::PremiumRequired => ErrorCode::PremiumRequired,
            ReplayError::NotFound => ErrorCode::NotFound,
            ReplayError::Finished => ErrorCode::Conflict,
            ReplayError::BadOffset(_) => ErrorCode::InvalidFrame,
            ReplayError::Implausible(_) => ErrorCode::ImplausibleMetric,
            ReplayError::RateLimited | ReplayError::TooMany | ReplayError::StartsSpent(_) => {
                ErrorCode::RateLimited
            }
            ReplayError::Unavailable | ReplayError::NotLoaded => ErrorCode::Unavailable,
        }
    }
}

impl From<fitpulse_actors::replay::ReplayError> for ApiError {
    fn from(err: fitpulse_actors::replay::ReplayError) -> Self {
        if let fitpulse_actors::replay::ReplayError::StartsSpent(seconds) = err {
            return ApiError::rate_limited(seconds.max(1)).with_message(err.to_string());
        }
        let code = ErrorCode::from(&err);
        ApiError {
            retry_after_seconds: (code == ErrorCode::Unavailable).then_some(1),
            ..ApiError::new(code).with_message(err.to_string())
        }
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        ApiError::new(code)
    }
}

/// Every error answer: `{"error":{"code","message","details"}}`.
#[derive(Serialize, JsonSchema)]
pub struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize, JsonSchema)]
struct ErrorObject<'a> {
    /// Stable; clients branch on it.
    code: ErrorCode,
    /// For people; may change.
    message: &'a str,
    /// Facts about the error (the field, the limit, when to retry); `{}` when there are none.
    #[schemars(with = "serde_json::Map<String, Value>")]
    details: &'a Value,
}

/// The JSON bytes of an error body; used by handlers and by the middleware that
/// rewrites framework-made error responses.
pub fn error_body(code: ErrorCode, message: &str, details: Option<&Value>) -> String {
    let empty = Value::Object(serde_json::Map::new());
    let body = ErrorBody {
        error: ErrorObject {
            code,
            message,
            details: details.unwrap_or(&empty),
        },
    };
    // Serializing a struct of strings and a Value cannot fail.
    serde_json::to_string(&body).expect("error body serializes")
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        if self.code == ErrorCode::Internal
            || (self.source.is_some() && self.status_code().is_server_error())
        {
            let chain = error_chain(self);
            tracing::error!(error.chain = %chain, code = self.code.as_str(), "request failed on the server side");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(ContentType::json());
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header((actix_web::http::header::RETRY_AFTER, seconds));
        }
        if self.status_code() == StatusCode::UNAUTHORIZED {
            let challenge = match self.code {
                ErrorCode::InvalidToken | ErrorCode::TokenExpired => {
                    format!(
                        r#"Bearer error="invalid_token", error_description="{}""#,
                        self.message
                    )
                }
                _ => "Bearer".to_owned(),
            };
            response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, challenge));
        }
        response.body(error_body(self.code, &self.message, self.details.as_ref()))
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// Maps a JSON extractor failure to the catalogue: oversize 413, wrong type 415,
/// syntax errors `malformed_json`, well-formed JSON of the wrong shape `invalid_body`.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { length, limit } => {
            ApiError::new(ErrorCode::PayloadTooLarge)
                .with_details(serde_json::json!({ "limit_bytes": limit, "length_bytes": length }))
        }
        JsonPayloadError::Overflow { limit } => ApiError::new(ErrorCode::PayloadTooLarge)
            .with_details(serde_json::json!({ "limit_bytes": limit })),
        JsonPayloadError::ContentType => ApiError::new(ErrorCode::UnsupportedMediaType),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::new(ErrorCode::InvalidBody).with_message(e.to_string())
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::new(ErrorCode::MalformedJson).with_message(e.to_string())
        }
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::new(ErrorCode::PayloadTooLarge)
        }
        _ => ApiError::new(ErrorCode::MalformedJson),
    };
    api.into()
}

/// Maps a query-string extractor failure to `invalid_query`.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::new(ErrorCode::InvalidQuery)
        .with_message(err.to_string())
        .into()
}

/// Maps a path-parameter extractor failure to `invalid_path`.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::new(ErrorCode::InvalidPath)
        .with_message(err.to_string())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_snake_case_unique_and_spelt_as_its_schema_says() {
        // The schema's enum is derived from the variants, so it names every one of them.
        let schema = schemars::schema_for!(ErrorCode).to_value();
        let names = schema["enum"].as_array().expect("an enum of codes");
        assert!(names.len() >= 40, "{schema}");
        let mut seen = std::collections::HashSet::new();
        for name in names {
            let code: ErrorCode = serde_json::from_value(name.clone()).expect("a code");
            let s = code.as_str();
            assert_eq!(name, s, "the catalogue spells it as the schema does");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn an_internal_error_hides_its_cause_from_the_caller() {
        let err = ApiError::internal(std::io::Error::other("disk on fire at /secret/path"));
        let body = err.error_response().into_body();
        let bytes = actix_web::body::to_bytes(body);
        let bytes = block_on(bytes).expect("body bytes");
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8 body");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("\"code\":\"internal\""), "{text}");
    }

    #[test]
    fn the_error_body_always_carries_a_details_object() {
        let body: Value =
            serde_json::from_str(&error_body(ErrorCode::NotFound, "gone", None)).expect("json");
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["error"]["message"], "gone");
        assert!(body["error"]["details"].is_object());
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }
}
