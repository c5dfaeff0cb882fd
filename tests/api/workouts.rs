//! Workout history and personal records end to end: the history pages newest first with
//! an opaque cursor, bad paging input gets `invalid_query`, a caller sees only their own
//! workouts and records, and a day with a finished workout keeps the check-in streak going.

use fitpulse_actors::domain::{UnixMillis, UserId, now_millis};
use fitpulse_actors::ports::workouts::{WorkoutKind, WorkoutRecord};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, spawn_app};

const DAY_MS: i64 = 86_400_000;

fn workout(user: UserId, finished_at: UnixMillis) -> WorkoutRecord {
    WorkoutRecord {
        id: Uuid::new_v4(),
        user,
        kind: WorkoutKind::Live,
        class_id: None,
        workout_id: Some("hiit-20".into()),
        title: "HIIT 20".into(),
        started_at: finished_at - 1_200_000,
        finished_at,
        output: Some(150.25),
        reps: Some(80),
        rank: Some(4),
        of: Some(30),
    }
}

async fn record(app: &TestApp, w: &WorkoutRecord) {
    app.stores.workouts.record_workout(w).await.expect("record");
}

async fn get(app: &TestApp, path: &str, token: &str) -> crate::helpers::Response {
    app.call("GET", path, None, Some(token)).await
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|w| w["id"].as_str().expect("id").to_owned())
        .collect()
}

#[actix_web::test]
async fn the_history_pages_newest_first_with_a_cursor() {
    let app = spawn_app().await;
    let (user, token) = app.member();
    let now = now_millis();
    let workouts: Vec<WorkoutRecord> = (0..7).map(|i| workout(user, now - i * 60_000)).collect();
    for w in workouts.iter().rev() {
        record(&app, w).await;
    }

    let mut seen = Vec::new();
    let mut path = "/v1/me/workouts?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = get(&app, &path, &token).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let page = page.json();
        pages += 1;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/me/workouts?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = workouts.iter().map(|w| w.id.to_string()).collect();
    assert_eq!(seen, expected);

    let first = get(&app, "/v1/me/workouts", &token).await.json();
    assert_eq!(
        first["next_cursor"],
        Value::Null,
        "seven fit the default page"
    );
    let newest = &first["items"][0];
    assert_eq!(newest["kind"], "live");
    assert_eq!(newest["workout_id"], "hiit-20");
    assert_eq!(newest["output"], 150.25);
    assert_eq!(
        (newest["rank"].clone(), newest["of"].clone()),
        (json!(4), json!(30))
    );
}

#[actix_web::test]
async fn bad_paging_input_is_an_invalid_query() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    for path in [
        "/v1/me/workouts?cursor=not-a-cursor",
        "/v1/me/workouts?cursor=MTIzLm5vdC1hLXV1aWQ",
        "/v1/me/workouts?limit=0",
        "/v1/me/workouts?limit=101",
        "/v1/me/workouts?limit=many",
    ] {
        let answer = get(&app, path, &token).await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.text);
        assert_error(&answer.text, "invalid_query");
    }
    // Positive control: the bounds themselves are fine.
    for path in ["/v1/me/workouts?limit=1", "/v1/me/workouts?limit=100"] {
        assert_eq!(get(&app, path, &token).await.status, 200, "{path}");
    }
}

#[actix_web::test]
async fn without_a_token_the_history_and_records_are_refused() {
    let app = spawn_app().await;
    for path in ["/v1/me/workouts", "/v1/me/records"] {
        let answer = app.call("GET", path, None, None).await;
        assert_eq!(answer.status, 401, "{path}: {}", answer.text);
    }
}

#[actix_web::test]
async fn a_member_sees_only_their_own_workouts_and_records() {
    let app = spawn_app().await;
    let (mine, my_token) = app.member();
    let (theirs, their_token) = app.member();
    let (own, other) = (workout(mine, now_millis()), workout(theirs, now_millis()));
    record(&app, &own).await;
    record(&app, &other).await;
    let bests = &app.stores.workouts;
    bests
        .raise_personal_record(mine, "hiit-20", Some(150.25), Some(80), 1_000)
        .await
        .expect("raise");
    bests
        .raise_personal_record(theirs, "row-5k", Some(99.0), None, 2_000)
        .await
        .expect("raise");

    let history = get(&app, "/v1/me/workouts", &my_token).await.json();
    assert_eq!(ids(&history), vec![own.id.to_string()]);
    let history = get(&app, "/v1/me/workouts", &their_token).await.json();
    assert_eq!(ids(&history), vec![other.id.to_string()]);

    let records = get(&app, "/v1/me/records", &my_token).await;
    assert_eq!(records.status, 200, "{}", records.text);
    let records = records.json();
    assert_eq!(
        records["items"].as_array().map(Vec::len),
        Some(1),
        "{records}"
    );
    let best = &records["items"][0];
    assert_eq!(best["workout_id"], "hiit-20");
    assert_eq!(best["best_output"], 150.25);
    assert_eq!(best["most_reps"], 80);
    assert_eq!(best["most_reps_at"], "1970-01-01T00:00:01.000Z");
    let records = get(&app, "/v1/me/records", &their_token).await.json();
    assert_eq!(records["items"][0]["workout_id"], "row-5k");
    assert_eq!(records["items"][0]["most_reps"], Value::Null);
}

#[actix_web::test]
async fn a_workout_yesterday_and_a_check_in_today_make_a_two_day_streak() {
    let app = spawn_app().await;
    let (user, token) = app.member_account().await;
    let checked = app
        .call(
            "POST",
            "/v1/me/checkins",
            Some(json!({ "mood": "great", "satisfaction": 4 })),
            Some(&token),
        )
        .await;
    assert_eq!(checked.status, 201, "{}", checked.text);
    // Positive control: the check-in alone is a one-day streak.
    let alone = get(&app, "/v1/me/checkins", &token).await.json();
    assert_eq!(alone["streak_days"], 1, "{alone}");

    record(&app, &workout(user, now_millis() - DAY_MS)).await;
    let history = get(&app, "/v1/me/checkins", &token).await.json();
    assert_eq!(history["streak_days"], 2, "{history}");
}
