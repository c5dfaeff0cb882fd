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
    let drop = cluster.create_drop(body).await;

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

/// Waits until `check` holds for the books of every node in `nodes`.
async fn until_books(
    cluster: &Cluster,
    nodes: &[usize],
    drop: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    for &n in nodes {
        loop {
            let books = cluster.drop_books(n, drop).await;
            if check(&books) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {n} never {what}: {books}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Waits until nodes 1 and 2 each finished two more rounds of upkeep on the drop (so a
/// whole round ran after whatever happened before the call).
async fn two_more_rounds(cluster: &Cluster, drop: &str) {
    let mut rounds = Vec::new();
    for n in [1, 2] {
        rounds.push(
            cluster.drop_books(n, drop).await["upkeeps"]
                .as_u64()
                .expect("upkeeps"),
        );
    }
    for (n, seen) in [1, 2].into_iter().zip(rounds) {
        until_books(cluster, &[n], drop, "finished two more rounds", |b| {
            b["upkeeps"].as_u64() >= Some(seen + 2)
        })
        .await;
    }
}

async fn order_through(cluster: &Cluster, n: usize, drop: &str) -> String {
    let token = cluster.mint(UserId::random(), &[Role::Member]);
    let key = UserId::random().to_string();
    let made = cluster
        .node(n)
        .call_with_headers(
            "POST",
            &format!("/v1/drops/{drop}/orders"),
            Some(json!({ "quantity": 1 })),
            Some(&token),
            &[("idempotency-key", &key)],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    made.json()["id"].as_str().expect("id").to_owned()
}

/// A node drains with reservations it timed: the drop's keeper times them, and only it.
async fn a_drained_nodes_reservations_are_timed_once_by_the_drops_keeper(transport: Transport) {
    use fitpulse_actors::ports::clock::{Clock, ManualClock};
    let clock = ManualClock::starting_at(now_millis());
    let Some(cluster) = Cluster::start_on(transport, Some(clock.clone())).await else {
        return;
    };
    let body = json!({
        "title": "Timed once", "stock": 10, "price_cents": 5900, "currency": "EUR",
        "starts_at": rfc3339(clock.now() - 1_000), "per_user_limit": 1,
        "reservation_ttl_seconds": 60,
    });
    let drop = cluster.create_drop(body).await;
    let cluster = &cluster;
    for n in 0..3 {
        cluster.drop_books(n, &drop).await; // every node serves the drop
    }
    for _ in 0..3 {
        order_through(cluster, 0, &drop).await;
    }
    assert_eq!(cluster.drop_books(0, &drop).await["timers"], 3);
    // Nodes 1 and 2 look after the drop while node 0's lease is live.
    two_more_rounds(cluster, &drop).await;

    // Node 0 drains: its lease ends (its unsold units back), its reservations go over.
    cluster.node(0).lifecycle.request_shutdown();
    until_books(cluster, &[1, 2], &drop, "saw node 0's units back", |b| {
        b["for_sale"] == 7
    })
    .await;
    // Both nodes finish a round of upkeep after the one that saw node 0's lease end
    // (the positive control: any timing that round did is done), and take an order each.
    two_more_rounds(cluster, &drop).await;
    order_through(cluster, 1, &drop).await;
    order_through(cluster, 2, &drop).await;
    let mut timers = Vec::new();
    for n in [1, 2] {
        timers.push(
            cluster.drop_books(n, &drop).await["timers"]
                .as_u64()
                .expect("timers"),
        );
    }
    assert_eq!(
        timers.iter().sum::<u64>(),
        5,
        "node 0's three reservations timed by one node, and each node's own: {timers:?}"
    );

    // They lapse on time.
    clock.advance(std::time::Duration::from_secs(61));
    until_books(cluster, &[1, 2], &drop, "expired all five", |b| {
        b["expired"] == 5 && b["reserved"] == 0
    })
    .await;
}

on_both_buses!(
    a_drop_sold_from_three_nodes_never_oversells,
    a_drained_nodes_reservations_are_timed_once_by_the_drops_keeper
);
