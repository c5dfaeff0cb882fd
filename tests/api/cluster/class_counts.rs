//! A class's member count is one number on every node and in every place it shows: the
//! class and status routes of all three nodes, the socket's `live.presence`, the roster,
//! `live.ended` and the results; before the start, during the class and after the end.
//! The coach, who joins too, is never counted.

use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use super::{Cluster, Transport, on_both_buses};
use crate::helpers::WAIT;
use crate::sockets::Socket;

/// Every node's class view, status, listing and roster say `expected`; polled, since a
/// socket's leave reaches the class a moment after it closed.
async fn counts_agree(cluster: &Cluster, class: &str, token: &str, expected: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut seen = Vec::new();
        for n in 0..3 {
            let node = cluster.node(n);
            let one = node
                .call(
                    "GET",
                    &format!("/v1/live/classes/{class}"),
                    None,
                    Some(token),
                )
                .await
                .json();
            let status = node
                .call(
                    "GET",
                    &format!("/v1/live/classes/{class}/status"),
                    None,
                    None,
                )
                .await
                .json();
            let listed = node
                .call("GET", "/v1/live/classes?all=true", None, Some(token))
                .await
                .json();
            let in_list = listed["items"]
                .as_array()
                .expect("items")
                .iter()
                .find(|c| c["id"] == class)
                .map(|c| c["participants"].clone())
                .unwrap_or(Value::Null);
            let roster = node
                .call(
                    "GET",
                    &format!("/v1/live/classes/{class}/roster"),
                    None,
                    Some(token),
                )
                .await
                .json();
            seen.push([
                one["participants"].clone(),
                status["participants"].clone(),
                in_list,
                roster["participants"].clone(),
            ]);
        }
        if seen.iter().flatten().all(|v| v.as_u64() == Some(expected)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {expected}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn join(socket: &mut Socket, class: &str) {
    socket
        .send(json!({ "id": 1, "type": "live.join", "data": { "class_id": class } }))
        .await;
    let (_, reply) = socket.event_and_reply("live.snapshot", 1).await;
    assert_eq!(reply["ok"], true, "{reply}");
}

/// Reads `live.presence` until it says `expected`.
async fn presence(socket: &mut Socket, expected: u64) {
    for _ in 0..1000 {
        let frame = socket.json().await;
        if frame["type"] == "live.presence" && frame["data"]["participants"] == expected {
            return;
        }
    }
    panic!("no presence of {expected}");
}

async fn counts_agree_before_during_and_after_a_class(transport: Transport) {
    let Some(cluster) = Cluster::start(transport).await else {
        return;
    };
    let coach_id = UserId::random();
    let coach = cluster.mint(coach_id, &[Role::Member, Role::Coach]);
    let starts = fitpulse_actors::events::rfc3339(fitpulse_actors::domain::now_millis() + 60_000);
    let scheduled = cluster
        .node(0)
        .call(
            "POST",
            "/v1/live/classes",
            Some(json!({ "title": "Counted", "scheduled_at": starts, "duration_minutes": 20 })),
            Some(&coach),
        )
        .await;
    assert_eq!(scheduled.status, 201, "{}", scheduled.text);
    let class = scheduled.json()["id"].as_str().expect("id").to_owned();
    let viewer = cluster.mint(UserId::random(), &[Role::Member]);
    counts_agree(&cluster, &class, &viewer, 0).await;

    // Four members over three nodes, and the coach.
    let mut sockets = Vec::new();
    for node in [0, 1, 1, 2] {
        let token = cluster.mint(UserId::random(), &[Role::Member]);
        let (mut socket, _) = cluster.node(node).connect_ready(&token, None).await;
        join(&mut socket, &class).await;
        sockets.push(socket);
    }
    let (mut coach_socket, _) = cluster.node(2).connect_ready(&coach, None).await;
    join(&mut coach_socket, &class).await;
    counts_agree(&cluster, &class, &viewer, 4).await;
    presence(&mut sockets[1], 4).await;

    let started = cluster
        .node(1)
        .call(
            "POST",
            &format!("/v1/live/classes/{class}/start"),
            None,
            Some(&coach),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(started.json()["participants"], 4);
    // One member leaves during the class.
    drop(sockets.pop());
    counts_agree(&cluster, &class, &viewer, 3).await;
    presence(&mut sockets[0], 3).await;

    let ended = cluster
        .node(2)
        .call(
            "POST",
            &format!("/v1/live/classes/{class}/end"),
            None,
            Some(&coach),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    let last = sockets[0].event("live.ended").await;
    assert_eq!(
        last["data"]["participants"], 4,
        "everyone who took part: {last}"
    );
    let results = cluster
        .node(1)
        .call(
            "GET",
            &format!("/v1/live/classes/{class}/results"),
            None,
            Some(&viewer),
        )
        .await
        .json();
    assert_eq!(results["participants"], 4, "{results}");
    counts_agree(&cluster, &class, &viewer, 4).await;
}

on_both_buses!(counts_agree_before_during_and_after_a_class);
