//! Live classes end to end: a coach schedules, starts, cues and ends a class; participants
//! join, report metrics, see the leaderboard, catch up after a reconnect; results persist.

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use super::Socket;
use crate::helpers::{TestApp, assert_error, spawn_app};

/// A coach's id and token.
fn coach(app: &TestApp) -> (UserId, String) {
    let id = UserId::random();
    (id, app.mint(id, &[Role::Member, Role::Coach], 600))
}

async fn schedule(app: &TestApp, token: &str, premium: bool) -> Value {
    let starts = fitpulse_actors::events::rfc3339(fitpulse_actors::domain::now_millis() + 60_000);
    let response = app
        .call(
            "POST",
            "/v1/live/classes",
            Some(json!({
                "title": "Sunrise HIIT", "workout_id": "hiit-20", "scheduled_at": starts,
                "duration_minutes": 30, "premium": premium,
            })),
            Some(token),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.json()
}

async fn join(socket: &mut Socket, id: u64, class: &str, since: Option<u64>) -> (Value, Value) {
    let mut data = json!({ "class_id": class });
    if let Some(since) = since {
        data["since"] = json!(since);
    }
    socket
        .send(json!({ "id": id, "type": "live.join", "data": data }))
        .await;
    socket.event_and_reply("live.snapshot", id).await
}

#[actix_web::test]
async fn a_class_runs_from_schedule_to_results_with_cues_metrics_and_a_catch_up() {
    let app = spawn_app().await;
    let (_, coach_token) = coach(&app);
    let class = schedule(&app, &coach_token, false).await;
    assert_eq!(class["state"], "waiting_room");
    let class_id = class["id"].as_str().expect("id").to_owned();

    // Three participants join in the waiting room.
    let mut people = Vec::new();
    for _ in 0..3 {
        let (user, token) = app.member();
        let (mut socket, _) = app.connect_ready(&token, None).await;
        let (snapshot, reply) = join(&mut socket, 1, &class_id, None).await;
        assert_eq!(reply["ok"], true, "{reply}");
        assert_eq!(snapshot["data"]["class"]["state"], "waiting_room");
        people.push((user, token, socket));
    }
    // The status endpoint counts them once the class has reported its presence.
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    loop {
        let status = app
            .call(
                "GET",
                &format!("/v1/live/classes/{class_id}/status"),
                None,
                None,
            )
            .await
            .json();
        if status["participants"] == 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, coach_token_socket) = (0, coach_token.clone());
    let (mut coach_socket, _) = app.connect_ready(&coach_token_socket, None).await;

    let started = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class_id}/start"),
            None,
            Some(&coach_token),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(started.json()["state"], "live");
    for (_, _, socket) in people.iter_mut() {
        let event = socket.event("live.started").await;
        assert_eq!(
            event["class_seq"], 1,
            "class events carry the class's own seq"
        );
        assert_eq!(event["class_id"], class_id.as_str(), "{event}");
        assert!(
            event.get("seq").is_none(),
            "never the user's field: {event}"
        );
    }

    let cue = json!({ "class_id": class_id, "text": "Warm up", "interval": { "label": "warm-up", "seconds": 60 } });
    let sent = coach_socket.request(7, "live.cue", cue).await;
    assert_eq!(sent["data"]["class_seq"], 2, "{sent}");
    for (_, _, socket) in people.iter_mut() {
        let event = socket.event("live.cue").await;
        assert_eq!(
            (event["class_seq"].as_u64(), event["data"]["text"].as_str()),
            (Some(2), Some("Warm up"))
        );
        assert_eq!(event["data"]["interval"]["seconds"], 60);
    }

    // Metrics make a leaderboard: most output first.
    for ((_, _, socket), output) in people.iter_mut().zip([10.0, 20.0, 5.0]) {
        let reply = socket
            .request(
                2,
                "live.metric",
                json!({ "class_id": class_id, "output": output, "reps": 12 }),
            )
            .await;
        assert_eq!(reply["ok"], true, "{reply}");
    }
    let board = people[0].2.event("live.leaderboard").await;
    let top: Vec<String> = board["data"]["top"]
        .as_array()
        .expect("top")
        .iter()
        .map(|e| e["user_id"].as_str().expect("user").to_owned())
        .collect();
    let expected: Vec<String> = [1, 0, 2].iter().map(|&i| people[i].0.to_string()).collect();
    assert_eq!(top, expected, "{board}");
    let rank = people[0].2.event("live.rank").await;
    assert_eq!(
        (rank["data"]["rank"].as_u64(), rank["data"]["of"].as_u64()),
        (Some(2), Some(3))
    );

    // The third participant drops, misses a cue, and catches up with the class `since`.
    let (third_user, third_token, third_socket) = people.pop().expect("third");
    drop(third_socket);
    let missed = json!({ "class_id": class_id, "text": "Sprint!" });
    coach_socket.request(8, "live.cue", missed).await;
    let (mut back, _) = app.connect_ready(&third_token, None).await;
    let (snapshot, _) = join(&mut back, 3, &class_id, Some(2)).await;
    assert_eq!(snapshot["data"]["complete"], true);
    assert_eq!(snapshot["data"]["class_seq"], 3);
    let caught = back.event("live.cue").await;
    assert_eq!(
        (
            caught["class_seq"].as_u64(),
            caught["data"]["text"].as_str()
        ),
        (Some(3), Some("Sprint!"))
    );

    let ended = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class_id}/end"),
            None,
            Some(&coach_token),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    let last = people[0].2.event("live.ended").await;
    assert_eq!(last["data"]["top"][0]["user_id"], people[1].0.to_string());

    let results = app
        .call(
            "GET",
            &format!("/v1/live/classes/{class_id}/results"),
            None,
            Some(&third_token),
        )
        .await;
    assert_eq!(results.status, 200, "{}", results.text);
    let results = results.json();
    assert_eq!(results["participants"], 3);
    let entries = results["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2]["user_id"], third_user.to_string());
    assert_eq!(entries[2]["output"], 5.0);
}

