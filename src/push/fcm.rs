//! Firebase Cloud Messaging, HTTP v1. A service account's key signs an RS256 assertion that
//! the account's `token_uri` trades for an OAuth access token; the token is kept until a
//! minute before it expires (by the clock) and one refresh serves every caller that needs
//! it. One `POST /v1/projects/<project>/messages:send` per push, its answer read into a
//! [`SendOutcome`].
//!
//! FCM answers a malformed or foreign registration token with `400 INVALID_ARGUMENT`, the
//! same code as a malformed message. The token is taken as the culprit (and the device
//! dropped) only when the error says so: a `google.rpc.BadRequest` field violation on
//! `message.token`, or a message naming the registration token. Any other
//! `INVALID_ARGUMENT` is a bug on our side and fails the push without touching the device.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::clock::SharedClock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{HttpAnswer, HttpFailure, HttpRequest, HttpWorker};
use super::error::PushSetupError;
use super::metrics::PushMetrics;
use super::provider::{Priority, PushMessage, PushProvider, SendOutcome};
use super::tls::{self, Alpn};
use crate::config::PushSettings;

/// The OAuth scope of sending.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// How long an assertion is valid (Google's maximum).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(3_600);
/// An access token is refreshed this long before it expires.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(60);
/// FCM keeps a message at most four weeks.
const MAX_TTL_SECONDS: i64 = 28 * 24 * 60 * 60;
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

const NAME: &str = "fcm";
const SERVICE_ACCOUNT_FILE: &str = "push.fcm.service_account_file";

/// The fields of a service account's JSON key that sending needs.
#[derive(Deserialize)]
struct ServiceAccountFile {
    client_email: String,
    private_key: String,
    token_uri: String,
    private_key_id: Option<String>,
}

struct ServiceAccount {
    client_email: String,
    token_uri: String,
    private_key_id: Option<String>,
    key: EncodingKey,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl ServiceAccount {
    /// The signed assertion for a token request at `now`.
    fn assertion(&self, now: UnixMillis) -> Result<String, jsonwebtoken::errors::Error> {
        let header = Header {
            kid: self.private_key_id.clone(),
            ..Header::new(Algorithm::RS256)
        };
        let iat = now.div_euclid(1_000);
        let claims = AssertionClaims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat,
            exp: iat + ASSERTION_LIFETIME.as_secs() as i64,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
    }
}

/// An access token and when to stop using it (by the clock).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AccessToken {
    token: Arc<str>,
    refresh_at: UnixMillis,
}

#[derive(Default)]
struct TokenState {
    current: Option<AccessToken>,
    /// Refreshes attempted so far: a caller that waited through one uses its result.
    refreshes: u64,
    /// Why the last refresh failed, for the callers that waited on it.
    failure: Option<SendOutcome>,
}

