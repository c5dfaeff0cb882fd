//! `GET /v1/admin/cluster` on a single node (local bus): admins see one node with its
//! load; anyone else is refused.

use fitpulse_actors::domain::{Role, UserId};

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn a_single_node_lists_itself_with_its_load_to_admins_only() {
    let app = spawn_app().await;
    let (_, member) = app.member();
    let (_socket, _) = app.connect_ready(&member, None).await;

    let view = app
        .call("GET", "/v1/admin/cluster", None, Some(&app.admin()))
        .await;
    assert_eq!(view.status, 200, "{}", view.text);
    let view = view.json();
    assert_eq!(view["bus"]["kind"], "local");
    assert_eq!(view["bus"]["connected"], true);
    let nodes = view["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "{view}");
    assert_eq!(nodes[0]["id"], view["node_id"]);
    assert_eq!(nodes[0]["this_node"], true);
    assert_eq!(nodes[0]["draining"], false);
    assert_eq!(nodes[0]["load"]["sockets"], 1, "{view}");
    assert_eq!(nodes[0]["load"]["sessions"], 1, "{view}");

    let anonymous = app.call("GET", "/v1/admin/cluster", None, None).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    assert_error(&anonymous.text, "unauthorized");
    let forbidden = app
        .call("GET", "/v1/admin/cluster", None, Some(&member))
        .await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.text);
    assert_error(&forbidden.text, "forbidden");
    let coach = app.mint(UserId::random(), &[Role::Member, Role::Coach], 600);
    let forbidden = app
        .call("GET", "/v1/admin/cluster", None, Some(&coach))
        .await;
    assert_eq!(forbidden.status, 403, "{}", forbidden.text);
    assert_error(&forbidden.text, "forbidden");
    let forged = app
        .call("GET", "/v1/admin/cluster", None, Some("not.a.token"))
        .await;
    assert_eq!(forged.status, 401, "{}", forged.text);
    assert_error(&forged.text, "invalid_token");
}
