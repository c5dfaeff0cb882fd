//! Devices and notification settings over HTTP: what is kept, what is refused (and that a
//! refusal changes nothing), on both backends.

use serde_json::{Value, json};

use super::world::{fcm_token, register};
use crate::helpers::{TestApp, assert_error, scylla_app, spawn_app};
use fitpulse_fakes::apns_device_token;

async fn devices(app: &TestApp, token: &str) -> Vec<Value> {
    let listed = app.call("GET", "/v1/me/devices", None, Some(token)).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    listed.json()["items"].as_array().expect("items").clone()
}

async fn devices_are_registered_updated_moved_and_removed(app: &TestApp) {
    let (_, ada) = app.member();
    let (_, bo) = app.member();
    let token = apns_device_token();
    assert_eq!(
        register(app, &ada, "iphone", "ios", &token, Some("pt_br")).await,
        201
    );
    // The same registration again (an app retrying): kept once, answered 200.
    assert_eq!(
        register(app, &ada, "iphone", "ios", &token, Some("pt_br")).await,
        200
    );
    let listed = devices(app, &ada).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["device_id"], "iphone");
    assert_eq!(listed[0]["platform"], "ios");
    assert_eq!(listed[0]["locale"], "pt-BR");
    assert_eq!(listed[0]["push_token"], token.as_str());

    // The phone changes hands (a new account signs in on it): the token moves.
    assert_eq!(
        register(app, &bo, "install-9", "ios", &token, None).await,
        201
    );
    assert!(
        devices(app, &ada).await.is_empty(),
        "the token stayed with the old account"
    );
    assert_eq!(devices(app, &bo).await.len(), 1);

    // Only the owner removes a device; twice is not found.
    assert_eq!(
        app.call("DELETE", "/v1/me/devices/install-9", None, Some(&ada))
            .await
            .status,
        404
    );
    assert_eq!(
        app.call("DELETE", "/v1/me/devices/install-9", None, Some(&bo))
            .await
            .status,
        204
    );
    let again = app
        .call("DELETE", "/v1/me/devices/install-9", None, Some(&bo))
        .await;
    assert_eq!(again.status, 404);
    assert_error(&again.text, "not_found");
}

#[actix_web::test]
async fn devices_are_registered_updated_moved_and_removed_embedded() {
    devices_are_registered_updated_moved_and_removed(&spawn_app().await).await;
}

#[actix_web::test]
async fn devices_are_registered_updated_moved_and_removed_scylla() {
    let Some(app) = scylla_app(|_| {}).await else {
        return;
    };
    devices_are_registered_updated_moved_and_removed(&app).await;
}

#[actix_web::test]
async fn a_member_keeps_twenty_devices_the_oldest_giving_way() {
    let app = spawn_app().await;
    let (_, ada) = app.member();
    for n in 0..21 {
        register(
            &app,
            &ada,
            &format!("d{n:02}"),
            "android",
            &fcm_token(),
            None,
        )
        .await;
    }
    let listed = devices(&app, &ada).await;
    assert_eq!(listed.len(), 20);
    assert!(
        listed.iter().all(|d| d["device_id"] != "d00"),
        "the oldest was kept"
    );
    assert!(listed.iter().any(|d| d["device_id"] == "d20"));
}

