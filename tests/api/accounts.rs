//! Accounts: registration, login, refresh rotation, anonymous accounts and their upgrade,
//! profile, deletion, and the OAuth token endpoint's errors.

use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::Entitlement;
use serde_json::json;

use std::time::Duration;

use crate::helpers::{
    PASSWORD, assert_error, spawn_app, spawn_app_on_manual_clock, spawn_app_with, unique_email,
};

#[actix_web::test]
async fn register_answers_tokens_and_the_user_that_me_then_shows() {
    let app = spawn_app().await;
    let email = unique_email();
    let answer = app.register(&email.to_uppercase()).await;
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 900);
    assert!(answer["refresh_token"].is_string());
    assert_eq!(answer["scope"], "profile");
    let id = answer["user"]["id"].as_str().expect("id");

    let access = answer["access_token"].as_str().expect("access token");
    let me = app.call("GET", "/v1/me", None, Some(access)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    let me = me.json();
    assert_eq!(me["id"], id);
    assert_eq!(me["email"], email, "stored lower-cased");
    assert_eq!(me["display_name"], "Ada");
    assert_eq!(me["roles"], json!(["member"]));
    assert_eq!(me["anonymous"], false);
}

#[actix_web::test]
async fn register_names_the_invalid_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"email": "nope", "password": PASSWORD, "display_name": "A"}),
            "email",
        ),
        (
            json!({"email": unique_email(), "password": "short", "display_name": "A"}),
            "password",
        ),
        (
            json!({"email": unique_email(), "password": PASSWORD, "display_name": " "}),
            "display_name",
        ),
        (
            json!({"email": unique_email(), "password": PASSWORD, "display_name": "A", "locale": "english"}),
            "locale",
        ),
        (
            json!({"email": unique_email(), "password": PASSWORD, "display_name": "A", "units": "cubits"}),
            "units",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .call("POST", "/v1/auth/register", Some(body), None)
            .await;
        assert_eq!(response.status, 400, "{field}: {}", response.text);
        assert_error(&response.text, "invalid_field");
        assert_eq!(response.json()["error"]["details"]["field"], field);
    }
    let unknown =
        json!({"email": unique_email(), "password": PASSWORD, "display_name": "A", "admin": true});
    let response = app
        .call("POST", "/v1/auth/register", Some(unknown), None)
        .await;
    assert_eq!(response.status, 400);
    assert_error(&response.text, "invalid_body");
}

#[actix_web::test]
async fn a_second_registration_of_an_email_in_any_case_is_refused() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let again = json!({"email": email.to_uppercase(), "password": PASSWORD, "display_name": "B"});
    let response = app
        .call("POST", "/v1/auth/register", Some(again), None)
        .await;
    assert_eq!(response.status, 409);
    assert_error(&response.text, "email_taken");
}

#[actix_web::test]
async fn fifty_concurrent_registrations_of_one_email_yield_exactly_one_account() {
    // Limits out of the way: this is about the store's uniqueness under a race.
    let app = spawn_app_with(|s| {
        s.auth.attempts_per_minute_per_ip = 1_000;
        s.auth.attempts_per_minute_per_account = 1_000;
    })
    .await;
    let email = unique_email();
    let attempts = (0..50).map(|i| {
        let body =
            json!({"email": email, "password": PASSWORD, "display_name": format!("racer {i}")});
        app.call("POST", "/v1/auth/register", Some(body), None)
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        49,
        "{statuses:?}"
    );
    let login = app.login(&email).await;
    assert_eq!(login.status, 200, "{}", login.text);
}

/// The refresh token of a token answer.
fn refresh_of(answer: &crate::helpers::Response) -> String {
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned()
}

async fn refresh(app: &crate::helpers::TestApp, token: &str) -> crate::helpers::Response {
    app.token(
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
        None,
    )
    .await
}

#[actix_web::test]
async fn two_refreshes_at_once_both_succeed_and_the_login_stays_valid() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let first = refresh_of(&app.login(&email).await);

    let (a, b) = futures_util::join!(refresh(&app, &first), refresh(&app, &first));
    let (next_a, next_b) = (refresh_of(&a), refresh_of(&b));
    assert_eq!(next_a, next_b, "both callers hold the one successor");
    for answer in [&a, &b] {
        let access = answer.json()["access_token"]
            .as_str()
            .expect("access")
            .to_owned();
        let me = app.call("GET", "/v1/me", None, Some(&access)).await;
        assert_eq!(me.status, 200, "{}", me.text);
    }
    // The login goes on: the successor rotates as usual.
    let third = refresh_of(&refresh(&app, &next_a).await);
    assert_ne!(third, next_a);
}

