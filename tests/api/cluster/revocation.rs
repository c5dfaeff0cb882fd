//! A deleted account's access tokens stop working on every node, not just the one that
//! deleted it.

use std::time::Duration;

use fitpulse_actors::domain::UserId;
use serde_json::json;

use super::{Cluster, Transport, on_both_buses};
use crate::helpers::{WAIT, assert_error};

async fn a_deleted_accounts_token_is_refused_by_every_node(transport: Transport) {
    let Some(cluster) = Cluster::start(transport).await else {
        return;
    };
    let email = format!("gone-{}@example.com", UserId::random().as_uuid().simple());
    let registered = cluster
        .node(0)
        .call(
            "POST",
            "/v1/auth/register",
            Some(json!({ "email": email, "password": "correct horse battery", "display_name": "Gone" })),
            None,
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let access = registered.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    // Likes need no profile: a token that still passed would answer 200 here.
    for node in 0..3 {
        let likes = cluster
            .node(node)
            .call("GET", "/v1/me/likes", None, Some(&access))
            .await;
        assert_eq!(likes.status, 200, "{}", likes.text);
    }

    let deleted = cluster
        .node(0)
        .call("DELETE", "/v1/me", None, Some(&access))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let deadline = tokio::time::Instant::now() + WAIT;
    for node in 0..3 {
        loop {
            let likes = cluster
                .node(node)
                .call("GET", "/v1/me/likes", None, Some(&access))
                .await;
            if likes.status == 401 {
                assert_error(&likes.text, "invalid_token");
                break;
            }
            assert_eq!(likes.status, 200, "{}", likes.text);
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {node} still accepts the token"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Two nodes on one store that share no bus (as a node that missed the announcement): the
/// other node still refuses the token, from the stored revocation.
#[actix_web::test]
async fn a_node_that_missed_the_announcement_refuses_a_deleted_accounts_token() {
    use crate::helpers::spawn_app_with;
    use crate::store::support::{cql_contact_point, scylla_settings, suite_keyspace};

    let Some(cql) = cql_contact_point() else {
        return;
    };
    let keyspace = suite_keyspace(&cql);
    let store = scylla_settings(&cql, keyspace).store;
    let first = {
        let store = store.clone();
        spawn_app_with(move |s| {
            s.store = store;
            s.auth.revocation_poll_ms = 200;
        })
        .await
    };
    let keys = first._data_dir.path().to_owned();
    let second = spawn_app_with(move |s| {
        s.store = store;
        s.data_dir = keys;
        s.auth.revocation_poll_ms = 200;
    })
    .await;
    let email = format!("island-{}@example.com", UserId::random().as_uuid().simple());
    let registered = first
        .call(
            "POST",
            "/v1/auth/register",
            Some(json!({ "email": email, "password": "correct horse battery", "display_name": "Gone" })),
            None,
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let access = registered.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let likes = second
        .call("GET", "/v1/me/likes", None, Some(&access))
        .await;
    assert_eq!(likes.status, 200, "{}", likes.text);

    let deleted = first.call("DELETE", "/v1/me", None, Some(&access)).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let likes = second
            .call("GET", "/v1/me/likes", None, Some(&access))
            .await;
        if likes.status == 401 {
            assert_error(&likes.text, "invalid_token");
            break;
        }
        assert_eq!(likes.status, 200, "{}", likes.text);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other node still accepts the token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_buses!(a_deleted_accounts_token_is_refused_by_every_node);
