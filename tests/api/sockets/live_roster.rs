//! Who is in a class: rosters with people each member follows first, `live.friend_joined`,
//! blocks hiding people both ways, the coach never counted, the roster route's pages, and
//! the leaderboard in the `following` view.

use serde_json::json;

use super::live_support::{coach, ids, join_view, metric, schedule_on, transition, until};
use crate::helpers::{TestApp, assert_error, scylla_app, spawn_app, spawn_app_with};

async fn follow(app: &TestApp, token: &str, whom: &str, what: &str) {
    let response = app
        .call("PUT", &format!("/v1/me/{what}/{whom}"), None, Some(token))
        .await;
    assert!(response.status < 300, "{}", response.text);
}

async fn roster_and_friends(app: TestApp) {
    let (coach_id, coach_token) = coach(&app);
    let class = schedule_on(&app, &coach_token, None).await;
    let (a, a_token) = app.member_account().await;
    let (b, b_token) = app.member_account().await;
    let (c, c_token) = app.member_account().await;
    let (d, d_token) = app.member_account().await;
    // A follows B (and blocks nobody); C blocks A.
    follow(&app, &a_token, &b.to_string(), "following").await;
    follow(&app, &c_token, &a.to_string(), "blocks").await;

    let (mut coach_socket, _) = app.connect_ready(&coach_token, None).await;
    join_view(&mut coach_socket, 1, &class, None).await;
    let (mut sa, _) = app.connect_ready(&a_token, None).await;
    join_view(&mut sa, 1, &class, None).await;
    // A's roster once A's follows are read: only A, and the coach is not counted.
    let first = until(&mut sa, "live.roster", |d| d["participants"] == 1).await;
    assert_eq!(ids(&first["entries"]), [a.to_string()], "{first}");

    let (mut sb, _) = app.connect_ready(&b_token, None).await;
    join_view(&mut sb, 1, &class, None).await;
    let friend = until(&mut sa, "live.friend_joined", |_| true).await;
    assert_eq!(friend["user_id"], b.to_string());
    assert_eq!(friend["class_id"], class.as_str());

    let (mut sc, _) = app.connect_ready(&c_token, None).await;
    join_view(&mut sc, 1, &class, None).await;
    let (mut sd, _) = app.connect_ready(&d_token, None).await;
    join_view(&mut sd, 1, &class, None).await;

    // Four members: A sees B first (followed), then A and D by when they joined; C, who
    // blocked A, is hidden from A.
    let seen = until(&mut sa, "live.roster", |d| d["participants"] == 4).await;
    assert_eq!(
        ids(&seen["entries"]),
        [b.to_string(), a.to_string(), d.to_string()],
        "{seen}"
    );
    assert_eq!(seen["following_here"], 1);
    assert_eq!(seen["entries"][0]["following"], true);
    assert_eq!(seen["entries"][2]["following"], false);
    // ... and A is hidden from C.
    let c_sees = until(&mut sc, "live.roster", |d| d["participants"] == 4).await;
    assert_eq!(
        ids(&c_sees["entries"]),
        [b.to_string(), c.to_string(), d.to_string()]
    );
    assert!(
        !ids(&c_sees["entries"]).contains(&coach_id.to_string()),
        "the coach is not listed"
    );

    // D follows nobody here: D got no friend notice before its roster of four.
    let before = sd
        .frames_until("live.friend_joined", |f| {
            f["type"] == "live.roster" && f["data"]["participants"] == 4
        })
        .await;
    assert!(before.is_empty(), "{before:?}");

    // The roster route pages the same order.
    let page = |cursor: Option<String>| {
        let app = &app;
        let a_token = a_token.clone();
        let class = class.clone();
        async move {
            let query = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
            let response = app
                .call(
                    "GET",
                    &format!("/v1/live/classes/{class}/roster?limit=2{query}"),
                    None,
                    Some(&a_token),
                )
                .await;
            assert_eq!(response.status, 200, "{}", response.text);
            response.json()
        }
    };
    let one = page(None).await;
    assert_eq!(one["participants"], 4);
    assert_eq!(ids(&one["items"]), [b.to_string(), a.to_string()]);
    let cursor = one["next_cursor"].as_str().expect("more").to_owned();
    let two = page(Some(cursor)).await;
    assert_eq!(ids(&two["items"]), [d.to_string()]);
    assert!(two["next_cursor"].is_null());

    // Counts agree: REST, the socket's presence and the roster.
    let view = app
        .call(
            "GET",
            &format!("/v1/live/classes/{class}"),
            None,
            Some(&a_token),
        )
        .await
        .json();
    assert_eq!(view["participants"], 4, "{view}");

    // A bad page request changes nothing and says why.
    for (query, token, status, code) in [
        ("?cursor=zz", Some(a_token.as_str()), 400, "invalid_query"),
        ("?limit=0", Some(a_token.as_str()), 400, "invalid_query"),
        ("?limit=201", Some(a_token.as_str()), 400, "invalid_query"),
        ("", None, 401, "unauthorized"),
    ] {
        let response = app
            .call(
                "GET",
                &format!("/v1/live/classes/{class}/roster{query}"),
                None,
                token,
            )
            .await;
        assert_eq!(response.status, status, "{query}: {}", response.text);
        assert_error(&response.text, code);
    }
    let unknown = app
        .call(
            "GET",
            &format!("/v1/live/classes/{}/roster", uuid::Uuid::new_v4()),
            None,
            Some(&a_token),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);

    // The following view: A's board is A and B only.
    transition(&app, &coach_token, &class, "start").await;
    let reply = sa
        .request(
            5,
            "live.leaderboard.view",
            json!({ "class_id": class, "view": "following" }),
        )
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    for (socket, output) in [(&mut sa, 3.0), (&mut sb, 5.0), (&mut sd, 8.0)] {
        let reply = metric(socket, 9, &class, json!({ "output": output })).await;
        assert_eq!(reply["ok"], true, "{reply}");
    }
    let board = until(&mut sa, "live.leaderboard", |d| {
        d["view"] == "following" && d["ranked"] == 2
    })
    .await;
    assert_eq!(
        ids(&board["top"]),
        [b.to_string(), a.to_string()],
        "{board}"
    );
    let rank = until(&mut sa, "live.rank", |d| {
        d["view"] == "following" && d["of"] == 2
    })
    .await;
    assert_eq!(rank["rank"], 2);
    assert_eq!(ids(&rank["around"]), [b.to_string(), a.to_string()]);
    // D, in the `all` view, gets the shared board, then its own place: first of three
    // with the two below.
    let everyone = until(&mut sd, "live.leaderboard", |d| d["ranked"] == 3).await;
    assert_eq!(everyone["view"], "all");
    let d_rank = until(&mut sd, "live.rank", |d| d["of"] == 3).await;
    assert_eq!(
        (d_rank["view"].as_str(), d_rank["rank"].as_u64()),
        (Some("all"), Some(1))
    );
    assert_eq!(
        ids(&d_rank["around"]),
        [d.to_string(), b.to_string(), a.to_string()]
    );

    // An unknown view is refused at the edge.
    let bad = sa
        .request(
            6,
            "live.leaderboard.view",
            json!({ "class_id": class, "view": "friends" }),
        )
        .await;
    assert_eq!(bad["error"]["code"], "invalid_frame", "{bad}");
}

