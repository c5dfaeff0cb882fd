//! Apple Push Notification service: HTTP/2 only, token-based authentication. One `POST
//! /3/device/<token>` per push with a provider token (an ES256 JWT signed with the team's
//! `.p8` key) that is kept and renewed by the clock, and Apple's answer read into a
//! [`SendOutcome`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::clock::SharedClock;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::client::{HttpAnswer, HttpRequest, HttpWorker};
use super::error::PushSetupError;
use super::metrics::PushMetrics;
use super::notification::cut;
use super::provider::{Priority, PushMessage, PushProvider, SendOutcome};
use super::tls::{self, Alpn};
use crate::config::PushSettings;

/// A provider token is renewed once it is this old; Apple refuses one older than an hour.
pub const TOKEN_RENEW_AFTER: Duration = Duration::from_secs(50 * 60);
/// Apple asks not to renew more often than this; only its `ExpiredProviderToken` makes an
/// earlier renewal (the renewal age above is well past it).
pub const TOKEN_MIN_AGE: Duration = Duration::from_secs(20 * 60);
/// `apns-collapse-id` is at most this many bytes.
pub const MAX_COLLAPSE_ID_BYTES: usize = 64;

const NAME: &str = "apns";
const KEY_FILE: &str = "push.apns.key_file";

const _: () = assert!(TOKEN_RENEW_AFTER.as_secs() > TOKEN_MIN_AGE.as_secs());

/// One provider token and when it was signed (by the clock).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ProviderToken {
    jwt: Arc<str>,
    issued_at: UnixMillis,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

/// Signs provider tokens and keeps the current one.
struct ProviderTokens {
    team_id: String,
    key_id: String,
    key: EncodingKey,
    current: Mutex<Option<ProviderToken>>,
}

impl ProviderTokens {
    fn sign(&self, now: UnixMillis) -> Result<ProviderToken, jsonwebtoken::errors::Error> {
        let header = Header {
            typ: None,
            kid: Some(self.key_id.clone()),
            ..Header::new(Algorithm::ES256)
        };
        let claims = Claims {
            iss: &self.team_id,
            iat: now.div_euclid(1_000),
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key)?;
        Ok(ProviderToken {
            jwt: jwt.into(),
            issued_at: now,
        })
    }

    /// The token to send at `now`: the current one until it is [`TOKEN_RENEW_AFTER`] old
    /// (or Apple called it expired), else a new one.
    fn current(&self, now: UnixMillis) -> Result<ProviderToken, jsonwebtoken::errors::Error> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(token) = current.as_ref()
            && now - token.issued_at < TOKEN_RENEW_AFTER.as_millis() as i64
        {
            return Ok(token.clone());
        }
        let token = self.sign(now)?;
        *current = Some(token.clone());
        Ok(token)
    }

    /// Apple answered `ExpiredProviderToken` to `token`: the next push signs a new one
    /// (unless another push already did).
    fn expired(&self, token: &ProviderToken) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current.as_ref() == Some(token) {
            *current = None;
        }
    }
}

/// The APNs provider.
pub struct ApnsProvider {
    endpoint: String,
    topic: String,
    tokens: ProviderTokens,
    clock: SharedClock,
    metrics: PushMetrics,
    http: HttpWorker,
}

impl std::fmt::Debug for ApnsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsProvider")
            .field("endpoint", &self.endpoint)
            .field("topic", &self.topic)
            .field("team_id", &self.tokens.team_id)
            .field("key_id", &self.tokens.key_id)
            .finish_non_exhaustive()
    }
}

