//! The APNs and FCM clients against the fakes: what reaches the provider (headers, payload,
//! HTTP/2, credentials), how each answer becomes an outcome, and when credentials are
//! reused and renewed, with the clock in the test's hands.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use fitpulse::config::PushSettings;
use fitpulse::push::tls::{self, Alpn};
use fitpulse::push::{
    ApnsProvider, FcmProvider, Priority, PushMessage, PushMetrics, PushProvider, SendOutcome,
};
use fitpulse_actors::domain::now_millis;
use fitpulse_actors::ports::clock::{Clock, ManualClock, SharedClock};
use fitpulse_fakes::{ApnsKey, FakeApns, FakeFcm, Fault, RsaKey, TestCa, apns_device_token};
use prometheus::{Encoder, Registry};
use serde_json::json;
use tempfile::TempDir;

const TOPIC: &str = "com.example.fitpulse";
const PROJECT: &str = "fitpulse-test";

fn message() -> PushMessage {
    PushMessage {
        title: "Class starts".into(),
        body: "HIIT with Sam in 10 minutes".into(),
        data: BTreeMap::from([
            ("kind".to_owned(), "class_starting".to_owned()),
            ("class_id".to_owned(), "c1".to_owned()),
        ]),
        collapse_id: Some("class-c1".into()),
        expires_at: None,
        priority: Priority::High,
    }
}

/// What the fakes' server trusts, in a temporary directory.
struct Setup {
    dir: TempDir,
    ca: TestCa,
    ca_file: PathBuf,
    clock: Arc<ManualClock>,
    registry: Registry,
    metrics: PushMetrics,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ca = TestCa::new();
        let ca_file = ca.write_root_pem(dir.path()).expect("the CA written");
        let registry = Registry::new();
        let metrics = PushMetrics::new(&registry);
        Setup {
            dir,
            ca,
            ca_file,
            clock: ManualClock::starting_at(now_millis()),
            registry,
            metrics,
        }
    }

    fn shared_clock(&self) -> SharedClock {
        self.clock.clone()
    }

    /// The fake reads the test's clock, moved on by `skew` milliseconds.
    fn fake_clock(&self, skew: &Arc<AtomicI64>) -> impl Fn() -> i64 + Send + Sync + 'static {
        let (clock, skew) = (self.clock.clone(), skew.clone());
        move || clock.now() + skew.load(Ordering::SeqCst)
    }

    fn settings(&self) -> PushSettings {
        PushSettings {
            ca_file: Some(self.ca_file.clone()),
            timeout_ms: 5_000,
            ..PushSettings::default()
        }
    }

    fn apns_settings(
        &self,
        fake: &FakeApns,
        key: &ApnsKey,
        key_id: &str,
        topic: &str,
    ) -> PushSettings {
        let key_file = key.write_p8(self.dir.path()).expect("the key written");
        let mut settings = self.settings();
        settings.apns.team_id = Some(key.team_id.clone());
        settings.apns.key_id = Some(key_id.to_owned());
        settings.apns.key_file = Some(key_file);
        settings.apns.topic = Some(topic.to_owned());
        settings.apns.endpoint = Some(fake.endpoint());
        settings
    }

    fn apns(&self, settings: &PushSettings) -> ApnsProvider {
        ApnsProvider::from_settings(settings, self.shared_clock(), self.metrics.clone())
            .expect("APNs sets up")
            .expect("APNs is configured")
    }

    fn fcm_settings(&self, fake: &FakeFcm) -> PushSettings {
        let mut settings = self.settings();
        settings.fcm.project_id = Some(fake.project_id().to_owned());
        settings.fcm.service_account_file = Some(
            fake.write_service_account(self.dir.path())
                .expect("written"),
        );
        settings.fcm.endpoint = Some(fake.endpoint());
        settings
    }

    fn fcm(&self, settings: &PushSettings) -> FcmProvider {
        FcmProvider::from_settings(settings, self.shared_clock(), self.metrics.clone())
            .expect("FCM sets up")
            .expect("FCM is configured")
    }

    /// `fitpulse_push_sent_total{provider, result}`.
    fn sent(&self, provider: &str, result: &str) -> u64 {
        let mut text = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("the metrics encode");
        let series =
            format!("fitpulse_push_sent_total{{provider=\"{provider}\",result=\"{result}\"}} ");
        String::from_utf8(text)
            .expect("the text format is UTF-8")
            .lines()
            .find_map(|line| line.strip_prefix(&series)?.parse().ok())
            .unwrap_or(0)
    }
}

