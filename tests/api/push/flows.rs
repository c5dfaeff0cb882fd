//! Pushes end to end: a server on a manual clock pushing through fake APNs and FCM that
//! check what the real ones check. Every "was not pushed" waits first for the work that
//! decided it to be done (its outbox item) and for a push that should have happened.

use std::time::Duration;

use fitpulse::push::items::{self, ClassMoment};
use fitpulse::push::notify::message_fan_out;
use fitpulse_actors::domain::Role;
use fitpulse_actors::domain::UserId;
use fitpulse_fakes::{Fault, apns_device_token};
use serde_json::{Value, json};
use uuid::Uuid;

use super::world::{PushWorld, fcm_token, item_done, register, time, wait_for};
use crate::helpers::{TestApp, spawn_app_on_manual_clock};

const MINUTE: Duration = Duration::from_secs(60);

async fn app_with(world: &PushWorld) -> TestApp {
    let app = spawn_app_on_manual_clock(world.configure()).await;
    world.follow(app.clock.as_ref().expect("manual clock"));
    app
}

fn admin(app: &TestApp) -> String {
    app.mint(UserId::random(), &[Role::Admin], 3_600)
}

/// Creates a feature message (pushed) for `segment`; answers its id.
async fn feature_message(app: &TestApp, segment: Value, extra: Value) -> Uuid {
    let mut body = json!({
        "title": "New 2-week plan",
        "body": "Strength for runners is here",
        "expires_at": time(app.now() + 7 * 86_400_000),
        "segment": segment,
        "push": true,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created = app
        .call("POST", "/v1/admin/messages", Some(body), Some(&admin(app)))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["push"], true);
    created.json()["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid")
}

#[actix_web::test]
async fn a_reminder_and_the_start_reach_an_offline_members_phones_and_not_a_connected_one() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let coach = app.mint(UserId::random(), &[Role::Coach], 3_600);
    let (_, offline) = app.member();
    let (_, online) = app.member();
    let (iphone, pixel, online_iphone) = (apns_device_token(), fcm_token(), apns_device_token());
    register(&app, &offline, "iphone", "ios", &iphone, Some("pt-BR")).await;
    register(&app, &offline, "pixel", "android", &pixel, None).await;
    register(&app, &online, "iphone", "ios", &online_iphone, None).await;
    let (_socket, _) = app.connect_ready(&online, None).await;

    let start = app.now() + 30 * 60_000;
    let class = app
        .call(
            "POST",
            "/v1/live/classes",
            Some(json!({"title": "HIIT with Ana", "scheduled_at": time(start), "duration_minutes": 30})),
            Some(&coach),
        )
        .await;
    assert_eq!(class.status, 201, "{}", class.text);
    let class_id = class.json()["id"].as_str().expect("id").to_owned();
    for token in [&offline, &online] {
        let path = format!("/v1/live/classes/{class_id}/reminder");
        assert_eq!(app.call("PUT", &path, None, Some(token)).await.status, 204);
    }
    // Ten minutes before the start, not earlier.
    app.advance(19 * MINUTE);
    let reminder = items::item_id(&[
        items::CLASS_KIND,
        &class_id,
        ClassMoment::Reminder.as_str(),
        &start.to_string(),
    ]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(world.apns_to(&iphone).is_empty(), "reminded too early");
    app.advance(MINUTE);

    let push = world.apns_pushes(&iphone, 1).await.remove(0);
    assert_eq!(push.header("apns-topic"), Some(super::world::TOPIC));
    assert_eq!(push.header("apns-push-type"), Some("alert"));
    assert_eq!(push.header("apns-priority"), Some("10"));
    let collapse = format!("live:{class_id}");
    assert_eq!(push.header("apns-collapse-id"), Some(collapse.as_str()));
    assert_eq!(push.payload["aps"]["alert"]["title"], "Começa em 10 min");
    assert_eq!(push.payload["aps"]["alert"]["body"], "HIIT with Ana");
    assert_eq!(push.payload["class_id"], class_id.as_str());
    let message = world.fcm_messages(&pixel, 1).await.remove(0).message;
    assert_eq!(message["notification"]["title"], "Starting in 10 min");
    assert_eq!(message["data"]["kind"], "live.reminder");
    item_done(&app, reminder).await;
    assert_eq!(
        world.apns.requests_for(&online_iphone),
        0,
        "the connected member was pushed"
    );

    let started = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class_id}/start"),
            None,
            Some(&coach),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    let push = world.apns_pushes(&iphone, 2).await.remove(1);
    assert_eq!(
        push.payload["aps"]["alert"]["title"],
        "Ao vivo: entre na aula"
    );
    assert_eq!(push.header("apns-collapse-id"), Some(collapse.as_str()));
    world.fcm_messages(&pixel, 2).await;
    let start_item = items::item_id(&[
        items::CLASS_KIND,
        &class_id,
        ClassMoment::Started.as_str(),
        &start.to_string(),
    ]);
    item_done(&app, start_item).await;
    assert_eq!(world.apns.requests_for(&online_iphone), 0);
    assert!(
        app.metrics()
            .await
            .contains("fitpulse_push_skipped_total{reason=\"connected\"} 2"),
        "the connected member was skipped twice"
    );
}