impl ApnsProvider {
    /// The provider of `push.apns`, or `None` when APNs is not configured. The key file is
    /// read and a first provider token signed here, so a bad key stops the start.
    pub fn from_settings(
        settings: &PushSettings,
        clock: SharedClock,
        metrics: PushMetrics,
    ) -> Result<Option<ApnsProvider>, PushSetupError> {
        let apns = &settings.apns;
        let (Some(team_id), Some(key_id), Some(key_file), Some(topic)) =
            (&apns.team_id, &apns.key_id, &apns.key_file, &apns.topic)
        else {
            return Ok(None);
        };
        let pem = std::fs::read(key_file).map_err(|e| {
            PushSetupError::file(KEY_FILE, key_file, format!("cannot be read: {e}"))
        })?;
        let not_a_key = |e: &dyn std::fmt::Display| {
            PushSetupError::file(
                KEY_FILE,
                key_file,
                format!("is not a P-256 signing key in PKCS#8 PEM (.p8): {e}"),
            )
        };
        let key = EncodingKey::from_ec_pem(&pem).map_err(|e| not_a_key(&e))?;
        let tokens = ProviderTokens {
            team_id: team_id.clone(),
            key_id: key_id.clone(),
            key,
            current: Mutex::new(None),
        };
        // Signing once proves the key is a usable P-256 key; the token is kept.
        tokens.current(clock.now()).map_err(|e| not_a_key(&e))?;
        let tls = tls::client_config(settings.ca_file.as_deref(), Alpn::Http2)?;
        let http = HttpWorker::start(NAME, tls, Duration::from_millis(settings.timeout_ms))?;
        Ok(Some(ApnsProvider {
            endpoint: apns.endpoint().trim_end_matches('/').to_owned(),
            topic: topic.clone(),
            tokens,
            clock,
            metrics,
            http,
        }))
    }

    async fn attempt(&self, device: &str, message: &PushMessage) -> SendOutcome {
        // The token goes into the path: anything but letters and digits cannot be a device
        // token, and must not change the URL.
        if device.is_empty() || !device.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return SendOutcome::InvalidToken {
                reason: "BadDeviceToken".into(),
            };
        }
        let token = match self.tokens.current(self.clock.now()) {
            Ok(token) => token,
            Err(e) => {
                return SendOutcome::Failed {
                    reason: format!("the provider token cannot be signed: {e}"),
                };
            }
        };
        let request = HttpRequest {
            url: format!("{}/3/device/{device}", self.endpoint),
            content_type: "application/json",
            headers: headers(&token.jwt, &self.topic, message),
            body: Bytes::from(payload(message).to_string()),
        };
        match self.http.post(request).await {
            Ok(answer) => {
                let (outcome, expired) = classify(&answer);
                if expired {
                    self.tokens.expired(&token);
                }
                outcome
            }
            Err(failure) => failure.into(),
        }
    }
}

#[async_trait]
impl PushProvider for ApnsProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, token: &str, message: &PushMessage) -> SendOutcome {
        self.metrics
            .measured(NAME, self.attempt(token, message), || self.clock.now())
            .await
    }
}

/// The request headers of one push.
fn headers(jwt: &str, topic: &str, message: &PushMessage) -> Vec<(&'static str, String)> {
    let priority = match message.priority {
        Priority::High => "10",
        Priority::Normal => "5",
    };
    // Seconds since the epoch; 0 asks APNs to try once and not store the push.
    let expiration = message
        .expires_at
        .map_or(0, |at| at.div_euclid(1_000).max(0));
    let mut headers = vec![
        ("authorization", format!("bearer {jwt}")),
        ("apns-topic", topic.to_owned()),
        ("apns-push-type", "alert".to_owned()),
        ("apns-priority", priority.to_owned()),
        ("apns-expiration", expiration.to_string()),
    ];
    if let Some(collapse_id) = message.collapse_id.as_deref() {
        let collapse_id = cut(collapse_id, MAX_COLLAPSE_ID_BYTES);
        if !collapse_id.is_empty() {
            headers.push(("apns-collapse-id", collapse_id.to_owned()));
        }
    }
    headers
}

/// The JSON payload: the alert under `aps`, the app's data keys beside it (a data key named
/// `aps` is dropped: it would replace Apple's dictionary).
fn payload(message: &PushMessage) -> Value {
    let mut root: Map<String, Value> = message
        .data
        .iter()
        .filter(|(key, _)| key.as_str() != "aps")
        .map(|(key, value)| (key.clone(), Value::String(value.clone())))
        .collect();
    root.insert(
        "aps".into(),
        json!({
            "alert": {"title": message.title, "body": message.body},
            "sound": "default",
        }),
    );
    Value::Object(root)
}

#[derive(Deserialize)]
struct ErrorBody {
    reason: String,
}

