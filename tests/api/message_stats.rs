//! Feature-message counts end to end: members online when a message starts are counted
//! once each as delivered (however many devices), first reads, clicks and dismissals once
//! each (a repeated mark is not counted again), on both store backends; counts reach the
//! store by the periodic flush and on a graceful shutdown; the stats route refuses
//! strangers, unknown and malformed ids.

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use crate::helpers::{
    Response, TestApp, WAIT, assert_error, scylla_app, spawn_app, spawn_app_with,
};
use crate::sockets::{Socket, metric};

/// A message for everyone, showing from now on for an hour.
fn for_everyone(app: &TestApp, title: &str) -> Value {
    json!({
        "title": title, "body": "Open the app to see it",
        "expires_at": fitpulse_actors::events::rfc3339(app.now() + 3_600_000),
    })
}

/// Sends a message as an admin; answers its id.
async fn send(app: &TestApp, body: Value) -> String {
    let created = app
        .call("POST", "/v1/admin/messages", Some(body), Some(&app.admin()))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.json()["id"].as_str().expect("id").to_owned()
}

async fn mark(app: &TestApp, token: &str, id: &str, action: &str) {
    let marked = app
        .call(
            "POST",
            &format!("/v1/me/messages/{id}/{action}"),
            None,
            Some(token),
        )
        .await;
    assert_eq!(marked.status, 200, "{}", marked.text);
}

async fn stats_as(app: &TestApp, id: &str, token: Option<&str>) -> Response {
    app.call(
        "GET",
        &format!("/v1/admin/messages/{id}/stats"),
        None,
        token,
    )
    .await
}

/// The counts as an admin reads them from `app`.
async fn stats(app: &TestApp, id: &str) -> Value {
    let answer = stats_as(app, id, Some(&app.admin())).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

fn counts(delivered: u64, read: u64, clicked: u64, dismissed: u64, id: &str) -> Value {
    json!({
        "message_id": id, "delivered": delivered, "read": read, "clicked": clicked,
        "dismissed": dismissed,
    })
}

/// A member with `devices` sockets open on `app`, each past `session.ready`.
async fn online(app: &TestApp, devices: usize) -> (UserId, String, Vec<Socket>) {
    let (user, token) = app.member();
    let mut sockets = Vec::new();
    for _ in 0..devices {
        sockets.push(app.connect_ready(&token, None).await.0);
    }
    (user, token, sockets)
}

/// Three members online (the first with two devices) get a message; two read it (one of
/// them twice, from both devices), one clicks it.
async fn three_members_are_counted_exactly(app: &TestApp) {
    let mut members = vec![
        online(app, 2).await,
        online(app, 1).await,
        online(app, 1).await,
    ];
    let id = send(app, for_everyone(app, "New 2-week plan")).await;
    // On the shared keyspace other tests' messages for everyone may arrive too: skip them.
    for (_, _, sockets) in &mut members {
        for socket in sockets {
            let mut seen = Vec::new();
            loop {
                let event = socket.event("message.feature").await;
                if event["data"]["id"] == id.as_str() {
                    break;
                }
                seen.push(event["data"]["id"].clone());
                assert!(seen.len() < 50, "ours never came: {seen:?}");
            }
        }
    }
    let (first, second, third) = (&members[0].1, &members[1].1, &members[2].1);
    mark(app, first, &id, "read").await;
    mark(app, first, &id, "read").await;
    mark(app, second, &id, "read").await;
    mark(app, third, &id, "click").await;

    assert_eq!(stats(app, &id).await, counts(3, 2, 1, 0, &id));
    // Read again: the route's flush of this node left nothing to add twice.
    assert_eq!(stats(app, &id).await, counts(3, 2, 1, 0, &id));
    let text = app.metrics().await;
    for (event, expected) in [
        ("delivered", 3.0),
        ("read", 2.0),
        ("clicked", 1.0),
        ("dismissed", 0.0),
    ] {
        let series = format!("fitpulse_message_events_total{{event=\"{event}\"}}");
        let counted = metric(&text, &series);
        if event == "delivered" {
            // The node's metric also counts other tests' messages for everyone that reached
            // these members on the shared keyspace; the route above counts ours exactly.
            assert!(counted >= expected, "{series}: {counted}");
        } else {
            assert_eq!(counted, expected, "{series}");
        }
    }
}

#[actix_web::test]
async fn three_members_are_counted_exactly_on_the_embedded_store() {
    three_members_are_counted_exactly(&spawn_app().await).await;
}

#[actix_web::test]
async fn three_members_are_counted_exactly_on_the_scylla_store() {
    // Other tests' messages for everyone on the shared keyspace reach these members too
    // and count against the daily cap (3): with it spent, ours would wait in the inbox.
    let Some(app) = scylla_app(|s| s.messages.daily_cap = 1_000).await else {
        return;
    };
    three_members_are_counted_exactly(&app).await;
}

#[actix_web::test]
async fn the_periodic_flush_stores_counts_nobody_asked_for() {
    let app = spawn_app_with(|s| s.messages.stats_flush_ms = 20).await;
    let (_, token, mut sockets) = online(&app, 1).await;
    let id = send(&app, for_everyone(&app, "Flushed")).await;
    sockets[0].event("message.feature").await;
    mark(&app, &token, &id, "dismiss").await;
    let message = id.parse().expect("uuid");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let stored = app
            .stores
            .messages
            .message_stats(message)
            .await
            .expect("read");
        if (stored.delivered, stored.dismissed) == (1, 1) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never flushed: {stored:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_graceful_shutdown_stores_the_counts_not_yet_flushed() {
    // The first periodic flush runs at the start; the next one would come a minute later.
    let app = spawn_app_with(|s| s.messages.stats_flush_ms = 60_000).await;
    let (_, token, mut sockets) = online(&app, 1).await;
    let id = send(&app, for_everyone(&app, "Kept")).await;
    sockets[0].event("message.feature").await;
    mark(&app, &token, &id, "click").await;
    let message = id.parse().expect("uuid");
    let before = app
        .stores
        .messages
        .message_stats(message)
        .await
        .expect("read");
    assert!(before.is_empty(), "only in memory so far: {before:?}");

    app.lifecycle.request_shutdown();
    let stores = app.stores.clone();
    tokio::time::timeout(WAIT, app.server)
        .await
        .expect("the server stops within the grace period")
        .expect("the server task did not panic")
        .expect("the server stopped cleanly");
    let after = stores.messages.message_stats(message).await.expect("read");
    assert_eq!((after.delivered, after.clicked, after.read), (1, 1, 0));
}

#[actix_web::test]
async fn the_stats_route_refuses_strangers_unknown_and_malformed_ids() {
    let app = spawn_app().await;
    let id = send(&app, for_everyone(&app, "Known")).await;
    let (_, member) = app.member();
    let coach = app.mint(UserId::random(), &[Role::Member, Role::Coach], 600);

    let anonymous = stats_as(&app, &id, None).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    for token in [&member, &coach] {
        let refused = stats_as(&app, &id, Some(token)).await;
        assert_eq!(refused.status, 403, "{}", refused.text);
        assert_error(&refused.text, "forbidden");
    }
    let unknown = stats_as(&app, &uuid::Uuid::new_v4().to_string(), Some(&app.admin())).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_error(&unknown.text, "not_found");
    let malformed = stats_as(&app, "not-a-uuid", Some(&app.admin())).await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    assert_error(&malformed.text, "invalid_path");

    // The positive control: the same admin call on the known message answers.
    assert_eq!(stats(&app, &id).await, counts(0, 0, 0, 0, &id));
}
