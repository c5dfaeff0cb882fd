//! `DELETE /v1/me` erases the account: after a member who did a bit of everything deletes
//! it, a walk over every table of the store finds no row naming them, what others made
//! stays (their posts, their group, their workouts and timelines, counts without the
//! member's like), and the member's token is refused, also by a node that starts
//! afterwards. On both backends.

use fitpulse_actors::domain::{ClassId, UserId, now_millis};
use fitpulse_actors::ports::replays::{ReplayRecord, Timeline};
use fitpulse_actors::ports::workouts::{WorkoutKind, WorkoutRecord};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Response, TestApp, scylla_app, spawn_app, unique_email};

const RECIPE: &str = "quick-lentil-soup";

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> Response {
    let response = app.call(method, path, body, Some(token)).await;
    assert!(
        response.status < 300,
        "{method} {path}: {} {}",
        response.status,
        response.text
    );
    response
}

/// A registered member's id and token.
async fn member(app: &TestApp) -> (String, String) {
    let answer = app.register(&unique_email()).await;
    (
        answer["user"]["id"].as_str().expect("id").to_owned(),
        answer["access_token"].as_str().expect("token").to_owned(),
    )
}

async fn likes_of_recipe(app: &TestApp) -> u64 {
    let recipe = app
        .call("GET", &format!("/v1/recipes/{RECIPE}"), None, None)
        .await;
    recipe.json()["likes"].as_u64().expect("likes")
}