/// What an answer means, and whether it called the provider token expired.
fn classify(answer: &HttpAnswer) -> (SendOutcome, bool) {
    let status = answer.status;
    if !answer.http2 {
        return (
            SendOutcome::Failed {
                reason: format!("APNs answered {status} without HTTP/2"),
            },
            false,
        );
    }
    if status == 200 {
        return (SendOutcome::Sent, false);
    }
    let reason = serde_json::from_slice::<ErrorBody>(&answer.body)
        .map(|body| body.reason)
        .ok();
    let described = match &reason {
        Some(reason) => format!("{status} {reason}"),
        None => format!("{status}"),
    };
    let outcome = match (status, reason.as_deref()) {
        (_, Some("Unregistered")) | (410, _) => SendOutcome::InvalidToken {
            reason: reason.unwrap_or_else(|| "Unregistered".into()),
        },
        (400, Some("BadDeviceToken")) => SendOutcome::InvalidToken {
            reason: "BadDeviceToken".into(),
        },
        (403, Some("ExpiredProviderToken")) => {
            return (
                SendOutcome::Retry {
                    reason: described,
                    after: None,
                },
                true,
            );
        }
        (429 | 500..=599, _) => SendOutcome::Retry {
            reason: described,
            after: answer.retry_after,
        },
        _ => SendOutcome::Failed { reason: described },
    };
    (outcome, false)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use fitpulse_actors::ports::clock::{Clock, ManualClock};
    use fitpulse_fakes::ApnsKey;
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    const NOW: UnixMillis = 1_800_000_000_000;

    fn tokens(key: &ApnsKey) -> ProviderTokens {
        ProviderTokens {
            team_id: key.team_id.clone(),
            key_id: key.key_id.clone(),
            key: EncodingKey::from_ec_pem(key.pem().as_bytes()).expect("a .p8 key"),
            current: Mutex::new(None),
        }
    }

    fn message() -> PushMessage {
        PushMessage {
            title: "Class starts".into(),
            body: "HIIT with Sam in 10 minutes".into(),
            data: BTreeMap::from([
                ("kind".to_owned(), "class_starting".to_owned()),
                ("class_id".to_owned(), "c1".to_owned()),
            ]),
            collapse_id: None,
            expires_at: None,
            priority: Priority::High,
        }
    }

    fn answer(status: u16, body: &str, retry_after: Option<u64>) -> HttpAnswer {
        HttpAnswer {
            status,
            http2: true,
            retry_after: retry_after.map(Duration::from_secs),
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn a_provider_token_is_an_es256_jwt_with_the_key_id_the_team_and_the_clock_time() {
        let key = ApnsKey::generate();
        let token = tokens(&key).sign(NOW + 999).expect("signs");
        let header = jsonwebtoken::decode_header(&*token.jwt).expect("a JWT");
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(key.key_id.as_str()));
        assert_eq!(header.typ, None);
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(
            &*token.jwt,
            &DecodingKey::from_ec_der(&key.public_key_sec1()),
            &validation,
        )
        .expect("signed by the key")
        .claims;
        assert_eq!(claims, json!({"iss": key.team_id, "iat": NOW / 1_000}));
    }

    #[tokio::test]
    async fn the_provider_token_is_kept_for_fifty_minutes_by_the_clock_then_renewed() {
        let key = ApnsKey::generate();
        let tokens = tokens(&key);
        let clock = ManualClock::starting_at(NOW);
        let first = tokens.current(clock.now()).expect("signs");
        clock.advance(TOKEN_MIN_AGE);
        assert_eq!(tokens.current(clock.now()).expect("kept"), first);
        clock.advance(TOKEN_RENEW_AFTER - TOKEN_MIN_AGE - Duration::from_millis(1));
        assert_eq!(tokens.current(clock.now()).expect("kept"), first);
        clock.advance(Duration::from_millis(1));
        let second = tokens.current(clock.now()).expect("renewed");
        assert_ne!(second, first);
        assert_eq!(second.issued_at, NOW + TOKEN_RENEW_AFTER.as_millis() as i64);
    }

    #[test]
    fn an_expired_answer_renews_at_once_but_only_the_token_it_was_about() {
        let key = ApnsKey::generate();
        let tokens = tokens(&key);
        let first = tokens.current(NOW).expect("signs");
        tokens.expired(&first);
        let second = tokens.current(NOW + 1_000).expect("renewed at once");
        assert_ne!(second, first);
        // A late answer about the first token does not throw the second away.
        tokens.expired(&first);
        assert_eq!(tokens.current(NOW + 2_000).expect("kept"), second);
    }

    #[test]
    fn the_headers_carry_the_token_topic_type_priority_and_expiration() {
        let mut message = message();
        message.expires_at = Some(1_800_000_123_456);
        message.priority = Priority::Normal;
        message.collapse_id = Some("class-c1".into());
        assert_eq!(
            headers("J.W.T", "com.example.app", &message),
            vec![
                ("authorization", "bearer J.W.T".to_owned()),
                ("apns-topic", "com.example.app".to_owned()),
                ("apns-push-type", "alert".to_owned()),
                ("apns-priority", "5".to_owned()),
                ("apns-expiration", "1800000123".to_owned()),
                ("apns-collapse-id", "class-c1".to_owned()),
            ]
        );
        let headers = headers("J.W.T", "com.example.app", &self::message());
        assert!(headers.contains(&("apns-priority", "10".to_owned())));
        assert!(headers.contains(&("apns-expiration", "0".to_owned())));
        assert!(!headers.iter().any(|(name, _)| *name == "apns-collapse-id"));
    }

    #[test]
    fn a_collapse_id_longer_than_64_bytes_is_cut_at_a_character_boundary() {
        let ascii = "a".repeat(80);
        assert_eq!(cut(&ascii, 64).len(), 64);
        // 63 ASCII bytes then a two-byte character: the character does not fit whole.
        let straddling = format!("{}é", "a".repeat(63));
        assert_eq!(cut(&straddling, 64), "a".repeat(63));
        let emoji = "🏋️".repeat(20);
        let kept = cut(&emoji, 64);
        assert!(kept.len() <= 64 && emoji.starts_with(kept));
        assert_eq!(cut("short", 64), "short");
    }

    #[test]
    fn the_payload_has_the_alert_under_aps_and_the_data_keys_beside_it() {
        let mut message = message();
        message.data.insert("aps".into(), "sneaky".into());
        assert_eq!(
            payload(&message),
            json!({
                "aps": {
                    "alert": {"title": "Class starts", "body": "HIIT with Sam in 10 minutes"},
                    "sound": "default",
                },
                "kind": "class_starting",
                "class_id": "c1",
            })
        );
    }

    #[test]
    fn apples_answers_become_outcomes() {
        let outcome = |status, body, retry| classify(&answer(status, body, retry));
        assert_eq!(outcome(200, "", None), (SendOutcome::Sent, false));
        assert_eq!(
            outcome(410, r#"{"reason":"Unregistered","timestamp":1}"#, None).0,
            SendOutcome::InvalidToken {
                reason: "Unregistered".into()
            }
        );
        assert_eq!(
            outcome(400, r#"{"reason":"BadDeviceToken"}"#, None).0,
            SendOutcome::InvalidToken {
                reason: "BadDeviceToken".into()
            }
        );
        assert_eq!(
            outcome(403, r#"{"reason":"ExpiredProviderToken"}"#, None),
            (
                SendOutcome::Retry {
                    reason: "403 ExpiredProviderToken".into(),
                    after: None
                },
                true
            )
        );
        assert_eq!(
            outcome(403, r#"{"reason":"InvalidProviderToken"}"#, None).0,
            SendOutcome::Failed {
                reason: "403 InvalidProviderToken".into()
            }
        );
        assert_eq!(
            outcome(400, r#"{"reason":"TopicDisallowed"}"#, None).0,
            SendOutcome::Failed {
                reason: "400 TopicDisallowed".into()
            }
        );
        assert_eq!(
            outcome(503, r#"{"reason":"ServiceUnavailable"}"#, Some(30)).0,
            SendOutcome::Retry {
                reason: "503 ServiceUnavailable".into(),
                after: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(
            outcome(429, r#"{"reason":"TooManyRequests"}"#, None).0,
            SendOutcome::Retry {
                reason: "429 TooManyRequests".into(),
                after: None
            }
        );
        assert_eq!(
            outcome(502, "<html>bad gateway</html>", None).0,
            SendOutcome::Retry {
                reason: "502".into(),
                after: None
            }
        );
        let mut over_http1 = answer(200, "", None);
        over_http1.http2 = false;
        assert!(matches!(
            classify(&over_http1).0,
            SendOutcome::Failed { .. }
        ));
    }
}
