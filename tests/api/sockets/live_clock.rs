//! The class clock: a class on a catalog workout runs its blocks as intervals; the coach
//! starts, extends and skips them, an interval that runs out gives way to the next, and a
//! joiner's snapshot shows the timeline and where it stands. The app runs on a manual clock,
//! so intervals run out only when the test moves it.

use std::time::Duration;

use serde_json::{Value, json};

use super::live_support::{WORKOUT, coach, join_view, schedule_on, transition, until};
use crate::helpers::{TestApp, spawn_app_on_manual_clock};

async fn control(
    socket: &mut super::Socket,
    id: u64,
    class: &str,
    action: &str,
    seconds: Option<u32>,
) -> Value {
    let mut data = json!({ "class_id": class, "action": action });
    if let Some(seconds) = seconds {
        data["seconds"] = json!(seconds);
    }
    socket.request(id, "live.interval.control", data).await
}

fn at(app: &TestApp, after_ms: i64) -> String {
    fitpulse_actors::events::rfc3339(app.now() + after_ms)
}

#[actix_web::test]
async fn the_coach_starts_extends_and_skips_intervals_and_they_run_out_on_the_clock() {
    let app = spawn_app_on_manual_clock(|_| {}).await;
    let (_, coach_token) = coach(&app);
    let class = schedule_on(&app, &coach_token, Some(WORKOUT)).await;
    let (_, member_token) = app.member();
    let (mut coach_socket, _) = app.connect_ready(&coach_token, None).await;
    let snapshot = join_view(&mut coach_socket, 1, &class, None).await;
    let labels: Vec<&str> = snapshot["data"]["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|b| b["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["Warm-up", "Main set", "Cool-down"]);
    assert!(snapshot["data"]["interval"].is_null());
    let (mut member, _) = app.connect_ready(&member_token, None).await;
    join_view(&mut member, 1, &class, None).await;

    // Not before the class is live, and never from a member.
    let early = control(&mut coach_socket, 2, &class, "start", None).await;
    assert_eq!(early["error"]["code"], "class_not_live", "{early}");
    transition(&app, &coach_token, &class, "start").await;
    let refused = control(&mut member, 2, &class, "start", None).await;
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");
    for (action, seconds) in [
        ("extend", None),
        ("extend", Some(0)),
        ("extend", Some(601)),
        ("skip", Some(5)),
    ] {
        let bad = control(&mut coach_socket, 3, &class, action, seconds).await;
        assert_eq!(
            bad["error"]["code"], "invalid_frame",
            "{action} {seconds:?}: {bad}"
        );
    }
    let not_yet = control(&mut coach_socket, 3, &class, "skip", None).await;
    assert_eq!(not_yet["error"]["code"], "clock_stopped", "{not_yet}");

    let started = control(&mut coach_socket, 4, &class, "start", None).await;
    assert_eq!(started["data"]["index"], 0, "{started}");
    let warm_up = until(&mut member, "live.interval", |_| true).await;
    assert_eq!(
        (
            warm_up["label"].as_str(),
            warm_up["seconds"].as_u64(),
            warm_up["of"].as_u64()
        ),
        (Some("Warm-up"), Some(180), Some(3))
    );
    assert_eq!(warm_up["ends_at"], at(&app, 180_000).as_str());
    assert_eq!(warm_up["next"]["label"], "Main set");

    let extended = control(&mut coach_socket, 5, &class, "extend", Some(30)).await;
    assert_eq!(
        extended["data"]["ends_at"],
        at(&app, 210_000).as_str(),
        "{extended}"
    );
    let longer = until(&mut member, "live.interval", |_| true).await;
    assert_eq!(
        (longer["index"].as_u64(), longer["seconds"].as_u64()),
        (Some(0), Some(210))
    );

    control(&mut coach_socket, 6, &class, "skip", None).await;
    let main = until(&mut member, "live.interval", |_| true).await;
    assert_eq!(
        (main["index"].as_u64(), main["label"].as_str()),
        (Some(1), Some("Main set"))
    );
    assert_eq!(main["ends_at"], at(&app, 540_000).as_str());

    // The main set runs out on the clock: the cool-down follows by itself, from the end of
    // the main set (not from when the class noticed).
    let main_ends = app.now() + 540_000;
    app.advance(Duration::from_secs(541));
    let cool = until(&mut member, "live.interval", |_| true).await;
    assert_eq!(
        (cool["index"].as_u64(), cool["label"].as_str()),
        (Some(2), Some("Cool-down"))
    );
    assert_eq!(
        cool["started_at"],
        fitpulse_actors::events::rfc3339(main_ends).as_str()
    );
    assert!(cool["next"].is_null());

    // A latecomer catches up: the snapshot says where the clock stands.
    let (_, late_token) = app.member();
    let (mut late, _) = app.connect_ready(&late_token, None).await;
    let snapshot = join_view(&mut late, 1, &class, None).await;
    assert_eq!(
        snapshot["data"]["interval"]["label"], "Cool-down",
        "{snapshot}"
    );

    // Skipping the last ends the timeline; the clock then refuses to move.
    let over = control(&mut coach_socket, 7, &class, "skip", None).await;
    assert!(over["data"]["index"].is_null(), "{over}");
    let after = control(&mut coach_socket, 8, &class, "extend", Some(30)).await;
    assert_eq!(after["error"]["code"], "clock_stopped", "{after}");
}

#[actix_web::test]
async fn a_class_without_a_workout_has_no_clock() {
    let app = spawn_app_on_manual_clock(|_| {}).await;
    let (_, coach_token) = coach(&app);
    let class = schedule_on(&app, &coach_token, None).await;
    let (mut coach_socket, _) = app.connect_ready(&coach_token, None).await;
    let snapshot = join_view(&mut coach_socket, 1, &class, None).await;
    assert_eq!(snapshot["data"]["timeline"], json!([]));
    transition(&app, &coach_token, &class, "start").await;
    let refused = control(&mut coach_socket, 2, &class, "start", None).await;
    assert_eq!(refused["error"]["code"], "no_timeline", "{refused}");
}