#[actix_web::test]
async fn a_roster_lists_people_followed_first_hides_blocks_and_never_counts_the_coach() {
    roster_and_friends(spawn_app().await).await;
}

#[actix_web::test]
async fn a_roster_on_scylla_lists_people_followed_first_and_hides_blocks() {
    let Some(app) = scylla_app(|_| {}).await else {
        return;
    };
    roster_and_friends(app).await;
}

#[actix_web::test]
async fn a_newcomer_off_a_full_first_page_sends_nobody_a_roster_the_count_comes_in_presence() {
    let app = spawn_app_with(|s| s.live.roster_page_size = 2).await;
    let (_, coach_token) = coach(&app);
    let class = schedule_on(&app, &coach_token, None).await;
    let mut members = Vec::new();
    let mut sockets = Vec::new();
    for _ in 0..4 {
        let (id, token) = app.member_account().await;
        members.push(id.to_string());
        sockets.push(app.connect_ready(&token, None).await.0);
    }
    for socket in &mut sockets[..3] {
        join_view(socket, 1, &class, None).await;
    }
    // A's first page is full (A, then B) and says there is more (C).
    let full = until(&mut sockets[0], "live.roster", |d| d["participants"] == 3).await;
    assert_eq!(ids(&full["entries"]), members[..2]);
    assert!(full["next_cursor"].is_string(), "{full}");

    // D joins after them, off A's first page: A hears of it in `live.presence` ...
    join_view(&mut sockets[3], 1, &class, None).await;
    let rosters = sockets[0]
        .frames_until("live.roster", |f| {
            f["type"] == "live.presence" && f["data"]["participants"] == 4
        })
        .await;
    assert!(rosters.is_empty(), "{rosters:?}");
    // ... and gets its next roster when its page changes: B leaves, C moves up. Nothing
    // in between was a roster for the count alone.
    let left = sockets[1]
        .request(2, "live.leave", json!({ "class_id": class }))
        .await;
    assert_eq!(left["ok"], true, "{left}");
    let rosters = sockets[0]
        .frames_until("live.roster", |f| {
            f["type"] == "live.presence" && f["data"]["participants"] == 3
        })
        .await;
    assert!(
        rosters.is_empty(),
        "a roster for the count alone: {rosters:?}"
    );
    let moved_up = until(&mut sockets[0], "live.roster", |_| true).await;
    assert_eq!(moved_up["participants"], 3, "{moved_up}");
    assert_eq!(
        ids(&moved_up["entries"]),
        [members[0].clone(), members[2].clone()]
    );
}
