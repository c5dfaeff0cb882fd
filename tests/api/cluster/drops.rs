//! A drop sold from all three nodes at once never sells more than its stock.

use fitpulse_actors::domain::{Role, UserId, now_millis};
use fitpulse_actors::events::rfc3339;
use futures_util::StreamExt;
use serde_json::json;

use super::{Cluster, Transport, on_both_buses};

async fn a_drop_sold_from_three_nodes_never_oversells(transport: Transport) {
    let Some(cluster) = Cluster::start(transport).await else {
        return;
    };
    let body = json!({
        "title": "Cluster hoodie", "stock": 40, "price_cents": 5900, "currency": "EUR",
        "starts_at": rfc3339(now_millis() - 1_000), "per_user_limit": 1,
        "reservation_ttl_seconds": 300,
    });
    let created = cluster
        .node(0)
        .call(
            "POST",
            "/v1/admin/drops",
            Some(body),
            Some(&cluster.admin()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let drop = created.json()["id"].as_str().expect("id").to_owned();

    let buyers: Vec<(usize, String)> = (0..450)
        .map(|n| (n % 3, cluster.mint(UserId::random(), &[Role::Member])))
        .collect();
    let cluster = &cluster;
    let attempts = buyers.iter().enumerate().map(|(k, (node, token))| {
        let key = format!("order-{k}");
        let drop = drop.clone();
        async move {
            cluster
                .node(*node)
                .call_with_headers(
                    "POST",
                    &format!("/v1/drops/{drop}/orders"),
                    Some(json!({ "quantity": 1 })),
                    Some(token),
                    &[("idempotency-key", &key)],
                )
                .await
        }
    });
    let answers: Vec<_> = futures_util::stream::iter(attempts)
        .buffer_unordered(90)
        .collect()
        .await;
    let reserved = answers.iter().filter(|r| r.status == 201).count();
    let sold_out = answers
        .iter()
        .filter(|r| r.status == 409 && r.json()["error"]["code"] == "sold_out")
        .count();
    assert_eq!(
        (reserved, sold_out),
        (40, 410),
        "every answer is one or the other"
    );

    let books = cluster
        .node(1)
        .call(
            "GET",
            &format!("/v1/admin/drops/{drop}"),
            None,
            Some(&cluster.admin()),
        )
        .await;
    assert_eq!(books.status, 200, "{}", books.text);
    assert_eq!(books.json()["reserved"], 40, "{}", books.text);
}

on_both_buses!(a_drop_sold_from_three_nodes_never_oversells);