#[actix_web::test]
async fn bad_device_registrations_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let (_, ada) = app.member();
    let good = json!({"platform": "ios", "push_token": apns_device_token()});
    let mut cases: Vec<(String, Value, &str)> = vec![
        (
            "ok".into(),
            json!({"platform": "web", "push_token": apns_device_token()}),
            "platform",
        ),
        (
            "ok".into(),
            json!({"platform": "ios", "push_token": "zz"}),
            "push_token",
        ),
        (
            "ok".into(),
            json!({"platform": "android", "push_token": "a b"}),
            "push_token",
        ),
        ("ok".into(), json!({"platform": "ios"}), ""),
        (
            "ok".into(),
            json!({"platform": "ios", "push_token": apns_device_token(), "extra": 1}),
            "",
        ),
        (
            "ok".into(),
            json!({"platform": "ios", "push_token": apns_device_token(), "timezone": "Mars/Base"}),
            "timezone",
        ),
        (
            "ok".into(),
            json!({"platform": "ios", "push_token": apns_device_token(), "app_version": "v2"}),
            "app_version",
        ),
        (
            "ok".into(),
            json!({"platform": "ios", "push_token": "a".repeat(300_000)}),
            "",
        ),
        ("bad id".into(), good.clone(), "device_id"),
        ("x".repeat(129), good.clone(), "device_id"),
    ];
    for (id, body, field) in cases.drain(..) {
        let path = format!("/v1/me/devices/{}", id.replace(' ', "%20"));
        let answer = app.call("PUT", &path, Some(body.clone()), Some(&ada)).await;
        assert!(
            answer.status == 400 || answer.status == 413,
            "{id} {body}: {} {}",
            answer.status,
            answer.text
        );
        if !field.is_empty() {
            assert!(answer.text.contains(field), "{field}: {}", answer.text);
        }
    }
    let raw = app
        .client
        .put(app.url("/v1/me/devices/ok"))
        .insert_header(("authorization", format!("Bearer {ada}")))
        .insert_header(("content-type", "application/json"))
        .send_body("{not json")
        .await
        .expect("sent");
    assert_eq!(raw.status().as_u16(), 400);
    assert!(
        devices(&app, &ada).await.is_empty(),
        "a refusal stored something"
    );

    // Without a token, or with a forged one.
    for token in [None, Some("not-a-token")] {
        let answer = app
            .call("PUT", "/v1/me/devices/ok", Some(good.clone()), token)
            .await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(
            app.call("GET", "/v1/me/devices", None, token).await.status,
            401
        );
        assert_eq!(
            app.call("GET", "/v1/me/notification-settings", None, token)
                .await
                .status,
            401
        );
    }
}

async fn settings(app: &TestApp, token: &str) -> Value {
    app.call("GET", "/v1/me/notification-settings", None, Some(token))
        .await
        .json()
}

#[actix_web::test]
async fn notification_settings_default_change_by_parts_and_refuse_nonsense() {
    let app = spawn_app().await;
    let (_, ada) = app.member();
    let defaults = settings(&app, &ada).await;
    assert_eq!(
        defaults,
        json!({"categories": {"class_reminders": true, "messages": true, "social": false, "commerce": true}, "quiet_hours": null})
    );
    let patch = |body: Value| {
        app.call(
            "PATCH",
            "/v1/me/notification-settings",
            Some(body),
            Some(&ada),
        )
    };
    let changed = patch(
        json!({"quiet_hours": {"start": "22:00", "end": "07:00"}, "categories": {"social": true}}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let expected = json!({"categories": {"class_reminders": true, "messages": true, "social": true, "commerce": true}, "quiet_hours": {"start": "22:00", "end": "07:00"}});
    assert_eq!(changed.json(), expected);
    for bad in [
        json!({"quiet_hours": {"start": "25:00", "end": "07:00"}}),
        json!({"quiet_hours": {"start": "22:00", "end": "22:00"}}),
        json!({"quiet_hours": {"start": "22:00"}}),
        json!({"categories": {"sms": true}}),
        json!({"categories": {"social": "yes"}}),
        json!({"volume": 11}),
    ] {
        let answer = patch(bad.clone()).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
    }
    assert_eq!(
        settings(&app, &ada).await,
        expected,
        "a refusal changed the settings"
    );
    let cleared = patch(json!({"quiet_hours": null})).await;
    assert_eq!(cleared.json()["quiet_hours"], Value::Null);
    assert_eq!(cleared.json()["categories"]["social"], true);
}