#[actix_web::test]
async fn a_refresh_token_presented_again_within_the_interval_answers_the_same_successor() {
    let app = spawn_app_on_manual_clock(|_| {}).await;
    let email = unique_email();
    app.register(&email).await;
    let first = refresh_of(&app.login(&email).await);
    let second = refresh_of(&refresh(&app, &first).await);

    app.advance(Duration::from_secs(9));
    assert_eq!(refresh_of(&refresh(&app, &first).await), second);
    // Only the holder of the used token's secret gets the successor.
    let (id, secret) = first.split_once('.').expect("id.secret");
    let forged = format!("{id}.{}", "A".repeat(secret.len()));
    let refused = refresh(&app, &forged).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert_eq!(refused.json()["error"], "invalid_grant");
    // Still one login: the successor works.
    refresh_of(&refresh(&app, &second).await);
}

#[actix_web::test]
async fn login_refresh_and_a_reused_refresh_token_revokes_the_whole_family() {
    let app = spawn_app_on_manual_clock(|_| {}).await;
    let email = unique_email();
    app.register(&email).await;

    let login = app.login(&email).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let first = login.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    let rotated = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
            None,
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let second = rotated.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    assert_ne!(first, second);
    let access = rotated.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(
        app.call("GET", "/v1/me", None, Some(&access)).await.status,
        200
    );

    // The first token leaked and is replayed after the reuse interval: refused, and its
    // family dies with it.
    app.advance(Duration::from_secs(11));
    let replay = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &first)],
            None,
        )
        .await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.json()["error"], "invalid_grant");
    assert!(
        replay.json()["error_description"]
            .as_str()
            .expect("text")
            .contains("already used")
    );
    let after = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &second)],
            None,
        )
        .await;
    assert_eq!(
        after.status, 400,
        "the rotated token is revoked too: {}",
        after.text
    );
    assert_eq!(after.json()["error"], "invalid_grant");

    // Another login starts a new family that still works.
    let fresh = app.login(&email).await;
    let third = fresh.json()["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let ok = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &third)],
            None,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let wrong = app.login_with(&email, "wrong password").await;
    let unknown = app.login(&unique_email()).await;
    assert_eq!((wrong.status, unknown.status), (400, 400));
    assert_eq!(wrong.json(), unknown.json());
    assert_eq!(wrong.json()["error"], "invalid_grant");
}

#[actix_web::test]
async fn logout_ends_the_login_of_its_refresh_token() {
    let app = spawn_app().await;
    let answer = app.register(&unique_email()).await;
    let refresh = answer["refresh_token"].as_str().expect("refresh");
    let logout = app
        .call(
            "POST",
            "/v1/auth/logout",
            Some(json!({"refresh_token": refresh})),
            None,
        )
        .await;
    assert_eq!(logout.status, 204);
    let after = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            None,
        )
        .await;
    assert_eq!(after.json()["error"], "invalid_grant");
    // Logging out with a token nobody knows reveals nothing.
    let unknown = json!({"refresh_token": format!("{}.{}", uuid::Uuid::new_v4(), "A".repeat(43))});
    assert_eq!(
        app.call("POST", "/v1/auth/logout", Some(unknown), None)
            .await
            .status,
        204
    );
}

