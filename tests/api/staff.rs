//! Staff while the server runs: admins create staff accounts (with a password, or with a
//! link to set one), change roles (the old token loses the role at once), end every login,
//! look accounts up, and every change is in the audit log, newest first, paged.

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use crate::account_links::{app_with_mail, link_token};
use crate::helpers::{Response, TestApp, assert_error, spawn_app, unique_email};

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> Response {
    app.call(method, path, body, Some(token)).await
}

fn refresh_of(answer: &Response) -> (String, String) {
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    (
        body["access_token"].as_str().expect("access").to_owned(),
        body["refresh_token"].as_str().expect("refresh").to_owned(),
    )
}

#[actix_web::test]
async fn admins_manage_staff_and_every_change_is_audited() {
    let app = spawn_app().await;
    let admin_id = UserId::random();
    let admin = app.mint(admin_id, &[Role::Member, Role::Admin], 600);
    let email = unique_email();
    let created = call(
        &app,
        "POST",
        "/v1/admin/users",
        Some(json!({ "email": email, "password": "a coach's passphrase", "roles": ["coach"] })),
        &admin,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["roles"], json!(["member", "coach"]));
    let coach_id = created.json()["id"].as_str().expect("id").to_owned();
    let twice = call(
        &app,
        "POST",
        "/v1/admin/users",
        Some(json!({ "email": email, "password": "a coach's passphrase", "roles": ["coach"] })),
        &admin,
    )
    .await;
    assert_eq!(twice.status, 409, "{}", twice.text);

    let (coach_access, coach_refresh) =
        refresh_of(&app.login_with(&email, "a coach's passphrase").await);
    // A coach gets past the role check (to a class that does not exist).
    let start = format!("/v1/live/classes/{}/start", uuid::Uuid::new_v4());
    let as_coach = app.call("POST", &start, None, Some(&coach_access)).await;
    assert_eq!(as_coach.status, 404, "{}", as_coach.text);

    // Demoted: the coach's current token loses the role now, the refreshed one has none.
    let demoted = call(
        &app,
        "PATCH",
        &format!("/v1/admin/users/{coach_id}"),
        Some(json!({ "roles": ["member"] })),
        &admin,
    )
    .await;
    assert_eq!(demoted.status, 200, "{}", demoted.text);
    assert_eq!(demoted.json()["roles"], json!(["member"]));
    let old = app.call("GET", "/v1/me", None, Some(&coach_access)).await;
    assert_eq!(old.status, 401, "{}", old.text);
    let (member_access, member_refresh) = refresh_of(
        &app.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &coach_refresh),
            ],
            None,
        )
        .await,
    );
    let as_member = app.call("POST", &start, None, Some(&member_access)).await;
    assert_eq!(as_member.status, 403, "{}", as_member.text);

    let found = call(
        &app,
        "GET",
        &format!("/v1/admin/users?email={}", email.to_uppercase()),
        None,
        &admin,
    )
    .await;
    assert_eq!(found.status, 200, "{}", found.text);
    assert_eq!(found.json()["user"]["id"], coach_id.as_str());
    assert_eq!(found.json()["has_password"], true);
    assert_eq!(found.json()["subscriptions"], json!([]));

    let revoked = call(
        &app,
        "POST",
        &format!("/v1/admin/users/{coach_id}/revoke"),
        None,
        &admin,
    )
    .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    let gone = app.call("GET", "/v1/me", None, Some(&member_access)).await;
    assert_eq!(gone.status, 401, "{}", gone.text);
    let refused = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &member_refresh),
            ],
            None,
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text);

    // The audit log has the four changes, newest first, by the admin; reads are not in it.
    let log = call(&app, "GET", "/v1/admin/audit?limit=10", None, &admin).await;
    assert_eq!(log.status, 200, "{}", log.text);
    let items = log.json()["items"].as_array().expect("items").clone();
    let routes: Vec<&str> = items
        .iter()
        .map(|i| i["route"].as_str().expect("route"))
        .collect();
    assert_eq!(
        routes,
        [
            "/v1/admin/users/{id}/revoke",
            "/v1/admin/users/{id}",
            "/v1/admin/users",
        ],
        "{}",
        log.text
    );
    for item in &items {
        assert_eq!(item["actor"], format!("user:{admin_id}"));
        assert!(item["request_id"].is_string(), "{item}");
    }
    assert_eq!(
        items[0]["path"],
        format!("/v1/admin/users/{coach_id}/revoke")
    );
    assert_eq!(items[2]["status"], 201);
    let first = call(&app, "GET", "/v1/admin/audit?limit=1", None, &admin).await;
    let cursor = first.json()["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let next = call(
        &app,
        "GET",
        &format!("/v1/admin/audit?limit=1&cursor={cursor}"),
        None,
        &admin,
    )
    .await;
    assert_eq!(next.json()["items"][0]["route"], "/v1/admin/users/{id}");
}

