//! A server wired to fake APNs and FCM on loopback: a test CA the server trusts through
//! `push.ca_file`, an APNs `.p8` key, an FCM service account, and the helpers the push
//! tests share (register a device, wait for a push, wait for an outbox item).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fitpulse::config::{ApnsEnvironment, Settings};
use fitpulse_actors::domain::time::rfc3339;
use fitpulse_actors::ports::clock::{Clock, ManualClock};
use fitpulse_actors::ports::commerce::OutboxState;
use fitpulse_fakes::{ApnsKey, ApnsPush, FakeApns, FakeFcm, FcmMessage, TestCa};
use serde_json::json;
use tempfile::TempDir;
use uuid::Uuid;

use crate::helpers::TestApp;

/// The bundle id the server pushes for.
pub const TOPIC: &str = "app.fitpulse.tests";
/// The Firebase project.
pub const PROJECT: &str = "fitpulse-tests";
/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct PushWorld {
    _dir: TempDir,
    pub apns: FakeApns,
    pub fcm: FakeFcm,
    pub key: ApnsKey,
    ca_file: PathBuf,
    key_file: PathBuf,
    service_account: PathBuf,
}

impl PushWorld {
    pub fn start() -> PushWorld {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = TestCa::new();
        let key = ApnsKey::generate();
        let apns = FakeApns::start(&ca, &key, TOPIC).expect("fake APNs starts");
        let fcm = FakeFcm::start(&ca, PROJECT).expect("fake FCM starts");
        PushWorld {
            ca_file: ca.write_root_pem(dir.path()).expect("CA written"),
            key_file: key.write_p8(dir.path()).expect("key written"),
            service_account: fcm
                .write_service_account(dir.path())
                .expect("account written"),
            _dir: dir,
            apns,
            fcm,
            key,
        }
    }

    /// What a server needs to push through the fakes; the outbox polls often.
    pub fn configure(&self) -> impl Fn(&mut Settings) + Clone + 'static {
        let (ca, key_file, account) = (
            self.ca_file.clone(),
            self.key_file.clone(),
            self.service_account.clone(),
        );
        let (team, key_id) = (self.key.team_id.clone(), self.key.key_id.clone());
        let (apns, fcm) = (self.apns.endpoint(), self.fcm.endpoint());
        move |s: &mut Settings| {
            s.push.ca_file = Some(ca.clone());
            s.push.apns.team_id = Some(team.clone());
            s.push.apns.key_id = Some(key_id.clone());
            s.push.apns.key_file = Some(key_file.clone());
            s.push.apns.topic = Some(TOPIC.into());
            s.push.apns.environment = ApnsEnvironment::Sandbox;
            s.push.apns.endpoint = Some(apns.clone());
            s.push.fcm.project_id = Some(PROJECT.into());
            s.push.fcm.service_account_file = Some(account.clone());
            s.push.fcm.endpoint = Some(fcm.clone());
            s.outbox.poll_interval_ms = 20;
            s.outbox.backoff_base_ms = 1_000;
        }
    }

    /// The fakes read the time from `clock` (the servers' manual clock), as the real
    /// providers and the servers agree on the time.
    pub fn follow(&self, clock: &Arc<ManualClock>) {
        let (a, f) = (clock.clone(), clock.clone());
        self.apns.set_clock(move || a.now());
        self.fcm.set_clock(move || f.now());
    }

    /// The pushes APNs accepted for `token`.
    pub fn apns_to(&self, token: &str) -> Vec<ApnsPush> {
        self.apns
            .accepted()
            .into_iter()
            .filter(|p| p.token == token)
            .collect()
    }

    /// The messages FCM accepted for `token`.
    pub fn fcm_to(&self, token: &str) -> Vec<FcmMessage> {
        self.fcm
            .accepted()
            .into_iter()
            .filter(|m| m.token == token)
            .collect()
    }

    /// Waits until APNs accepted `count` pushes for `token`; answers them.
    pub async fn apns_pushes(&self, token: &str, count: usize) -> Vec<ApnsPush> {
        wait_for(&format!("{count} APNs pushes to {token}"), || {
            let pushes = self.apns_to(token);
            (pushes.len() >= count).then_some(pushes)
        })
        .await
    }

    /// Waits until FCM accepted `count` messages for `token`; answers them.
    pub async fn fcm_messages(&self, token: &str, count: usize) -> Vec<FcmMessage> {
        wait_for(&format!("{count} FCM messages to {token}"), || {
            let messages = self.fcm_to(token);
            (messages.len() >= count).then_some(messages)
        })
        .await
    }
}

/// Polls `check` until it answers, for at most [`WAIT`].
pub async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited in vain for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the outbox item `id` is done.
pub async fn item_done(app: &TestApp, id: Uuid) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let item = app.stores.outbox.outbox_item(id).await.expect("read");
        if item.as_ref().is_some_and(|i| i.state == OutboxState::Done) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox item {id} not done: {item:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A random FCM registration token.
pub fn fcm_token() -> String {
    format!("fcm:{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// Registers a device of the token's user; answers the status.
pub async fn register(
    app: &TestApp,
    token: &str,
    device_id: &str,
    platform: &str,
    push_token: &str,
    locale: Option<&str>,
) -> u16 {
    let mut body = json!({"platform": platform, "push_token": push_token});
    if let Some(locale) = locale {
        body["locale"] = json!(locale);
    }
    let response = app
        .call(
            "PUT",
            &format!("/v1/me/devices/{device_id}"),
            Some(body),
            Some(token),
        )
        .await;
    assert!(
        response.status == 200 || response.status == 201,
        "{}",
        response.text
    );
    response.status
}

/// `at` as the API writes times.
pub fn time(at: i64) -> String {
    rfc3339(at)
}
