//! A fake of FCM HTTP v1 and of Google's OAuth token endpoint for service accounts, on one
//! port. `POST /token` trades an RS256 assertion (signed by the service account's key, for
//! the messaging scope, addressed to this very URL, not expired by the fake's clock) for an
//! access token. `POST /v1/projects/<project>/messages:send` takes only tokens it issued and
//! that have not expired, for its own project, and checks the message as FCM does (a
//! registration token, string data, Android options). Messages that pass are recorded; a
//! test can unregister a token (404 `UNREGISTERED`), make its next requests fail (503,
//! 429), or revoke every access token (401).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Clock;
use crate::ca::TestCa;
use crate::keys::RsaKey;
use crate::script::{Fault, Log, Refusal, Tokens};
use crate::server::{Handler, Request, Response, Server};

/// The scope an assertion must ask for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Google's longest assertion (seconds from `iat` to `exp`).
pub const MAX_ASSERTION_SECONDS: i64 = 60 * 60;
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Access tokens issued and still remembered; the oldest are forgotten past this.
const MAX_ISSUED: usize = 10_000;

/// One message the fake accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct FcmMessage {
    /// `message.token`.
    pub token: String,
    /// The `message` object as sent.
    pub message: Value,
    /// The access token it was sent with.
    pub access_token: String,
}

struct Account {
    project_id: String,
    client_email: String,
    private_key_id: String,
    key: RsaKey,
    public_key: DecodingKey,
}

#[derive(Default)]
struct Records {
    tokens: Tokens,
    accepted: Log<FcmMessage>,
    refused: Log<Refusal>,
    /// Access token -> when it expires (ms, by the fake's clock).
    issued: HashMap<String, i64>,
    issued_total: u64,
    token_requests: u64,
    token_lifetime_seconds: i64,
}

struct State {
    account: Account,
    token_uri: String,
    clock: Clock,
    records: Mutex<Records>,
}

impl State {
    fn records(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// A running fake FCM with its token endpoint; stops when dropped.
pub struct FakeFcm {
    state: Arc<State>,
    server: Server,
}

impl std::fmt::Debug for FakeFcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeFcm")
            .field("endpoint", &self.endpoint())
            .finish_non_exhaustive()
    }
}

impl FakeFcm {
    /// Starts a fake for `project_id` serving `ca`'s server certificate, with a service
    /// account of its own (a new RSA key).
    pub fn start(ca: &TestCa, project_id: &str) -> io::Result<FakeFcm> {
        FakeFcm::start_with_key(ca, project_id, RsaKey::generate())
    }

    /// As [`FakeFcm::start`], with the service account's key given (RSA keys are slow to
    /// make; tests may share one).
    pub fn start_with_key(ca: &TestCa, project_id: &str, key: RsaKey) -> io::Result<FakeFcm> {
        let (n, e) = key.public_components();
        let private_key_id: [u8; 20] = rand::random();
        let account = Account {
            project_id: project_id.to_owned(),
            client_email: format!("fitpulse-push@{project_id}.iam.gserviceaccount.com"),
            private_key_id: private_key_id.iter().map(|b| format!("{b:02x}")).collect(),
            key,
            public_key: DecodingKey::from_rsa_raw_components(&n, &e),
        };
        // The token URL names the port, known only once the server listens: the handler
        // reads the state through a cell filled right after.
        let cell: Arc<Mutex<Option<Arc<State>>>> = Arc::new(Mutex::new(None));
        let handler: Handler = {
            let cell = cell.clone();
            Arc::new(move |request| {
                let state = cell.lock().unwrap_or_else(|p| p.into_inner()).clone();
                match state {
                    Some(state) => handle(&state, request),
                    None => Response::json(503, &json!({"error": "starting"})),
                }
            })
        };
        let server = Server::start("fake-fcm", ca.server_config(&[b"h2"]), handler)?;
        let state = Arc::new(State {
            account,
            token_uri: format!("{}/token", server.url()),
            clock: Clock::system(),
            records: Mutex::new(Records {
                token_lifetime_seconds: 3_600,
                ..Records::default()
            }),
        });
        *cell.lock().unwrap_or_else(|p| p.into_inner()) = Some(state.clone());
        Ok(FakeFcm { state, server })
    }

    /// `https://127.0.0.1:<port>`, for `push.fcm.endpoint`.
    pub fn endpoint(&self) -> String {
        self.server.url()
    }

    /// The token endpoint, `https://127.0.0.1:<port>/token`.
    pub fn token_uri(&self) -> &str {
        &self.state.token_uri
    }

    /// `push.fcm.project_id`.
    pub fn project_id(&self) -> &str {
        &self.state.account.project_id
    }

    /// The service account's JSON key, in Google's layout, with `token_uri` pointing here.
    pub fn service_account_json(&self) -> Value {
        self.service_account_json_with(&self.state.account.key)
    }