#[actix_web::test]
async fn a_pushed_feature_message_reaches_the_offline_members_it_targets_only() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let (_, ios_pt) = app.member();
    let (_, android) = app.member();
    let (_, ios_online) = app.member();
    let (ios_pt_token, android_token, online_token) =
        (apns_device_token(), fcm_token(), apns_device_token());
    register(&app, &ios_pt, "a", "ios", &ios_pt_token, Some("pt-BR")).await;
    register(
        &app,
        &android,
        "b",
        "android",
        &android_token,
        Some("pt-BR"),
    )
    .await;
    register(&app, &ios_online, "c", "ios", &online_token, None).await;
    let (_socket, _) = app.connect_ready(&ios_online, None).await;

    let message = feature_message(
        &app,
        json!({"platforms": ["ios"]}),
        json!({"translations": {"pt": {"title": "Novo plano de 2 semanas", "body": "Força para corredores"}}}),
    )
    .await;
    let push = world.apns_pushes(&ios_pt_token, 1).await.remove(0);
    assert_eq!(
        push.payload["aps"]["alert"]["title"],
        "Novo plano de 2 semanas"
    );
    assert_eq!(push.payload["message_id"], message.to_string());
    item_done(&app, message_fan_out(message)).await;
    assert_eq!(world.fcm.requests_for(&android_token), 0, "not targeted");
    assert_eq!(world.apns.requests_for(&online_token), 0, "connected");
    assert_eq!(world.apns.accepted().len(), 1);
}

#[actix_web::test]
async fn a_feature_message_fans_out_over_pages_reaching_every_device_once() {
    let world = PushWorld::start();
    let app = spawn_app_on_manual_clock({
        let configure = world.configure();
        move |s| {
            configure(s);
            s.push.fanout_page = 3;
        }
    })
    .await;
    world.follow(app.clock.as_ref().expect("manual clock"));
    // Seven members, two of them with two devices, so pages end inside a member.
    let mut tokens = Vec::new();
    for n in 0..7 {
        let (_, bearer) = app.member();
        for d in 0..(1 + n % 3 / 2) {
            let token = apns_device_token();
            register(&app, &bearer, &format!("d{d}"), "ios", &token, None).await;
            tokens.push(token);
        }
    }
    assert_eq!(tokens.len(), 9);
    feature_message(&app, json!({}), json!({})).await;
    for token in &tokens {
        world.apns_pushes(token, 1).await;
    }
    // The last page is done once every device got it; nothing was pushed twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for token in &tokens {
        assert_eq!(world.apns.requests_for(token), 1, "{token}");
    }
}

