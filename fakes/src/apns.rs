//! A fake of Apple's provider API (`POST /3/device/<token>` over HTTP/2). It checks what
//! Apple checks, in Apple's words: the provider token (ES256, the expected key id and team,
//! at most an hour old by the fake's clock, signed by the expected key), `apns-topic`,
//! `apns-push-type`, `apns-priority`, `apns-expiration`, `apns-collapse-id`, the device
//! token's format and the JSON payload. Pushes that pass are recorded; a test can unregister
//! a token (410) or make its next requests fail (503, 429).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Clock;
use crate::ca::TestCa;
use crate::keys::ApnsKey;
use crate::script::{Fault, Log, Refusal, Tokens};
use crate::server::{Handler, Request, Response, Server};

/// Apple refuses provider tokens older than this (seconds).
pub const PROVIDER_TOKEN_LIFETIME_SECONDS: i64 = 60 * 60;
/// The largest payload of an alert (bytes).
pub const MAX_PAYLOAD_BYTES: usize = 4 * 1024;
const PUSH_TYPES: &[&str] = &[
    "alert",
    "background",
    "location",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "pushtotalk",
];

/// One push the fake accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct ApnsPush {
    /// The device token from the path.
    pub token: String,
    /// Every request header, names in lower case (`authorization`, `apns-topic`, ...).
    pub headers: BTreeMap<String, String>,
    pub payload: Value,
}