#[actix_web::test]
async fn only_the_classes_coach_may_cue() {
    let app = spawn_app().await;
    let (_, coach_token) = coach(&app);
    let class = schedule(&app, &coach_token, false).await;
    let class_id = class["id"].as_str().expect("id");
    let cue = json!({ "class_id": class_id, "text": "Go!" });

    let (_, member) = app.member();
    let (mut socket, _) = app.connect_ready(&member, None).await;
    let refused = socket.request(1, "live.cue", cue.clone()).await;
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");

    let (_, other_coach) = coach(&app);
    let (mut socket, _) = app.connect_ready(&other_coach, None).await;
    let refused = socket.request(2, "live.cue", cue.clone()).await;
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");

    let starting = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class_id}/start"),
            None,
            Some(&other_coach),
        )
        .await;
    assert_eq!(starting.status, 403);
    let body = json!({"title": "Mine now", "scheduled_at": "2030-01-01T10:00:00Z", "duration_minutes": 30});
    let as_member = app
        .call("POST", "/v1/live/classes", Some(body), Some(&member))
        .await;
    assert_eq!(as_member.status, 403);

    let bad = socket
        .request(
            3,
            "live.cue",
            json!({ "class_id": class_id, "text": "x".repeat(300) }),
        )
        .await;
    assert_eq!(bad["error"]["code"], "invalid_frame");
}

#[actix_web::test]
async fn a_free_member_cannot_join_a_premium_class_but_a_premium_one_can() {
    let app = spawn_app().await;
    let (_, coach_token) = coach(&app);
    let class = schedule(&app, &coach_token, true).await;
    let class_id = class["id"].as_str().expect("id");

    let (_, free) = app.member();
    let (mut socket, _) = app.connect_ready(&free, None).await;
    socket
        .send(json!({ "id": 1, "type": "live.join", "data": { "class_id": class_id } }))
        .await;
    let refused = socket.reply(1).await;
    assert_eq!(refused["error"]["code"], "premium_required", "{refused}");

    let premium = app.mint_with_scopes(
        UserId::random(),
        &[Role::Member],
        &["profile", "content:premium"],
        600,
    );
    let (mut socket, _) = app.connect_ready(&premium, None).await;
    let (_, reply) = join(&mut socket, 2, class_id, None).await;
    assert_eq!(reply["ok"], true, "{reply}");
}