/// How many rows name `user`, once that number held for three reads in a row (events are
/// delivered to feeds in the background). Bounded: 100 reads.
async fn settled(app: &TestApp, user: &str) -> usize {
    let mut last = usize::MAX;
    let mut same = 0;
    for _ in 0..100 {
        let now = app
            .stores
            .account_data
            .rows_mentioning(user)
            .await
            .expect("walk")
            .len();
        same = if now == last { same + 1 } else { 0 };
        if same == 2 {
            return now;
        }
        last = now;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the rows naming {user} kept changing");
}

/// The caller's export once it is ready (bounded: 100 reads).
async fn ready_export(app: &TestApp, token: &str) -> Value {
    for _ in 0..100 {
        let export = call(app, "GET", "/v1/me/export", None, token).await.json();
        if export["state"] == "ready" {
            return export;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the export never became ready");
}

fn parse_user(id: &str) -> UserId {
    id.parse().expect("a user id")
}

/// A finished workout of `user` in `class`, their bests, their timeline there and a replay
/// of it.
async fn record_workout_history(app: &TestApp, user: UserId, class: ClassId) {
    let now = now_millis();
    let workout = WorkoutRecord {
        id: Uuid::new_v4(),
        user,
        kind: WorkoutKind::Live,
        class_id: Some(class),
        workout_id: Some("hiit-20".into()),
        title: "HIIT 20".into(),
        started_at: now - 1_200_000,
        finished_at: now,
        output: Some(180.5),
        reps: Some(90),
        rank: Some(2),
        of: Some(12),
    };
    app.stores
        .workouts
        .record_workout(&workout)
        .await
        .expect("record");
    app.stores
        .workouts
        .raise_personal_record(user, "hiit-20", Some(180.5), Some(90), now)
        .await
        .expect("raise");
    let timeline = Timeline {
        taker: user,
        name: "Ada".into(),
        kind: WorkoutKind::Live,
        recorded_at: now,
        output: vec![0.1, 1.25, 2.3],
    };
    let kept = app
        .stores
        .replays
        .put_timeline(class, &timeline, 50)
        .await
        .expect("put");
    assert!(kept);
    let replay = ReplayRecord {
        id: Uuid::new_v4(),
        class_id: class,
        user,
        created_at: now,
        finished_at: None,
    };
    app.stores
        .replays
        .create_replay(&replay)
        .await
        .expect("create");
}

/// Everything erased; answers the member's token for a look at what is refused.
async fn a_deleted_account_leaves_no_row_naming_it(app: &TestApp) -> String {
    let (gone, token) = member(app).await;
    let (other, other_token) = member(app).await;
    let (_, third_token) = member(app).await;
    let likes_before = likes_of_recipe(app).await;

    // A bit of everything the member can store.
    call(
        app,
        "PATCH",
        "/v1/me",
        Some(json!({ "timezone": "Europe/Lisbon" })),
        &token,
    )
    .await;
    call(
        app,
        "PUT",
        "/v1/me/plan",
        Some(json!({ "template_id": "lose-weight-2-week-plan" })),
        &token,
    )
    .await;
    call(
        app,
        "PUT",
        &format!("/v1/me/likes/recipe/{RECIPE}"),
        None,
        &token,
    )
    .await;
    call(
        app,
        "PUT",
        &format!("/v1/me/saved/recipe/{RECIPE}"),
        None,
        &token,
    )
    .await;
    call(
        app,
        "POST",
        "/v1/me/checkins",
        Some(json!({ "mood": "great", "satisfaction": 5, "note": "legs day" })),
        &token,
    )
    .await;
    call(
        app,
        "PUT",
        "/v1/me/devices/gone-phone",
        Some(json!({ "platform": "ios", "push_token": "ab".repeat(32), "locale": "pt-BR" })),
        &token,
    )
    .await;
    call(
        app,
        "PATCH",
        "/v1/me/notification-settings",
        Some(json!({ "quiet_hours": { "start": "22:00", "end": "07:00" } })),
        &token,
    )
    .await;
    call(
        app,
        "PUT",
        &format!("/v1/me/following/{other}"),
        None,
        &token,
    )
    .await;
    call(
        app,
        "PUT",
        &format!("/v1/me/following/{gone}"),
        None,
        &other_token,
    )
    .await;
    call(
        app,
        "PUT",
        &format!("/v1/me/blocks/{gone}"),
        None,
        &third_token,
    )
    .await;
    let group = call(
        app,
        "POST",
        "/v1/groups",
        Some(json!({ "name": "Morning runners" })),
        &token,
    )
    .await;
    let group = group.json()["id"].as_str().expect("group").to_owned();
    call(
        app,
        "PUT",
        &format!("/v1/groups/{group}/members/me"),
        None,
        &other_token,
    )
    .await;
    let posts = format!("/v1/groups/{group}/posts");
    let mine = call(
        app,
        "POST",
        &posts,
        Some(json!({ "text": "5k done" })),
        &token,
    )
    .await;
    let mine = mine.json()["id"].as_str().expect("post").to_owned();
    let theirs = call(
        app,
        "POST",
        &posts,
        Some(json!({ "text": "10k done" })),
        &other_token,
    )
    .await;
    let theirs = theirs.json()["id"].as_str().expect("post").to_owned();
    call(
        app,
        "POST",
        &format!("{posts}/{theirs}/comments"),
        Some(json!({ "text": "great pace" })),
        &token,
    )
    .await;
    let reply = call(
        app,
        "POST",
        &format!("{posts}/{mine}/comments"),
        Some(json!({ "text": "nice" })),
        &other_token,
    )
    .await;
    let reply: Uuid = reply.json()["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("comment id");
    let reset = app
        .call(
            "POST",
            "/v1/auth/password-reset",
            Some(json!({ "email": "x@example.com" })),
            None,
        )
        .await;
    assert_eq!(reset.status, 202);
    assert_eq!(likes_of_recipe(app).await, likes_before + 1);
    // Workouts, bests, timelines and a replay, through the store (no route writes them).
    let (user, kept_taker) = (parse_user(&gone), parse_user(&other));
    let class = ClassId::random();
    record_workout_history(app, user, class).await;
    // The export has all of it.
    let none = app.call("GET", "/v1/me/export", None, Some(&token)).await;
    assert_eq!(none.status, 404, "{}", none.text);
    let asked = call(app, "POST", "/v1/me/export", None, &token).await;
    assert_eq!(asked.json()["state"], "pending");
    let export = ready_export(app, &token).await;
    let document = &export["document"];
    assert_eq!(document["profile"]["id"], gone.as_str());
    assert_eq!(document["profile"]["timezone"], "Europe/Lisbon");
    assert_eq!(
        document["plan"]["template_id"], "lose-weight-2-week-plan",
        "{document}"
    );
    assert_eq!(document["likes"][0]["id"], RECIPE);
    assert_eq!(document["saves"][0]["id"], RECIPE);
    assert_eq!(document["posts"][0]["text"], "5k done");
    assert_eq!(document["comments"][0]["text"], "great pace");
    assert_eq!(document["checkins"][0]["note"], "legs day");
    assert_eq!(document["following"], json!([other.clone()]));
    assert_eq!(document["followers"], json!([other.clone()]));
    assert_eq!(document["groups"][0]["owner"], true);
    assert!(
        document["feed"].as_array().is_some_and(|f| !f.is_empty()),
        "{document}"
    );
    assert_eq!(
        document["devices"][0]["device_id"], "gone-phone",
        "{document}"
    );
    assert_eq!(document["devices"][0]["locale"], "pt-BR");
    assert_eq!(
        document["notification_settings"]["quiet_hours"],
        json!({ "start": "22:00", "end": "07:00" }),
        "{document}"
    );
    assert_eq!(document["workouts"][0]["title"], "HIIT 20", "{document}");
    assert_eq!(document["workouts"][0]["class_id"], class.to_string());
    assert_eq!(document["personal_records"][0]["workout_id"], "hiit-20");
    assert_eq!(document["personal_records"][0]["most_reps"], 90);
    assert_eq!(
        document["timelines"][0]["output_per_second"],
        json!([0.1, 1.25, 2.3]),
        "{document}"
    );
    assert_eq!(document["timelines_truncated"], false);
    assert_eq!(document["timelines"][0]["class_id"], class.to_string());
    assert_eq!(document["replays"][0]["class_id"], class.to_string());
    assert_eq!(document["replays"][0]["finished_at"], Value::Null);
    let stranger = app.call("GET", "/v1/me/export", None, None).await;
    assert_eq!(stranger.status, 401);

    record_workout_history(app, kept_taker, class).await;

    // Positive control: the walk sees the member before the erasure, once the community
    // events in flight have landed in the feeds.
    let before = settled(app, &gone).await;
    assert!(before > 10, "{before} rows");

    let deleted = app.call("DELETE", "/v1/me", None, Some(&token)).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let left = app
        .stores
        .account_data
        .rows_mentioning(&gone)
        .await
        .expect("walk");
    assert!(left.is_empty(), "rows still naming the member: {left:#?}");

    // What others made stays; the member's part of it goes.
    assert_eq!(likes_of_recipe(app).await, likes_before);
    let (workouts, replays) = (&app.stores.workouts, &app.stores.replays);
    assert_eq!(
        workouts.workouts(user, None, 10).await.expect("read"),
        vec![]
    );
    assert_eq!(workouts.personal_records(user).await.expect("read"), vec![]);
    assert_eq!(
        workouts
            .workouts(kept_taker, None, 10)
            .await
            .expect("read")
            .len(),
        1
    );
    assert_eq!(
        workouts
            .personal_records(kept_taker)
            .await
            .expect("read")
            .len(),
        1
    );
    let timelines = replays.timelines(class, 10).await.expect("read");
    assert_eq!(
        timelines.iter().map(|t| t.taker).collect::<Vec<_>>(),
        vec![kept_taker]
    );
    let listed = call(app, "GET", &posts, None, &other_token).await.json();
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["id"], theirs.as_str());
    assert_eq!(items[0]["comments"], json!([]), "{listed}");
    // Another member's comment under the member's post goes with the thread (it names
    // only the post, so the walk above would not see it).
    let community = &app.stores.community;
    assert_eq!(community.post(reply).await.expect("read"), None);
    let mine: Uuid = mine.parse().expect("post id");
    assert_eq!(community.comments(mine).await.expect("read"), Vec::new());
    let followers = call(app, "GET", "/v1/me/followers", None, &other_token)
        .await
        .json();
    assert_eq!(followers["items"], json!([]), "{followers}");
    let me = app.call("GET", "/v1/me", None, Some(&token)).await;
    assert_eq!(me.status, 401, "{}", me.text);
    token
}

#[actix_web::test]
async fn a_deleted_account_leaves_no_row_naming_it_on_the_embedded_store() {
    let app = spawn_app().await;
    a_deleted_account_leaves_no_row_naming_it(&app).await;
}

#[actix_web::test]
async fn a_deleted_account_leaves_no_row_naming_it_on_scylla() {
    let Some(app) = scylla_app(|_| {}).await else {
        return;
    };
    let token = a_deleted_account_leaves_no_row_naming_it(&app).await;
    // A node that starts afterwards loads the (pseudonymous) revocation and refuses it.
    let Some(later) = scylla_app(|_| {}).await else {
        return;
    };
    let me = later.call("GET", "/v1/me", None, Some(&token)).await;
    assert_eq!(me.status, 401, "{}", me.text);
}

/// An export whose build was lost (its outbox item went dead) does not block the next
/// request for good: after an hour a new request starts another build.
#[actix_web::test]
async fn a_lost_export_build_is_started_again() {
    let app = spawn_app().await;
    let (id, token) = member(&app).await;
    let user: fitpulse_actors::domain::UserId = id.parse().expect("uuid");
    let lost = fitpulse_actors::ports::accounts::ExportRecord {
        requested_at: fitpulse_actors::domain::now_millis() - 2 * 3_600_000,
        ready_at: None,
        document: None,
    };
    app.stores
        .account_data
        .put_export(user, &lost)
        .await
        .expect("put");
    let asked = call(&app, "POST", "/v1/me/export", None, &token).await;
    assert_eq!(asked.json()["state"], "pending");
    let export = ready_export(&app, &token).await;
    assert_eq!(export["document"]["profile"]["id"], id.as_str());
}

/// An export lists a long history whole, read a page at a time: 501 workouts (one more
/// than a page), two to each finish time with the first page ending between the two of
/// one time, all appear once, newest first.
async fn an_export_lists_every_workout_of_a_long_history_once(app: &TestApp) {
    let (id, token) = member(app).await;
    let user = parse_user(&id);
    let now = now_millis();
    // Finish times n = 0: t, 1-2: t - 1 s, 3-4: t - 2 s, ...: rows 500 and 501 share one.
    for n in 0..501i64 {
        let workout = WorkoutRecord {
            id: Uuid::new_v4(),
            user,
            kind: WorkoutKind::Replay,
            class_id: None,
            workout_id: None,
            title: format!("ride {n}"),
            started_at: now - 600_000 - ((n + 1) / 2) * 1_000,
            finished_at: now - ((n + 1) / 2) * 1_000,
            output: Some(n as f64),
            reps: None,
            rank: None,
            of: None,
        };
        app.stores
            .workouts
            .record_workout(&workout)
            .await
            .expect("record");
    }
    call(app, "POST", "/v1/me/export", None, &token).await;
    let export = ready_export(app, &token).await;
    let listed = export["document"]["workouts"]
        .as_array()
        .expect("workouts")
        .clone();
    let ids: std::collections::HashSet<&str> =
        listed.iter().filter_map(|w| w["id"].as_str()).collect();
    assert_eq!((listed.len(), ids.len()), (501, 501));
    let finished: Vec<&str> = listed
        .iter()
        .filter_map(|w| w["finished_at"].as_str())
        .collect();
    assert!(finished.windows(2).all(|w| w[0] >= w[1]), "{finished:?}");
}

#[actix_web::test]
async fn an_export_lists_every_workout_of_a_long_history_once_on_the_embedded_store() {
    an_export_lists_every_workout_of_a_long_history_once(&spawn_app().await).await;
}

#[actix_web::test]
async fn an_export_lists_every_workout_of_a_long_history_once_on_scylla() {
    let Some(app) = scylla_app(|_| {}).await else {
        return;
    };
    an_export_lists_every_workout_of_a_long_history_once(&app).await;
}
