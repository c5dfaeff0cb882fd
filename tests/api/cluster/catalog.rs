//! The catalog is served from every node's memory: an item stored through one node and a
//! like counted on another show on the third.

use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId};
use serde_json::json;

use super::{Cluster, Transport, on_both_buses};
use crate::helpers::WAIT;

async fn an_edit_and_a_like_on_one_node_show_on_the_others(transport: Transport) {
    let Some(cluster) = Cluster::start(transport).await else {
        return;
    };
    let title = format!("Cluster porridge {}", UserId::random().as_uuid().simple());
    let created = cluster
        .node(0)
        .call(
            "POST",
            "/v1/admin/content/recipe",
            Some(json!({
                "title": title, "premium": false, "tags": ["breakfast"], "minutes": 7,
                "kcal": 300, "protein_g": 12.5, "diet": ["vegan"],
                "ingredients": [{"name": "oats", "quantity": 50, "unit": "g", "aisle": "pantry"}],
                "steps": ["Cook", "Eat"],
            })),
            Some(&cluster.admin()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/recipes/{id}");

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = cluster.node(1).call("GET", &path, None, None).await;
        if seen.status == 200 {
            assert_eq!(seen.json()["title"], title.as_str());
            break;
        }
        assert_eq!(seen.status, 404, "{}", seen.text);
        assert!(
            tokio::time::Instant::now() < deadline,
            "node 1 never served {id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let liker = cluster.mint(UserId::random(), &[Role::Member]);
    let liked = cluster
        .node(2)
        .call(
            "PUT",
            &format!("/v1/me/likes/recipe/{id}"),
            None,
            Some(&liker),
        )
        .await;
    assert_eq!(liked.status, 200, "{}", liked.text);
    assert_eq!(liked.json()["likes"], 1, "{}", liked.text);
    for node in [0, 1] {
        loop {
            let seen = cluster
                .node(node)
                .call("GET", &path, None, None)
                .await
                .json();
            if seen["likes"] == 1 {
                break;
            }
            assert_eq!(seen["likes"], 0, "{seen}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {node}: {seen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

on_both_buses!(an_edit_and_a_like_on_one_node_show_on_the_others);