    /// The same account with another private key (one Google would not accept).
    pub fn service_account_json_with(&self, key: &RsaKey) -> Value {
        let account = &self.state.account;
        json!({
            "type": "service_account",
            "project_id": account.project_id,
            "private_key_id": account.private_key_id,
            "private_key": key.private_pem(),
            "client_email": account.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.state.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        })
    }

    /// Writes [`FakeFcm::service_account_json`] to `dir/service-account.json`, for
    /// `push.fcm.service_account_file`.
    pub fn write_service_account(&self, dir: &Path) -> io::Result<PathBuf> {
        let path = dir.join("service-account.json");
        std::fs::write(&path, self.service_account_json().to_string())?;
        Ok(path)
    }

    /// Reads the time from `now` (milliseconds since the epoch) from now on.
    pub fn set_clock(&self, now: impl Fn() -> i64 + Send + Sync + 'static) {
        self.state.clock.set(now);
    }

    /// The `expires_in` of the access tokens issued from now on (an hour by default).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.state.records().token_lifetime_seconds =
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    }

    /// Forgets every access token issued: the next send with one is answered 401.
    pub fn revoke_access_tokens(&self) {
        self.state.records().issued.clear();
    }

    /// Access tokens issued so far.
    pub fn access_tokens_issued(&self) -> u64 {
        self.state.records().issued_total
    }

    /// Requests to the token endpoint, whatever their answer.
    pub fn token_requests(&self) -> u64 {
        self.state.records().token_requests
    }

    /// From now on `token` is answered 404 `UNREGISTERED`.
    pub fn unregister(&self, token: &str) {
        self.state.records().tokens.unregister(token);
    }

    /// The next `times` sends to `token` that pass the checks are answered with `fault`.
    pub fn fail_next(&self, token: &str, times: usize, fault: Fault) {
        self.state.records().tokens.fail_next(token, times, fault);
    }

    /// Sends that named `token` (authenticated ones), whatever their answer.
    pub fn requests_for(&self, token: &str) -> u64 {
        self.state.records().tokens.requests_for(token)
    }

    /// The messages accepted (the latest [`crate::script::MAX_RECORDS`]), oldest first.
    pub fn accepted(&self) -> Vec<FcmMessage> {
        self.state.records().accepted.to_vec()
    }

    /// How many messages were accepted in all (cheap: nothing is copied).
    pub fn accepted_total(&self) -> u64 {
        self.state.records().accepted.total()
    }

    /// The requests refused (the latest ones), oldest first.
    pub fn refused(&self) -> Vec<Refusal> {
        self.state.records().refused.to_vec()
    }
}

fn handle(state: &State, request: Request) -> Response {
    if request.method != "POST" {
        return Response::json(405, &json!({"error": "method not allowed"}));
    }
    if request.path == "/token" {
        return token(state, &request);
    }
    match request
        .path
        .strip_prefix("/v1/projects/")
        .and_then(|rest| rest.strip_suffix("/messages:send"))
    {
        Some(project) => send(state, project, &request),
        None => google_error(state, None, 404, "NOT_FOUND", None, "Not Found", vec![]),
    }
}