#[actix_web::test]
async fn an_anonymous_account_upgrades_keeping_its_id_and_data() {
    let app = spawn_app().await;
    let device = format!("device-{}", uuid::Uuid::new_v4());
    let first = app
        .call(
            "POST",
            "/v1/auth/anonymous",
            Some(json!({"device_id": device})),
            None,
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let anon = first.json();
    assert_eq!(anon["user"]["anonymous"], true);
    let id = anon["user"]["id"].as_str().expect("id").to_owned();
    let access = anon["access_token"].as_str().expect("token").to_owned();

    // The same install signs in to the same account.
    let again = app
        .call(
            "POST",
            "/v1/auth/anonymous",
            Some(json!({"device_id": device})),
            None,
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["user"]["id"], id.as_str());

    // Data gathered while anonymous: a profile change and a premium entitlement.
    let patched = app
        .call(
            "PATCH",
            "/v1/me",
            Some(json!({"display_name": "Sporty", "units": "imperial"})),
            Some(&access),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let user: UserId = id.parse().expect("uuid");
    let premium = Entitlement {
        name: "premium".into(),
        expires_at: None,
        source: "trial".into(),
    };
    app.stores
        .entitlements
        .grant_entitlement(user, &premium)
        .await
        .expect("grant");

    let email = unique_email();
    let upgrade = app
        .call(
            "POST",
            "/v1/auth/upgrade",
            Some(json!({"email": email, "password": PASSWORD})),
            Some(&access),
        )
        .await;
    assert_eq!(upgrade.status, 200, "{}", upgrade.text);
    let upgraded = upgrade.json();
    assert_eq!(upgraded["user"]["id"], id.as_str());
    assert_eq!(upgraded["user"]["anonymous"], false);
    assert_eq!(upgraded["user"]["display_name"], "Sporty");
    assert_eq!(upgraded["user"]["units"], "imperial");
    assert_eq!(upgraded["scope"], "content:premium profile");

    let login = app.login(&email).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let relogin = login.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let me = app.call("GET", "/v1/me", None, Some(&relogin)).await.json();
    assert_eq!(me["id"], id.as_str());

    // Upgrading twice is refused; the device id no longer names this account.
    let twice = app
        .call(
            "POST",
            "/v1/auth/upgrade",
            Some(json!({"email": unique_email(), "password": PASSWORD})),
            Some(&relogin),
        )
        .await;
    assert_eq!(twice.status, 409);
    assert_error(&twice.text, "already_upgraded");
    let fresh = app
        .call(
            "POST",
            "/v1/auth/anonymous",
            Some(json!({"device_id": device})),
            None,
        )
        .await;
    assert_eq!(fresh.status, 201);
    assert_ne!(fresh.json()["user"]["id"], id.as_str());
}

#[actix_web::test]
async fn upgrading_to_an_email_in_use_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let taken = unique_email();
    app.register(&taken).await;
    let device = format!("device-{}", uuid::Uuid::new_v4());
    let anon = app
        .call(
            "POST",
            "/v1/auth/anonymous",
            Some(json!({"device_id": device})),
            None,
        )
        .await
        .json();
    let access = anon["access_token"].as_str().expect("token");
    let upgrade = app
        .call(
            "POST",
            "/v1/auth/upgrade",
            Some(json!({"email": taken, "password": PASSWORD})),
            Some(access),
        )
        .await;
    assert_eq!(upgrade.status, 409);
    assert_error(&upgrade.text, "email_taken");
    let me = app.call("GET", "/v1/me", None, Some(access)).await.json();
    assert_eq!(me["anonymous"], true);
}

#[actix_web::test]
async fn a_deleted_account_cannot_log_in_refresh_or_use_its_tokens() {
    let app = spawn_app().await;
    let email = unique_email();
    let answer = app.register(&email).await;
    let access = answer["access_token"].as_str().expect("access");
    let refresh = answer["refresh_token"].as_str().expect("refresh");

    assert_eq!(
        app.call("DELETE", "/v1/me", None, Some(access))
            .await
            .status,
        204
    );

    let me = app.call("GET", "/v1/me", None, Some(access)).await;
    assert_eq!(me.status, 401, "{}", me.text);
    assert_error(&me.text, "invalid_token");
    let login = app.login(&email).await;
    assert_eq!(login.json()["error"], "invalid_grant");
    let renewed = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
            None,
        )
        .await;
    assert_eq!(renewed.json()["error"], "invalid_grant");
    // The email is free for a new account.
    app.register(&email).await;
}