#[actix_web::test]
async fn quiet_hours_hold_a_push_until_they_end() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let (_, quiet) = app.member();
    let (_, awake) = app.member();
    let (quiet_token, awake_token) = (apns_device_token(), apns_device_token());
    register(&app, &quiet, "a", "ios", &quiet_token, None).await;
    register(&app, &awake, "a", "ios", &awake_token, None).await;
    // Quiet from an hour ago to an hour from now, in UTC (no zone on the device).
    let hm = |at: i64| time(at)[11..16].to_owned();
    let (start, end) = (hm(app.now() - 3_600_000), hm(app.now() + 3_600_000));
    let set = app
        .call(
            "PATCH",
            "/v1/me/notification-settings",
            Some(json!({"quiet_hours": {"start": start, "end": end}})),
            Some(&quiet),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);

    let message = feature_message(&app, json!({}), json!({})).await;
    world.apns_pushes(&awake_token, 1).await;
    item_done(&app, message_fan_out(message)).await;
    assert_eq!(
        world.apns.requests_for(&quiet_token),
        0,
        "pushed inside quiet hours"
    );

    app.advance(Duration::from_secs(3_700));
    let push = world.apns_pushes(&quiet_token, 1).await.remove(0);
    assert_eq!(push.payload["message_id"], message.to_string());
}

#[actix_web::test]
async fn a_category_turned_off_sends_nothing_of_it() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let (_, muted) = app.member();
    let (_, listening) = app.member();
    let (muted_token, listening_token) = (fcm_token(), fcm_token());
    register(&app, &muted, "a", "android", &muted_token, None).await;
    register(&app, &listening, "a", "android", &listening_token, None).await;
    let off = app
        .call(
            "PATCH",
            "/v1/me/notification-settings",
            Some(json!({"categories": {"messages": false}})),
            Some(&muted),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.json()["categories"]["messages"], false);
    assert_eq!(off.json()["categories"]["class_reminders"], true);

    let message = feature_message(&app, json!({}), json!({})).await;
    world.fcm_messages(&listening_token, 1).await;
    item_done(&app, message_fan_out(message)).await;
    assert_eq!(world.fcm.requests_for(&muted_token), 0);
    assert!(
        app.metrics()
            .await
            .contains("fitpulse_push_skipped_total{reason=\"category_off\"} 1")
    );
}

#[actix_web::test]
async fn an_unregistered_token_removes_its_device() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let (_, bearer) = app.member();
    let (gone, kept) = (apns_device_token(), fcm_token());
    register(&app, &bearer, "old-phone", "ios", &gone, None).await;
    register(&app, &bearer, "new-phone", "android", &kept, None).await;
    world.apns.unregister(&gone);

    let message = feature_message(&app, json!({}), json!({})).await;
    world.fcm_messages(&kept, 1).await;
    item_done(&app, message_fan_out(message)).await;
    let devices = app.call("GET", "/v1/me/devices", None, Some(&bearer)).await;
    let ids: Vec<String> = devices.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["device_id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, ["new-phone"]);
    assert!(app.metrics().await.contains(
        "fitpulse_push_devices_removed_total{provider=\"apns\",reason=\"Unregistered\"} 1"
    ));
}

#[actix_web::test]
async fn a_503_is_retried_after_its_retry_after_and_delivered_once() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let (_, bearer) = app.member();
    let (pixel, iphone) = (fcm_token(), apns_device_token());
    register(&app, &bearer, "pixel", "android", &pixel, None).await;
    register(&app, &bearer, "iphone", "ios", &iphone, None).await;
    world.fcm.fail_next(
        &pixel,
        1,
        Fault::Unavailable {
            retry_after: Some(30),
        },
    );

    let message = feature_message(&app, json!({}), json!({})).await;
    world.apns_pushes(&iphone, 1).await;
    item_done(&app, message_fan_out(message)).await;
    wait_for("the refused attempt", || {
        (world.fcm.requests_for(&pixel) == 1).then_some(())
    })
    .await;
    assert!(world.fcm_to(&pixel).is_empty());
    // Not before the provider's Retry-After.
    app.advance(Duration::from_secs(29));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        world.fcm.requests_for(&pixel),
        1,
        "retried before Retry-After"
    );
    app.advance(Duration::from_secs(1));
    world.fcm_messages(&pixel, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.fcm.requests_for(&pixel), 2);
    assert_eq!(world.fcm_to(&pixel).len(), 1, "delivered once");
    assert_eq!(
        world.apns.requests_for(&iphone),
        1,
        "the other device is not pushed again"
    );
}

