//! A socket on any node, whichever node holds its user's session, catches up on more
//! events than its queue holds (the catch-up may pass the bound, as on the holder's own
//! node), in order and after `session.ready`, and then takes the live ones after them.

use fitpulse_actors::domain::{Role, UserId};

use super::{Cluster, Transport, on_both_buses};

/// More than a socket's queue (`ws.outbound_queue`, 256) and the session's memory.
const MISSED: u64 = 300;

async fn a_socket_on_every_node_catches_up_past_its_queue_in_order(transport: Transport) {
    let Some(cluster) = Cluster::start(transport).await else {
        return;
    };
    let user = UserId::random();
    for n in 1..=MISSED {
        assert_eq!(
            cluster
                .push(n as usize % 3, user, &format!("missed {n}"))
                .await,
            n
        );
    }
    let token = cluster.mint(user, &[Role::Member]);
    let mut sockets = Vec::new();
    for n in 0..3 {
        let (socket, ready) = cluster.node(n).connect_ready(&token, Some(0)).await;
        assert_eq!(ready["data"]["last_seq"], MISSED, "node {n}: {ready}");
        sockets.push(socket);
    }
    let live = cluster.push(0, user, "live").await;
    for (n, socket) in sockets.iter_mut().enumerate() {
        for seq in 1..=live {
            let frame = socket.json().await;
            assert_eq!(
                (frame["type"].as_str(), frame["seq"].as_u64()),
                (Some("custom.note"), Some(seq)),
                "node {n}: {frame}"
            );
        }
    }
}

on_both_buses!(a_socket_on_every_node_catches_up_past_its_queue_in_order);
