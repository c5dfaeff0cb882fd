//! Password reset and email verification end to end: the links arrive through a real SMTP
//! server (aiosmtpd), work once, expire, and a reset ends every login of the account;
//! `auth.require_verified_email_for` refuses an action until the email is verified.

use std::time::Duration;

use fitpulse::config::{Settings, VerifiedAction};
use serde_json::json;
use tempfile::TempDir;

use crate::helpers::{
    PASSWORD, TestApp, assert_error, spawn_app_on_manual_clock, spawn_app_with, unique_email,
};
use crate::smtp::{SmtpServer, aiosmtpd_installed, free_port};

/// An app that sends its emails to a fresh aiosmtpd; `None` when aiosmtpd is missing
/// outside the full suite.
pub async fn app_with_mail(
    manual_clock: bool,
    customize: impl FnOnce(&mut Settings),
) -> Option<(TestApp, SmtpServer, TempDir)> {
    if !aiosmtpd_installed() {
        return None;
    }
    let mail = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let smtp = SmtpServer::start(port, &mail.path().join("maildir")).await;
    let configure = move |s: &mut Settings| {
        s.email.smtp.host = Some("127.0.0.1".into());
        s.email.smtp.port = port;
        s.auth.link_base_url = "https://app.example".into();
        customize(s);
    };
    let app = if manual_clock {
        spawn_app_on_manual_clock(configure).await
    } else {
        spawn_app_with(configure).await
    };
    Some((app, smtp, mail))
}

/// The link token in the email to `to` whose text contains `subject`.
pub async fn link_token(smtp: &SmtpServer, to: &str, subject: &str, path: &str) -> String {
    let raw = smtp.message_to_with(to, subject).await;
    // Undo quoted-printable soft breaks and the one escape a link can contain.
    let text = raw
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let marker = format!("https://app.example/{path}?token=");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no link in {text}"))
        + marker.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn post(app: &TestApp, path: &str, body: serde_json::Value) -> crate::helpers::Response {
    app.call("POST", path, Some(body), None).await
}

#[actix_web::test]
async fn a_reset_link_arrives_works_once_and_ends_every_login() {
    let Some((app, smtp, _mail)) = app_with_mail(false, |_| {}).await else {
        return;
    };
    let email = unique_email();
    let registered = app.register(&email).await;
    let old_access = registered["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let old_refresh = registered["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    // Known and unknown addresses get the same answer.
    let known = post(&app, "/v1/auth/password-reset", json!({ "email": email })).await;
    let unknown = post(
        &app,
        "/v1/auth/password-reset",
        json!({ "email": unique_email() }),
    )
    .await;
    assert_eq!((known.status, unknown.status), (202, 202), "{}", known.text);
    assert_eq!(known.text, unknown.text);
    let token = link_token(
        &smtp,
        &email,
        "Reset your fitpulse password",
        "reset-password",
    )
    .await;
    assert_eq!(token.len(), 43, "{token}");

    let new_password = "a brand new passphrase";
    for wrong in ["", "not-a-token", &"A".repeat(43), &"x".repeat(5_000)] {
        let refused = post(
            &app,
            "/v1/auth/password-reset/confirm",
            json!({ "token": wrong, "password": new_password }),
        )
        .await;
        assert_eq!(refused.status, 400, "{wrong:.20}: {}", refused.text);
        assert_error(&refused.text, "invalid_link");
    }
    let weak = post(
        &app,
        "/v1/auth/password-reset/confirm",
        json!({ "token": token, "password": "short" }),
    )
    .await;
    assert_eq!(weak.status, 400, "{}", weak.text);
    assert_error(&weak.text, "invalid_field");

    let done = post(
        &app,
        "/v1/auth/password-reset/confirm",
        json!({ "token": token, "password": new_password }),
    )
    .await;
    assert_eq!(done.status, 204, "{}", done.text);
    let again = post(
        &app,
        "/v1/auth/password-reset/confirm",
        json!({ "token": token, "password": "yet another passphrase" }),
    )
    .await;
    assert_eq!(again.status, 400, "the link works once: {}", again.text);
    assert_error(&again.text, "invalid_link");

    // Every earlier login is over; the new password signs in at once.
    let me = app.call("GET", "/v1/me", None, Some(&old_access)).await;
    assert_eq!(me.status, 401, "{}", me.text);
    let refreshed = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &old_refresh),
            ],
            None,
        )
        .await;
    assert_eq!(refreshed.status, 400, "{}", refreshed.text);
    assert_eq!(app.login_with(&email, PASSWORD).await.status, 400);
    let login = app.login_with(&email, new_password).await;
    assert_eq!(login.status, 200, "{}", login.text);
    let access = login.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let me = app.call("GET", "/v1/me", None, Some(&access)).await;
    assert_eq!(
        me.status, 200,
        "a login right after the reset works: {}",
        me.text
    );
}

#[actix_web::test]
async fn a_reset_link_expires_after_thirty_minutes() {
    let Some((app, smtp, _mail)) = app_with_mail(true, |_| {}).await else {
        return;
    };
    let email = unique_email();
    app.register(&email).await;
    for _ in 0..2 {
        let asked = post(&app, "/v1/auth/password-reset", json!({ "email": email })).await;
        assert_eq!(asked.status, 202, "{}", asked.text);
    }
    let raw = smtp
        .message_to_with(&email, "Reset your fitpulse password")
        .await;
    assert!(raw.contains("30 minutes"), "{raw}");
    let token = link_token(
        &smtp,
        &email,
        "Reset your fitpulse password",
        "reset-password",
    )
    .await;
    app.advance(Duration::from_secs(31 * 60));
    let late = post(
        &app,
        "/v1/auth/password-reset/confirm",
        json!({ "token": token, "password": "a brand new passphrase" }),
    )
    .await;
    assert_eq!(late.status, 400, "{}", late.text);
    assert_error(&late.text, "invalid_link");
    assert_eq!(
        app.login(&email).await.status,
        200,
        "the password is unchanged"
    );
}