#[actix_web::test]
async fn social_pushes_are_batched_to_one_per_window_and_off_by_default() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let author = app.register(&crate::helpers::unique_email()).await;
    let author_token = author["access_token"].as_str().expect("token").to_owned();
    let me = app
        .call("GET", "/v1/me", None, Some(&author_token))
        .await
        .json();
    let author_id = me["id"].as_str().expect("id").to_owned();
    let phone = apns_device_token();
    register(&app, &author_token, "phone", "ios", &phone, None).await;
    let on = app
        .call(
            "PATCH",
            "/v1/me/notification-settings",
            Some(json!({"categories": {"social": true}})),
            Some(&author_token),
        )
        .await;
    assert_eq!(on.json()["categories"]["social"], true);

    let mut fans = Vec::new();
    for _ in 0..3 {
        let fan = app.register(&crate::helpers::unique_email()).await;
        let token = fan["access_token"].as_str().expect("token").to_owned();
        let follow = app
            .call(
                "PUT",
                &format!("/v1/me/following/{author_id}"),
                None,
                Some(&token),
            )
            .await;
        assert!(
            follow.status == 200 || follow.status == 204,
            "{}",
            follow.text
        );
        fans.push(token);
    }
    // Batched: nothing until the window (10 minutes) ends, then one push.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(world.apns_to(&phone).is_empty());
    app.advance(10 * MINUTE);
    let push = world.apns_pushes(&phone, 1).await.remove(0);
    assert_eq!(
        push.payload["aps"]["alert"]["title"],
        "Ada started following you"
    );
    assert_eq!(push.header("apns-priority"), Some("5"));
    app.advance(10 * MINUTE);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.apns_to(&phone).len(), 1, "one push for the window");
}