#[actix_web::test]
async fn a_profile_update_validates_each_field_and_needs_at_least_one() {
    let app = spawn_app().await;
    let answer = app.register(&unique_email()).await;
    let access = answer["access_token"].as_str().expect("access");
    let bad = app
        .call(
            "PATCH",
            "/v1/me",
            Some(json!({"locale": "xx-yyy"})),
            Some(access),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["details"]["field"], "locale");
    let empty = app
        .call("PATCH", "/v1/me", Some(json!({})), Some(access))
        .await;
    assert_eq!(empty.status, 400);
    let ok = app
        .call(
            "PATCH",
            "/v1/me",
            Some(json!({"locale": "de_at"})),
            Some(access),
        )
        .await;
    assert_eq!(ok.json()["locale"], "de-AT");
}

/// A zone whose date differs from UTC's right now: Kiritimati (UTC+14) is a day ahead from
/// 10:00 UTC on, Pago Pago (UTC-11) a day behind until 11:00 UTC.
fn a_zone_off_the_utc_date() -> (&'static str, chrono::NaiveDate) {
    use chrono::{Timelike, Utc};
    let now = Utc::now();
    if now.hour() >= 10 {
        (
            "Pacific/Kiritimati",
            now.date_naive() + chrono::Duration::days(1),
        )
    } else {
        (
            "Pacific/Pago_Pago",
            now.date_naive() - chrono::Duration::days(1),
        )
    }
}

#[actix_web::test]
async fn a_members_days_are_counted_in_their_time_zone() {
    let app = spawn_app().await;
    let email = unique_email();
    let answer = app.register(&email).await;
    let utc_access = answer["access_token"].as_str().expect("access").to_owned();
    let refresh = answer["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let (zone, local_today) = a_zone_off_the_utc_date();
    let bad = app
        .call(
            "PATCH",
            "/v1/me",
            Some(json!({"timezone": "Mars/Olympus"})),
            Some(&utc_access),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.json()["error"]["details"]["field"], "timezone");
    let set = app
        .call(
            "PATCH",
            "/v1/me",
            Some(json!({"timezone": zone})),
            Some(&utc_access),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.json()["timezone"], zone);

    let checkin = json!({ "mood": "great", "satisfaction": 5, "date": local_today.to_string() });
    // The old token has no zone: the member's local date is not today in UTC.
    let utc = app
        .call(
            "POST",
            "/v1/me/checkins",
            Some(checkin.clone()),
            Some(&utc_access),
        )
        .await;
    assert_eq!(utc.status, 400, "{}", utc.text);
    let refreshed = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            None,
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let zoned = refreshed.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let local = app
        .call("POST", "/v1/me/checkins", Some(checkin), Some(&zoned))
        .await;
    assert_eq!(local.status, 201, "{}", local.text);
    assert_eq!(local.json()["date"], local_today.to_string());
    let history = app.call("GET", "/v1/me/checkins", None, Some(&zoned)).await;
    assert_eq!(history.json()["streak_days"], 1, "{}", history.text);
}

#[actix_web::test]
async fn entitlements_list_active_and_lapsed_grants_and_feed_the_token_scope() {
    let app = spawn_app().await;
    let email = unique_email();
    let answer = app.register(&email).await;
    let user: UserId = answer["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let grant = |name: &str, expires_at| Entitlement {
        name: name.into(),
        expires_at,
        source: "test".into(),
    };
    let store = &app.stores.entitlements;
    store
        .grant_entitlement(user, &grant("premium", None))
        .await
        .expect("grant");
    store
        .grant_entitlement(user, &grant("coaching", Some(1_000)))
        .await
        .expect("grant");

    let login = app.login(&email).await.json();
    assert_eq!(login["scope"], "content:premium profile");
    let access = login["access_token"].as_str().expect("access");
    let listed = app
        .call("GET", "/v1/me/entitlements", None, Some(access))
        .await
        .json();
    assert_eq!(listed["next_cursor"], serde_json::Value::Null);
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["name"], "coaching");
    assert_eq!(items[0]["active"], false);
    assert_eq!(items[0]["expires_at"], "1970-01-01T00:00:01.000Z");
    assert_eq!(items[1]["active"], true);
}