/// An OAuth error answer of the token endpoint.
fn oauth_error(state: &State, status: u16, error: &str, description: &str) -> Response {
    state.records().refused.push(Refusal {
        token: None,
        status,
        reason: format!("{error}: {description}"),
    });
    Response::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

#[derive(Deserialize)]
struct Assertion {
    iss: String,
    aud: String,
    scope: String,
    iat: i64,
    exp: i64,
}

fn token(state: &State, request: &Request) -> Response {
    state.records().token_requests += 1;
    if !request
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
    {
        return oauth_error(state, 400, "invalid_request", "the body is not a form");
    }
    let Ok(form) = serde_urlencoded::from_bytes::<HashMap<String, String>>(&request.body) else {
        return oauth_error(state, 400, "invalid_request", "the body is not a form");
    };
    if form.get("grant_type").map(String::as_str) != Some(GRANT_TYPE) {
        return oauth_error(state, 400, "unsupported_grant_type", "Invalid grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return oauth_error(
            state,
            400,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let account = &state.account;
    let invalid = |description: &str| oauth_error(state, 400, "invalid_grant", description);
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return invalid("Invalid JWT: not a JWT");
    };
    if header.alg != Algorithm::RS256 {
        return invalid("Invalid JWT Signature.");
    }
    if header
        .kid
        .as_deref()
        .is_some_and(|kid| kid != account.private_key_id)
    {
        return invalid("Invalid JWT Signature.");
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let Ok(claims) = jsonwebtoken::decode::<Assertion>(assertion, &account.public_key, &validation)
        .map(|data| data.claims)
    else {
        return invalid("Invalid JWT Signature.");
    };
    if claims.iss != account.client_email {
        return invalid("Invalid JWT: unknown issuer");
    }
    if claims.aud != state.token_uri {
        return invalid("Invalid JWT: Failed audience check.");
    }
    if !claims.scope.split(' ').any(|s| s == SCOPE) {
        return oauth_error(
            state,
            400,
            "invalid_scope",
            "the messaging scope is missing",
        );
    }
    let now = state.now().div_euclid(1_000);
    if claims.exp <= now || claims.exp - claims.iat > MAX_ASSERTION_SECONDS || claims.iat > now + 60
    {
        return invalid(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    let access_token = format!("ya29.fake-{}", hex(&rand::random::<[u8; 24]>()));
    let mut records = state.records();
    let lifetime = records.token_lifetime_seconds;
    if records.issued.len() >= MAX_ISSUED {
        // Forget the token that expires first.
        if let Some(oldest) = records
            .issued
            .iter()
            .min_by_key(|(_, expires)| **expires)
            .map(|(token, _)| token.clone())
        {
            records.issued.remove(&oldest);
        }
    }
    records.issued.insert(
        access_token.clone(),
        state.now().saturating_add(lifetime.saturating_mul(1_000)),
    );
    records.issued_total += 1;
    Response::json(
        200,
        &json!({"access_token": access_token, "expires_in": lifetime, "token_type": "Bearer"}),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An error answer in Google's form, with an `FcmError` detail when `fcm_code` is set.
fn google_error(
    state: &State,
    token: Option<&str>,
    status: u16,
    word: &str,
    fcm_code: Option<&str>,
    message: &str,
    mut details: Vec<Value>,
) -> Response {
    if let Some(code) = fcm_code {
        details.insert(
            0,
            json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}),
        );
    }
    state.records().refused.push(Refusal {
        token: token.map(str::to_owned),
        status,
        reason: fcm_code.unwrap_or(word).to_owned(),
    });
    Response::json(
        status,
        &json!({"error": {"code": status, "message": message, "status": word, "details": details}}),
    )
}

fn send(state: &State, project: &str, request: &Request) -> Response {
    let bearer = request.header("authorization").and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    let now = state.now();
    let authenticated = bearer.is_some_and(|token| {
        state
            .records()
            .issued
            .get(token)
            .is_some_and(|expires| now < *expires)
    });
    if !authenticated {
        return google_error(
            state,
            None,
            401,
            "UNAUTHENTICATED",
            None,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            vec![],
        );
    }
    if project != state.account.project_id {
        return google_error(
            state,
            None,
            403,
            "PERMISSION_DENIED",
            Some("SENDER_ID_MISMATCH"),
            "SenderId mismatch",
            vec![],
        );
    }
    let message = match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(mut body)) if body.len() == 1 => match body.remove("message") {
            Some(Value::Object(message)) => message,
            _ => {
                return invalid_argument(
                    state,
                    None,
                    "Invalid JSON payload received. Unknown name at root.",
                );
            }
        },
        _ => return invalid_argument(state, None, "Invalid JSON payload received."),
    };
    let token = match message.get("token") {
        Some(Value::String(token)) => token.clone(),
        _ => {
            return invalid_argument(state, None, "Recipient of the message is not set.");
        }
    };
    state.records().tokens.count(&token);
    if let Err(reason) = check_message(&message) {
        return invalid_argument(state, Some(&token), &reason);
    }
    if token.len() < 20 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return google_error(
            state,
            Some(&token),
            400,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
            "The registration token is not a valid FCM registration token",
            vec![json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
            })],
        );
    }
    let fault = state.records().tokens.next_fault(&token);
    if let Some(fault) = fault {
        let (response, retry_after) = match fault {
            Fault::Unavailable { retry_after } => (
                google_error(
                    state,
                    Some(&token),
                    503,
                    "UNAVAILABLE",
                    Some("UNAVAILABLE"),
                    "The service is currently unavailable.",
                    vec![],
                ),
                retry_after,
            ),
            Fault::TooManyRequests { retry_after } => (
                google_error(
                    state,
                    Some(&token),
                    429,
                    "RESOURCE_EXHAUSTED",
                    Some("QUOTA_EXCEEDED"),
                    "Quota exceeded for quota metric 'Send requests'.",
                    vec![],
                ),
                retry_after,
            ),
        };
        return match retry_after {
            Some(seconds) => response.with_header("retry-after", seconds.to_string()),
            None => response,
        };
    }
    if state.records().tokens.is_unregistered(&token) {
        return google_error(
            state,
            Some(&token),
            404,
            "NOT_FOUND",
            Some("UNREGISTERED"),
            "Requested entity was not found.",
            vec![],
        );
    }
    let access_token = bearer.unwrap_or_default().to_owned();
    let mut records = state.records();
    let id = records.tokens.total();
    records.accepted.push(FcmMessage {
        token,
        message: Value::Object(message),
        access_token,
    });
    Response::json(
        200,
        &json!({"name": format!("projects/{project}/messages/0:{id}")}),
    )
}