/// One RSA key for every fake FCM account of this run: they are slow to make.
fn account_key() -> RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(RsaKey::generate).clone()
}

fn fcm_token() -> String {
    format!("fcm-{}:APA91b", apns_device_token())
}

// ---------------------------------------------------------------------------------------
// APNs

#[actix_web::test]
async fn an_apns_push_reaches_apple_over_http2_with_its_headers_and_payload() {
    let setup = Setup::new();
    let key = ApnsKey::generate();
    let fake = FakeApns::start(&setup.ca, &key, TOPIC).expect("the fake starts");
    let apns = setup.apns(&setup.apns_settings(&fake, &key, &key.key_id, TOPIC));
    let device = apns_device_token();
    let mut message = message();
    message.expires_at = Some(setup.clock.now() + 3_600_000);
    message.priority = Priority::Normal;

    assert_eq!(apns.name(), "apns");
    assert_eq!(apns.send(&device, &message).await, SendOutcome::Sent);

    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 1, "refused: {:?}", fake.refused());
    let push = &accepted[0];
    assert_eq!(push.token, device);
    assert!(
        push.header("authorization")
            .is_some_and(|h| h.starts_with("bearer "))
    );
    assert_eq!(push.header("apns-topic"), Some(TOPIC));
    assert_eq!(push.header("apns-push-type"), Some("alert"));
    assert_eq!(push.header("apns-priority"), Some("5"));
    let expiration = ((setup.clock.now() + 3_600_000) / 1_000).to_string();
    assert_eq!(push.header("apns-expiration"), Some(expiration.as_str()));
    assert_eq!(push.header("apns-collapse-id"), Some("class-c1"));
    assert_eq!(
        push.payload,
        json!({
            "aps": {
                "alert": {"title": "Class starts", "body": "HIIT with Sam in 10 minutes"},
                "sound": "default",
            },
            "kind": "class_starting",
            "class_id": "c1",
        })
    );
    assert_eq!(fake.requests_for(&device), 1);
    assert_eq!(setup.sent("apns", "sent"), 1);
}

#[actix_web::test]
async fn the_fake_apns_refuses_a_client_that_does_not_speak_http2() {
    let setup = Setup::new();
    let key = ApnsKey::generate();
    let fake = FakeApns::start(&setup.ca, &key, TOPIC).expect("the fake starts");
    let mut http1 = (*tls::client_config(Some(&setup.ca_file), Alpn::Http2OrHttp11)
        .expect("a TLS config"))
    .clone();
    http1.alpn_protocols = vec![b"http/1.1".to_vec()];
    let client = awc::Client::builder()
        .connector(awc::Connector::new().rustls_0_23(Arc::new(http1)))
        .timeout(Duration::from_secs(5))
        .finish();
    let url = format!("{}/3/device/{}", fake.endpoint(), apns_device_token());
    let refused = client.post(url).send_body("{}").await.expect_err("refused");
    assert!(
        refused.to_string().contains("NoApplicationProtocol"),
        "{refused}"
    );

    // Positive control: the same CA with HTTP/2 gets through.
    let apns = setup.apns(&setup.apns_settings(&fake, &key, &key.key_id, TOPIC));
    assert_eq!(
        apns.send(&apns_device_token(), &message()).await,
        SendOutcome::Sent
    );
}

#[actix_web::test]
async fn a_key_apple_does_not_know_a_wrong_key_id_or_another_apps_topic_fails() {
    let setup = Setup::new();
    let key = ApnsKey::generate();
    let fake = FakeApns::start(&setup.ca, &key, TOPIC).expect("the fake starts");
    let device = apns_device_token();

    let impostor = setup.apns(&setup.apns_settings(&fake, &key.impostor(), &key.key_id, TOPIC));
    assert_eq!(
        impostor.send(&device, &message()).await,
        SendOutcome::Failed {
            reason: "403 InvalidProviderToken".into()
        }
    );
    let wrong_kid = setup.apns(&setup.apns_settings(&fake, &key, "ZZZZZZZZZZ", TOPIC));
    assert_eq!(
        wrong_kid.send(&device, &message()).await,
        SendOutcome::Failed {
            reason: "403 InvalidProviderToken".into()
        }
    );
    let other_app = setup.apns(&setup.apns_settings(&fake, &key, &key.key_id, "com.example.other"));
    assert_eq!(
        other_app.send(&device, &message()).await,
        SendOutcome::Failed {
            reason: "400 TopicDisallowed".into()
        }
    );
    assert!(fake.accepted().is_empty());
    assert_eq!(setup.sent("apns", "failed"), 3);

    // Positive control: the right key, id and topic are accepted by the same fake.
    let right = setup.apns(&setup.apns_settings(&fake, &key, &key.key_id, TOPIC));
    assert_eq!(right.send(&device, &message()).await, SendOutcome::Sent);
}

