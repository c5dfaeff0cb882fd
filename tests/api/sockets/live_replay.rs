//! On-demand replays: a class's live takers leave timelines; a member who rides it later is
//! ranked at each offset against what they had at that second, gets the board once a
//! second, and on finish joins the board for the next rider. On both backends; the app
//! runs on a manual clock so the takers' seconds are exact.

use std::time::Duration;

use fitpulse_actors::domain::ClassId;
use fitpulse_actors::ports::workouts::WorkoutKind;
use serde_json::json;

use super::live_support::{WORKOUT, coach, join_view, metric, schedule_on, transition, until};
use crate::helpers::{
    TestApp, WAIT, assert_error, scylla_app_on_manual_clock, spawn_app_on_manual_clock,
};

/// Metrics are accepted at most every 250 ms.
async fn pace() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn start_replay(app: &TestApp, token: Option<&str>, class: &str) -> crate::helpers::Response {
    app.call(
        "POST",
        &format!("/v1/live/classes/{class}/replays"),
        None,
        token,
    )
    .await
}

async fn ride(app: TestApp) {
    let (_, coach_token) = coach(&app);
    let class = schedule_on(&app, &coach_token, Some(WORKOUT)).await;
    let class_id: ClassId = class.parse().expect("class id");
    let (a, a_token) = app.member_account().await;
    let (b, b_token) = app.member_account().await;
    let (mut sa, _) = app.connect_ready(&a_token, None).await;
    join_view(&mut sa, 1, &class, None).await;
    let (mut sb, _) = app.connect_ready(&b_token, None).await;
    join_view(&mut sb, 1, &class, None).await;

    // A replay needs an ended class.
    let early = start_replay(&app, Some(&a_token), &class).await;
    assert_eq!(early.status, 409, "{}", early.text);
    assert_error(&early.text, "class_not_ended");

    transition(&app, &coach_token, &class, "start").await;
    // Two live takers, ten seconds apart: A 2, 10, 20, 30; B 5, 8, 25, 40 (kJ).
    for (step, (oa, ob)) in [(2.0, 5.0), (10.0, 8.0), (20.0, 25.0), (30.0, 40.0)]
        .into_iter()
        .enumerate()
    {
        if step > 0 {
            app.advance(Duration::from_secs(10));
            pace().await;
        }
        for (socket, output) in [(&mut sa, oa), (&mut sb, ob)] {
            let reply = metric(
                socket,
                10 + step as u64,
                &class,
                json!({ "output": output }),
            )
            .await;
            assert_eq!(reply["ok"], true, "{reply}");
        }
    }
    app.advance(Duration::from_secs(10));
    transition(&app, &coach_token, &class, "end").await;
    until(&mut sa, "live.ended", |_| true).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while app
        .stores
        .replays
        .timelines(class_id, 10)
        .await
        .expect("read")
        .len()
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the takers' timelines were not kept"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A member rides it on demand.
    let (member, token) = app.member_account().await;
    for (who, status, code) in [(None, 401, "unauthorized")] {
        let refused = start_replay(&app, who, &class).await;
        assert_eq!(refused.status, status, "{}", refused.text);
        assert_error(&refused.text, code);
    }
    let unknown = start_replay(&app, Some(&token), &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let started = start_replay(&app, Some(&token), &class).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let started = started.json();
    assert_eq!(started["takers"], 2, "{started}");
    assert_eq!(started["duration_seconds"], 15 * 60);
    let replay = started["replay_id"].as_str().expect("id").to_owned();
    let (mut socket, _) = app.connect_ready(&token, None).await;

    // Offsets may not run ahead of the time since the replay started.
    let ahead = socket
        .request(
            2,
            "live.replay.metric",
            json!({ "replay_id": replay, "offset": 60, "output": 1.0 }),
        )
        .await;
    assert_eq!(ahead["error"]["code"], "invalid_frame", "{ahead}");
    app.advance(Duration::from_secs(60));

    // At each offset the member is placed against what A and B had at that second.
    let expected = [(5, 3.0, 2), (15, 9.5, 2), (25, 30.0, 1), (35, 31.0, 2)];
    for (i, (offset, output, rank)) in expected.into_iter().enumerate() {
        pace().await;
        let reply = socket
            .request(
                3 + i as u64,
                "live.replay.metric",
                json!({ "replay_id": replay, "offset": offset, "output": output }),
            )
            .await;
        assert_eq!(reply["ok"], true, "{reply}");
        let board = until(&mut socket, "live.replay_board", |d| d["offset"] == offset).await;
        assert_eq!(
            (board["rank"].as_u64(), board["of"].as_u64()),
            (Some(rank), Some(3)),
            "offset {offset}: {board}"
        );
        let me = member.to_string();
        let placed = board["around"]
            .as_array()
            .expect("around")
            .iter()
            .find(|e| e["user_id"] == me.as_str())
            .expect("the member is in their neighbourhood");
        assert_eq!(placed["rank"].as_u64(), Some(rank));
        assert_eq!(placed["output"].as_f64(), Some(output));
        let names: Vec<&str> = board["top"]
            .as_array()
            .expect("top")
            .iter()
            .map(|e| e["user_id"].as_str().expect("user"))
            .collect();
        assert_eq!(names.len(), 3);
        assert!(names.contains(&a.to_string().as_str()) && names.contains(&b.to_string().as_str()));
    }
    pace().await;
    let back = socket
        .request(
            9,
            "live.replay.metric",
            json!({ "replay_id": replay, "offset": 30, "output": 31.5 }),
        )
        .await;
    assert_eq!(
        back["error"]["code"], "invalid_frame",
        "offsets never go back: {back}"
    );

    // Someone else's replay is not theirs to ride or finish.
    let (_, stranger) = app.member_account().await;
    let (mut other, _) = app.connect_ready(&stranger, None).await;
    let refused = other
        .request(1, "live.replay.finish", json!({ "replay_id": replay }))
        .await;
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");

    let finished = socket
        .request(10, "live.replay.finish", json!({ "replay_id": replay }))
        .await;
    assert_eq!(finished["ok"], true, "{finished}");
    assert_eq!(
        (
            finished["data"]["rank"].as_u64(),
            finished["data"]["of"].as_u64(),
            finished["data"]["output"].as_f64()
        ),
        (Some(2), Some(3), Some(31.0))
    );
    let again = socket
        .request(11, "live.replay.finish", json!({ "replay_id": replay }))
        .await;
    assert_eq!(again["error"]["code"], "conflict", "{again}");

    let history = app
        .stores
        .workouts
        .workouts(member, None, 10)
        .await
        .expect("read");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].kind, WorkoutKind::Replay);
    assert_eq!(history[0].output, Some(31.0));
    // The ride joins the board for the next rider.
    let next = start_replay(&app, Some(&stranger), &class).await.json();
    assert_eq!(next["takers"], 3, "{next}");
}

