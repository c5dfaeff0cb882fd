//! A user's events reach their devices on every node, with one sequence.

use fitpulse_actors::domain::{Role, UserId};

use super::{Cluster, Device, Transport, on_both_buses};

async fn a_users_devices_on_two_nodes_get_every_event_in_the_same_order(transport: Transport) {
    let Some(cluster) = Cluster::start(transport).await else {
        return;
    };
    let view = cluster.view(0).await;
    assert_eq!(view["bus"]["kind"], transport.kind());
    assert_eq!(view["bus"]["connected"], true);
    let user = UserId::random();
    let token = cluster.mint(user, &[Role::Member]);
    let mut phone = Device::connect(cluster.node(0), &token).await;
    let mut tablet = Device::connect(cluster.node(1), &token).await;

    // Published through all three nodes, interleaved, some concurrently.
    let mut seqs = Vec::new();
    for round in 0..8 {
        let pushes = (0..3).map(|n| {
            cluster.push(
                n,
                user,
                Box::leak(format!("r{round}-n{n}").into_boxed_str()),
            )
        });
        seqs.extend(futures_util::future::join_all(pushes).await);
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=24).collect::<Vec<u64>>(),
        "one sequence for the user"
    );

    phone.read_notes(24, cluster.node(0)).await;
    tablet.read_notes(24, cluster.node(1)).await;
    assert_eq!(
        phone.notes, tablet.notes,
        "both devices saw the same events in the same order"
    );
    assert!(phone.closes.is_empty() && tablet.closes.is_empty());

    // Every node lists all three; one holds the session, two hold a socket each.
    for n in 0..3 {
        let view = cluster.view(n).await;
        assert_eq!(view["nodes"].as_array().expect("nodes").len(), 3, "{view}");
    }
    let (mut sockets, mut sessions) = (0, 0);
    for n in 0..3 {
        sockets += cluster.load(n, "sockets").await;
        sessions += cluster.load(n, "sessions").await;
    }
    assert_eq!((sockets, sessions), (2, 1));
}

on_both_buses!(a_users_devices_on_two_nodes_get_every_event_in_the_same_order);