#[actix_web::test]
async fn staff_without_a_password_set_it_through_the_emailed_link() {
    let Some((app, smtp, _mail)) = app_with_mail(false, |_| {}).await else {
        return;
    };
    let admin = app.admin();
    let email = unique_email();
    let created = call(
        &app,
        "POST",
        "/v1/admin/users",
        Some(json!({ "email": email, "roles": ["admin"], "display_name": "Ops Lead" })),
        &admin,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["roles"], json!(["member", "admin"]));
    let token = link_token(
        &smtp,
        &email,
        "Reset your fitpulse password",
        "reset-password",
    )
    .await;
    let set = app
        .call(
            "POST",
            "/v1/auth/password-reset/confirm",
            Some(json!({ "token": token, "password": "the ops passphrase" })),
            None,
        )
        .await;
    assert_eq!(set.status, 204, "{}", set.text);
    let (access, _) = refresh_of(&app.login_with(&email, "the ops passphrase").await);
    let sessions = app
        .call("GET", "/v1/admin/sessions", None, Some(&access))
        .await;
    assert_eq!(
        sessions.status, 200,
        "the new admin is an admin: {}",
        sessions.text
    );
}

#[actix_web::test]
async fn the_staff_routes_refuse_strangers_members_and_bad_input_and_audit_nothing() {
    let app = spawn_app().await;
    let admin = app.admin();
    let member = app.mint(UserId::random(), &[Role::Member], 600);
    let someone = UserId::random();
    let routes = [
        (
            "POST",
            "/v1/admin/users".to_owned(),
            Some(json!({ "email": unique_email(), "roles": ["coach"] })),
        ),
        (
            "GET",
            format!("/v1/admin/users?email={}", unique_email()),
            None,
        ),
        (
            "PATCH",
            format!("/v1/admin/users/{someone}"),
            Some(json!({ "roles": ["admin"] })),
        ),
        ("POST", format!("/v1/admin/users/{someone}/revoke"), None),
        ("GET", "/v1/admin/audit".to_owned(), None),
    ];
    for (method, path, body) in &routes {
        let anonymous = app.call(method, path, body.clone(), None).await;
        assert_eq!(anonymous.status, 401, "{method} {path}: {}", anonymous.text);
        let forbidden = app.call(method, path, body.clone(), Some(&member)).await;
        assert_eq!(forbidden.status, 403, "{method} {path}: {}", forbidden.text);
        assert_error(&forbidden.text, "forbidden");
    }
    let bad = [
        (
            "POST",
            "/v1/admin/users".to_owned(),
            json!({ "email": "nope", "roles": ["coach"] }),
            "invalid_field",
        ),
        (
            "POST",
            "/v1/admin/users".to_owned(),
            json!({ "email": unique_email(), "roles": ["pope"] }),
            "invalid_field",
        ),
        (
            "POST",
            "/v1/admin/users".to_owned(),
            json!({ "email": unique_email(), "roles": [] }),
            "invalid_field",
        ),
        (
            "POST",
            "/v1/admin/users".to_owned(),
            json!({ "email": unique_email(), "roles": ["coach"], "password": "short" }),
            "invalid_field",
        ),
        (
            "POST",
            "/v1/admin/users".to_owned(),
            json!({ "mail": unique_email() }),
            "invalid_body",
        ),
        (
            "PATCH",
            "/v1/admin/users/not-a-uuid".to_owned(),
            json!({ "roles": ["coach"] }),
            "invalid_path",
        ),
        (
            "PATCH",
            format!("/v1/admin/users/{someone}"),
            json!({ "roles": ["coach"] }),
            "not_found",
        ),
    ];
    for (method, path, body, code) in bad {
        let refused = call(&app, method, &path, Some(body.clone()), &admin).await;
        assert!(refused.status >= 400, "{body}: {}", refused.text);
        assert_error(&refused.text, code);
    }
    for query in ["?limit=0", "?limit=201", "?cursor=abc", "?limit=ten"] {
        let refused = call(
            &app,
            "GET",
            &format!("/v1/admin/audit{query}"),
            None,
            &admin,
        )
        .await;
        assert_eq!(refused.status, 400, "{query}: {}", refused.text);
    }
    // Positive control: one change that succeeds is the only entry.
    let ok = call(
        &app,
        "POST",
        "/v1/admin/users",
        Some(json!({ "email": unique_email(), "password": "a coach's passphrase", "roles": ["coach"] })),
        &admin,
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let log = call(&app, "GET", "/v1/admin/audit", None, &admin).await;
    assert_eq!(
        log.json()["items"].as_array().expect("items").len(),
        1,
        "{}",
        log.text
    );
}

/// The audit goes by the route that served a request: a percent-encoded spelling of the
/// admin prefix reaches the same handler and is recorded all the same.
#[actix_web::test]
async fn an_encoded_admin_path_is_audited_like_the_plain_one() {
    let app = spawn_app().await;
    let admin = app.admin();
    let created = call(
        &app,
        "POST",
        "/v1/admin/users",
        Some(json!({ "email": unique_email(), "password": "a coach's passphrase", "roles": ["coach"] })),
        &admin,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let encoded = call(
        &app,
        "PATCH",
        &format!("/v1/%61dmin/users/{id}"),
        Some(json!({ "roles": ["admin"] })),
        &admin,
    )
    .await;
    assert_eq!(encoded.status, 200, "{}", encoded.text);
    assert_eq!(encoded.json()["roles"], json!(["member", "admin"]));
    let log = call(&app, "GET", "/v1/admin/audit", None, &admin).await;
    let routes: Vec<&str> = log.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["route"].as_str().expect("route"))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|r| {
            if r == "/v1/admin/users/{id}" {
                "patch"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(routes, ["patch", "other"], "{}", log.text);
}