#[actix_web::test]
async fn a_replay_ranks_the_member_against_the_live_takers_at_each_offset() {
    ride(spawn_app_on_manual_clock(|_| {}).await).await;
}

#[actix_web::test]
async fn a_replay_on_scylla_ranks_the_member_at_each_offset() {
    let Some(app) = scylla_app_on_manual_clock(|_| {}).await else {
        return;
    };
    ride(app).await;
}

/// Every start stores a replay, so a member's starts are bounded: with a budget of 2 an
/// hour, the third is refused (`rate_limited`, `Retry-After` when one comes back) and
/// stores nothing; another member may still start, and half an hour on one start is back.
#[actix_web::test]
async fn replay_starts_beyond_the_hourly_budget_are_refused_and_store_nothing() {
    let app = spawn_app_on_manual_clock(|s| s.live.replay_starts_per_hour = 2).await;
    let (_, coach_token) = coach(&app);
    let class = schedule_on(&app, &coach_token, Some(WORKOUT)).await;
    transition(&app, &coach_token, &class, "start").await;
    app.advance(Duration::from_secs(60));
    transition(&app, &coach_token, &class, "end").await;
    let (a, a_token) = app.member_account().await;
    let (_, b_token) = app.member_account().await;
    let stored = || async { app.stores.replays.replays_of(a, 10).await.expect("read") };

    for _ in 0..2 {
        let started = start_replay(&app, Some(&a_token), &class).await;
        assert_eq!(started.status, 201, "{}", started.text);
    }
    let refused = start_replay(&app, Some(&a_token), &class).await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_error(&refused.text, "rate_limited");
    assert_eq!(refused.header("retry-after"), Some("1800"));
    assert_eq!(stored().await.len(), 2);
    // The refusal is a's budget, not the class: b starts.
    let other = start_replay(&app, Some(&b_token), &class).await;
    assert_eq!(other.status, 201, "{}", other.text);

    app.advance(Duration::from_secs(30 * 60));
    let again = start_replay(&app, Some(&a_token), &class).await;
    assert_eq!(again.status, 201, "{}", again.text);
    let spent = start_replay(&app, Some(&a_token), &class).await;
    assert_eq!(spent.status, 429, "{}", spent.text);
    assert_eq!(stored().await.len(), 3);
}