#[actix_web::test]
async fn an_unregistered_or_malformed_device_token_is_an_invalid_token() {
    let setup = Setup::new();
    let key = ApnsKey::generate();
    let fake = FakeApns::start(&setup.ca, &key, TOPIC).expect("the fake starts");
    let apns = setup.apns(&setup.apns_settings(&fake, &key, &key.key_id, TOPIC));
    let gone = apns_device_token();
    fake.unregister(&gone);

    assert_eq!(
        apns.send(&gone, &message()).await,
        SendOutcome::InvalidToken {
            reason: "Unregistered".into()
        }
    );
    // Letters that are not hex reach Apple, which refuses the format.
    assert_eq!(
        apns.send(&"z".repeat(64), &message()).await,
        SendOutcome::InvalidToken {
            reason: "BadDeviceToken".into()
        }
    );
    // A token that would change the URL never leaves the server.
    assert_eq!(
        apns.send("../../3/device/x?y", &message()).await,
        SendOutcome::InvalidToken {
            reason: "BadDeviceToken".into()
        }
    );
    assert_eq!(fake.requests(), 2);
    assert_eq!(setup.sent("apns", "invalid_token"), 3);
}

#[actix_web::test]
async fn apns_outages_and_throttling_are_retried_after_what_apple_says() {
    let setup = Setup::new();
    let key = ApnsKey::generate();
    let fake = FakeApns::start(&setup.ca, &key, TOPIC).expect("the fake starts");
    let apns = setup.apns(&setup.apns_settings(&fake, &key, &key.key_id, TOPIC));
    let device = apns_device_token();
    fake.fail_next(
        &device,
        1,
        Fault::Unavailable {
            retry_after: Some(30),
        },
    );
    fake.fail_next(&device, 1, Fault::TooManyRequests { retry_after: None });

    assert_eq!(
        apns.send(&device, &message()).await,
        SendOutcome::Retry {
            reason: "503 ServiceUnavailable".into(),
            after: Some(Duration::from_secs(30))
        }
    );
    assert_eq!(
        apns.send(&device, &message()).await,
        SendOutcome::Retry {
            reason: "429 TooManyRequests".into(),
            after: None
        }
    );
    assert_eq!(apns.send(&device, &message()).await, SendOutcome::Sent);
    assert_eq!(fake.requests_for(&device), 3);
    assert_eq!(setup.sent("apns", "retry"), 2);
}

#[actix_web::test]
async fn the_provider_token_is_reused_then_renewed_once_the_clock_passes_fifty_minutes() {
    let setup = Setup::new();
    let key = ApnsKey::generate();
    let fake = FakeApns::start(&setup.ca, &key, TOPIC).expect("the fake starts");
    fake.set_clock(setup.fake_clock(&Arc::new(AtomicI64::new(0))));
    let apns = setup.apns(&setup.apns_settings(&fake, &key, &key.key_id, TOPIC));
    let device = apns_device_token();

    for _ in 0..3 {
        assert_eq!(apns.send(&device, &message()).await, SendOutcome::Sent);
    }
    setup.clock.advance(Duration::from_secs(49 * 60));
    assert_eq!(apns.send(&device, &message()).await, SendOutcome::Sent);
    setup.clock.advance(Duration::from_secs(60));
    assert_eq!(apns.send(&device, &message()).await, SendOutcome::Sent);
    assert_eq!(apns.send(&device, &message()).await, SendOutcome::Sent);

    let tokens: Vec<String> = fake
        .accepted()
        .iter()
        .map(|push| push.header("authorization").expect("a token").to_owned())
        .collect();
    assert_eq!(tokens.len(), 6);
    assert!(
        tokens[..4].iter().all(|t| *t == tokens[0]),
        "one token for 49 minutes"
    );
    assert_ne!(tokens[4], tokens[0], "a new token at 50 minutes");
    assert_eq!(tokens[5], tokens[4]);
}

