//! Metrics a class can trust and what it leaves behind: an implausible jump is dropped and
//! counted, a repeat offender leaves the public board and the coach is told why, a personal
//! best beaten is pushed once, and the ended class writes each member's workout, raised
//! bests and output timeline, on both backends.

use std::time::Duration;

use fitpulse_actors::domain::ClassId;
use serde_json::json;

use super::live_support::{WORKOUT, coach, ids, join_view, metric, schedule_on, transition, until};
use super::metric as read_metric;
use crate::helpers::{TestApp, WAIT, scylla_app_on_manual_clock, spawn_app_on_manual_clock};

/// Sends a metric without reading its reply (reading a reply skips the frames before it).
async fn send_metric(socket: &mut super::Socket, id: u64, class: &str, data: serde_json::Value) {
    let mut data = data;
    data["class_id"] = json!(class);
    socket
        .send(json!({ "id": id, "type": "live.metric", "data": data }))
        .await;
}

/// Metrics are accepted at most every 250 ms per member.
async fn pace() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn records(app: TestApp) {
    let (_, coach_token) = coach(&app);
    let class = schedule_on(&app, &coach_token, Some(WORKOUT)).await;
    let (member, member_token) = app.member_account().await;
    let (cheat, cheat_token) = app.member_account().await;
    // The member's bests on this workout before the class.
    app.stores
        .workouts
        .raise_personal_record(member, WORKOUT, Some(10.0), Some(5), app.now() - 86_400_000)
        .await
        .expect("stored");

    let (mut coach_socket, _) = app.connect_ready(&coach_token, None).await;
    join_view(&mut coach_socket, 1, &class, None).await;
    let (mut m, _) = app.connect_ready(&member_token, None).await;
    join_view(&mut m, 1, &class, None).await;
    let (mut c, _) = app.connect_ready(&cheat_token, None).await;
    join_view(&mut c, 1, &class, None).await;
    transition(&app, &coach_token, &class, "start").await;
    // Both members' bests and names are read once they joined.
    until(&mut m, "live.roster", |d| d["participants"] == 2).await;

    // 100,000 kJ in the first seconds is dropped, and counted by reason.
    let rejected = |text: &str| {
        read_metric(
            text,
            "fitpulse_live_metrics_rejected_total{reason=\"output_rate\"}",
        )
    };
    let before = rejected(&app.metrics().await);
    let jump = metric(&mut c, 2, &class, json!({ "output": 100_000.0 })).await;
    assert_eq!(jump["error"]["code"], "implausible_metric", "{jump}");
    assert_eq!(rejected(&app.metrics().await), before + 1.0);

    // Twice more and the cheat is off the board; the coach is told why.
    for id in 3..5 {
        pace().await;
        let reply = metric(&mut c, id, &class, json!({ "output": 90_000.0 })).await;
        assert_eq!(reply["error"]["code"], "implausible_metric", "{reply}");
    }
    let flagged = until(&mut coach_socket, "live.flagged", |_| true).await;
    assert_eq!(
        (
            flagged["user_id"].as_str(),
            flagged["reason"].as_str(),
            flagged["rejected"].as_u64()
        ),
        (
            Some(cheat.to_string().as_str()),
            Some("output_rate"),
            Some(3)
        )
    );
    pace().await;
    let plausible = metric(&mut c, 5, &class, json!({ "output": 20.0 })).await;
    assert_eq!(
        plausible["ok"], true,
        "a plausible sample is taken: {plausible}"
    );

    // The member beats their best output (10 kJ) once: one notice, however far past it.
    let low = metric(&mut m, 2, &class, json!({ "output": 8.0 })).await;
    assert_eq!(low["ok"], true, "{low}");
    pace().await;
    // Sent without waiting for the reply: a reply read skips the frames before it.
    send_metric(&mut m, 3, &class, json!({ "output": 12.0, "reps": 6 })).await;
    let mut told = Vec::new();
    for _ in 0..2 {
        told.push(until(&mut m, "live.personal_record", |_| true).await);
    }
    told.sort_by_key(|t| t["metric"].as_str().map(str::to_owned));
    assert_eq!(
        (
            told[0]["metric"].as_str(),
            told[0]["value"].as_f64(),
            told[0]["previous"].as_f64()
        ),
        (Some("output"), Some(12.0), Some(10.0))
    );
    assert_eq!(
        (
            told[1]["metric"].as_str(),
            told[1]["value"].as_f64(),
            told[1]["previous"].as_f64()
        ),
        (Some("reps"), Some(6.0), Some(5.0))
    );
    assert_eq!(told[0]["workout_id"], WORKOUT);
    pace().await;
    send_metric(&mut m, 4, &class, json!({ "output": 15.0, "reps": 7 })).await;
    // Positive control: the board showing 15 kJ comes after anything the sample caused;
    // no second record notice came before it.
    let mut again = Vec::new();
    let mut board = None;
    for _ in 0..2000 {
        let frame = m.json().await;
        match frame["type"].as_str() {
            Some("live.personal_record") => again.push(frame),
            Some("live.leaderboard") if frame["data"]["top"][0]["output"] == 15.0 => {
                board = Some(frame["data"].clone());
                break;
            }
            _ => {}
        }
    }
    let board = board.expect("the board with 15 kJ");
    assert!(again.is_empty(), "{again:?}");
    // The public board: the member only; the cheat stays off it.
    assert_eq!(ids(&board["top"]), [member.to_string()], "{board}");
    assert_eq!(board["ranked"], 1);

    app.advance(Duration::from_secs(600));
    transition(&app, &coach_token, &class, "end").await;
    until(&mut m, "live.ended", |_| true).await;

    // The class left its records: written in the background, so read until they are there.
    let class_id: ClassId = class.parse().expect("class id");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let history = app
            .stores
            .workouts
            .workouts(member, None, 10)
            .await
            .expect("read");
        let timelines = app
            .stores
            .replays
            .timelines(class_id, 10)
            .await
            .expect("read");
        let best = app
            .stores
            .workouts
            .personal_record(member, WORKOUT)
            .await
            .expect("read");
        let done = history.len() == 1
            && timelines.len() == 1
            && best.as_ref().and_then(|b| b.best_output) == Some(15.0);
        if done {
            let workout = &history[0];
            assert_eq!(workout.class_id, Some(class_id));
            assert_eq!(
                (workout.output, workout.reps, workout.rank, workout.of),
                (Some(15.0), Some(7), Some(1), Some(1))
            );
            assert_eq!(workout.workout_id.as_deref(), Some(WORKOUT));
            assert_eq!(best.and_then(|b| b.most_reps), Some(7));
            // The cheat's timeline is not kept for replays; the member's ends at 15 kJ.
            assert_eq!(timelines[0].taker, member);
            assert_eq!(timelines[0].output.last().copied(), Some(15.0));
            let cheat_history = app
                .stores
                .workouts
                .workouts(cheat, None, 10)
                .await
                .expect("read");
            assert_eq!(
                cheat_history.len(),
                1,
                "the cheat took the class all the same"
            );
            assert_eq!(cheat_history[0].rank, None, "but has no place on the board");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{history:?} {timelines:?} {best:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn implausible_metrics_are_dropped_records_are_told_once_and_the_class_leaves_history() {
    records(spawn_app_on_manual_clock(|_| {}).await).await;
}

#[actix_web::test]
async fn the_same_on_scylla() {
    let Some(app) = scylla_app_on_manual_clock(|_| {}).await else {
        return;
    };
    records(app).await;
}
