//! Class attendance and completions: a coach and two members join over real sockets, the
//! class runs and ends with its results recorded.

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use super::{series, wait_for_series};
use crate::helpers::spawn_app;
use crate::sockets::Socket;

const ATTENDANCE: &str = "fitpulse_live_attendance_total";
const COMPLETIONS: &str = "fitpulse_live_completions_total";

async fn join(socket: &mut Socket, id: u64, class: &str) -> Value {
    socket
        .send(json!({ "id": id, "type": "live.join", "data": { "class_id": class } }))
        .await;
    let (_, reply) = socket.event_and_reply("live.snapshot", id).await;
    assert_eq!(reply["ok"], true, "{reply}");
    reply
}

#[actix_web::test]
async fn members_who_join_count_once_and_those_present_at_the_end_complete_the_coach_excluded() {
    let app = spawn_app().await;
    let coach = UserId::random();
    let coach_token = app.mint(coach, &[Role::Member, Role::Coach], 600);
    let starts = fitpulse_actors::events::rfc3339(fitpulse_actors::domain::now_millis() + 60_000);
    let class = app
        .call(
            "POST",
            "/v1/live/classes",
            Some(json!({
                "title": "Metrics ride", "workout_id": "hiit-20", "scheduled_at": starts,
                "duration_minutes": 30, "premium": false,
            })),
            Some(&coach_token),
        )
        .await;
    assert_eq!(class.status, 201, "{}", class.text);
    let class_id = class.json()["id"].as_str().expect("id").to_owned();

    let (mut coach_socket, _) = app.connect_ready(&coach_token, None).await;
    join(&mut coach_socket, 1, &class_id).await;
    let mut members = Vec::new();
    for _ in 0..2 {
        let (_, token) = app.member();
        let (mut socket, _) = app.connect_ready(&token, None).await;
        join(&mut socket, 1, &class_id).await;
        members.push((token, socket));
    }
    // A second device of a member who is already in is not another attendee.
    let (mut second_device, _) = app.connect_ready(&members[0].0, None).await;
    join(&mut second_device, 1, &class_id).await;
    assert_eq!(series(&app, ATTENDANCE).await, 2.0);
    assert_eq!(series(&app, COMPLETIONS).await, 0.0);

    for action in ["start", "end"] {
        let answer = app
            .call(
                "POST",
                &format!("/v1/live/classes/{class_id}/{action}"),
                None,
                Some(&coach_token),
            )
            .await;
        assert_eq!(answer.status, 200, "{action}: {}", answer.text);
    }
    // `live.ended` goes out once the results are recorded, and they are counted first.
    for (_, socket) in members.iter_mut() {
        socket.event("live.ended").await;
    }
    wait_for_series(&app, COMPLETIONS, 2.0).await;
    assert_eq!(series(&app, ATTENDANCE).await, 2.0);
    let results = app
        .call(
            "GET",
            &format!("/v1/live/classes/{class_id}/results"),
            None,
            Some(&coach_token),
        )
        .await
        .json();
    assert_eq!(
        results["participants"], 2,
        "members only: the coach joined, but ran the class: {results}"
    );
}
