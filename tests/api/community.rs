//! The community end to end: check-ins reach followers live, group posts reach members'
//! feeds for later, blocks stop events both ways, moderators take posts out of feeds, and
//! bad input (future check-ins, oversize posts, following yourself) gets clear errors.

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_on_manual_clock, spawn_app_with};

async fn put(app: &TestApp, path: &str, token: &str) -> crate::helpers::Response {
    app.call("PUT", path, None, Some(token)).await
}

async fn post_json(
    app: &TestApp,
    path: &str,
    body: Value,
    token: &str,
) -> crate::helpers::Response {
    app.call("POST", path, Some(body), Some(token)).await
}

async fn group_with(app: &TestApp, owner: &str, members: &[&str]) -> String {
    let created = post_json(
        app,
        "/v1/groups",
        json!({ "name": "Morning runners" }),
        owner,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    for member in members {
        let joined = put(app, &format!("/v1/groups/{id}/members/me"), member).await;
        assert_eq!(joined.status, 200, "{}", joined.text);
    }
    id
}

#[actix_web::test]
async fn a_check_in_reaches_a_followers_socket_and_a_group_post_a_members_feed() {
    let app = spawn_app().await;
    let (author, author_token) = app.member_account().await;
    let (_, fan_token) = app.member();
    let (_, member_token) = app.member();
    let followed = put(&app, &format!("/v1/me/following/{author}"), &fan_token).await;
    assert_eq!(followed.status, 200, "{}", followed.text);
    let (mut fan_socket, _) = app.connect_ready(&fan_token, None).await;

    let checked = post_json(
        &app,
        "/v1/me/checkins",
        json!({ "mood": "great", "satisfaction": 5, "note": "Slept well" }),
        &author_token,
    )
    .await;
    assert_eq!(checked.status, 201, "{}", checked.text);
    let event = fan_socket.event("community.activity").await;
    assert_eq!(
        (
            event["data"]["type"].clone(),
            event["data"]["user_id"].clone()
        ),
        (json!("checkin"), json!(author.to_string()))
    );
    assert!(event["seq"].is_u64());

    let edited = post_json(
        &app,
        "/v1/me/checkins",
        json!({ "mood": "good", "satisfaction": 4 }),
        &author_token,
    )
    .await;
    assert_eq!(edited.status, 200, "today's check-in is edited, not added");
    let history = app
        .call("GET", "/v1/me/checkins", None, Some(&author_token))
        .await
        .json();
    assert_eq!(history["items"].as_array().expect("items").len(), 1);
    assert_eq!(
        (
            history["items"][0]["mood"].clone(),
            history["streak_days"].clone()
        ),
        (json!("good"), json!(1))
    );

    // The member is offline when the post goes out and finds it in their feed later.
    let group = group_with(&app, &author_token, &[&member_token]).await;
    let posted = post_json(
        &app,
        &format!("/v1/groups/{group}/posts"),
        json!({ "text": "5k done!" }),
        &author_token,
    )
    .await;
    assert_eq!(posted.status, 201, "{}", posted.text);
    // Replayed from the feed, or pushed live should the socket be quicker than the feed.
    let (mut member_socket, _) = app.connect_ready(&member_token, Some(0)).await;
    let replayed = member_socket.event("community.post").await;
    assert_eq!(replayed["data"]["text"], "5k done!");
    let listed = app
        .call(
            "GET",
            &format!("/v1/groups/{group}/posts"),
            None,
            Some(&member_token),
        )
        .await
        .json();
    assert_eq!(listed["items"][0]["text"], "5k done!");

    let post_id = posted.json()["id"].as_str().expect("id").to_owned();
    let commented = post_json(
        &app,
        &format!("/v1/groups/{group}/posts/{post_id}/comments"),
        json!({ "text": "Well done" }),
        &member_token,
    )
    .await;
    assert_eq!(commented.status, 201);
    let liked = put(
        &app,
        &format!("/v1/groups/{group}/posts/{post_id}/like"),
        &member_token,
    )
    .await;
    assert_eq!(liked.json()["likes"], 1);
    let listed = app
        .call(
            "GET",
            &format!("/v1/groups/{group}/posts"),
            None,
            Some(&author_token),
        )
        .await
        .json();
    assert_eq!(
        (
            listed["items"][0]["likes"].clone(),
            listed["items"][0]["comments"][0]["text"].clone()
        ),
        (json!(1), json!("Well done"))
    );
}

#[actix_web::test]
async fn a_blocked_users_events_never_arrive_and_removed_posts_leave_every_feed() {
    let app = spawn_app().await;
    let (blocker, blocker_token) = app.member_account().await;
    let (pest, pest_token) = app.member_account().await;
    // The friend's events are the positive controls: allowed, and sent after the pest's.
    let (friend, friend_token) = app.member_account().await;
    put(&app, &format!("/v1/me/following/{pest}"), &blocker_token).await;
    put(&app, &format!("/v1/me/following/{friend}"), &blocker_token).await;
    let blocked = put(&app, &format!("/v1/me/blocks/{pest}"), &blocker_token).await;
    assert_eq!(blocked.status, 200);
    let (mut socket, _) = app.connect_ready(&blocker_token, None).await;
    post_json(
        &app,
        "/v1/me/checkins",
        json!({ "mood": "ok", "satisfaction": 3 }),
        &pest_token,
    )
    .await;
    post_json(
        &app,
        "/v1/me/activities",
        json!({ "type": "workout_finished", "item_id": "core-crusher-express-15-min" }),
        &pest_token,
    )
    .await;
    post_json(
        &app,
        "/v1/me/activities",
        json!({ "type": "workout_finished", "item_id": "core-crusher-express-15-min" }),
        &friend_token,
    )
    .await;
    let friend_id = json!(friend.to_string());
    let before = socket
        .frames_until("community.activity", |f| {
            f["type"] == "community.activity" && f["data"]["user_id"] == friend_id
        })
        .await;
    assert!(before.is_empty(), "nothing from a blocked user: {before:?}");
    let follow_back = put(&app, &format!("/v1/me/following/{blocker}"), &pest_token).await;
    assert_eq!(follow_back.status, 404, "blocks hide both ways");

    let group = group_with(&app, &blocker_token, &[&pest_token, &friend_token]).await;
    let hidden = post_json(
        &app,
        &format!("/v1/groups/{group}/posts"),
        json!({ "text": "spam" }),
        &pest_token,
    )
    .await;
    assert_eq!(hidden.status, 201);
    let listed = app
        .call(
            "GET",
            &format!("/v1/groups/{group}/posts"),
            None,
            Some(&blocker_token),
        )
        .await
        .json();
    assert!(
        listed["items"].as_array().expect("items").is_empty(),
        "a blocked author's posts are hidden"
    );
    let shared = post_json(
        &app,
        &format!("/v1/groups/{group}/posts"),
        json!({ "text": "see you at 7" }),
        &friend_token,
    )
    .await;
    assert_eq!(shared.status, 201, "{}", shared.text);
    let before = socket
        .frames_until("community.post", |f| {
            f["type"] == "community.post" && f["data"]["author_id"] == friend_id
        })
        .await;
    assert!(before.is_empty(), "no post of a blocked author: {before:?}");

    let shown = post_json(
        &app,
        &format!("/v1/groups/{group}/posts"),
        json!({ "text": "rude words" }),
        &blocker_token,
    )
    .await;
    let id = shown.json()["id"].as_str().expect("id").to_owned();
    let reported = post_json(
        &app,
        "/v1/reports",
        json!({ "target_kind": "post", "target_id": id, "reason": "abusive" }),
        &pest_token,
    )
    .await;
    assert_eq!(reported.status, 201, "{}", reported.text);
    let admin = app.mint(UserId::random(), &[Role::Member, Role::Admin], 600);
    let queue = app
        .call("GET", "/v1/admin/reports", None, Some(&admin))
        .await
        .json();
    assert_eq!(queue["items"][0]["target_id"], json!(id));
    let removed = app
        .call(
            "DELETE",
            &format!("/v1/admin/community/posts/{id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    let notice = socket.event("community.removed").await;
    assert_eq!(notice["data"]["post_id"], json!(id));
    let listed = app
        .call(
            "GET",
            &format!("/v1/groups/{group}/posts"),
            None,
            Some(&pest_token),
        )
        .await
        .json();
    assert!(
        listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|p| p["id"] != json!(id))
    );
}

#[actix_web::test]
async fn bad_community_input_gets_clear_errors() {
    let app = spawn_app_with(|s| {
        s.community.posts_per_minute = 3;
    })
    .await;
    let (me, token) = app.member();
    let cases = [
        (
            "/v1/me/checkins",
            json!({ "mood": "great", "satisfaction": 5, "date": "2999-01-01" }),
            400,
        ),
        (
            "/v1/me/checkins",
            json!({ "mood": "great", "satisfaction": 5, "date": "2020-01-01" }),
            400,
        ),
        (
            "/v1/me/checkins",
            json!({ "mood": "great", "satisfaction": 6 }),
            400,
        ),
        (
            "/v1/me/checkins",
            json!({ "mood": "", "satisfaction": 3 }),
            400,
        ),
        (
            "/v1/me/checkins",
            json!({ "mood": "x", "satisfaction": 3, "extra": true }),
            400,
        ),
        (
            "/v1/reports",
            json!({ "target_kind": "planet", "target_id": "x", "reason": "r" }),
            400,
        ),
    ];
    for (path, body, status) in cases {
        let response = post_json(&app, path, body.clone(), &token).await;
        assert_eq!(response.status, status, "{body}: {}", response.text);
    }
    let me_again = put(&app, &format!("/v1/me/following/{me}"), &token).await;
    assert_eq!(me_again.status, 400);
    assert_error(&me_again.text, "invalid_field");
    assert_eq!(
        put(&app, "/v1/me/following/not-a-uuid", &token)
            .await
            .status,
        400
    );

    let small = post_json(
        &app,
        "/v1/groups",
        json!({ "name": "Tiny", "max_members": 2 }),
        &token,
    )
    .await
    .json();
    let group = small["id"].as_str().expect("id").to_owned();
    let oversize = post_json(
        &app,
        &format!("/v1/groups/{group}/posts"),
        json!({ "text": "x".repeat(2_001) }),
        &token,
    )
    .await;
    assert_eq!(oversize.status, 400);
    assert_error(&oversize.text, "invalid_field");
    let (_, outsider) = app.member();
    let not_member = post_json(
        &app,
        &format!("/v1/groups/{group}/posts"),
        json!({ "text": "hi" }),
        &outsider,
    )
    .await;
    assert_eq!(not_member.status, 403);
    assert_eq!(
        put(&app, &format!("/v1/groups/{group}/members/me"), &outsider)
            .await
            .status,
        200
    );
    let (_, third) = app.member();
    let full = put(&app, &format!("/v1/groups/{group}/members/me"), &third).await;
    assert_eq!(full.status, 409, "{}", full.text);

    let mut statuses = Vec::new();
    for n in 0..5 {
        statuses.push(
            post_json(
                &app,
                &format!("/v1/groups/{group}/posts"),
                json!({ "text": format!("post {n}") }),
                &outsider,
            )
            .await
            .status,
        );
    }
    assert!(
        statuses.contains(&429),
        "posting has a per-user budget: {statuses:?}"
    );
    assert_eq!(
        app.call(
            "GET",
            &format!("/v1/groups/{}", uuid::Uuid::new_v4()),
            None,
            Some(&token)
        )
        .await
        .status,
        404
    );
}

/// "Today" is the app's day, not the machine's: a check-in the next day is a new day that
/// lengthens the streak, not an edit of yesterday's.
#[actix_web::test]
async fn the_next_days_check_in_is_a_new_day_on_the_apps_clock() {
    let app = spawn_app_on_manual_clock(|_| {}).await;
    let (author, _) = app.member_account().await;
    // Valid past the day the clock moves.
    let token = app.mint(author, &[Role::Member], 3 * 86_400);
    let check_in = |mood: &'static str| {
        let (app, token) = (&app, token.clone());
        async move {
            post_json(
                app,
                "/v1/me/checkins",
                json!({ "mood": mood, "satisfaction": 4 }),
                &token,
            )
            .await
        }
    };
    let first = check_in("good").await;
    assert_eq!(first.status, 201, "{}", first.text);

    app.advance(std::time::Duration::from_secs(86_400));
    let next_day = check_in("great").await;
    assert_eq!(next_day.status, 201, "a new day: {}", next_day.text);
    let history = app
        .call("GET", "/v1/me/checkins", None, Some(&token))
        .await
        .json();
    assert_eq!(history["items"].as_array().expect("items").len(), 2);
    assert_eq!(history["streak_days"], 2);
}
