//! Feature messages end to end: a segmented message reaches exactly the connected users it
//! targets, offline users find it in their inbox, read state syncs to their other devices,
//! the daily cap holds, cancelled messages never go out, and bad input is refused.

use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId, now_millis};
use fitpulse_actors::events::rfc3339;
use fitpulse_actors::ports::store::Entitlement;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_on_manual_clock};
use crate::sockets::Socket;

async fn premium(app: &TestApp, user: UserId) {
    let entitlement = Entitlement {
        name: "premium".into(),
        expires_at: None,
        source: "test".into(),
    };
    app.stores
        .entitlements
        .grant_entitlement(user, &entitlement)
        .await
        .expect("granted");
}

/// A socket of a fresh user that says it is `platform` `version`.
pub(crate) async fn device(app: &TestApp, user: UserId, platform: &str, version: &str) -> Socket {
    let token = app.mint(user, &[Role::Member], 600);
    let (_, framed) = app
        .client
        .ws(app.url(&format!(
            "/v1/ws?platform={platform}&app_version={version}&locale=en-US"
        )))
        .bearer_auth(&token)
        .connect()
        .await
        .expect("websocket handshake");
    let mut socket = Socket::new(framed);
    assert_eq!(socket.json().await["type"], "session.ready");
    socket
}

/// A web device of `user` whose token names `zone` as the member's time zone.
async fn zoned_device(app: &TestApp, user: UserId, zone: &str) -> Socket {
    let zone = fitpulse_actors::domain::TimeZone::parse(zone).expect("zone");
    let token = fitpulse::auth::tokens::AccessTokens::from_settings(
        &app.settings.auth,
        app._data_dir.path(),
    )
    .expect("the app's key")
    .issue_user(
        user,
        &[Role::Member].into(),
        &Default::default(),
        false,
        Some(zone),
    )
    .token;
    let (_, framed) = app
        .client
        .ws(app.url("/v1/ws?platform=web&app_version=1.0&locale=en-US"))
        .bearer_auth(&token)
        .connect()
        .await
        .expect("websocket handshake");
    let mut socket = Socket::new(framed);
    assert_eq!(socket.json().await["type"], "session.ready");
    socket
}

pub(crate) async fn send_message(app: &TestApp, body: Value) -> Value {
    let created = app
        .call("POST", "/v1/admin/messages", Some(body), Some(&app.admin()))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.json()
}

pub(crate) fn message(title: &str, starts_in_ms: i64, segment: Value) -> Value {
    message_from(now_millis(), title, starts_in_ms, segment)
}

/// A message starting `starts_in_ms` after `now` (the app's time when it runs on a manual
/// clock).
fn message_from(now: i64, title: &str, starts_in_ms: i64, segment: Value) -> Value {
    json!({
        "title": title, "body": "Open the app to see it", "cta_url": "fitpulse://plans/new",
        "priority": 5, "starts_at": rfc3339(now + starts_in_ms),
        "expires_at": rfc3339(now + 3_600_000), "segment": segment,
    })
}

/// Frames of `message.feature` that reached `user`'s socket before a marker pushed now.
/// A broadcast handed to the sessions before the push comes before the marker, so this
/// shows what did not arrive.
async fn messages_before_marker(app: &TestApp, user: UserId, socket: &mut Socket) -> Vec<Value> {
    app.push(user, "custom.marker", json!({})).await;
    socket
        .frames_before_event("message.feature", "custom.marker")
        .await
}