impl ApnsPush {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

struct Expected {
    team_id: String,
    key_id: String,
    public_key: DecodingKey,
    topic: String,
}

#[derive(Default)]
struct Records {
    tokens: Tokens,
    accepted: Log<ApnsPush>,
    refused: Log<Refusal>,
}

struct State {
    expected: Expected,
    clock: Clock,
    records: Mutex<Records>,
    /// Provider tokens whose signature was verified, with their `iat`: as Apple, the
    /// fake verifies a token once and then only checks its age (a signature check per
    /// push would make the fake, not the client, what a load run measures).
    verified: Mutex<HashMap<String, i64>>,
}

/// Verified provider tokens remembered at most (a client renews every 20-60 minutes).
const VERIFIED_TOKENS: usize = 64;

impl State {
    fn records(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn verified_iat(&self, jwt: &str) -> Option<i64> {
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        verified.get(jwt).copied()
    }

    fn remember(&self, jwt: &str, iat: i64) {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(jwt.to_owned(), iat);
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// A running fake APNs; stops when dropped.
pub struct FakeApns {
    state: Arc<State>,
    server: Server,
}

impl std::fmt::Debug for FakeApns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApns")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

impl FakeApns {
    /// Starts a fake serving `ca`'s server certificate that accepts provider tokens signed
    /// by `key` (its key id, its team) for pushes to `topic`.
    pub fn start(ca: &TestCa, key: &ApnsKey, topic: &str) -> io::Result<FakeApns> {
        let state = Arc::new(State {
            expected: Expected {
                team_id: key.team_id.clone(),
                key_id: key.key_id.clone(),
                public_key: DecodingKey::from_ec_der(&key.public_key_sec1()),
                topic: topic.to_owned(),
            },
            clock: Clock::system(),
            records: Mutex::new(Records::default()),
            verified: Mutex::new(HashMap::new()),
        });
        let handler: Handler = {
            let state = state.clone();
            Arc::new(move |request| handle(&state, request))
        };
        let server = Server::start("fake-apns", ca.server_config(&[b"h2"]), handler)?;
        Ok(FakeApns { state, server })
    }

    /// `https://127.0.0.1:<port>`, for `push.apns.endpoint`.
    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// Reads the time from `now` (milliseconds since the epoch) from now on.
    pub fn set_clock(&self, now: impl Fn() -> i64 + Send + Sync + 'static) {
        self.state.clock.set(now);
    }

    /// From now on `token` is answered 410 `Unregistered`.
    pub fn unregister(&self, token: &str) {
        self.state.records().tokens.unregister(token);
    }

    /// The next `times` requests for `token` that pass the checks are answered with `fault`.
    pub fn fail_next(&self, token: &str, times: usize, fault: Fault) {
        self.state.records().tokens.fail_next(token, times, fault);
    }

    /// Requests that named `token`, whatever their answer.
    pub fn requests_for(&self, token: &str) -> u64 {
        self.state.records().tokens.requests_for(token)
    }

    /// Requests received, whatever their answer.
    pub fn requests(&self) -> u64 {
        self.state.records().tokens.total()
    }

    /// The pushes accepted (the latest [`crate::script::MAX_RECORDS`]), oldest first.
    pub fn accepted(&self) -> Vec<ApnsPush> {
        self.state.records().accepted.to_vec()
    }

    /// How many pushes were accepted in all (cheap: nothing is copied).
    pub fn accepted_total(&self) -> u64 {
        self.state.records().accepted.total()
    }

    /// The requests refused (the latest ones), oldest first.
    pub fn refused(&self) -> Vec<Refusal> {
        self.state.records().refused.to_vec()
    }
}

/// A refusal in Apple's form: `{"reason": ...}`.
fn refuse(state: &State, token: Option<&str>, status: u16, reason: &str) -> Response {
    state.records().refused.push(Refusal {
        token: token.map(str::to_owned),
        status,
        reason: reason.to_owned(),
    });
    Response::json(status, &json!({ "reason": reason }))
}

fn handle(state: &State, request: Request) -> Response {
    let Some(token) = request.path.strip_prefix("/3/device/") else {
        return refuse(state, None, 404, "BadPath");
    };
    let token = token.to_owned();
    state.records().tokens.count(&token);
    if request.method != "POST" {
        return refuse(state, Some(&token), 405, "MethodNotAllowed");
    }
    if let Err((status, reason)) = check(state, &token, &request) {
        return refuse(state, Some(&token), status, reason);
    }
    let payload = match serde_json::from_slice::<Value>(&request.body) {
        Ok(payload @ Value::Object(_)) if payload.get("aps").is_some_and(Value::is_object) => {
            payload
        }
        _ => return refuse(state, Some(&token), 400, "BadPayload"),
    };
    let fault = state.records().tokens.next_fault(&token);
    if let Some(fault) = fault {
        return match fault {
            Fault::Unavailable { retry_after } => with_retry_after(
                refuse(state, Some(&token), 503, "ServiceUnavailable"),
                retry_after,
            ),
            Fault::TooManyRequests { retry_after } => with_retry_after(
                refuse(state, Some(&token), 429, "TooManyRequests"),
                retry_after,
            ),
        };
    }
    if state.records().tokens.is_unregistered(&token) {
        let timestamp = state.now();
        state.records().refused.push(Refusal {
            token: Some(token.clone()),
            status: 410,
            reason: "Unregistered".into(),
        });
        return Response::json(
            410,
            &json!({"reason": "Unregistered", "timestamp": timestamp}),
        );
    }
    state.records().accepted.push(ApnsPush {
        token,
        headers: request.headers,
        payload,
    });
    Response {
        status: 200,
        headers: vec![("apns-id".into(), apns_id())],
        body: Vec::new(),
    }
}

fn with_retry_after(response: Response, retry_after: Option<u64>) -> Response {
    match retry_after {
        Some(seconds) => response.with_header("retry-after", seconds.to_string()),
        None => response,
    }
}

/// A random UUID-shaped `apns-id`.
fn apns_id() -> String {
    let b: [u8; 16] = rand::random();
    let hex: String = b.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[derive(Deserialize)]
struct ProviderClaims {
    iss: String,
    iat: i64,
}

/// The `iat` of a provider token Apple would take: ES256, the expected key id, signed by
/// the expected key, issued by the expected team.
fn verify_provider_token(expected: &Expected, jwt: &str) -> Result<i64, (u16, &'static str)> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| (403, "InvalidProviderToken"))?;
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(expected.key_id.as_str()) {
        return Err((403, "InvalidProviderToken"));
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<ProviderClaims>(jwt, &expected.public_key, &validation)
        .map_err(|_| (403, "InvalidProviderToken"))?
        .claims;
    if claims.iss != expected.team_id {
        return Err((403, "InvalidProviderToken"));
    }
    Ok(claims.iat)
}

/// Apple's checks before the payload, in its order: credentials, headers, device token.
fn check(state: &State, token: &str, request: &Request) -> Result<(), (u16, &'static str)> {
    let expected = &state.expected;
    let jwt = match request.header("authorization") {
        None => return Err((403, "MissingProviderToken")),
        Some(value) => value
            .strip_prefix("bearer ")
            .or_else(|| value.strip_prefix("Bearer "))
            .ok_or((403, "InvalidProviderToken"))?,
    };
    let known = state.verified_iat(jwt);
    let iat = match known {
        Some(iat) => iat,
        None => {
            let iat = verify_provider_token(expected, jwt)?;
            state.remember(jwt, iat);
            iat
        }
    };
    if state.now().div_euclid(1_000) - iat > PROVIDER_TOKEN_LIFETIME_SECONDS {
        return Err((403, "ExpiredProviderToken"));
    }
    match request.header("apns-topic") {
        None => return Err((400, "MissingTopic")),
        Some(topic) if topic != expected.topic => return Err((400, "TopicDisallowed")),
        Some(_) => {}
    }
    if !request
        .header("apns-push-type")
        .is_some_and(|t| PUSH_TYPES.contains(&t))
    {
        return Err((400, "InvalidPushType"));
    }
    if request
        .header("apns-priority")
        .is_some_and(|p| !matches!(p, "10" | "5" | "1"))
    {
        return Err((400, "BadPriority"));
    }
    if request
        .header("apns-expiration")
        .is_some_and(|e| e.parse::<u64>().is_err())
    {
        return Err((400, "BadExpirationDate"));
    }
    if request
        .header("apns-collapse-id")
        .is_some_and(|c| c.len() > 64)
    {
        return Err((400, "BadCollapseId"));
    }
    if token.len() < 64
        || !token.len().is_multiple_of(2)
        || !token.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err((400, "BadDeviceToken"));
    }
    if request.body.is_empty() {
        return Err((400, "PayloadEmpty"));
    }
    if request.body.len() > MAX_PAYLOAD_BYTES {
        return Err((413, "PayloadTooLarge"));
    }
    Ok(())
}
