//! Resume: `?since=` replays exactly the missed events, from memory or from the store, and
//! says `resume.incomplete` when they are no longer kept; sessions outlive short
//! disconnects and persist everything before they stop.

use fitpulse_actors::ports::store::FeedEvent;
use serde_json::json;

use super::{Socket, metric};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn seqs(socket: &mut Socket, count: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    for _ in 0..count {
        seqs.push(
            socket.event("custom.note").await["seq"]
                .as_u64()
                .expect("seq"),
        );
    }
    seqs
}

/// Polls the metrics until `sessions_active` equals `expected` (bounded).
async fn sessions_become(app: &TestApp, expected: f64) {
    for _ in 0..400 {
        if metric(&app.metrics().await, "fitpulse_sessions_active ") == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("sessions_active never became {expected}");
}

#[actix_web::test]
async fn reconnecting_with_since_replays_exactly_the_missed_events() {
    let app = spawn_app().await;
    let (user, token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, None).await;
    for n in 1..=3 {
        app.push(user, "custom.note", json!({ "n": n })).await;
    }
    assert_eq!(seqs(&mut socket, 3).await, [1, 2, 3]);
    drop(socket);

    app.push(user, "custom.note", json!({ "n": 4 })).await;
    app.push(user, "custom.note", json!({ "n": 5 })).await;
    let (mut socket, ready) = app.connect_ready(&token, Some(3)).await;
    assert_eq!(ready["data"]["since"], 3);
    app.push(user, "custom.note", json!({ "n": 6 })).await;
    assert_eq!(
        seqs(&mut socket, 3).await,
        [4, 5, 6],
        "missed events, then live, no duplicates"
    );
}

#[actix_web::test]
async fn a_session_survives_a_quick_reconnect_and_persists_everything_when_it_stops() {
    let app = spawn_app_with(|s| s.ws.session_idle_grace_ms = 1_000).await;
    let (user, token) = app.member();
    let (socket, _) = app.connect_ready(&token, None).await;
    app.push(user, "custom.note", json!({ "n": 1 })).await;
    drop(socket);
    // Back within the grace period: the same session, the same sequence.
    let (socket, ready) = app.connect_ready(&token, None).await;
    assert_eq!(ready["data"]["last_seq"], 1);
    assert_eq!(
        metric(&app.metrics().await, "fitpulse_sessions_active "),
        1.0
    );
    app.push(user, "custom.note", json!({ "n": 2 })).await;
    drop(socket);

    sessions_become(&app, 0.0).await;
    let persisted = app
        .stores
        .feed
        .events_after(user, 0, 10)
        .await
        .expect("read");
    assert_eq!(persisted.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);

    // A new session continues the sequence and replays from the store.
    let (mut socket, ready) = app.connect_ready(&token, Some(0)).await;
    assert_eq!(ready["data"]["last_seq"], 2);
    assert_eq!(seqs(&mut socket, 2).await, [1, 2]);
    app.push(user, "custom.note", json!({ "n": 3 })).await;
    assert_eq!(seqs(&mut socket, 1).await, [3]);
}

#[actix_web::test]
async fn a_resume_older_than_memory_is_served_from_the_store() {
    let app = spawn_app_with(|s| s.ws.memory_events = 2).await;
    let (user, token) = app.member();
    let (socket, _) = app.connect_ready(&token, None).await;
    for n in 1..=6 {
        app.push(user, "custom.note", json!({ "n": n })).await;
    }
    drop(socket);
    let (mut socket, _) = app.connect_ready(&token, Some(1)).await;
    assert_eq!(seqs(&mut socket, 5).await, [2, 3, 4, 5, 6]);
}

#[actix_web::test]
async fn a_resume_from_before_what_is_kept_answers_resume_incomplete() {
    let app = spawn_app().await;
    let (user, token) = app.member();
    // Events 1-5 were pruned: the store keeps 6-8.
    let events: Vec<FeedEvent> = (6..=8)
        .map(|seq| FeedEvent {
            seq,
            kind: "custom.note".into(),
            at: fitpulse_actors::domain::now_millis(),
            data: "{}".into(),
        })
        .collect();
    app.stores
        .feed
        .append_events(user, &events)
        .await
        .expect("seed");
    let (mut socket, ready) = app.connect_ready(&token, Some(2)).await;
    assert_eq!(ready["data"]["last_seq"], 8);
    let incomplete = socket.json().await;
    assert_eq!(incomplete["type"], "resume.incomplete", "{incomplete}");
    assert_eq!(incomplete["data"]["oldest_kept"], 6);
    // Live delivery goes on.
    app.push(user, "custom.note", json!({})).await;
    assert_eq!(socket.event("custom.note").await["seq"], 9);
}

#[actix_web::test]
async fn a_since_beyond_the_feed_answers_resume_incomplete() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, Some(50)).await;
    assert_eq!(socket.json().await["type"], "resume.incomplete");
}

#[actix_web::test]
async fn feed_ack_persists_the_read_position() {
    let app = spawn_app_with(|s| s.ws.session_idle_grace_ms = 200).await;
    let (user, token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, None).await;
    app.push(user, "custom.note", json!({})).await;
    app.push(user, "custom.note", json!({})).await;
    let acked = socket.request(1, "feed.ack", json!({ "seq": 2 })).await;
    assert_eq!(acked["ok"], true, "{acked}");
    assert_eq!(acked["data"]["read_seq"], 2);
    let beyond = socket.request(2, "feed.ack", json!({ "seq": 99 })).await;
    assert_eq!(beyond["error"]["code"], "ack_beyond_head");
    drop(socket);

    sessions_become(&app, 0.0).await;
    assert_eq!(
        app.stores
            .feed
            .feed_head(user)
            .await
            .expect("head")
            .read_seq,
        2
    );
    let (_, ready) = app.connect_ready(&token, None).await;
    assert_eq!(ready["data"]["read_seq"], 2);
}

#[actix_web::test]
async fn plan_get_answers_the_plan_the_session_loaded() {
    let app = spawn_app().await;
    let (user, token) = app.member();
    app.stores
        .plans
        .put_plan(
            user,
            r#"{"template_id":"lose-weight-2w","start_date":"2026-11-23","done":["w1d1-lunch"],"chosen_at":1}"#,
        )
        .await
        .expect("plan stored");
    let (mut socket, _) = app.connect_ready(&token, None).await;
    let reply = socket.request(5, "plan.get", json!({})).await;
    assert_eq!(
        reply["data"]["plan"]["template_id"], "lose-weight-2w",
        "{reply}"
    );
    assert_eq!(reply["data"]["plan"]["done"], json!(["w1d1-lunch"]));
    let (_, other) = app.member();
    let (mut socket, _) = app.connect_ready(&other, None).await;
    assert_eq!(
        socket.request(6, "plan.get", json!({})).await["data"]["plan"],
        serde_json::Value::Null
    );
}