#[actix_web::test]
async fn reset_requests_are_limited_per_email() {
    let app = spawn_app_with(|s| s.auth.password_resets_per_hour_per_email = 2).await;
    let email = unique_email();
    for _ in 0..2 {
        let asked = post(&app, "/v1/auth/password-reset", json!({ "email": email })).await;
        assert_eq!(asked.status, 202, "{}", asked.text);
    }
    let limited = post(
        &app,
        "/v1/auth/password-reset",
        json!({ "email": email.to_uppercase() }),
    )
    .await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.header("retry-after").is_some());
    let other = post(
        &app,
        "/v1/auth/password-reset",
        json!({ "email": unique_email() }),
    )
    .await;
    assert_eq!(other.status, 202, "another address has its own budget");
    let malformed = app
        .call(
            "POST",
            "/v1/auth/password-reset",
            Some(json!({ "mail": email })),
            None,
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
}

#[actix_web::test]
async fn an_unverified_member_may_not_post_until_the_link_is_used() {
    let Some((app, smtp, _mail)) = app_with_mail(false, |s| {
        s.auth.require_verified_email_for = vec![VerifiedAction::Post, VerifiedAction::Comment];
    })
    .await
    else {
        return;
    };
    let email = unique_email();
    let registered = app.register(&email).await;
    assert_eq!(registered["user"]["email_verified"], false);
    let access = registered["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = registered["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let group = app
        .call(
            "POST",
            "/v1/groups",
            Some(json!({ "name": "Runners" })),
            Some(&access),
        )
        .await;
    assert_eq!(group.status, 201, "{}", group.text);
    let posts = format!(
        "/v1/groups/{}/posts",
        group.json()["id"].as_str().expect("id")
    );
    app.call(
        "PUT",
        &format!("{}/members/me", posts.trim_end_matches("/posts")),
        None,
        Some(&access),
    )
    .await;

    let refused = app
        .call(
            "POST",
            &posts,
            Some(json!({ "text": "hello" })),
            Some(&access),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_error(&refused.text, "email_not_verified");

    let token = link_token(&smtp, &email, "Confirm your email", "verify-email").await;
    let verified = post(&app, "/v1/auth/verify-email", json!({ "token": token })).await;
    assert_eq!(verified.status, 204, "{}", verified.text);
    let again = post(&app, "/v1/auth/verify-email", json!({ "token": token })).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_error(&again.text, "invalid_link");
    let me = app.call("GET", "/v1/me", None, Some(&access)).await;
    assert_eq!(me.json()["email_verified"], true, "{}", me.text);

    // The old token still says unverified; a refreshed one may post.
    let still = app
        .call(
            "POST",
            &posts,
            Some(json!({ "text": "hello" })),
            Some(&access),
        )
        .await;
    assert_eq!(still.status, 403, "{}", still.text);
    let fresh = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            None,
        )
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
    let fresh_access = fresh.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let posted = app
        .call(
            "POST",
            &posts,
            Some(json!({ "text": "hello" })),
            Some(&fresh_access),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text);

    // A new address is unverified until its own link is used; the already verified
    // address cannot be asked for another link.
    let resend = app
        .call(
            "POST",
            "/v1/auth/verify-email/resend",
            None,
            Some(&fresh_access),
        )
        .await;
    assert_eq!(resend.status, 409, "{}", resend.text);
    assert_error(&resend.text, "already_verified");
    let moved_to = unique_email();
    let changed = app
        .call(
            "PATCH",
            "/v1/me",
            Some(json!({ "email": moved_to })),
            Some(&fresh_access),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json()["email"], moved_to.as_str());
    assert_eq!(changed.json()["email_verified"], false);
    let token = link_token(&smtp, &moved_to, "Confirm your email", "verify-email").await;
    let verified = post(&app, "/v1/auth/verify-email", json!({ "token": token })).await;
    assert_eq!(verified.status, 204, "{}", verified.text);
    let me = app.call("GET", "/v1/me", None, Some(&fresh_access)).await;
    assert_eq!(me.json()["email_verified"], true, "{}", me.text);
}

#[actix_web::test]
async fn a_verification_link_for_an_address_changed_since_does_nothing() {
    let Some((app, smtp, _mail)) = app_with_mail(false, |_| {}).await else {
        return;
    };
    let email = unique_email();
    let registered = app.register(&email).await;
    let access = registered["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let old_link = link_token(&smtp, &email, "Confirm your email", "verify-email").await;
    let moved_to = unique_email();
    let changed = app
        .call(
            "PATCH",
            "/v1/me",
            Some(json!({ "email": moved_to })),
            Some(&access),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    // Positive control: the new address's link arrives; the old one is void.
    link_token(&smtp, &moved_to, "Confirm your email", "verify-email").await;
    let stale = post(&app, "/v1/auth/verify-email", json!({ "token": old_link })).await;
    assert_eq!(stale.status, 400, "{}", stale.text);
    assert_error(&stale.text, "invalid_link");
    let me = app.call("GET", "/v1/me", None, Some(&access)).await;
    assert_eq!(me.json()["email_verified"], false, "{}", me.text);
    let taken = app
        .call(
            "PATCH",
            "/v1/me",
            Some(json!({ "email": "not an email" })),
            Some(&access),
        )
        .await;
    assert_eq!(taken.status, 400, "{}", taken.text);
    assert_error(&taken.text, "invalid_field");
}