#[actix_web::test]
async fn a_token_apple_calls_expired_is_renewed_at_once_and_the_push_retried() {
    let setup = Setup::new();
    let key = ApnsKey::generate();
    let fake = FakeApns::start(&setup.ca, &key, TOPIC).expect("the fake starts");
    let skew = Arc::new(AtomicI64::new(0));
    fake.set_clock(setup.fake_clock(&skew));
    let apns = setup.apns(&setup.apns_settings(&fake, &key, &key.key_id, TOPIC));
    let device = apns_device_token();
    assert_eq!(apns.send(&device, &message()).await, SendOutcome::Sent);

    // Thirty minutes on our clock, an hour and a minute on Apple's.
    setup.clock.advance(Duration::from_secs(30 * 60));
    skew.store(31 * 60 * 1_000, Ordering::SeqCst);
    assert_eq!(
        apns.send(&device, &message()).await,
        SendOutcome::Retry {
            reason: "403 ExpiredProviderToken".into(),
            after: None
        }
    );
    assert_eq!(apns.send(&device, &message()).await, SendOutcome::Sent);
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 2);
    assert_ne!(
        accepted[0].header("authorization"),
        accepted[1].header("authorization")
    );
}

#[actix_web::test]
async fn apns_setup_names_the_key_file_it_cannot_use() {
    let setup = Setup::new();
    let key = ApnsKey::generate();
    let fake = FakeApns::start(&setup.ca, &key, TOPIC).expect("the fake starts");
    let mut settings = setup.apns_settings(&fake, &key, &key.key_id, TOPIC);
    let not_a_key = setup.dir.path().join("AuthKey_BAD.p8");
    std::fs::write(
        &not_a_key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect("written");
    for key_file in [setup.dir.path().join("missing.p8"), not_a_key] {
        settings.apns.key_file = Some(key_file.clone());
        let error =
            ApnsProvider::from_settings(&settings, setup.shared_clock(), setup.metrics.clone())
                .expect_err("no usable key");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("push.apns.key_file ({})", key_file.display())),
            "{message}"
        );
    }
    settings.apns.key_file = None;
    settings.apns.team_id = None;
    assert!(
        ApnsProvider::from_settings(&settings, setup.shared_clock(), setup.metrics.clone())
            .expect("nothing to set up")
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------
// FCM

fn fake_fcm(setup: &Setup) -> FakeFcm {
    let fake = FakeFcm::start_with_key(&setup.ca, PROJECT, account_key()).expect("the fake starts");
    fake.set_clock(setup.fake_clock(&Arc::new(AtomicI64::new(0))));
    fake
}

#[actix_web::test]
async fn fcm_messages_share_one_access_token_fetched_once() {
    let setup = Setup::new();
    let fake = fake_fcm(&setup);
    let fcm = setup.fcm(&setup.fcm_settings(&fake));
    let device = fcm_token();
    let mut message = message();
    message.expires_at = Some(setup.clock.now() + 600_000);

    assert_eq!(fcm.name(), "fcm");
    // Concurrent first sends share one token request.
    let sends = (0..4).map(|_| fcm.send(&device, &message));
    let outcomes = futures_util::future::join_all(sends).await;
    assert!(
        outcomes.iter().all(|o| *o == SendOutcome::Sent),
        "{outcomes:?}"
    );
    assert_eq!(fcm.send(&device, &message).await, SendOutcome::Sent);
    assert_eq!(fake.token_requests(), 1);
    assert_eq!(fake.access_tokens_issued(), 1);

    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 5, "refused: {:?}", fake.refused());
    assert_eq!(
        accepted[0].message,
        json!({
            "token": device,
            "notification": {"title": "Class starts", "body": "HIIT with Sam in 10 minutes"},
            "data": {"kind": "class_starting", "class_id": "c1"},
            "android": {
                "priority": "HIGH",
                "ttl": "600s",
                "collapse_key": "class-c1",
                "notification": {"tag": "class-c1"},
            },
        })
    );
    assert!(
        accepted
            .iter()
            .all(|m| m.access_token == accepted[0].access_token)
    );
    assert_eq!(setup.sent("fcm", "sent"), 5);
}

#[actix_web::test]
async fn the_access_token_is_renewed_a_minute_before_it_expires() {
    let setup = Setup::new();
    let fake = fake_fcm(&setup);
    let fcm = setup.fcm(&setup.fcm_settings(&fake));
    let device = fcm_token();

    assert_eq!(fcm.send(&device, &message()).await, SendOutcome::Sent);
    setup.clock.advance(Duration::from_secs(59 * 60 - 1));
    assert_eq!(fcm.send(&device, &message()).await, SendOutcome::Sent);
    assert_eq!(fake.access_tokens_issued(), 1);
    setup.clock.advance(Duration::from_secs(1));
    assert_eq!(fcm.send(&device, &message()).await, SendOutcome::Sent);
    assert_eq!(fake.access_tokens_issued(), 2);
    let accepted = fake.accepted();
    assert_ne!(accepted[1].access_token, accepted[2].access_token);
}