#[actix_web::test]
async fn a_segmented_message_reaches_only_its_audience_and_waits_in_offline_inboxes() {
    let app = spawn_app().await;
    let (target, free, android, old, offline) = (
        UserId::random(),
        UserId::random(),
        UserId::random(),
        UserId::random(),
        UserId::random(),
    );
    for user in [target, android, old, offline] {
        premium(&app, user).await;
    }
    let mut target_socket = device(&app, target, "ios", "2.1.0").await;
    let mut others = [
        device(&app, free, "ios", "2.1.0").await,
        device(&app, android, "android", "2.1.0").await,
        device(&app, old, "ios", "1.9.9").await,
    ];
    let segment =
        json!({ "entitlement": "premium", "platforms": ["ios"], "app_version": { "min": "2.0" } });

    let dry = app
        .call(
            "POST",
            "/v1/admin/messages?dry_run=true",
            Some(message("Dry", 0, segment.clone())),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(dry.json()["audience"], 1);

    let sent = send_message(&app, message("New 2-week plan", 500, segment)).await;
    let delivered = target_socket.event("message.feature").await;
    assert_eq!(delivered["data"]["id"], sent["id"]);
    assert_eq!(delivered["data"]["cta_url"], "fitpulse://plans/new");
    assert!(
        delivered["seq"].is_u64(),
        "a sequenced event of the user's feed"
    );
    // The target had it, so every session was handed it: a marker pushed now comes after.
    for (n, (socket, user)) in others.iter_mut().zip([free, android, old]).enumerate() {
        assert!(
            messages_before_marker(&app, user, socket).await.is_empty(),
            "device {n} is not in the audience"
        );
    }

    let token = app.mint(offline, &[Role::Member], 600);
    let inbox = app
        .call(
            "GET",
            "/v1/me/messages?platform=ios&app_version=2.4",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(inbox.status, 200, "{}", inbox.text);
    let items = inbox.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], sent["id"]);
    let android_inbox = app
        .call(
            "GET",
            "/v1/me/messages?platform=android&app_version=2.4",
            None,
            Some(&token),
        )
        .await
        .json();
    assert!(android_inbox["items"].as_array().expect("items").is_empty());

    // Read on one device, seen on the other.
    let target_token = app.mint(target, &[Role::Member], 600);
    let id = sent["id"].as_str().expect("id");
    let read = app
        .call(
            "POST",
            &format!("/v1/me/messages/{id}/read"),
            None,
            Some(&target_token),
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    let synced = target_socket.event("message.state").await;
    assert_eq!(
        (
            synced["data"]["id"].clone(),
            synced["data"]["action"].clone()
        ),
        (json!(id), json!("read"))
    );
    let inbox = app
        .call(
            "GET",
            "/v1/me/messages?platform=ios&app_version=2.1.0",
            None,
            Some(&target_token),
        )
        .await
        .json();
    assert!(inbox["items"][0]["state"]["read_at"].is_string());
    let dismissed = app
        .call(
            "POST",
            &format!("/v1/me/messages/{id}/dismiss"),
            None,
            Some(&target_token),
        )
        .await;
    assert_eq!(dismissed.status, 200);
    let inbox = app
        .call(
            "GET",
            "/v1/me/messages?platform=ios&app_version=2.1.0",
            None,
            Some(&target_token),
        )
        .await
        .json();
    assert!(
        inbox["items"].as_array().expect("items").is_empty(),
        "dismissed leaves the inbox"
    );
    let all = app
        .call(
            "GET",
            "/v1/me/messages?platform=ios&app_version=2.1.0&all=true",
            None,
            Some(&target_token),
        )
        .await
        .json();
    assert_eq!(all["items"].as_array().expect("items").len(), 1);
}

#[actix_web::test]
async fn the_daily_cap_holds_and_cancelled_messages_never_go_out() {
    let app = spawn_app_on_manual_clock(|s| s.messages.daily_cap = 2).await;
    let user = UserId::random();
    let mut socket = device(&app, user, "web", "1.0").await;
    for n in 0..3 {
        let news = message_from(app.now(), &format!("News {n}"), 0, json!({}));
        send_message(&app, news).await;
    }
    // A message starting now is handed to the sessions before its creation answers.
    let got = messages_before_marker(&app, user, &mut socket).await;
    assert_eq!(got.len(), 2, "two a day at most: {got:?}");

    // A user with room under the cap hears the later message of two scheduled ones; the
    // earlier one was cancelled and never comes.
    let fresh = UserId::random();
    let mut fresh_socket = device(&app, fresh, "web", "1.0").await;
    let cancelled = send_message(&app, message_from(app.now(), "Never", 1_000, json!({}))).await;
    send_message(&app, message_from(app.now(), "Later", 2_000, json!({}))).await;
    let id = cancelled["id"].as_str().expect("id");
    let cancel = app
        .call(
            "DELETE",
            &format!("/v1/admin/messages/{id}"),
            None,
            Some(&app.admin()),
        )
        .await;
    assert_eq!(cancel.status, 200);
    app.advance(Duration::from_secs(3));
    let before_later = fresh_socket
        .frames_until("message.feature", |f| f["data"]["title"] == "Later")
        .await;
    assert!(before_later.is_empty(), "{before_later:?}");
    assert!(
        messages_before_marker(&app, user, &mut socket)
            .await
            .is_empty(),
        "the capped user gets neither"
    );

    let token = app.mint(user, &[Role::Member], 600);
    let inbox = app
        .call("GET", "/v1/me/messages", None, Some(&token))
        .await
        .json();
    let titles: Vec<&str> = inbox["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["title"].as_str().expect("t"))
        .collect();
    assert_eq!(
        titles.len(),
        4,
        "the capped ones wait in the inbox: {titles:?}"
    );
    assert!(!titles.contains(&"Never"));
}

/// The cap counts the member's own day: at 00:30 UTC a member in Kolkata (UTC+5:30) is
/// still in the day that had 23:30 UTC, and a member without a zone is in a new one.
#[actix_web::test]
async fn the_daily_cap_counts_the_members_own_day() {
    let app = spawn_app_on_manual_clock(|s| s.messages.daily_cap = 1).await;
    let day = 86_400_000;
    let to_2330 = (day - 1_800_000 - app.now().rem_euclid(day)).rem_euclid(day);
    app.advance(Duration::from_millis(to_2330 as u64));
    let (zoned, utc) = (UserId::random(), UserId::random());
    let mut zoned_socket = zoned_device(&app, zoned, "Asia/Kolkata").await;
    let mut utc_socket = device(&app, utc, "web", "1.0").await;
    send_message(&app, message_from(app.now(), "Evening", 0, json!({}))).await;
    assert_eq!(
        messages_before_marker(&app, zoned, &mut zoned_socket)
            .await
            .len(),
        1
    );
    assert_eq!(
        messages_before_marker(&app, utc, &mut utc_socket)
            .await
            .len(),
        1
    );

    app.advance(Duration::from_secs(3600));
    send_message(&app, message_from(app.now(), "Past midnight", 0, json!({}))).await;
    let utc_got = messages_before_marker(&app, utc, &mut utc_socket).await;
    assert_eq!(utc_got.len(), 1, "a new UTC day: {utc_got:?}");
    let zoned_got = messages_before_marker(&app, zoned, &mut zoned_socket).await;
    assert!(
        zoned_got.is_empty(),
        "still the same day in Kolkata: {zoned_got:?}"
    );
}

#[actix_web::test]
async fn bad_message_input_is_refused() {
    let app = spawn_app().await;
    let token = app.admin();
    let mut backwards = message("x", 0, json!({}));
    backwards["expires_at"] = json!(rfc3339(now_millis() - 1_000));
    let cases = [
        (backwards, 400, "invalid_field"),
        (
            message("x", 0, json!({ "platfroms": ["ios"] })),
            400,
            "invalid_body",
        ),
        (
            message("x", 0, json!({ "platforms": ["tv"] })),
            400,
            "invalid_body",
        ),
        (
            message(
                "x",
                0,
                json!({ "app_version": { "min": "3.0", "max": "2.0" } }),
            ),
            400,
            "invalid_field",
        ),
        (message("", 0, json!({})), 400, "invalid_field"),
    ];
    for (body, status, code) in cases {
        let response = app
            .call(
                "POST",
                "/v1/admin/messages",
                Some(body.clone()),
                Some(&token),
            )
            .await;
        assert_eq!(response.status, status, "{body}: {}", response.text);
        assert_error(&response.text, code);
    }
    let (_, member) = app.member();
    let forbidden = app
        .call(
            "POST",
            "/v1/admin/messages",
            Some(message("x", 0, json!({}))),
            Some(&member),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    let unknown = app
        .call(
            "POST",
            &format!("/v1/me/messages/{}/read", uuid::Uuid::new_v4()),
            None,
            Some(&member),
        )
        .await;
    assert_eq!(unknown.status, 404);
    let bad_action = app
        .call(
            "POST",
            &format!("/v1/me/messages/{}/like", uuid::Uuid::new_v4()),
            None,
            Some(&member),
        )
        .await;
    assert_eq!(bad_action.status, 404);
    assert_eq!(
        app.call("GET", "/v1/me/messages", None, None).await.status,
        401
    );
    let listed = app
        .call("GET", "/v1/admin/messages", None, Some(&token))
        .await
        .json();
    assert!(
        listed["items"].as_array().expect("items").is_empty(),
        "nothing was stored"
    );
}

#[actix_web::test]
async fn an_inactivity_segment_skips_users_who_just_worked_out() {
    let app = spawn_app().await;
    let (active, idle) = (UserId::random(), UserId::random());
    let active_token = app.mint(active, &[Role::Member], 600);
    let mut active_socket = device(&app, active, "ios", "2.0").await;
    let mut idle_socket = device(&app, idle, "ios", "2.0").await;
    let done = app
        .call(
            "POST",
            "/v1/me/activities",
            Some(json!({ "type": "workout_finished", "item_id": "hiit-sprint-express-15-min" })),
            Some(&active_token),
        )
        .await;
    assert_eq!(done.status, 202, "{}", done.text);
    active_socket.event("community.activity").await;
    send_message(
        &app,
        message("We miss you", 0, json!({ "inactive_days": 7 })),
    )
    .await;
    let nudge = idle_socket.event("message.feature").await;
    assert_eq!(nudge["data"]["title"], "We miss you");
    assert!(
        messages_before_marker(&app, active, &mut active_socket)
            .await
            .is_empty(),
        "the active user is not nudged"
    );
    let inbox = app
        .call("GET", "/v1/me/messages", None, Some(&active_token))
        .await
        .json();
    assert!(inbox["items"].as_array().expect("items").is_empty());
}
