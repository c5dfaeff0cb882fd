//! Three nodes on one store and one bus: whether a member is connected is asked of the
//! node holding their session, so a member whose app is open on any node is not pushed,
//! whichever node's outbox worker carries the push out.

use fitpulse_actors::domain::{Role, UserId};
use fitpulse_fakes::apns_device_token;
use serde_json::json;
use uuid::Uuid;

use super::world::{PushWorld, item_done, register, time};
use crate::cluster::{Cluster, Transport};

#[actix_web::test]
async fn members_online_on_any_node_get_no_push_and_the_offline_one_does() {
    let world = PushWorld::start();
    let Some(cluster) = Cluster::start_with(Transport::Local, None, world.configure()).await else {
        return;
    };
    let node = |n: usize| cluster.node(n);
    // One member connected to each node, and one with no socket at all.
    let mut online = Vec::new();
    let mut sockets = Vec::new();
    for n in 0..3 {
        let user = UserId::random();
        let token = cluster.mint(user, &[Role::Member]);
        let device = apns_device_token();
        register(node(n), &token, "phone", "ios", &device, None).await;
        sockets.push(node(n).connect_ready(&token, None).await.0);
        online.push((user, device));
    }
    let offline = UserId::random();
    let offline_token = cluster.mint(offline, &[Role::Member]);
    let offline_device = apns_device_token();
    register(
        node(1),
        &offline_token,
        "phone",
        "ios",
        &offline_device,
        None,
    )
    .await;

    let mut targets: Vec<String> = online.iter().map(|(u, _)| u.to_string()).collect();
    targets.push(offline.to_string());
    let created = node(0)
        .call(
            "POST",
            "/v1/admin/messages",
            Some(json!({
                "title": "Cluster news",
                "body": "One node takes the fan-out",
                "expires_at": time(node(0).now() + 86_400_000),
                "segment": {"user_ids": targets},
                "push": true,
            })),
            Some(&cluster.admin()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let message: Uuid = created.json()["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");

    world.apns_pushes(&offline_device, 1).await;
    let fan_out = fitpulse::push::items::item_id(&[
        fitpulse::push::items::MESSAGE_KIND,
        &message.to_string(),
        "0",
    ]);
    item_done(node(0), fan_out).await;
    for (user, device) in &online {
        assert_eq!(
            world.apns.requests_for(device),
            0,
            "{user} is connected but was pushed"
        );
    }
    drop(sockets);
}
