//! A feature message's counts summed over the nodes: members held on different nodes are
//! each counted once where their session delivers, actions where their request lands, and
//! any node answers the total once the others flushed.

use fitpulse_actors::domain::{Role, UserId};
use fitpulse_actors::events::rfc3339;
use serde_json::{Value, json};

use super::{Cluster, Transport, on_both_buses};
use crate::helpers::WAIT;

async fn members_on_three_nodes_are_counted_once_each_in_one_total(transport: Transport) {
    let Some(cluster) =
        Cluster::start_with(transport, None, |s| s.messages.stats_flush_ms = 20).await
    else {
        return;
    };
    let mut members = Vec::new();
    for n in 0..3 {
        let token = cluster.mint(UserId::random(), &[Role::Member]);
        let (socket, _) = cluster.node(n).connect_ready(&token, None).await;
        members.push((token, socket));
    }
    let created = cluster
        .node(0)
        .call(
            "POST",
            "/v1/admin/messages",
            Some(json!({
                "title": "Cluster news", "body": "Counted everywhere",
                "expires_at": rfc3339(cluster.node(0).now() + 3_600_000),
            })),
            Some(&cluster.admin()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    for (_, socket) in &mut members {
        assert_eq!(socket.event("message.feature").await["data"]["id"], id);
    }
    // Each action through another node, one repeated on a third.
    for (n, (member, action)) in [(0, "read"), (1, "read"), (0, "read"), (2, "click")]
        .into_iter()
        .enumerate()
    {
        let marked = cluster
            .node(n % 3)
            .call(
                "POST",
                &format!("/v1/me/messages/{id}/{action}"),
                None,
                Some(&members[member].0),
            )
            .await;
        assert_eq!(marked.status, 200, "{}", marked.text);
    }

    let expected = json!({
        "message_id": id, "delivered": 3, "read": 2, "clicked": 1, "dismissed": 0,
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen: Value;
    loop {
        let answer = cluster
            .node(1)
            .call(
                "GET",
                &format!("/v1/admin/messages/{id}/stats"),
                None,
                Some(&cluster.admin()),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        seen = answer.json();
        if seen == expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never summed up: {seen}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

on_both_buses!(members_on_three_nodes_are_counted_once_each_in_one_total);