#[actix_web::test]
async fn joining_needs_an_open_class_and_metrics_need_a_live_one() {
    let app = spawn_app().await;
    let (_, coach_token) = coach(&app);
    let far =
        fitpulse_actors::events::rfc3339(fitpulse_actors::domain::now_millis() + 3 * 60 * 60_000);
    let later = app
        .call(
            "POST",
            "/v1/live/classes",
            Some(json!({"title": "Evening yoga", "scheduled_at": far, "duration_minutes": 45})),
            Some(&coach_token),
        )
        .await
        .json();
    let (_, member) = app.member();
    let (mut socket, _) = app.connect_ready(&member, None).await;
    socket
        .send(json!({ "id": 1, "type": "live.join", "data": { "class_id": later["id"] } }))
        .await;
    assert_eq!(socket.reply(1).await["error"]["code"], "class_not_open");

    let soon = schedule(&app, &coach_token, false).await;
    join(&mut socket, 2, soon["id"].as_str().expect("id"), None).await;
    let early = socket
        .request(
            3,
            "live.metric",
            json!({ "class_id": soon["id"], "heart_rate": 120 }),
        )
        .await;
    assert_eq!(early["error"]["code"], "class_not_live");
    let absurd = socket
        .request(
            4,
            "live.metric",
            json!({ "class_id": soon["id"], "heart_rate": 400 }),
        )
        .await;
    assert_eq!(absurd["error"]["code"], "invalid_frame");
    let unknown = socket
        .request(
            5,
            "live.join",
            json!({ "class_id": uuid::Uuid::new_v4().to_string() }),
        )
        .await;
    assert_eq!(unknown["error"]["code"], "class_not_found");
}

#[actix_web::test]
async fn the_status_endpoints_are_cacheable_and_answer_304_to_a_matching_etag() {
    let app = spawn_app().await;
    let (_, coach_token) = coach(&app);
    let class = schedule(&app, &coach_token, false).await;
    let path = format!(
        "/v1/live/classes/{}/status",
        class["id"].as_str().expect("id")
    );

    let first = app.call("GET", &path, None, None).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.header("cache-control"), Some("public, max-age=2"));
    assert_eq!(first.json()["state"], "waiting_room");
    let etag = first.header("etag").expect("etag").to_owned();

    let again = app
        .client
        .get(app.url(&path))
        .insert_header(("if-none-match", etag.clone()))
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(
        again
            .headers()
            .get("etag")
            .expect("etag")
            .to_str()
            .expect("ascii"),
        etag
    );
    let stale = app
        .client
        .get(app.url(&path))
        .insert_header(("if-none-match", "\"something-else\""))
        .send()
        .await
        .expect("sent");
    assert_eq!(stale.status().as_u16(), 200);

    let all = app.call("GET", "/v1/live/status", None, None).await;
    assert_eq!(all.status, 200);
    assert!(all.header("etag").is_some());
    assert!(
        all.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|c| c["id"] == class["id"])
    );
    assert_eq!(
        app.call("GET", "/v1/live/classes/not-a-uuid/status", None, None)
            .await
            .status,
        400
    );
    let missing = app
        .call(
            "GET",
            &format!("/v1/live/classes/{}/status", uuid::Uuid::new_v4()),
            None,
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_error(&missing.text, "not_found");
}

#[actix_web::test]
async fn a_transition_from_the_wrong_state_is_a_conflict_and_unknown_actions_are_not_found() {
    let app = spawn_app().await;
    let (_, coach_token) = coach(&app);
    let class = schedule(&app, &coach_token, false).await;
    let class_id = class["id"].as_str().expect("id");

    let early_end = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class_id}/end"),
            None,
            Some(&coach_token),
        )
        .await;
    assert_eq!(early_end.status, 409, "{}", early_end.text);
    assert_eq!(early_end.json()["error"]["details"]["state"], "scheduled");

    let pause = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class_id}/pause"),
            None,
            Some(&coach_token),
        )
        .await;
    assert_eq!(pause.status, 404);

    let cancelled = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class_id}/cancel"),
            None,
            Some(&coach_token),
        )
        .await;
    assert_eq!(cancelled.json()["state"], "cancelled");
    let restart = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class_id}/start"),
            None,
            Some(&coach_token),
        )
        .await;
    assert_eq!(restart.status, 409);
    assert_eq!(restart.json()["error"]["details"]["state"], "cancelled");
}