#[actix_web::test]
async fn an_unregistered_or_malformed_fcm_token_is_an_invalid_token() {
    let setup = Setup::new();
    let fake = fake_fcm(&setup);
    let fcm = setup.fcm(&setup.fcm_settings(&fake));
    let gone = fcm_token();
    fake.unregister(&gone);

    assert_eq!(
        fcm.send(&gone, &message()).await,
        SendOutcome::InvalidToken {
            reason: "UNREGISTERED".into()
        }
    );
    assert_eq!(
        fcm.send("not a token", &message()).await,
        SendOutcome::InvalidToken {
            reason: "INVALID_ARGUMENT".into()
        }
    );
    assert_eq!(fcm.send(&fcm_token(), &message()).await, SendOutcome::Sent);
    assert_eq!(setup.sent("fcm", "invalid_token"), 2);
}

#[actix_web::test]
async fn fcm_outages_and_quotas_are_retried_after_what_google_says() {
    let setup = Setup::new();
    let fake = fake_fcm(&setup);
    let fcm = setup.fcm(&setup.fcm_settings(&fake));
    let device = fcm_token();
    fake.fail_next(
        &device,
        1,
        Fault::Unavailable {
            retry_after: Some(20),
        },
    );
    fake.fail_next(
        &device,
        1,
        Fault::TooManyRequests {
            retry_after: Some(60),
        },
    );

    assert_eq!(
        fcm.send(&device, &message()).await,
        SendOutcome::Retry {
            reason: "503 UNAVAILABLE".into(),
            after: Some(Duration::from_secs(20))
        }
    );
    assert_eq!(
        fcm.send(&device, &message()).await,
        SendOutcome::Retry {
            reason: "429 QUOTA_EXCEEDED".into(),
            after: Some(Duration::from_secs(60))
        }
    );
    assert_eq!(fcm.send(&device, &message()).await, SendOutcome::Sent);
    assert_eq!(fake.requests_for(&device), 3);
}

#[actix_web::test]
async fn a_refused_access_token_is_dropped_and_the_next_send_fetches_another() {
    let setup = Setup::new();
    let fake = fake_fcm(&setup);
    let fcm = setup.fcm(&setup.fcm_settings(&fake));
    let device = fcm_token();
    assert_eq!(fcm.send(&device, &message()).await, SendOutcome::Sent);

    fake.revoke_access_tokens();
    assert_eq!(
        fcm.send(&device, &message()).await,
        SendOutcome::Retry {
            reason: "401 UNAUTHENTICATED".into(),
            after: None
        }
    );
    assert_eq!(fcm.send(&device, &message()).await, SendOutcome::Sent);
    assert_eq!(fake.access_tokens_issued(), 2);
}

#[actix_web::test]
async fn a_service_account_key_google_does_not_know_fails() {
    let setup = Setup::new();
    let fake = fake_fcm(&setup);
    let mut settings = setup.fcm_settings(&fake);
    let foreign = setup.dir.path().join("foreign.json");
    let account = fake.service_account_json_with(&RsaKey::generate());
    std::fs::write(&foreign, account.to_string()).expect("written");
    settings.fcm.service_account_file = Some(foreign);
    let fcm = setup.fcm(&settings);

    assert_eq!(
        fcm.send(&fcm_token(), &message()).await,
        SendOutcome::Failed {
            reason: "access token refused: 400 invalid_grant".into()
        }
    );
    assert_eq!(fake.access_tokens_issued(), 0);
    assert!(fake.accepted().is_empty());
}

#[actix_web::test]
async fn fcm_setup_names_the_service_account_file_it_cannot_use() {
    let setup = Setup::new();
    let fake = fake_fcm(&setup);
    let mut settings = setup.fcm_settings(&fake);
    let plain_http = setup.dir.path().join("plain.json");
    let mut account = fake.service_account_json();
    account["token_uri"] = json!("http://127.0.0.1:1/token");
    std::fs::write(&plain_http, account.to_string()).expect("written");
    let not_json = setup.dir.path().join("not.json");
    std::fs::write(&not_json, "{").expect("written");
    for file in [setup.dir.path().join("missing.json"), not_json, plain_http] {
        settings.fcm.service_account_file = Some(file.clone());
        let error =
            FcmProvider::from_settings(&settings, setup.shared_clock(), setup.metrics.clone())
                .expect_err("no usable account");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "push.fcm.service_account_file ({})",
                file.display()
            )),
            "{message}"
        );
    }
}