fn invalid_argument(state: &State, token: Option<&str>, message: &str) -> Response {
    google_error(
        state,
        token,
        400,
        "INVALID_ARGUMENT",
        Some("INVALID_ARGUMENT"),
        message,
        vec![],
    )
}

/// `object` has only the `allowed` keys.
fn only(object: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), String> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(format!(
            "Invalid JSON payload received. Unknown name \"{key}\" at '{at}': Cannot find field."
        )),
        None => Ok(()),
    }
}

fn strings(value: &Value, at: &str) -> Result<(), String> {
    let Value::Object(map) = value else {
        return Err(format!("Invalid value at '{at}'"));
    };
    for (n, (key, value)) in map.iter().enumerate() {
        if !value.is_string() {
            return Err(format!(
                "Invalid value at '{at}[{n}].value' (TYPE_STRING), {value} (key {key})"
            ));
        }
    }
    Ok(())
}

/// FCM's checks of a message addressed to a token (the subset the server uses).
fn check_message(message: &Map<String, Value>) -> Result<(), String> {
    only(
        message,
        &[
            "token",
            "notification",
            "data",
            "android",
            "apns",
            "webpush",
            "fcm_options",
            "name",
        ],
        "message",
    )?;
    if let Some(notification) = message.get("notification") {
        let Value::Object(notification) = notification else {
            return Err("Invalid value at 'message.notification'".into());
        };
        only(
            notification,
            &["title", "body", "image"],
            "message.notification",
        )?;
        strings(&Value::Object(notification.clone()), "message.notification")?;
    }
    if let Some(data) = message.get("data") {
        strings(data, "message.data")?;
        let data = data.as_object().map(|d| d.keys().collect::<Vec<_>>());
        if let Some(key) = data.into_iter().flatten().find(|key| {
            let key = key.as_str();
            key == "from"
                || key == "message_type"
                || key.starts_with("google.")
                || key.starts_with("gcm.")
        }) {
            return Err(format!("Invalid data payload key: {key}"));
        }
    }
    if let Some(android) = message.get("android") {
        let Value::Object(android) = android else {
            return Err("Invalid value at 'message.android'".into());
        };
        only(
            android,
            &[
                "collapse_key",
                "priority",
                "ttl",
                "restricted_package_name",
                "data",
                "notification",
                "fcm_options",
                "direct_boot_ok",
            ],
            "message.android",
        )?;
        if let Some(priority) = android.get("priority")
            && !matches!(priority.as_str(), Some("HIGH" | "NORMAL"))
        {
            return Err(format!(
                "Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), {priority}"
            ));
        }
        if let Some(ttl) = android.get("ttl")
            && !ttl.as_str().is_some_and(is_duration)
        {
            return Err(format!(
                "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), {ttl}"
            ));
        }
        if let Some(collapse_key) = android.get("collapse_key")
            && !collapse_key.is_string()
        {
            return Err("Invalid value at 'message.android.collapse_key' (TYPE_STRING)".into());
        }
        if let Some(notification) = android.get("notification") {
            let Value::Object(notification) = notification else {
                return Err("Invalid value at 'message.android.notification'".into());
            };
            if let Some(tag) = notification.get("tag")
                && !tag.is_string()
            {
                return Err(
                    "Invalid value at 'message.android.notification.tag' (TYPE_STRING)".into(),
                );
            }
        }
    }
    Ok(())
}

/// A protobuf JSON duration: seconds with up to nine decimals, then `s`.
fn is_duration(text: &str) -> bool {
    let Some(number) = text.strip_suffix('s') else {
        return false;
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 9
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(number.contains('.') && fraction.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_seconds_with_an_s() {
        for good in ["0s", "3600s", "1.5s", "2.000000001s"] {
            assert!(is_duration(good), "{good}");
        }
        for bad in ["", "s", "10", "1.s", "-1s", "1.0000000001s", "1 s"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn a_message_with_an_unknown_field_or_non_string_data_is_refused() {
        let message = |value: Value| value.as_object().cloned().expect("an object");
        assert!(check_message(&message(json!({"token": "t", "data": {"a": "1"}}))).is_ok());
        assert!(check_message(&message(json!({"token": "t", "extra": 1}))).is_err());
        assert!(check_message(&message(json!({"token": "t", "data": {"a": 1}}))).is_err());
        assert!(
            check_message(&message(
                json!({"token": "t", "android": {"priority": "URGENT"}})
            ))
            .is_err()
        );
        assert!(check_message(&message(json!({"token": "t", "android": {"ttl": "10"}}))).is_err());
    }
}
