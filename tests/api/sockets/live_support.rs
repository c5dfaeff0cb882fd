//! What the live-class tests share: a coach, a class scheduled and started over REST,
//! joining on a socket, and reading the frames that say the class settled.

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use super::Socket;
use crate::helpers::TestApp;

/// A catalog workout of the demo seed: warm-up 180 s, main set 540 s, cool-down 180 s.
pub const WORKOUT: &str = "full-body-burn-express-15-min";

/// A coach's id and token.
pub fn coach(app: &TestApp) -> (UserId, String) {
    let id = UserId::random();
    (id, app.mint(id, &[Role::Member, Role::Coach], 600))
}

/// Schedules a class a minute ahead (so its waiting room is open) on `workout`.
pub async fn schedule_on(app: &TestApp, token: &str, workout: Option<&str>) -> String {
    let starts = fitpulse_actors::events::rfc3339(app.now() + 60_000);
    let response = app
        .call(
            "POST",
            "/v1/live/classes",
            Some(json!({
                "title": "Roster ride", "workout_id": workout, "scheduled_at": starts,
                "duration_minutes": 15,
            })),
            Some(token),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    response.json()["id"].as_str().expect("id").to_owned()
}

/// `start`, `end` or `cancel` over REST, as the coach.
pub async fn transition(app: &TestApp, token: &str, class: &str, action: &str) -> Value {
    let response = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class}/{action}"),
            None,
            Some(token),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.json()
}

/// Joins `class` (in `view`, when given); answers the snapshot.
pub async fn join_view(socket: &mut Socket, id: u64, class: &str, view: Option<&str>) -> Value {
    let mut data = json!({ "class_id": class });
    if let Some(view) = view {
        data["view"] = json!(view);
    }
    socket
        .send(json!({ "id": id, "type": "live.join", "data": data }))
        .await;
    let (snapshot, reply) = socket.event_and_reply("live.snapshot", id).await;
    assert_eq!(reply["ok"], true, "{reply}");
    snapshot
}

/// Reads frames until one of `kind` satisfies `done`; answers it.
pub async fn until(socket: &mut Socket, kind: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..2000 {
        let frame = socket.json().await;
        if frame["type"] == kind && done(&frame["data"]) {
            return frame["data"].clone();
        }
    }
    panic!("no `{kind}` frame as awaited");
}

/// The user ids of a list of entries.
pub fn ids(entries: &Value) -> Vec<String> {
    entries
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| e["user_id"].as_str().expect("user_id").to_owned())
        .collect()
}

/// Sends one metric; answers the reply.
pub async fn metric(socket: &mut Socket, id: u64, class: &str, data: Value) -> Value {
    let mut data = data;
    data["class_id"] = json!(class);
    socket.request(id, "live.metric", data).await
}
