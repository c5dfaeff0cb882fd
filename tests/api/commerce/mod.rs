//! Commerce end to end with real signatures: App Store notifications signed by a test CA
//! move subscriptions through their states, reach the user's socket as
//! `entitlements.changed` and open premium content without a new login; other CAs,
//! tampered bodies, replays, bad push tokens and stale HMAC timestamps change nothing.

mod appstore_ca;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fitpulse::config::{AppStoreEnvironment, Secret};
use fitpulse_actors::domain::{UserId, now_millis};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};
use crate::sockets::metric;
use appstore_ca::{Flaw, TestCa};

const DAY: i64 = 86_400_000;
const PAYMENTS_SECRET: &str = "whsec_test_secret";
const PUSH_TOKEN: &str = "push-token-0123456789";
/// A premium recipe of the demo catalog.
const PREMIUM_RECIPE: &str = "/v1/recipes/classic-banana-pancakes";

/// An app that trusts `ca` for App Store notifications and knows the other providers'
/// secrets; its outbox polls fast so processing is quick to observe.
async fn commerce_app(ca: &TestCa, root_file: &tempfile::NamedTempFile) -> TestApp {
    std::fs::write(root_file.path(), ca.root_pem()).expect("root written");
    let path = root_file.path().to_owned();
    spawn_app_with(move |s| {
        s.commerce.appstore_root_cert_file = Some(path);
        s.commerce.appstore_environment = AppStoreEnvironment::Sandbox;
        s.commerce.payments_secret = Some(Secret::new(PAYMENTS_SECRET));
        s.commerce.googleplay_push_token = Some(Secret::new(PUSH_TOKEN));
        s.outbox.poll_interval_ms = 50;
        s.outbox.backoff_base_ms = 50;
        s.outbox.backoff_max_ms = 200;
    })
    .await
}

/// A signed App Store (Sandbox) notification for `user`'s subscription `original`.
fn appstore_body(
    ca: &TestCa,
    kind: &str,
    subtype: Option<&str>,
    original: &str,
    user: UserId,
    signed_at: i64,
    expires_at: i64,
) -> Value {
    appstore_body_from(
        ca, "Sandbox", kind, subtype, original, user, signed_at, expires_at,
    )
}

