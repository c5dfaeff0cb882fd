//! The catalog over HTTP: the seeded demo catalog, filters, sort, cursor pages that stay
//! stable, premium gating both ways, ETags and 304s, likes counted exactly under
//! concurrency, saves, editors' changes reaching sockets, and bad input.

use std::collections::HashSet;

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app};

fn premium_member(app: &TestApp) -> String {
    app.mint_with_scopes(UserId::random(), &[Role::Member], &["content:premium"], 600)
}

/// Follows `next_cursor` from `path` to the end; answers every item in order.
async fn all_pages(app: &TestApp, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = path.to_owned();
    for _ in 0..100 {
        let response = app.call("GET", &next, None, None).await;
        assert_eq!(response.status, 200, "{}", response.text);
        let page = response.json();
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                next = format!("{path}{sep}cursor={cursor}");
            }
            None => return items,
        }
    }
    panic!("more than 100 pages");
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[actix_web::test]
async fn the_demo_catalog_lists_newest_first_in_pages_that_neither_repeat_nor_skip() {
    let app = spawn_app().await;
    let recipes = all_pages(&app, "/v1/recipes?limit=7").await;
    assert_eq!(recipes.len(), 60);
    let unique: HashSet<String> = ids(&recipes).into_iter().collect();
    assert_eq!(unique.len(), 60, "no item appears twice");
    let dates: Vec<&str> = recipes
        .iter()
        .map(|r| r["published_at"].as_str().expect("date"))
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    for recipe in &recipes {
        assert_eq!(recipe["kind"], "recipe");
        assert!(recipe["title"].is_string() && recipe["likes"].is_u64());
        assert!(recipe["premium"].is_boolean());
        assert!(recipe.get("steps").is_none(), "lists show previews only");
    }
    assert_eq!(all_pages(&app, "/v1/workouts?limit=100").await.len(), 40);
    assert_eq!(all_pages(&app, "/v1/plans").await.len(), 3);
    assert_eq!(all_pages(&app, "/v1/posts").await.len(), 10);

    // A page taken, then an item added: the next page goes on where the first stopped.
    let first = app
        .call("GET", "/v1/recipes?limit=10", None, None)
        .await
        .json();
    let created = app
        .call(
            "POST",
            "/v1/admin/content/recipe",
            Some(recipe_doc("Brand new porridge", false)),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .call(
            "GET",
            &format!("/v1/recipes?limit=10&cursor={cursor}"),
            None,
            None,
        )
        .await
        .json();
    let expected: Vec<String> = ids(&recipes)[10..20].to_vec();
    assert_eq!(ids(second["items"].as_array().expect("items")), expected);
    let fresh = app
        .call("GET", "/v1/recipes?limit=1", None, None)
        .await
        .json();
    assert_eq!(fresh["items"][0]["id"], "brand-new-porridge");
}

fn recipe_doc(title: &str, premium: bool) -> Value {
    json!({
        "title": title, "premium": premium, "tags": ["breakfast"],
        "minutes": 7, "kcal": 300, "protein_g": 12.5, "diet": ["vegan"],
        "ingredients": [{"name": "oats", "quantity": 50, "unit": "g", "aisle": "pantry"}],
        "steps": ["Cook", "Eat"],
    })
}

#[actix_web::test]
async fn filters_and_search_narrow_a_list_and_popular_sorts_by_likes() {
    let app = spawn_app().await;
    let breakfast = all_pages(&app, "/v1/recipes?tag=breakfast").await;
    assert_eq!(breakfast.len(), 15);
    assert!(breakfast.iter().all(|r| {
        r["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("breakfast"))
    }));

    let quick = all_pages(&app, "/v1/recipes?max_minutes=10").await;
    assert!(!quick.is_empty());
    assert!(
        quick
            .iter()
            .all(|r| r["minutes"].as_u64().expect("minutes") <= 10)
    );

    let vegan = all_pages(&app, "/v1/recipes?diet=vegan").await;
    assert!(!vegan.is_empty());
    assert!(vegan.iter().all(|r| {
        r["diet"]
            .as_array()
            .expect("diet")
            .contains(&json!("vegan"))
    }));

    let dumbbells = all_pages(&app, "/v1/workouts?equipment=dumbbells&level=advanced").await;
    assert_eq!(dumbbells.len(), 2);
    let short = all_pages(&app, "/v1/workouts?max_minutes=20&body_focus=cardio").await;
    assert!(
        short
            .iter()
            .all(|w| w["duration_minutes"].as_u64().expect("min") <= 20)
    );
    assert!(!short.is_empty());

    let search = all_pages(&app, "/v1/recipes?q=OVERNIGHT%20oat").await;
    assert_eq!(search.len(), 3, "three takes on overnight oats");
    assert!(
        search
            .iter()
            .all(|r| r["title"].as_str().expect("t").contains("overnight oats"))
    );
    assert!(all_pages(&app, "/v1/recipes?q=pizza").await.is_empty());

    // Likes make an item the most popular.
    let target = "quick-lentil-soup";
    for _ in 0..3 {
        let (_, token) = app.member();
        let liked = app
            .call(
                "PUT",
                &format!("/v1/me/likes/recipe/{target}"),
                None,
                Some(&token),
            )
            .await;
        assert_eq!(liked.status, 200, "{}", liked.text);
    }
    let popular = app
        .call("GET", "/v1/recipes?sort=popular&limit=5", None, None)
        .await
        .json();
    assert_eq!(popular["items"][0]["id"], target);
    assert_eq!(popular["items"][0]["likes"], 3);
    let everything = all_pages(&app, "/v1/recipes?sort=popular&limit=9").await;
    assert_eq!(
        everything.len(),
        60,
        "popular pages cover the whole list too"
    );
}

#[actix_web::test]
async fn bad_list_queries_are_refused_with_the_parameter_named() {
    let app = spawn_app().await;
    let cases = [
        ("/v1/recipes?diet=pizza", "diet"),
        ("/v1/recipes?equipment=dumbbells", "equipment"),
        ("/v1/posts?max_minutes=10", "max_minutes"),
        ("/v1/recipes?sort=random", "sort"),
        ("/v1/recipes?limit=0", "limit"),
        ("/v1/recipes?limit=101", "limit"),
        ("/v1/recipes?cursor=garbage", "cursor"),
    ];
    for (path, param) in cases {
        let response = app.call("GET", path, None, None).await;
        assert_eq!(response.status, 400, "{path}: {}", response.text);
        assert_error(&response.text, "invalid_query");
        assert_eq!(
            response.json()["error"]["details"]["param"],
            param,
            "{path}"
        );
    }
    for path in ["/v1/recipes?colour=red", "/v1/recipes?max_minutes=-5"] {
        let response = app.call("GET", path, None, None).await;
        assert_eq!(response.status, 400, "{path}");
        assert_error(&response.text, "invalid_query");
    }
    // A popular cursor is no good for the newest order.
    let popular = app
        .call("GET", "/v1/recipes?sort=popular&limit=2", None, None)
        .await
        .json();
    let cursor = popular["next_cursor"].as_str().expect("cursor");
    let mixed = app
        .call("GET", &format!("/v1/recipes?cursor={cursor}"), None, None)
        .await;
    assert_eq!(mixed.status, 400);
    let unknown = app
        .call("GET", "/v1/recipes/no-such-recipe", None, None)
        .await;
    assert_eq!(unknown.status, 404);
    assert_error(&unknown.text, "not_found");
    let malformed = app.call("GET", "/v1/recipes/bad%20id", None, None).await;
    assert_eq!(malformed.status, 400);
    assert_error(&malformed.text, "invalid_path");
}

#[actix_web::test]
async fn premium_bodies_need_the_entitlement_and_are_never_shared_with_free_callers() {
    let app = spawn_app().await;
    let recipes = all_pages(&app, "/v1/recipes?limit=100").await;
    let premium = recipes
        .iter()
        .find(|r| r["premium"] == true)
        .expect("a premium recipe");
    let free = recipes
        .iter()
        .find(|r| r["premium"] == false)
        .expect("a free recipe");
    let premium_path = format!("/v1/recipes/{}", premium["id"].as_str().expect("id"));

    // Free items: full body for anyone, cacheable by shared caches.
    let open = app
        .call(
            "GET",
            &format!("/v1/recipes/{}", free["id"].as_str().expect("id")),
            None,
            None,
        )
        .await;
    assert_eq!(open.status, 200);
    assert!(open.json()["steps"].is_array());
    assert!(
        open.header("cache-control")
            .expect("cache-control")
            .starts_with("public")
    );

    // Premium items: 403 with the offers for anonymous and free callers.
    let (_, member) = app.member();
    for token in [None, Some(member.as_str())] {
        let refused = app.call("GET", &premium_path, None, token).await;
        assert_eq!(refused.status, 403, "{}", refused.text);
        assert_error(&refused.text, "premium_required");
        let offers = refused.json()["error"]["details"]["offer_ids"].clone();
        assert_eq!(offers, json!(["premium_monthly", "premium_yearly"]));
        assert!(refused.json()["error"].get("steps").is_none());
    }
    // A bad token is an error, not an anonymous read.
    let bad = app
        .call("GET", &premium_path, None, Some("not-a-token"))
        .await;
    assert_eq!(bad.status, 401);

    let allowed = app
        .call("GET", &premium_path, None, Some(&premium_member(&app)))
        .await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    assert!(
        allowed.json()["steps"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(
        allowed
            .header("cache-control")
            .expect("cc")
            .starts_with("private")
    );
    assert_eq!(allowed.header("vary"), Some("Authorization"));
    let workout = all_pages(&app, "/v1/workouts?limit=100").await;
    let premium_workout = workout
        .iter()
        .find(|w| w["premium"] == true)
        .expect("premium");
    assert!(
        premium_workout.get("video_ref").is_none(),
        "the list hides the video"
    );
}

#[actix_web::test]
async fn catalog_reads_revalidate_with_their_etag_until_something_changes() {
    let app = spawn_app().await;
    let path = "/v1/workouts?limit=5&sort=popular";
    let first = app.call("GET", path, None, None).await;
    let tag = first.header("etag").expect("an etag").to_owned();
    assert!(
        first
            .header("cache-control")
            .expect("cc")
            .contains("max-age=60")
    );
    let again = app
        .call_with_headers("GET", path, None, None, &[("if-none-match", &tag)])
        .await;
    assert_eq!(again.status, 304);
    assert!(again.text.is_empty());

    let item = first.json()["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let item_path = format!("/v1/workouts/{item}");
    let one = app
        .call("GET", &item_path, None, Some(&premium_member(&app)))
        .await;
    let item_tag = one.header("etag").expect("etag").to_owned();
    let cached = app
        .call_with_headers(
            "GET",
            &item_path,
            None,
            Some(&premium_member(&app)),
            &[("if-none-match", &item_tag)],
        )
        .await;
    assert_eq!(cached.status, 304);

    let (_, member) = app.member();
    let liked = app
        .call(
            "PUT",
            &format!("/v1/me/likes/workout/{item}"),
            None,
            Some(&member),
        )
        .await;
    assert_eq!(liked.status, 200);
    let changed = app
        .call_with_headers("GET", path, None, None, &[("if-none-match", &tag)])
        .await;
    assert_eq!(changed.status, 200, "a like changes what the list shows");
    assert_ne!(changed.header("etag").expect("etag"), tag);
    assert_eq!(changed.json()["items"][0]["likes"], 1);
}

#[actix_web::test]
async fn likes_from_200_users_at_once_are_counted_exactly_and_repeats_change_nothing() {
    let app = spawn_app().await;
    let path = "/v1/me/likes/post/why-rest-days-make-you-stronger";
    let tokens: Vec<String> = (0..200).map(|_| app.member().1).collect();
    let likes = tokens
        .iter()
        .map(|token| app.call("PUT", path, None, Some(token)));
    for response in futures_util::future::join_all(likes).await {
        assert_eq!(response.status, 200, "{}", response.text);
        assert_eq!(response.json()["changed"], true);
    }
    let post = app
        .call(
            "GET",
            "/v1/posts/why-rest-days-make-you-stronger",
            None,
            None,
        )
        .await
        .json();
    assert_eq!(post["likes"], 200);
    let stored = app
        .stores
        .likes
        .like_count(
            &fitpulse_actors::domain::ItemRef::parse("post", "why-rest-days-make-you-stronger")
                .expect("ref"),
        )
        .await
        .expect("count");
    assert_eq!(stored, 200);

    let repeats = tokens[..20]
        .iter()
        .map(|token| app.call("PUT", path, None, Some(token)));
    for response in futures_util::future::join_all(repeats).await {
        assert_eq!(response.json()["changed"], false);
        assert_eq!(response.json()["likes"], 200);
    }
    let unlike = app
        .call("DELETE", path, None, Some(&tokens[0]))
        .await
        .json();
    assert_eq!(
        (unlike["changed"].clone(), unlike["likes"].clone()),
        (json!(true), json!(199))
    );
    let again = app
        .call("DELETE", path, None, Some(&tokens[0]))
        .await
        .json();
    assert_eq!(
        (again["changed"].clone(), again["likes"].clone()),
        (json!(false), json!(199))
    );
}

#[actix_web::test]
async fn my_likes_and_saves_list_newest_first_and_refuse_bad_input() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    for (kind, id) in [
        ("recipe", "classic-overnight-oats"),
        ("workout", "core-crusher-express-15-min"),
        ("post", "why-rest-days-make-you-stronger"),
    ] {
        let like = app
            .call(
                "PUT",
                &format!("/v1/me/likes/{kind}/{id}"),
                None,
                Some(&token),
            )
            .await;
        assert_eq!(like.status, 200, "{kind}/{id}: {}", like.text);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let page = app
        .call("GET", "/v1/me/likes?limit=2", None, Some(&token))
        .await
        .json();
    let first: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        first,
        [
            "why-rest-days-make-you-stronger",
            "core-crusher-express-15-min"
        ]
    );
    assert!(page["items"][0]["liked_at"].is_string());
    let cursor = page["next_cursor"].as_str().expect("more");
    let rest = app
        .call(
            "GET",
            &format!("/v1/me/likes?limit=2&cursor={cursor}"),
            None,
            Some(&token),
        )
        .await
        .json();
    assert_eq!(rest["items"][0]["item"]["id"], "classic-overnight-oats");
    assert!(rest["next_cursor"].is_null());
    let recipes_only = app
        .call("GET", "/v1/me/likes?kind=recipe", None, Some(&token))
        .await
        .json();
    assert_eq!(recipes_only["items"].as_array().expect("items").len(), 1);

    let save = app
        .call(
            "PUT",
            "/v1/me/saved/plan/lose-weight-2-week-plan",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(save.json()["changed"], true);
    let twice = app
        .call(
            "PUT",
            "/v1/me/saved/plan/lose-weight-2-week-plan",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(twice.json()["changed"], false);
    let saved = app
        .call("GET", "/v1/me/saved", None, Some(&token))
        .await
        .json();
    assert_eq!(
        saved["items"][0]["item"]["title"],
        "Lose weight - 2 week plan"
    );
    let unsave = app
        .call(
            "DELETE",
            "/v1/me/saved/plan/lose-weight-2-week-plan",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(unsave.json()["changed"], true);
    let saved = app
        .call("GET", "/v1/me/saved", None, Some(&token))
        .await
        .json();
    assert!(saved["items"].as_array().expect("items").is_empty());

    let cases = [
        ("PUT", "/v1/me/likes/pizza/x", 400, "invalid_path"),
        ("PUT", "/v1/me/likes/recipe/no-such-thing", 404, "not_found"),
        ("PUT", "/v1/me/saved/recipe/no-such-thing", 404, "not_found"),
        ("GET", "/v1/me/likes?kind=pizza", 400, "invalid_query"),
        ("GET", "/v1/me/likes?cursor=zzz", 400, "invalid_query"),
    ];
    for (method, path, status, code) in cases {
        let response = app.call(method, path, None, Some(&token)).await;
        assert_eq!(
            response.status, status,
            "{method} {path}: {}",
            response.text
        );
        assert_error(&response.text, code);
    }
    let anonymous = app
        .call(
            "PUT",
            "/v1/me/likes/recipe/classic-overnight-oats",
            None,
            None,
        )
        .await;
    assert_eq!(anonymous.status, 401);
    assert_error(&anonymous.text, "unauthorized");
}

#[actix_web::test]
async fn editors_create_replace_unpublish_and_connected_apps_hear_of_new_content() {
    let app = spawn_app().await;
    let token = app.admin();
    let (_, member) = app.member();
    let (mut socket, _) = app.connect_ready(&member, None).await;

    let refused = app
        .call(
            "POST",
            "/v1/admin/content/recipe",
            Some(recipe_doc("Mine", false)),
            Some(&member),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_error(&refused.text, "forbidden");

    let created = app
        .call(
            "POST",
            "/v1/admin/content/recipe",
            Some(recipe_doc("Smoky bean chili", true)),
            Some(&token),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["id"], "smoky-bean-chili");
    let notice = socket.event("content.new").await;
    assert_eq!(notice["data"]["id"], "smoky-bean-chili");
    assert_eq!(notice["data"]["kind"], "recipe");
    assert!(notice.get("seq").is_none(), "a notice, not a stored event");

    let duplicate = app
        .call(
            "POST",
            "/v1/admin/content/recipe",
            Some(recipe_doc("Smoky bean chili", true)),
            Some(&token),
        )
        .await;
    assert_eq!(duplicate.status, 409);

    let mut changed = recipe_doc("Smoky three-bean chili", true);
    changed["minutes"] = json!(45);
    let replaced = app
        .call(
            "PUT",
            "/v1/admin/content/recipe/smoky-bean-chili",
            Some(changed),
            Some(&token),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    let read = app
        .call(
            "GET",
            "/v1/recipes/smoky-bean-chili",
            None,
            Some(&premium_member(&app)),
        )
        .await
        .json();
    assert_eq!(
        (read["title"].clone(), read["minutes"].clone()),
        (json!("Smoky three-bean chili"), json!(45))
    );

    let hidden = app
        .call(
            "DELETE",
            "/v1/admin/content/recipe/smoky-bean-chili",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(hidden.status, 200);
    assert_eq!(hidden.json()["published"], false);
    assert_eq!(
        app.call(
            "GET",
            "/v1/recipes/smoky-bean-chili",
            None,
            Some(&premium_member(&app))
        )
        .await
        .status,
        404
    );
    let listed = all_pages(&app, "/v1/recipes?q=smoky").await;
    assert!(listed.is_empty(), "unpublished items leave lists");
    let shown = app
        .call(
            "GET",
            "/v1/admin/content/recipe/smoky-bean-chili",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(shown.status, 200, "editors still see it");
    let back = app
        .call(
            "POST",
            "/v1/admin/content/recipe/smoky-bean-chili/publish",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(back.status, 200);
    assert_eq!(all_pages(&app, "/v1/recipes?q=smoky").await.len(), 1);
    assert_eq!(
        socket.event("content.new").await["data"]["id"],
        "smoky-bean-chili"
    );

    let mut negative = recipe_doc("Odd", false);
    negative["ingredients"][0]["quantity"] = json!(-2);
    let mut typo = recipe_doc("Odd", false);
    typo["stepz"] = json!([]);
    let mut bad_unit = recipe_doc("Odd", false);
    bad_unit["ingredients"][0]["unit"] = json!("bushel");
    for (doc, code) in [
        (negative, "invalid_field"),
        (typo, "invalid_body"),
        (bad_unit, "invalid_body"),
        (json!([1, 2]), "invalid_body"),
    ] {
        let response = app
            .call("POST", "/v1/admin/content/recipe", Some(doc), Some(&token))
            .await;
        assert_eq!(response.status, 400, "{}", response.text);
        assert_error(&response.text, code);
    }
    let unknown_kind = app
        .call(
            "POST",
            "/v1/admin/content/pizza",
            Some(recipe_doc("x", false)),
            Some(&token),
        )
        .await;
    assert_eq!(unknown_kind.status, 400);
    assert_error(&unknown_kind.text, "invalid_path");
}

#[actix_web::test]
async fn liking_a_members_post_tells_its_author() {
    let app = spawn_app().await;
    let (author, author_token) = app.member();
    let (_, fan) = app.member();
    let (mut socket, _) = app.connect_ready(&author_token, None).await;
    let post = json!({
        "title": "My first 5k", "author_id": author.to_string(), "tags": ["community"],
        "body": "I ran it!",
    });
    let created = app
        .call(
            "POST",
            "/v1/admin/content/post",
            Some(post),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let liked = app
        .call("PUT", "/v1/me/likes/post/my-first-5k", None, Some(&fan))
        .await;
    assert_eq!(liked.status, 200);
    let event = socket.event("community.post_liked").await;
    assert_eq!(event["data"]["id"], "my-first-5k");
    assert!(event["seq"].is_u64(), "kept in the author's feed");
}

#[actix_web::test]
async fn the_client_configuration_answers_per_platform_and_version_and_admins_edit_it() {
    let app = spawn_app().await;
    let answer = app
        .call(
            "GET",
            "/v1/config?platform=ios&app_version=1.9.3",
            None,
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["force_update"], false);
    assert_eq!(body["features"]["live_classes"], true);
    let tag = answer.header("etag").expect("etag").to_owned();
    let cached = app
        .call_with_headers(
            "GET",
            "/v1/config?platform=ios&app_version=1.9.3",
            None,
            None,
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(cached.status, 304);

    let token = app.admin();
    let mut config = app
        .call("GET", "/v1/admin/config", None, Some(&token))
        .await
        .json();
    config["platforms"]["ios"]["min_version"] = json!("2.0.0");
    config["platforms"]["ios"]["latest_version"] = json!("2.1.0");
    config["features"]["drops"] =
        json!({"enabled": true, "platforms": ["ios"], "min_version": "2.1.0"});
    let (_, member) = app.member();
    let forbidden = app
        .call(
            "PUT",
            "/v1/admin/config",
            Some(config.clone()),
            Some(&member),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    let saved = app
        .call(
            "PUT",
            "/v1/admin/config",
            Some(config.clone()),
            Some(&token),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text);

    let old = app
        .call_with_headers(
            "GET",
            "/v1/config?platform=ios&app_version=1.9.3",
            None,
            None,
            &[("if-none-match", &tag)],
        )
        .await;
    assert_eq!(old.status, 200, "the edit changed the answer");
    assert_eq!(old.json()["force_update"], true);
    assert_eq!(old.json()["features"]["drops"], false);
    let new = app
        .call("GET", "/v1/config?platform=ios&app_version=2.1", None, None)
        .await
        .json();
    assert_eq!(
        (
            new["force_update"].clone(),
            new["features"]["drops"].clone()
        ),
        (json!(false), json!(true))
    );
    let android = app
        .call(
            "GET",
            "/v1/config?platform=android&app_version=2.1",
            None,
            None,
        )
        .await
        .json();
    assert_eq!(android["features"]["drops"], false);
    let stored = app
        .stores
        .settings
        .setting("client_config")
        .await
        .expect("read");
    assert!(stored.expect("stored").contains("2.1.0"));

    for path in [
        "/v1/config",
        "/v1/config?platform=ios",
        "/v1/config?platform=tv&app_version=1",
        "/v1/config?platform=ios&app_version=v1",
        "/v1/config?platform=ios&app_version=1&beta=1",
    ] {
        let response = app.call("GET", path, None, None).await;
        assert_eq!(response.status, 400, "{path}");
        assert_error(&response.text, "invalid_query");
    }
    let mut typo = config.clone();
    typo["featurez"] = json!({});
    let mut backwards = config;
    backwards["platforms"]["ios"]["min_version"] = json!("9.0.0");
    for doc in [typo, backwards] {
        let response = app
            .call("PUT", "/v1/admin/config", Some(doc), Some(&token))
            .await;
        assert_eq!(response.status, 400, "{}", response.text);
    }
}

/// Sends `body` as JSON text to `method path` with `token`.
async fn raw(app: &TestApp, method: &str, path: &str, body: String, token: &str) -> (u16, String) {
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut response = app
        .client
        .request(method, app.url(path))
        .insert_header(("content-type", "application/json"))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send_body(body)
        .await
        .expect("sent");
    let bytes = response.body().limit(1 << 20).await.expect("body");
    (
        response.status().as_u16(),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[actix_web::test]
async fn malformed_and_oversize_bodies_on_every_content_write_change_nothing() {
    let app = crate::helpers::spawn_app_with(|s| s.http.max_body_bytes = 4096).await;
    let token = app.admin();
    let writes = [
        ("POST", "/v1/admin/content/recipe"),
        ("PUT", "/v1/admin/content/recipe/classic-overnight-oats"),
        ("PUT", "/v1/admin/config"),
        ("PUT", "/v1/me/plan"),
        ("PUT", "/v1/me/plan/items/w1d1-lunch/swap"),
        ("POST", "/v1/me/shopping-list/extras"),
    ];
    let before = app
        .call("GET", "/v1/recipes?limit=100", None, None)
        .await
        .text;
    let oversize = format!(r#"{{"title":"{}"}}"#, "x".repeat(8192));
    for (method, path) in writes {
        let (status, body) = raw(&app, method, path, "{,}".into(), &token).await;
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert_error(&body, "malformed_json");
        let (status, body) = raw(&app, method, path, oversize.clone(), &token).await;
        assert_eq!(status, 413, "{method} {path}: {body}");
        assert_error(&body, "payload_too_large");
    }
    let after = app
        .call("GET", "/v1/recipes?limit=100", None, None)
        .await
        .text;
    assert_eq!(before, after, "the catalog is unchanged");
    let plan = app.call("GET", "/v1/me/plan", None, Some(&token)).await;
    assert_eq!(plan.status, 404, "no plan was chosen");
}
