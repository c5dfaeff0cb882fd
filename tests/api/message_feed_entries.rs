//! A feature message's feed entry is written after the fan-out (`ws.broadcast_persist_delay_ms`),
//! not lost: with the user's next event, once the delay is up, or when the session stops.
use std::time::Duration;

use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::FeedEvent;
use serde_json::json;

use crate::business::series;
use crate::helpers::{TestApp, scylla_app, spawn_app_with};
use crate::messages::{device, message, send_message};

/// How many times the `backend` store timed `op` (every user's).
async fn store_ops(app: &TestApp, backend: &str, op: &str) -> f64 {
    series(
        app,
        &format!(r#"fitpulse_store_op_duration_seconds_count{{backend="{backend}",op="{op}"}}"#),
    )
    .await
}

/// How many feed appends the embedded store has carried out (every user's).
async fn feed_appends(app: &TestApp) -> f64 {
    store_ops(app, "embedded", "append_events").await
}

/// The user's feed entries in the store, oldest first.
async fn stored_events(app: &TestApp, user: UserId) -> Vec<FeedEvent> {
    app.stores
        .feed
        .events_after(user, 0, 100)
        .await
        .expect("the feed")
}

/// The types of the user's feed entries in the store, oldest first.
async fn stored_feed(app: &TestApp, user: UserId) -> Vec<String> {
    let events = stored_events(app, user).await;
    events.into_iter().map(|e| e.kind).collect()
}

/// The stored feed once it holds `count` entries (bounded: 100 reads, 100 ms apart).
async fn stored_feed_of(app: &TestApp, user: UserId, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let feed = stored_feed(app, user).await;
        if feed.len() >= count {
            return feed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the feed of {user} never held {count} entries");
}

#[actix_web::test]
async fn a_feature_message_is_written_with_the_users_next_event_in_one_append() {
    let app = spawn_app_with(|s| s.ws.broadcast_persist_delay_ms = 600_000).await;
    let user = UserId::random();
    let mut socket = device(&app, user, "ios", "2.1.0").await;
    send_message(&app, message("Week two", 0, json!({}))).await;
    assert_eq!(socket.event("message.feature").await["seq"], 1);

    // The push's answer waits for the write that holds its event.
    app.push(user, "custom.marker", json!({})).await;
    assert_eq!(
        stored_feed(&app, user).await,
        ["message.feature", "custom.marker"]
    );
    assert_eq!(
        feed_appends(&app).await,
        1.0,
        "the feature message waited and went with the marker, in one append"
    );
}

#[actix_web::test]
async fn a_feature_message_is_written_once_the_delay_is_up() {
    let app = spawn_app_with(|s| s.ws.broadcast_persist_delay_ms = 200).await;
    let user = UserId::random();
    let mut socket = device(&app, user, "ios", "2.1.0").await;
    send_message(&app, message("Week two", 0, json!({}))).await;
    socket.event("message.feature").await;
    assert_eq!(stored_feed_of(&app, user, 1).await, ["message.feature"]);
}

#[actix_web::test]
async fn a_feature_message_is_written_when_the_session_stops_before_the_delay() {
    let app = spawn_app_with(|s| {
        s.ws.broadcast_persist_delay_ms = 600_000;
        s.ws.session_idle_grace_ms = 100;
    })
    .await;
    let user = UserId::random();
    let mut socket = device(&app, user, "ios", "2.1.0").await;
    send_message(&app, message("Week two", 0, json!({}))).await;
    socket.event("message.feature").await;
    drop(socket);
    assert_eq!(stored_feed_of(&app, user, 1).await, ["message.feature"]);
}

/// The kinds of `user`'s stored entries of the feature message `id` and of markers, oldest
/// first. On the shared keyspace other tests' messages for everyone reach new sessions
/// too; they are left out.
async fn stored_of(app: &TestApp, user: UserId, id: &str) -> Vec<String> {
    let events = stored_events(app, user).await;
    events
        .into_iter()
        .filter(|e| e.kind == "custom.marker" || e.data.contains(id))
        .map(|e| e.kind)
        .collect()
}

/// Sends a feature message for everyone and reads it on `socket` (past other tests'
/// messages); answers its id.
async fn send_ours(app: &TestApp, socket: &mut crate::sockets::Socket) -> String {
    let id = send_message(app, message("Week two", 0, json!({}))).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for _ in 0..50 {
        if socket.event("message.feature").await["data"]["id"] == id.as_str() {
            return id;
        }
    }
    panic!("message {id} never came");
}

/// On scylla a feature message's entry, nobody waiting for it, takes its turn among the
/// appends behind (`store.scylla.background_appends_in_flight`).
#[actix_web::test]
async fn on_scylla_a_feature_messages_entry_is_written_behind() {
    // Other tests' messages for everyone on the shared keyspace count against the daily
    // cap too: a spent cap would keep ours in the inbox.
    let Some(app) = scylla_app(|s| {
        s.ws.broadcast_persist_delay_ms = 200;
        s.messages.daily_cap = 1_000;
    })
    .await
    else {
        return;
    };
    let user = UserId::random();
    let mut socket = device(&app, user, "ios", "2.1.0").await;
    let id = send_ours(&app, &mut socket).await;
    for _ in 0..100 {
        if !stored_of(&app, user, &id).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored_of(&app, user, &id).await, ["message.feature"]);
    assert!(store_ops(&app, "scylla", "append_events_wait").await >= 1.0);
}

/// After a feature message every session's entry waits its turn behind the others. An
/// event someone waits for does not wait behind them; published after a held-back entry
/// it comes after that entry in the feed, so the entry goes at once instead of keeping
/// its publisher waiting for the whole queue.
#[actix_web::test]
async fn on_scylla_an_event_waited_for_hurries_the_entry_held_back_before_it() {
    let Some(app) = scylla_app(|s| {
        s.ws.broadcast_persist_delay_ms = 50;
        s.store.scylla.background_appends_in_flight = 1;
        s.messages.daily_cap = 1_000;
    })
    .await
    else {
        return;
    };
    // A long queue of other users' entries, one append at a time, none hurried.
    const QUEUED: usize = 2_000;
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tells = Vec::with_capacity(QUEUED);
    let mut queue = tokio::task::JoinSet::new();
    for _ in 0..QUEUED {
        let (tell, hurry) = tokio::sync::oneshot::channel::<()>();
        tells.push(tell);
        let (feed, written) = (app.stores.feed.clone(), written.clone());
        queue.spawn(async move {
            let entry = FeedEvent {
                seq: 1,
                kind: "custom.queued".into(),
                at: 0,
                data: "{}".into(),
            };
            feed.append_events_behind(UserId::random(), &[entry], hurry)
                .await
                .expect("queued append");
            written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }
    let written_now = || written.load(std::sync::atomic::Ordering::SeqCst);
    let waiting = || async { series(&app, "fitpulse_store_appends_waiting").await };
    let mut queued = 0.0;
    for _ in 0..100 {
        queued = waiting().await;
        if queued > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(queued > 0.0, "the queue shows as appends waiting");
    // An event someone waits for, to a user with nothing held back, passes the queue.
    app.push(UserId::random(), "custom.marker", json!({})).await;
    assert!(written_now() < QUEUED, "the push waited for the queue");

    let user = UserId::random();
    let mut socket = device(&app, user, "ios", "2.1.0").await;
    let id = send_ours(&app, &mut socket).await;
    // The session's entry is sent behind the queue 50 ms after the delivery.
    tokio::time::sleep(Duration::from_millis(300)).await;

    app.push(user, "custom.marker", json!({})).await;
    assert_eq!(
        stored_of(&app, user, &id).await,
        ["message.feature", "custom.marker"]
    );
    let done = written_now();
    assert!(
        done < QUEUED,
        "the push waited for the whole queue ({done} of {QUEUED} written first)"
    );
    // Appends whose callers went away stop counting as waiting.
    queue.abort_all();
    while queue.join_next().await.is_some() {}
    drop(tells);
    assert_eq!(waiting().await, 0.0);
}