#[actix_web::test]
async fn an_operator_test_push_reaches_every_device_and_says_what_each_answered() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let account = app.register(&crate::helpers::unique_email()).await;
    let token = account["access_token"].as_str().expect("token").to_owned();
    let id = app.call("GET", "/v1/me", None, Some(&token)).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (iphone, dead) = (apns_device_token(), fcm_token());
    register(&app, &token, "iphone", "ios", &iphone, None).await;
    register(&app, &token, "old", "android", &dead, None).await;
    world.fcm.unregister(&dead);
    // Connected: a test push goes anyway.
    let (_socket, _) = app.connect_ready(&token, None).await;

    let path = format!("/v1/admin/users/{id}/push");
    let answer = app.call("POST", &path, None, Some(&admin(&app))).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let mut results: Vec<(String, String)> = answer.json()["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| {
            (
                d["device_id"].as_str().unwrap_or_default().to_owned(),
                d["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    results.sort();
    assert_eq!(
        results,
        [
            ("iphone".to_owned(), "sent".to_owned()),
            ("old".to_owned(), "invalid_token".to_owned())
        ]
    );
    assert_eq!(world.apns_to(&iphone).len(), 1);
    let left = app.call("GET", "/v1/me/devices", None, Some(&token)).await;
    assert_eq!(left.json()["items"].as_array().expect("items").len(), 1);

    // Members cannot push to others; unknown users are not found.
    let (_, stranger) = app.member();
    assert_eq!(
        app.call("POST", &path, None, Some(&stranger)).await.status,
        403
    );
    let nobody = format!("/v1/admin/users/{}/push", Uuid::new_v4());
    assert_eq!(
        app.call("POST", &nobody, None, Some(&admin(&app)))
            .await
            .status,
        404
    );
}

#[actix_web::test]
async fn feature_message_pushes_stop_at_the_daily_cap() {
    let world = PushWorld::start();
    let app = spawn_app_on_manual_clock({
        let configure = world.configure();
        move |s| {
            configure(s);
            s.messages.daily_cap = 2;
        }
    })
    .await;
    world.follow(app.clock.as_ref().expect("manual clock"));
    let (_, bearer) = app.member();
    let phone = apns_device_token();
    register(&app, &bearer, "phone", "ios", &phone, None).await;
    for sent in 1..=2 {
        feature_message(&app, json!({}), json!({})).await;
        world.apns_pushes(&phone, sent).await;
    }
    let third = feature_message(&app, json!({}), json!({})).await;
    item_done(&app, message_fan_out(third)).await;
    assert_eq!(
        world.apns_to(&phone).len(),
        2,
        "a third push on the same day"
    );
    assert!(
        app.metrics()
            .await
            .contains("fitpulse_push_skipped_total{reason=\"daily_cap\"} 1")
    );
    // The next day counts afresh.
    app.advance(Duration::from_secs(86_400));
    feature_message(&app, json!({}), json!({})).await;
    world.apns_pushes(&phone, 3).await;
}

#[actix_web::test]
async fn a_member_whose_devices_span_several_pages_gets_one_push_per_device() {
    let world = PushWorld::start();
    let app = spawn_app_on_manual_clock({
        let configure = world.configure();
        move |s| {
            configure(s);
            s.push.fanout_page = 2;
        }
    })
    .await;
    world.follow(app.clock.as_ref().expect("manual clock"));
    // Members with 1, 5 and 2 devices: pages of two end inside the second member, and
    // two whole pages hold nothing but their devices.
    let mut tokens = Vec::new();
    for devices in [1, 5, 2] {
        let (_, bearer) = app.member();
        for d in 0..devices {
            let token = apns_device_token();
            register(&app, &bearer, &format!("d{d}"), "ios", &token, None).await;
            tokens.push(token);
        }
    }
    let message = feature_message(&app, json!({}), json!({})).await;
    for token in &tokens {
        world.apns_pushes(token, 1).await;
    }
    // Every page is done (the last is the fourth), and nothing went twice.
    for page in 0..4 {
        let id = items::item_id(&[items::MESSAGE_KIND, &message.to_string(), &page.to_string()]);
        item_done(&app, id).await;
    }
    for token in &tokens {
        assert_eq!(world.apns.requests_for(token), 1, "{token}");
    }
    assert_eq!(world.apns.accepted_total(), 8);
}

#[actix_web::test]
async fn a_push_held_by_quiet_hours_is_dropped_if_its_message_is_cancelled_meanwhile() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let (_, bearer) = app.member();
    let phone = fcm_token();
    register(&app, &bearer, "phone", "android", &phone, None).await;
    let hm = |at: i64| time(at)[11..16].to_owned();
    let quiet = json!({"quiet_hours": {"start": hm(app.now() - 3_600_000), "end": hm(app.now() + 3_600_000)}});
    let set = app
        .call(
            "PATCH",
            "/v1/me/notification-settings",
            Some(quiet),
            Some(&bearer),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);

    let cancelled = feature_message(&app, json!({}), json!({})).await;
    let kept = feature_message(&app, json!({}), json!({})).await;
    item_done(&app, message_fan_out(cancelled)).await;
    item_done(&app, message_fan_out(kept)).await;
    let gone = app
        .call(
            "DELETE",
            &format!("/v1/admin/messages/{cancelled}"),
            None,
            Some(&admin(&app)),
        )
        .await;
    assert_eq!(gone.status, 200, "{}", gone.text);

    app.advance(Duration::from_secs(3_700));
    let pushed = world.fcm_messages(&phone, 1).await;
    assert_eq!(pushed[0].message["data"]["message_id"], kept.to_string());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        world.fcm_to(&phone).len(),
        1,
        "the cancelled message was pushed"
    );
}

#[actix_web::test]
async fn an_inactivity_segment_pushes_only_members_without_a_recent_workout() {
    let world = PushWorld::start();
    let app = app_with(&world).await;
    let mut phones = Vec::new();
    for active in [true, false] {
        let account = app.register(&crate::helpers::unique_email()).await;
        let token = account["access_token"].as_str().expect("token").to_owned();
        let phone = apns_device_token();
        register(&app, &token, "phone", "ios", &phone, None).await;
        if active {
            let done = app
                .call(
                    "POST",
                    "/v1/me/activities",
                    Some(json!({"type": "workout_finished", "item_id": "core-crusher-express-15-min"})),
                    Some(&token),
                )
                .await;
            assert!(done.status < 300, "{}", done.text);
        }
        phones.push(phone);
    }
    let (active_phone, idle_phone) = (&phones[0], &phones[1]);
    // The workout reaches the member's feed through their session.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let message = feature_message(&app, json!({"inactive_days": 7}), json!({})).await;
    world.apns_pushes(idle_phone, 1).await;
    item_done(&app, message_fan_out(message)).await;
    assert_eq!(
        world.apns.requests_for(active_phone),
        0,
        "an active member was pushed"
    );
}