impl TokenState {
    fn fresh(&self, now: UnixMillis) -> Option<AccessToken> {
        self.current
            .as_ref()
            .filter(|token| now < token.refresh_at)
            .cloned()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

/// The FCM provider.
pub struct FcmProvider {
    send_url: String,
    account: ServiceAccount,
    clock: SharedClock,
    metrics: PushMetrics,
    http: HttpWorker,
    tokens: Mutex<TokenState>,
    /// Single flight: one token request at a time.
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for FcmProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmProvider")
            .field("send_url", &self.send_url)
            .field("client_email", &self.account.client_email)
            .field("token_uri", &self.account.token_uri)
            .finish_non_exhaustive()
    }
}

impl FcmProvider {
    /// The provider of `push.fcm`, or `None` when FCM is not configured. The service
    /// account is read, and an assertion signed, here, so a bad file stops the start.
    pub fn from_settings(
        settings: &PushSettings,
        clock: SharedClock,
        metrics: PushMetrics,
    ) -> Result<Option<FcmProvider>, PushSetupError> {
        let fcm = &settings.fcm;
        let (Some(project_id), Some(path)) = (&fcm.project_id, &fcm.service_account_file) else {
            return Ok(None);
        };
        let invalid = |reason: String| PushSetupError::file(SERVICE_ACCOUNT_FILE, path, reason);
        let json = std::fs::read(path).map_err(|e| invalid(format!("cannot be read: {e}")))?;
        let file: ServiceAccountFile = serde_json::from_slice(&json)
            .map_err(|e| invalid(format!("is not a service account key: {e}")))?;
        if !file.token_uri.starts_with("https://") {
            return Err(invalid("has a token_uri that is not https://".into()));
        }
        let key = EncodingKey::from_rsa_pem(file.private_key.as_bytes())
            .map_err(|e| invalid(format!("has a private_key that is not an RSA PEM key: {e}")))?;
        let account = ServiceAccount {
            client_email: file.client_email,
            token_uri: file.token_uri,
            private_key_id: file.private_key_id,
            key,
        };
        account
            .assertion(clock.now())
            .map_err(|e| invalid(format!("has a private_key that cannot sign: {e}")))?;
        let tls = tls::client_config(settings.ca_file.as_deref(), Alpn::Http2OrHttp11)?;
        let http = HttpWorker::start(NAME, tls, Duration::from_millis(settings.timeout_ms))?;
        Ok(Some(FcmProvider {
            send_url: format!(
                "{}/v1/projects/{project_id}/messages:send",
                fcm.endpoint().trim_end_matches('/')
            ),
            account,
            clock,
            metrics,
            http,
            tokens: Mutex::new(TokenState::default()),
            refreshing: tokio::sync::Mutex::new(()),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The access token to send with: the kept one while fresh, else one refresh shared
    /// by every caller waiting for it.
    async fn access_token(&self) -> Result<AccessToken, SendOutcome> {
        let seen = {
            let state = self.state();
            if let Some(token) = state.fresh(self.clock.now()) {
                return Ok(token);
            }
            state.refreshes
        };
        let _refreshing = self.refreshing.lock().await;
        {
            let state = self.state();
            if let Some(token) = state.fresh(self.clock.now()) {
                return Ok(token);
            }
            if state.refreshes != seen
                && let Some(failure) = &state.failure
            {
                return Err(failure.clone());
            }
        }
        let fetched = self.fetch_token().await;
        let mut state = self.state();
        state.refreshes += 1;
        match fetched {
            Ok(token) => {
                state.current = Some(token.clone());
                state.failure = None;
                Ok(token)
            }
            Err(failure) => {
                state.failure = Some(failure.clone());
                Err(failure)
            }
        }
    }

    /// FCM refused `token`: the next push fetches another (unless one already did).
    fn drop_token(&self, token: &AccessToken) {
        let mut state = self.state();
        if state.current.as_ref() == Some(token) {
            state.current = None;
        }
    }

    async fn fetch_token(&self) -> Result<AccessToken, SendOutcome> {
        let now = self.clock.now();
        let assertion = self
            .account
            .assertion(now)
            .map_err(|e| SendOutcome::Failed {
                reason: format!("the token assertion cannot be signed: {e}"),
            })?;
        let form = serde_urlencoded::to_string([
            ("grant_type", GRANT_TYPE),
            ("assertion", assertion.as_str()),
        ])
        // Two string pairs always encode.
        .expect("a form of strings encodes");
        let request = HttpRequest {
            url: self.account.token_uri.clone(),
            content_type: "application/x-www-form-urlencoded",
            headers: vec![("accept", "application/json".to_owned())],
            body: Bytes::from(form),
        };
        let answer = match self.http.post(request).await {
            Ok(answer) => answer,
            Err(HttpFailure::Request(reason)) => return Err(SendOutcome::Failed { reason }),
            Err(HttpFailure::Network(reason)) => {
                return Err(SendOutcome::Retry {
                    reason: format!("access token: {reason}"),
                    after: None,
                });
            }
        };
        if answer.status != 200 {
            let described = format!(
                "access token refused: {} {}",
                answer.status,
                oauth_error(&answer.body)
            );
            return Err(match answer.status {
                429 | 500..=599 => SendOutcome::Retry {
                    reason: described,
                    after: answer.retry_after,
                },
                _ => SendOutcome::Failed { reason: described },
            });
        }
        let token: TokenAnswer =
            serde_json::from_slice(&answer.body).map_err(|e| SendOutcome::Retry {
                reason: format!("access token: an answer that is not a token: {e}"),
                after: None,
            })?;
        Ok(AccessToken {
            token: token.access_token.into(),
            refresh_at: refresh_at(now, token.expires_in),
        })
    }

    async fn attempt(&self, device: &str, message: &PushMessage) -> SendOutcome {
        let token = match self.access_token().await {
            Ok(token) => token,
            Err(failure) => return failure,
        };
        let body = message_body(device, message, self.clock.now());
        let request = HttpRequest {
            url: self.send_url.clone(),
            content_type: "application/json",
            headers: vec![("authorization", format!("Bearer {}", token.token))],
            body: Bytes::from(body.to_string()),
        };
        match self.http.post(request).await {
            Ok(answer) => {
                let outcome = classify(&answer);
                if answer.status == 401 {
                    self.drop_token(&token);
                }
                outcome
            }
            Err(failure) => failure.into(),
        }
    }
}

#[async_trait]
impl PushProvider for FcmProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, token: &str, message: &PushMessage) -> SendOutcome {
        self.metrics
            .measured(NAME, self.attempt(token, message), || self.clock.now())
            .await
    }
}

/// When to stop using a token fetched at `now` that expires in `expires_in` seconds.
fn refresh_at(now: UnixMillis, expires_in: i64) -> UnixMillis {
    let usable_for = expires_in.saturating_sub(REFRESH_BEFORE_EXPIRY.as_secs() as i64);
    now.saturating_add(usable_for.max(0).saturating_mul(1_000))
}

/// The `error` of an OAuth error answer, or nothing.
fn oauth_error(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        error: String,
    }
    serde_json::from_slice::<OAuthError>(body)
        .map(|e| e.error)
        .unwrap_or_default()
}

/// The `messages:send` body for `device` at `now`.
fn message_body(device: &str, message: &PushMessage, now: UnixMillis) -> Value {
    let priority = match message.priority {
        Priority::High => "HIGH",
        Priority::Normal => "NORMAL",
    };
    // No expiry: deliver now or never, as APNs' `apns-expiration: 0`.
    let ttl = message.expires_at.map_or(0, |at| {
        (at.saturating_sub(now).div_euclid(1_000)).clamp(0, MAX_TTL_SECONDS)
    });
    let mut android = json!({"priority": priority, "ttl": format!("{ttl}s")});
    if let Some(collapse_id) = message.collapse_id.as_deref().filter(|c| !c.is_empty()) {
        android["collapse_key"] = json!(collapse_id);
        android["notification"] = json!({"tag": collapse_id});
    }
    json!({
        "message": {
            "token": device,
            "notification": {"title": message.title, "body": message.body},
            "data": message.data,
            "android": android,
        }
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Value>,
}

impl ErrorDetail {
    /// `errorCode` of the `FcmError` detail.
    fn error_code(&self) -> Option<&str> {
        self.details
            .iter()
            .filter(|d| type_is(d, "google.firebase.fcm.v1.FcmError"))
            .find_map(|d| d.get("errorCode")?.as_str())
    }

    /// Whether the error is about the registration token rather than the message.
    fn about_token(&self) -> bool {
        let field_violation = self
            .details
            .iter()
            .filter(|d| type_is(d, "google.rpc.BadRequest"))
            .filter_map(|d| d.get("fieldViolations")?.as_array())
            .flatten()
            .any(|v| v.get("field").and_then(Value::as_str) == Some("message.token"));
        field_violation
            || self
                .message
                .to_ascii_lowercase()
                .contains("registration token")
    }
}

fn type_is(detail: &Value, name: &str) -> bool {
    detail
        .get("@type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.ends_with(name))
}

/// What an answer of `messages:send` means.
fn classify(answer: &HttpAnswer) -> SendOutcome {
    let status = answer.status;
    if status == 200 {
        return SendOutcome::Sent;
    }
    let error = serde_json::from_slice::<ErrorBody>(&answer.body)
        .ok()
        .map(|body| body.error);
    let code = error
        .as_ref()
        .map(|e| e.error_code().unwrap_or(&e.status).to_owned())
        .filter(|code| !code.is_empty());
    let status_word = error.as_ref().map_or("", |e| e.status.as_str());
    let described = match &code {
        Some(code) => format!("{status} {code}"),
        None => format!("{status}"),
    };
    let unregistered = code.as_deref() == Some("UNREGISTERED") || status_word == "UNREGISTERED";
    let invalid_argument =
        code.as_deref() == Some("INVALID_ARGUMENT") || status_word == "INVALID_ARGUMENT";
    match status {
        _ if unregistered => SendOutcome::InvalidToken {
            reason: "UNREGISTERED".into(),
        },
        400 if invalid_argument && error.as_ref().is_some_and(ErrorDetail::about_token) => {
            SendOutcome::InvalidToken {
                reason: "INVALID_ARGUMENT".into(),
            }
        }
        401 => SendOutcome::Retry {
            reason: described,
            after: None,
        },
        429 | 500..=599 => SendOutcome::Retry {
            reason: described,
            after: answer.retry_after,
        },
        _ => SendOutcome::Failed {
            reason: match error.filter(|e| !e.message.is_empty()) {
                Some(error) => format!("{described}: {}", error.message),
                None => described,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    const NOW: UnixMillis = 1_800_000_000_000;

    fn message() -> PushMessage {
        PushMessage {
            title: "New comment".into(),
            body: "Ana: great run!".into(),
            data: BTreeMap::from([("kind".to_owned(), "comment".to_owned())]),
            collapse_id: None,
            expires_at: None,
            priority: Priority::High,
        }
    }

    fn answer(status: u16, body: Value, retry_after: Option<u64>) -> HttpAnswer {
        HttpAnswer {
            status,
            http2: true,
            retry_after: retry_after.map(Duration::from_secs),
            body: Bytes::from(body.to_string()),
        }
    }

    fn fcm_error(status: u16, word: &str, code: Option<&str>, message: &str) -> Value {
        let mut details = vec![];
        if let Some(code) = code {
            details.push(json!({
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": code,
            }));
        }
        json!({"error": {"code": status, "message": message, "status": word, "details": details}})
    }

    #[test]
    fn the_assertion_is_rs256_for_the_messaging_scope_and_the_token_uri() {
        let account_key = fitpulse_fakes::RsaKey::generate();
        let account = ServiceAccount {
            client_email: "push@demo.iam.gserviceaccount.com".into(),
            token_uri: "https://oauth2.example/token".into(),
            private_key_id: Some("k1".into()),
            key: EncodingKey::from_rsa_pem(account_key.private_pem().as_bytes()).expect("PEM"),
        };
        let jwt = account.assertion(NOW + 500).expect("signs");
        let header = jsonwebtoken::decode_header(&jwt).expect("a JWT");
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("k1"));
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["https://oauth2.example/token"]);
        let claims = jsonwebtoken::decode::<Value>(
            &jwt,
            &DecodingKey::from_rsa_pem(account_key.public_pem().as_bytes()).expect("PEM"),
            &validation,
        )
        .expect("signed by the account's key")
        .claims;
        let iat = NOW / 1_000;
        assert_eq!(
            claims,
            json!({
                "iss": "push@demo.iam.gserviceaccount.com",
                "scope": SCOPE,
                "aud": "https://oauth2.example/token",
                "iat": iat,
                "exp": iat + 3_600,
            })
        );
    }

    #[test]
    fn an_access_token_is_used_until_a_minute_before_it_expires_by_the_clock() {
        let state = |expires_in| TokenState {
            current: Some(AccessToken {
                token: "ya29.t".into(),
                refresh_at: refresh_at(NOW, expires_in),
            }),
            ..TokenState::default()
        };
        let hour = state(3_600);
        assert!(hour.fresh(NOW).is_some());
        assert!(hour.fresh(NOW + 3_540_000 - 1).is_some());
        assert!(hour.fresh(NOW + 3_540_000).is_none());
        // A token that lives a minute or less is used for the send that fetched it only.
        assert!(state(45).fresh(NOW).is_none());
        assert!(TokenState::default().fresh(NOW).is_none());
    }

    #[test]
    fn the_message_carries_the_token_notification_data_and_android_options() {
        let mut message = message();
        message.expires_at = Some(NOW + 90_500);
        message.priority = Priority::Normal;
        message.collapse_id = Some("comments".into());
        assert_eq!(
            message_body("tok-1", &message, NOW),
            json!({"message": {
                "token": "tok-1",
                "notification": {"title": "New comment", "body": "Ana: great run!"},
                "data": {"kind": "comment"},
                "android": {
                    "priority": "NORMAL",
                    "ttl": "90s",
                    "collapse_key": "comments",
                    "notification": {"tag": "comments"},
                },
            }})
        );
        assert_eq!(
            message_body("tok-1", &self::message(), NOW)["message"]["android"],
            json!({"priority": "HIGH", "ttl": "0s"})
        );
        message.expires_at = Some(NOW - 5_000);
        assert_eq!(
            message_body("tok-1", &message, NOW)["message"]["android"]["ttl"],
            "0s"
        );
    }

    #[test]
    fn unregistered_tokens_are_invalid_whether_in_the_status_or_the_error_code() {
        for body in [
            fcm_error(
                404,
                "NOT_FOUND",
                Some("UNREGISTERED"),
                "Requested entity was not found.",
            ),
            fcm_error(404, "UNREGISTERED", None, ""),
        ] {
            assert_eq!(
                classify(&answer(404, body, None)),
                SendOutcome::InvalidToken {
                    reason: "UNREGISTERED".into()
                }
            );
        }
        // A 404 that is not about the token (a wrong project) fails instead.
        assert!(matches!(
            classify(&answer(
                404,
                fcm_error(404, "NOT_FOUND", None, "no such project"),
                None
            )),
            SendOutcome::Failed { .. }
        ));
    }

    #[test]
    fn an_invalid_argument_drops_the_device_only_when_it_is_about_the_token() {
        let mut about_token = fcm_error(
            400,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
            "The registration token is not a valid FCM registration token",
        );
        assert_eq!(
            classify(&answer(400, about_token.clone(), None)),
            SendOutcome::InvalidToken {
                reason: "INVALID_ARGUMENT".into()
            }
        );
        about_token["error"]["message"] = json!("Request contains an invalid argument.");
        about_token["error"]["details"]
            .as_array_mut()
            .expect("details")
            .push(json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "message.token", "description": "Invalid registration token"}],
            }));
        assert_eq!(
            classify(&answer(400, about_token, None)),
            SendOutcome::InvalidToken {
                reason: "INVALID_ARGUMENT".into()
            }
        );
        let about_payload = fcm_error(
            400,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
            "Invalid value at 'message.data[0].value' (TYPE_STRING), 1",
        );
        assert_eq!(
            classify(&answer(400, about_payload, None)),
            SendOutcome::Failed {
                reason: "400 INVALID_ARGUMENT: Invalid value at 'message.data[0].value' (TYPE_STRING), 1"
                    .into()
            }
        );
    }

    #[test]
    fn throttling_outages_and_expired_credentials_are_retried() {
        assert_eq!(
            classify(&answer(
                503,
                fcm_error(503, "UNAVAILABLE", Some("UNAVAILABLE"), ""),
                Some(12)
            )),
            SendOutcome::Retry {
                reason: "503 UNAVAILABLE".into(),
                after: Some(Duration::from_secs(12))
            }
        );
        assert_eq!(
            classify(&answer(
                429,
                fcm_error(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"), ""),
                None
            )),
            SendOutcome::Retry {
                reason: "429 QUOTA_EXCEEDED".into(),
                after: None
            }
        );
        assert_eq!(
            classify(&answer(
                401,
                fcm_error(401, "UNAUTHENTICATED", None, "bad credentials"),
                None
            )),
            SendOutcome::Retry {
                reason: "401 UNAUTHENTICATED".into(),
                after: None
            }
        );
        assert!(matches!(
            classify(&answer(
                403,
                fcm_error(403, "PERMISSION_DENIED", Some("SENDER_ID_MISMATCH"), ""),
                None
            )),
            SendOutcome::Failed { .. }
        ));
    }
}