#[actix_web::test]
async fn the_token_endpoint_answers_rfc_6749_errors() {
    let app = spawn_app().await;
    let missing = app.token(&[("username", "x")], None).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"], "invalid_request");
    let unsupported = app.token(&[("grant_type", "implicit")], None).await;
    assert_eq!(unsupported.json()["error"], "unsupported_grant_type");
    let no_password = app
        .token(&[("grant_type", "password"), ("username", "a@b.io")], None)
        .await;
    assert_eq!(no_password.json()["error"], "invalid_request");
    let garbage = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "garbage"),
            ],
            None,
        )
        .await;
    assert_eq!(garbage.json()["error"], "invalid_grant");

    let text = app
        .client
        .post(app.url("/oauth/token"))
        .insert_header(("content-type", "text/plain"))
        .send_body("grant_type=password")
        .await
        .expect("sent");
    assert_eq!(text.status().as_u16(), 400);

    // JSON bodies are accepted too.
    let email = unique_email();
    app.register(&email).await;
    let json_login = app
        .call(
            "POST",
            "/oauth/token",
            Some(json!({"grant_type": "password", "username": email, "password": PASSWORD})),
            None,
        )
        .await;
    assert_eq!(json_login.status, 200, "{}", json_login.text);
}

#[actix_web::test]
async fn password_attempts_are_rate_limited_per_account_with_retry_after() {
    let app = spawn_app_with(|s| s.auth.attempts_per_minute_per_account = 2).await;
    let email = unique_email();
    app.register(&email).await;
    let wrong = [
        ("grant_type", "password"),
        ("username", &email),
        ("password", "nope nope nope"),
    ];
    assert_eq!(app.token(&wrong, None).await.status, 400);
    assert_eq!(app.token(&wrong, None).await.status, 400);
    let limited = app.token(&wrong, None).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert_error(&limited.text, "rate_limited");
    let wait: u64 = limited
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    // Even the right password waits: the limit is on attempts, not failures.
    let right = app.login(&email).await;
    assert_eq!(right.status, 429);
}

#[actix_web::test]
async fn registrations_are_rate_limited_per_address() {
    let app = spawn_app_with(|s| s.auth.attempts_per_minute_per_ip = 3).await;
    for _ in 0..3 {
        app.register(&unique_email()).await;
    }
    let body = json!({"email": unique_email(), "password": PASSWORD, "display_name": "A"});
    let limited = app
        .call("POST", "/v1/auth/register", Some(body), None)
        .await;
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
}

#[actix_web::test]
async fn a_service_client_gets_a_token_with_its_roles_but_no_user_routes() {
    let app = spawn_app_with(|s| {
        s.auth.clients = vec![fitpulse::config::ClientSettings {
            id: "cms".into(),
            secret: fitpulse::config::Secret::new("cms-secret-0123456789"),
            roles: vec!["admin".into()],
        }]
    })
    .await;
    let granted = app
        .token(
            &[("grant_type", "client_credentials")],
            Some(("cms", "cms-secret-0123456789")),
        )
        .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    assert!(granted.json().get("refresh_token").is_none());
    let access = granted.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let me = app.call("GET", "/v1/me", None, Some(&access)).await;
    assert_eq!(me.status, 403);
    assert_error(&me.text, "forbidden");

    let wrong = app
        .token(
            &[("grant_type", "client_credentials")],
            Some(("cms", "not-the-secret-at-all")),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert!(wrong.header("www-authenticate").is_some());
    let anonymous = app
        .token(&[("grant_type", "client_credentials")], None)
        .await;
    assert_eq!(anonymous.json()["error"], "invalid_client");
}