/// Like [`appstore_body`], from App Store `environment`.
#[allow(clippy::too_many_arguments)]
fn appstore_body_from(
    ca: &TestCa,
    environment: &str,
    kind: &str,
    subtype: Option<&str>,
    original: &str,
    user: UserId,
    signed_at: i64,
    expires_at: i64,
) -> Value {
    let transaction = ca.sign(&json!({
        "originalTransactionId": original, "transactionId": format!("{original}-{signed_at}"),
        "productId": "app.fitpulse.premium.monthly", "purchaseDate": signed_at,
        "expiresDate": expires_at, "appAccountToken": user.to_string(), "type": "Auto-Renewable Subscription",
    }));
    let renewal = ca.sign(&json!({
        "originalTransactionId": original, "autoRenewStatus": 1,
        "gracePeriodExpiresDate": signed_at + 6 * DAY,
    }));
    let mut payload = json!({
        "notificationType": kind, "notificationUUID": uuid::Uuid::new_v4().to_string(),
        "signedDate": signed_at, "version": "2.0",
        "data": {
            "bundleId": "app.fitpulse", "environment": environment,
            "signedTransactionInfo": transaction, "signedRenewalInfo": renewal,
        },
    });
    if let Some(subtype) = subtype {
        payload["subtype"] = json!(subtype);
    }
    json!({ "signedPayload": ca.sign(&payload) })
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> crate::helpers::Response {
    app.call("POST", path, Some(body.clone()), None).await
}

/// Polls the user's subscription until `done` holds (bounded).
async fn wait_for(app: &TestApp, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = app
            .call("GET", "/v1/me/subscription", None, Some(token))
            .await
            .json();
        if done(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reached: {now}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until some item pending in the outbox passes `seen`, or, with `None`, until
/// nothing is pending: every queued notification was handled. The positive control of a
/// test that a notification changed nothing.
async fn outbox_until(app: &TestApp, seen: Option<&dyn Fn(&Value) -> bool>) {
    let admin = app.admin();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let listed = app
            .call("GET", "/v1/admin/outbox?state=pending", None, Some(&admin))
            .await
            .json();
        let items = listed["items"].as_array().expect("items");
        let reached = match seen {
            Some(seen) => items.iter().any(seen),
            None => items.is_empty(),
        };
        if reached {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox never got there: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn outbox_drained(app: &TestApp) {
    outbox_until(app, None).await;
}

fn state_of(subscription: &Value) -> &str {
    subscription["subscriptions"][0]["state"]
        .as_str()
        .unwrap_or("none")
}

#[actix_web::test]
async fn app_store_notifications_move_the_subscription_and_open_premium_content_at_once() {
    let ca = TestCa::new("Test");
    let root = tempfile::NamedTempFile::new().expect("temp file");
    let app = commerce_app(&ca, &root).await;
    let (user, token) = app.member();
    let (mut socket, ready) = app.connect_ready(&token, None).await;
    assert_eq!(ready["data"]["entitlements"], json!([]));
    let refused = app.call("GET", PREMIUM_RECIPE, None, Some(&token)).await;
    assert_eq!(refused.status, 403, "{}", refused.text);

    let now = now_millis();
    let subscribed = appstore_body(&ca, "SUBSCRIBED", None, "1000", user, now, now + 30 * DAY);
    let answer = post_json(&app, "/v1/webhooks/appstore", &subscribed).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["status"], "accepted");
    let changed = socket.event("entitlements.changed").await;
    assert_eq!(changed["data"]["entitlements"][0]["name"], "premium");
    assert!(
        changed["seq"].is_u64(),
        "kept in the feed for other devices"
    );
    let state = wait_for(&app, &token, |s| state_of(s) == "active").await;
    assert_eq!(state["premium"], true);
    assert_eq!(state["subscriptions"][0]["id"], "appstore:1000");
    let opened = app.call("GET", PREMIUM_RECIPE, None, Some(&token)).await;
    assert_eq!(
        opened.status, 200,
        "the same token reads premium now: {}",
        opened.text
    );

    let again = post_json(&app, "/v1/webhooks/appstore", &subscribed).await;
    assert_eq!(again.json()["status"], "duplicate");

    let failed = appstore_body(
        &ca,
        "DID_FAIL_TO_RENEW",
        Some("GRACE_PERIOD"),
        "1000",
        user,
        now + DAY,
        now + 30 * DAY,
    );
    assert_eq!(
        post_json(&app, "/v1/webhooks/appstore", &failed)
            .await
            .json()["status"],
        "accepted"
    );
    let state = wait_for(&app, &token, |s| state_of(s) == "in_grace").await;
    assert_eq!(state["premium"], true, "grace keeps access");

    let expired = appstore_body(
        &ca,
        "EXPIRED",
        None,
        "1000",
        user,
        now + 2 * DAY,
        now + 30 * DAY,
    );
    assert_eq!(
        post_json(&app, "/v1/webhooks/appstore", &expired)
            .await
            .json()["status"],
        "accepted"
    );
    let state = wait_for(&app, &token, |s| state_of(s) == "expired").await;
    assert_eq!(state["premium"], false);
    let closed = loop {
        let event = socket.event("entitlements.changed").await;
        if event["data"]["entitlements"] == json!([]) {
            break event;
        }
    };
    assert!(closed["seq"].is_u64());
    assert_eq!(
        app.call("GET", PREMIUM_RECIPE, None, Some(&token))
            .await
            .status,
        403
    );

    // An older notification arriving late changes nothing.
    let late = appstore_body(
        &ca,
        "DID_RENEW",
        None,
        "1000",
        user,
        now + DAY / 2,
        now + 60 * DAY,
    );
    let queued = post_json(&app, "/v1/webhooks/appstore", &late).await;
    assert_eq!(queued.json()["status"], "accepted", "{}", queued.text);
    outbox_drained(&app).await;
    let state = app
        .call("GET", "/v1/me/subscription", None, Some(&token))
        .await
        .json();
    assert_eq!(state_of(&state), "expired");
}

#[actix_web::test]
async fn every_app_store_notification_type_moves_the_state_machine() {
    let ca = TestCa::new("Types");
    let root = tempfile::NamedTempFile::new().expect("temp file");
    let app = commerce_app(&ca, &root).await;
    let now = now_millis();
    let cases = [
        ("DID_RENEW", None, "active", true),
        ("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD"), "in_grace", true),
        ("DID_FAIL_TO_RENEW", None, "on_hold", false),
        ("GRACE_PERIOD_EXPIRED", None, "on_hold", false),
        (
            "DID_CHANGE_RENEWAL_STATUS",
            Some("AUTO_RENEW_DISABLED"),
            "cancelled",
            true,
        ),
        ("EXPIRED", None, "expired", false),
        ("REFUND", None, "refunded", false),
        ("REVOKE", None, "revoked", false),
    ];
    for (n, (kind, subtype, expected, premium)) in cases.into_iter().enumerate() {
        let (user, token) = app.member();
        let original = format!("2{n:03}");
        let start = appstore_body(
            &ca,
            "SUBSCRIBED",
            None,
            &original,
            user,
            now,
            now + 30 * DAY,
        );
        assert_eq!(
            post_json(&app, "/v1/webhooks/appstore", &start)
                .await
                .status,
            200
        );
        wait_for(&app, &token, |s| state_of(s) == "active").await;
        let next = appstore_body(
            &ca,
            kind,
            subtype,
            &original,
            user,
            now + DAY,
            now + 31 * DAY,
        );
        let answer = post_json(&app, "/v1/webhooks/appstore", &next).await;
        assert_eq!(answer.status, 200, "{kind}: {}", answer.text);
        let state = wait_for(&app, &token, |s| state_of(s) == expected).await;
        assert_eq!(state["premium"], premium, "{kind} {subtype:?}: {state}");
    }
    let test_note = json!({ "signedPayload": ca.sign(&json!({
        "notificationType": "TEST", "notificationUUID": "t-1", "signedDate": now,
    })) });
    let answer = post_json(&app, "/v1/webhooks/appstore", &test_note).await;
    assert_eq!(answer.json()["status"], "ignored");
}

#[actix_web::test]
async fn a_chain_from_the_right_root_without_apples_marks_or_from_the_other_environment_grants_nothing()
 {
    let ca = TestCa::new("Apple");
    let root = tempfile::NamedTempFile::new().expect("temp file");
    let app = commerce_app(&ca, &root).await;
    let (user, token) = app.member();
    let now = now_millis();
    for flaw in [
        Flaw::IntermediateUnmarked,
        Flaw::ClientAuthLeaf,
        Flaw::LeafMayNotSign,
    ] {
        let body = appstore_body(
            &ca.sibling(flaw),
            "SUBSCRIBED",
            None,
            "4000",
            user,
            now,
            now + 30 * DAY,
        );
        let answer = post_json(&app, "/v1/webhooks/appstore", &body).await;
        assert_eq!(answer.status, 401, "{flaw:?}: {}", answer.text);
        assert_error(&answer.text, "invalid_signature");
    }
    let production = appstore_body_from(
        &ca,
        "Production",
        "SUBSCRIBED",
        None,
        "4000",
        user,
        now,
        now + 30 * DAY,
    );
    let answer = post_json(&app, "/v1/webhooks/appstore", &production).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(answer.text.contains("environment"), "{}", answer.text);
    // The same notification from a well-formed chain and the served environment is taken
    // (the positive control): only it grants premium.
    let genuine = appstore_body(&ca, "SUBSCRIBED", None, "4000", user, now, now + 30 * DAY);
    let answer = post_json(&app, "/v1/webhooks/appstore", &genuine).await;
    assert_eq!(answer.json()["status"], "accepted", "{}", answer.text);
    let state = wait_for(&app, &token, |s| state_of(s) != "none").await;
    assert_eq!(
        state["subscriptions"].as_array().map(Vec::len),
        Some(1),
        "{state}"
    );
    assert_eq!(
        metric(
            &app.metrics().await,
            r#"fitpulse_webhooks_total{provider="appstore",result="rejected"}"#
        ),
        4.0
    );
}

#[actix_web::test]
async fn chains_from_other_cas_tampered_payloads_and_bad_bodies_are_refused() {
    let ca = TestCa::new("Trusted");
    let stranger = TestCa::new("Stranger");
    let root = tempfile::NamedTempFile::new().expect("temp file");
    let app = commerce_app(&ca, &root).await;
    let (user, token) = app.member();
    let now = now_millis();

    let forged = appstore_body(
        &stranger,
        "SUBSCRIBED",
        None,
        "3000",
        user,
        now,
        now + 30 * DAY,
    );
    let answer = post_json(&app, "/v1/webhooks/appstore", &forged).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_error(&answer.text, "invalid_signature");

    let genuine = appstore_body(&ca, "SUBSCRIBED", None, "3000", user, now, now + 30 * DAY);
    let jws = genuine["signedPayload"].as_str().expect("jws");
    let parts: Vec<&str> = jws.split('.').collect();
    let mut payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .expect("b64"),
    )
    .expect("json");
    payload["signedDate"] = json!(now + 1);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    let answer = post_json(
        &app,
        "/v1/webhooks/appstore",
        &json!({ "signedPayload": tampered }),
    )
    .await;
    assert_eq!(answer.status, 401, "{}", answer.text);

    for body in [json!({}), json!({ "signedPayload": "a.b" }), json!([1])] {
        let answer = post_json(&app, "/v1/webhooks/appstore", &body).await;
        assert!(
            matches!(answer.status, 400 | 401),
            "{body}: {}",
            answer.text
        );
    }
    let not_json = app
        .client
        .post(app.url("/v1/webhooks/appstore"))
        .insert_header(("content-type", "application/json"))
        .send_body("{nope")
        .await
        .expect("sent")
        .status();
    assert_eq!(not_json.as_u16(), 400);

    outbox_drained(&app).await;
    let state = app
        .call("GET", "/v1/me/subscription", None, Some(&token))
        .await
        .json();
    assert_eq!(state["subscriptions"], json!([]), "nothing changed");
    assert_eq!(state["premium"], false);

    let unconfigured = spawn_app().await;
    let answer = post_json(&unconfigured, "/v1/webhooks/appstore", &genuine).await;
    assert_eq!(answer.status, 503);
    assert_error(&answer.text, "not_configured");
}

fn rtdn(message_id: &str, kind: u32, purchase_token: &str) -> Value {
    let data = json!({
        "version": "1.0", "packageName": "app.fitpulse", "eventTimeMillis": now_millis().to_string(),
        "subscriptionNotification": {
            "version": "1.0", "notificationType": kind, "purchaseToken": purchase_token,
            "subscriptionId": "premium_monthly",
        },
    });
    json!({
        "message": { "data": STANDARD.encode(data.to_string()), "messageId": message_id, "publishTime": "2026-11-22T10:00:00Z" },
        "subscription": "projects/fitpulse/subscriptions/play-rtdn",
    })
}

#[actix_web::test]
async fn google_play_notifications_need_the_push_token_and_wait_for_the_purchase_link() {
    let ca = TestCa::new("Play");
    let root = tempfile::NamedTempFile::new().expect("temp file");
    let app = commerce_app(&ca, &root).await;
    let (_, token) = app.member();
    let purchase = format!("tok-{}", uuid::Uuid::new_v4().simple());

    let no_token = post_json(&app, "/v1/webhooks/googleplay", &rtdn("m-1", 4, &purchase)).await;
    assert_eq!(no_token.status, 401);
    assert_error(&no_token.text, "invalid_signature");
    let wrong = post_json(
        &app,
        "/v1/webhooks/googleplay?token=nope",
        &rtdn("m-1", 4, &purchase),
    )
    .await;
    assert_eq!(wrong.status, 401);

    // The notification may come before the app links the purchase: it is retried.
    let path = format!("/v1/webhooks/googleplay?token={PUSH_TOKEN}");
    let accepted = post_json(&app, &path, &rtdn("m-1", 4, &purchase)).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.json()["status"], "accepted");
    // Tried once before the link exists, and put back for later.
    outbox_until(
        &app,
        Some(&|item: &Value| item["attempts"].as_u64() >= Some(1)),
    )
    .await;
    let link = app
        .call(
            "POST",
            "/v1/purchases/googleplay",
            Some(json!({ "purchase_token": purchase, "product_id": "premium_monthly" })),
            Some(&token),
        )
        .await;
    assert_eq!(link.status, 200, "{}", link.text);
    let state = wait_for(&app, &token, |s| state_of(s) == "active").await;
    assert_eq!(state["premium"], true);

    let (_, other) = app.member();
    let stolen = app
        .call(
            "POST",
            "/v1/purchases/googleplay",
            Some(json!({ "purchase_token": purchase, "product_id": "premium_monthly" })),
            Some(&other),
        )
        .await;
    assert_eq!(stolen.status, 409);

    let cancel = post_json(&app, &path, &rtdn("m-2", 3, &purchase)).await;
    assert_eq!(cancel.json()["status"], "accepted");
    wait_for(&app, &token, |s| state_of(s) == "cancelled").await;
    let replay = post_json(&app, &path, &rtdn("m-2", 3, &purchase)).await;
    assert_eq!(replay.json()["status"], "duplicate");
    let garbage = post_json(
        &app,
        &path,
        &json!({ "message": { "data": "!!!", "messageId": "m-3" } }),
    )
    .await;
    assert_eq!(garbage.status, 400);
}

async fn post_signed(
    app: &TestApp,
    body: &str,
    timestamp: u64,
    secret: &str,
) -> crate::helpers::Response {
    let signature = fitpulse::commerce::payments::sign(secret, timestamp, body.as_bytes());
    app.call_with_headers(
        "POST",
        "/v1/webhooks/payments",
        Some(serde_json::from_str(body).expect("json")),
        None,
        &[(
            "fitpulse-signature",
            &format!("t={timestamp},v1={signature}"),
        )],
    )
    .await
}

#[actix_web::test]
async fn web_payments_are_verified_by_hmac_within_the_time_window_and_deduplicated() {
    let ca = TestCa::new("Web");
    let root = tempfile::NamedTempFile::new().expect("temp file");
    let app = commerce_app(&ca, &root).await;
    let (user, token) = app.member();
    let now = (now_millis() / 1000) as u64;
    let body = json!({
        "id": "evt_1", "type": "subscription.created", "created": now,
        "data": {
            "subscription_id": "sub_1", "user_id": user.to_string(),
            "price_id": "price_premium_yearly", "current_period_end": now + 365 * 86_400,
        },
    })
    .to_string();

    let stale = post_signed(&app, &body, now - 3_600, PAYMENTS_SECRET).await;
    assert_eq!(stale.status, 400, "{}", stale.text);
    assert_error(&stale.text, "stale_timestamp");
    let forged = post_signed(&app, &body, now, "whsec_wrong").await;
    assert_eq!(forged.status, 401);
    assert_error(&forged.text, "invalid_signature");
    let unsigned = app
        .call(
            "POST",
            "/v1/webhooks/payments",
            Some(serde_json::from_str(&body).expect("json")),
            None,
        )
        .await;
    assert_eq!(unsigned.status, 401);
    outbox_drained(&app).await;
    let state = app
        .call("GET", "/v1/me/subscription", None, Some(&token))
        .await
        .json();
    assert_eq!(
        state["subscriptions"],
        json!([]),
        "refused bodies change nothing"
    );

    let accepted = post_signed(&app, &body, now, PAYMENTS_SECRET).await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.json()["status"], "accepted");
    let state = wait_for(&app, &token, |s| state_of(s) == "active").await;
    assert_eq!(state["subscriptions"][0]["product_id"], "premium_yearly");
    let replay = post_signed(&app, &body, now, PAYMENTS_SECRET).await;
    assert_eq!(replay.json()["status"], "duplicate");

    let refund = json!({
        "id": "evt_2", "type": "charge.refunded", "created": now + 1,
        "data": { "subscription_id": "sub_1", "user_id": user.to_string(), "price_id": "price_premium_yearly" },
    })
    .to_string();
    assert_eq!(
        post_signed(&app, &refund, now, PAYMENTS_SECRET)
            .await
            .status,
        200
    );
    let state = wait_for(&app, &token, |s| state_of(s) == "refunded").await;
    assert_eq!(state["premium"], false);

    let unknown_field = json!({ "id": "evt_3", "type": "subscription.created", "created": now, "data": {}, "extra": 1 }).to_string();
    assert_eq!(
        post_signed(&app, &unknown_field, now, PAYMENTS_SECRET)
            .await
            .status,
        400
    );
}

#[actix_web::test]
async fn products_list_per_platform_with_their_store_ids() {
    let app = spawn_app().await;
    let ios = app
        .call("GET", "/v1/products?platform=ios", None, None)
        .await;
    assert_eq!(ios.status, 200);
    assert!(ios.header("etag").is_some());
    let items = ios.json()["items"].as_array().expect("items").clone();
    assert!(
        items.iter().any(|p| p["id"] == "premium_monthly"
            && p["store_product_id"] == "app.fitpulse.premium.monthly")
    );
    let bad = app
        .call("GET", "/v1/products?platform=tv", None, None)
        .await;
    assert_eq!(bad.status, 400);
    assert_error(&bad.text, "invalid_query");
    let anonymous = app.call("GET", "/v1/me/subscription", None, None).await;
    assert_eq!(anonymous.status, 401);
}
