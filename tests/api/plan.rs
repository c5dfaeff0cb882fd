//! My plan and shopping list over HTTP and sockets: choosing a template, week rendering,
//! ticking items off, swapping meals, live `plan.updated` on another device, shopping-list
//! sums and unit conversion, extras, and bad input.

use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, unique_email};

async fn create(app: &TestApp, kind: &str, doc: Value) {
    let response = app
        .call(
            "POST",
            &format!("/v1/admin/content/{kind}"),
            Some(doc),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
}

/// Two recipes and a two-week plan with known quantities:
/// week 1 = A (breakfast, day 1) + B (breakfast, day 2) + A (lunch, day 2).
async fn known_plan(app: &TestApp) {
    create(
        app,
        "recipe",
        json!({
            "id": "test-oats-a", "title": "Test oats A", "minutes": 5, "kcal": 300, "protein_g": 10,
            "ingredients": [
                {"name": "Oats", "quantity": 80, "unit": "g", "aisle": "pantry"},
                {"name": "milk", "quantity": 200, "unit": "ml", "aisle": "dairy"},
                {"name": "banana", "quantity": 1, "unit": "piece", "aisle": "produce"},
            ],
            "steps": ["Mix"],
        }),
    )
    .await;
    create(
        app,
        "recipe",
        json!({
            "id": "test-oats-b", "title": "Test oats B", "minutes": 5, "kcal": 300, "protein_g": 10,
            "servings": 2,
            "ingredients": [
                {"name": "oats", "quantity": 0.2, "unit": "kg", "aisle": "pantry"},
                {"name": "milk", "quantity": 1, "unit": "cup", "aisle": "dairy"},
            ],
            "steps": ["Mix"],
        }),
    )
    .await;
    create(
        app,
        "plan",
        json!({
            "id": "test-plan", "title": "Test plan", "goal": "Testing",
            "weeks": [
                {"days": [
                    {"entries": [
                        {"slot": "workout", "ref": "core-crusher-express-15-min"},
                        {"slot": "breakfast", "ref": "test-oats-a"},
                    ]},
                    {"entries": [
                        {"slot": "breakfast", "ref": "test-oats-b"},
                        {"slot": "lunch", "ref": "test-oats-a"},
                    ]},
                ]},
                {"days": [{"entries": [{"slot": "dinner", "ref": "test-oats-b"}]}]},
            ],
        }),
    )
    .await;
}

async fn choose(app: &TestApp, token: &str, template: &str) -> Value {
    let response = app
        .call(
            "PUT",
            "/v1/me/plan",
            Some(json!({ "template_id": template })),
            Some(token),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    response.json()
}

#[actix_web::test]
async fn a_chosen_plan_renders_week_by_week_with_items_and_dates() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    let none = app.call("GET", "/v1/me/plan", None, Some(&token)).await;
    assert_eq!(none.status, 404);
    assert_error(&none.text, "no_plan");

    let week = choose(&app, &token, "lose-weight-2-week-plan").await;
    assert_eq!(week["week"], 1);
    assert_eq!(week["weeks"], 2);
    assert_eq!(week["template"]["title"], "Lose weight - 2 week plan");
    let days = week["days"].as_array().expect("days");
    assert_eq!(days.len(), 7);
    let first = &days[0]["entries"];
    assert_eq!(first[0]["slot"], "workout");
    assert_eq!(first[0]["id"], "w1d1-workout");
    assert_eq!(first[0]["item"]["kind"], "workout");
    assert_eq!(first[1]["id"], "w1d1-breakfast");
    assert_eq!(first[1]["item"]["kind"], "recipe");
    assert!(first[1]["item"]["title"].is_string());
    assert_eq!(days[1]["date"].as_str().map(str::len), Some(10));
    assert_eq!(
        days[6]["entries"].as_array().expect("rest day").len(),
        4,
        "no workout on day 7"
    );

    let second = app
        .call("GET", "/v1/me/plan?week=2", None, Some(&token))
        .await
        .json();
    assert_eq!(second["week"], 2);
    assert_eq!(second["days"][0]["entries"][0]["id"], "w2d1-workout");
    for path in [
        "/v1/me/plan?week=3",
        "/v1/me/plan?week=0",
        "/v1/me/plan?week=x",
        "/v1/me/plan?weak=1",
    ] {
        let response = app.call("GET", path, None, Some(&token)).await;
        assert_eq!(response.status, 400, "{path}: {}", response.text);
        assert_error(&response.text, "invalid_query");
    }
}

#[actix_web::test]
async fn choosing_a_plan_refuses_unknown_templates_bad_dates_and_premium_for_free_users() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    let cases = [
        (json!({ "template_id": "no-such-plan" }), 404, "not_found"),
        (
            json!({ "template_id": "lose-weight-2-week-plan", "start_date": "23/11/2026" }),
            400,
            "invalid_field",
        ),
        (
            json!({ "template_id": "lose-weight-2-week-plan", "start_date": "1999-01-01" }),
            400,
            "invalid_field",
        ),
        (
            json!({ "template_id": "lose-weight-2-week-plan", "extra": 1 }),
            400,
            "invalid_body",
        ),
        (
            json!({ "template_id": "build-strength-4-week-plan" }),
            403,
            "premium_required",
        ),
    ];
    for (body, status, code) in cases {
        let response = app
            .call("PUT", "/v1/me/plan", Some(body.clone()), Some(&token))
            .await;
        assert_eq!(response.status, status, "{body}: {}", response.text);
        assert_error(&response.text, code);
    }
    let unauthorized = app
        .call(
            "PUT",
            "/v1/me/plan",
            Some(json!({ "template_id": "lose-weight-2-week-plan" })),
            None,
        )
        .await;
    assert_eq!(unauthorized.status, 401);
    let premium =
        app.mint_with_scopes(UserId::random(), &[Role::Member], &["content:premium"], 600);
    choose(&app, &premium, "build-strength-4-week-plan").await;
}

#[actix_web::test]
async fn items_are_ticked_off_and_meals_swapped_and_other_devices_hear_of_it() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    choose(&app, &token, "lose-weight-2-week-plan").await;
    let (mut phone, _) = app.connect_ready(&token, None).await;

    let done = app
        .call(
            "PUT",
            "/v1/me/plan/items/w1d1-workout/done",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let event = phone.event("plan.updated").await;
    assert_eq!(event["data"]["item_id"], "w1d1-workout");
    assert_eq!(event["data"]["done"], true);
    assert!(event["seq"].is_u64());

    // The session holds the plan: a socket read sees the change at once.
    phone
        .send(json!({ "id": 7, "type": "plan.get", "data": {} }))
        .await;
    let reply = phone.reply(7).await;
    assert!(
        reply["data"]["plan"]["done"]
            .as_array()
            .expect("done")
            .contains(&json!("w1d1-workout"))
    );

    let swapped = app
        .call(
            "PUT",
            "/v1/me/plan/items/w1d1-lunch/swap",
            Some(json!({ "recipe_id": "classic-chickpea-curry" })),
            Some(&token),
        )
        .await;
    assert_eq!(swapped.status, 200, "{}", swapped.text);
    assert_eq!(
        phone.event("plan.updated").await["data"]["recipe_id"],
        "classic-chickpea-curry"
    );
    let week = app
        .call("GET", "/v1/me/plan", None, Some(&token))
        .await
        .json();
    let day = &week["days"][0]["entries"];
    assert_eq!(day[0]["done"], true);
    let lunch = day
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["id"] == "w1d1-lunch")
        .expect("lunch");
    assert_eq!(
        (lunch["swapped"].clone(), lunch["item"]["id"].clone()),
        (json!(true), json!("classic-chickpea-curry"))
    );
    assert_eq!(week["progress"]["done"], 1);

    let undone = app
        .call(
            "DELETE",
            "/v1/me/plan/items/w1d1-workout/done",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(undone.status, 200);
    assert_eq!(phone.event("plan.updated").await["data"]["done"], false);
    let restored = app
        .call(
            "DELETE",
            "/v1/me/plan/items/w1d1-lunch/swap",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(restored.status, 200);

    let cases = [
        (
            "PUT",
            "/v1/me/plan/items/w9d9-lunch/done",
            None,
            404,
            "not_found",
        ),
        (
            "PUT",
            "/v1/me/plan/items/w1d1-workout/swap",
            Some(json!({ "recipe_id": "classic-chickpea-curry" })),
            400,
            "invalid_field",
        ),
        (
            "PUT",
            "/v1/me/plan/items/w1d1-lunch/swap",
            Some(json!({ "recipe_id": "no-such-recipe" })),
            404,
            "not_found",
        ),
        (
            "PUT",
            "/v1/me/plan/items/w1d1-lunch/swap",
            Some(json!({ "recipe": "x" })),
            400,
            "invalid_body",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let response = app.call(method, path, body, Some(&token)).await;
        assert_eq!(response.status, status, "{path}: {}", response.text);
        assert_error(&response.text, code);
    }
    let (_, stranger) = app.member();
    let no_plan = app
        .call(
            "PUT",
            "/v1/me/plan/items/w1d1-lunch/done",
            None,
            Some(&stranger),
        )
        .await;
    assert_eq!(no_plan.status, 404);
    assert_error(&no_plan.text, "no_plan");
}

#[actix_web::test]
async fn concurrent_changes_from_several_devices_are_all_kept() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    choose(&app, &token, "lose-weight-2-week-plan").await;
    let entries: Vec<String> = (1..=7)
        .flat_map(|d| ["breakfast", "lunch", "dinner"].map(|slot| format!("w1d{d}-{slot}")))
        .collect();
    let paths: Vec<String> = entries
        .iter()
        .map(|e| format!("/v1/me/plan/items/{e}/done"))
        .collect();
    let ticks = paths
        .iter()
        .map(|path| app.call("PUT", path, None, Some(&token)));
    for response in futures_util::future::join_all(ticks).await {
        assert_eq!(response.status, 200, "{}", response.text);
    }
    let week = app
        .call("GET", "/v1/me/plan", None, Some(&token))
        .await
        .json();
    assert_eq!(week["progress"]["done"], 21, "no tick lost to another");
}

#[actix_web::test]
async fn the_shopping_list_sums_a_weeks_meals_converts_units_and_syncs_checks() {
    let app = spawn_app().await;
    known_plan(&app).await;
    let email = unique_email();
    let token = app.register(&email).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    choose(&app, &token, "test-plan").await;

    let list = app
        .call("GET", "/v1/me/shopping-list", None, Some(&token))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let list = list.json();
    assert_eq!(list["week"], 1);
    assert_eq!(list["units"], "metric");
    let aisles: Vec<&str> = list["aisles"]
        .as_array()
        .expect("aisles")
        .iter()
        .map(|a| a["aisle"].as_str().expect("aisle"))
        .collect();
    assert_eq!(aisles, ["produce", "dairy", "pantry"]);
    let line = |list: &Value, name: &str| -> Value {
        list["aisles"]
            .as_array()
            .expect("aisles")
            .iter()
            .flat_map(|a| a["items"].as_array().expect("items").iter())
            .find(|i| i["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {list}"))
    };
    // 80 g + 200 g / 2 servings + 80 g; 200 ml + 1 cup / 2 + 200 ml; 2 bananas.
    assert_eq!(
        (
            line(&list, "oats")["quantity"].clone(),
            line(&list, "oats")["unit"].clone()
        ),
        (json!(260.0), json!("g"))
    );
    assert_eq!(
        (
            line(&list, "milk")["quantity"].clone(),
            line(&list, "milk")["unit"].clone()
        ),
        (json!(518.0), json!("ml"))
    );
    assert_eq!(
        (
            line(&list, "banana")["quantity"].clone(),
            line(&list, "banana")["unit"].clone()
        ),
        (json!(2.0), json!("piece"))
    );
    let week2 = app
        .call("GET", "/v1/me/shopping-list?week=2", None, Some(&token))
        .await
        .json();
    assert_eq!(line(&week2, "oats")["quantity"], 100.0);

    let imperial = app
        .call(
            "PATCH",
            "/v1/me",
            Some(json!({ "units": "imperial" })),
            Some(&token),
        )
        .await;
    assert_eq!(imperial.status, 200);
    let list = app
        .call("GET", "/v1/me/shopping-list", None, Some(&token))
        .await
        .json();
    assert_eq!(list["units"], "imperial");
    assert_eq!(
        (
            line(&list, "oats")["quantity"].clone(),
            line(&list, "oats")["unit"].clone()
        ),
        (json!(9.2), json!("oz"))
    );
    assert_eq!(
        (
            line(&list, "milk")["quantity"].clone(),
            line(&list, "milk")["unit"].clone()
        ),
        (json!(2.19), json!("cup"))
    );

    let (mut tablet, _) = app.connect_ready(&token, None).await;
    let oats = line(&list, "oats")["id"].as_str().expect("id").to_owned();
    let checked = app
        .call(
            "PUT",
            &format!("/v1/me/shopping-list/items/{oats}/checked"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(checked.status, 200, "{}", checked.text);
    let event = tablet.event("plan.shopping_list_updated").await;
    assert_eq!(
        (
            event["data"]["id"].clone(),
            event["data"]["checked"].clone()
        ),
        (json!(oats.clone()), json!(true))
    );
    let list = app
        .call("GET", "/v1/me/shopping-list", None, Some(&token))
        .await
        .json();
    assert_eq!(line(&list, "oats")["checked"], true);
    let other_week = app
        .call("GET", "/v1/me/shopping-list?week=2", None, Some(&token))
        .await
        .json();
    assert_eq!(
        line(&other_week, "oats")["checked"],
        false,
        "checks belong to their week"
    );

    let added = app
        .call(
            "POST",
            "/v1/me/shopping-list/extras",
            Some(json!({ "name": "sparkling water", "quantity": 2, "unit": "l" })),
            Some(&token),
        )
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    let extra = added.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(
        tablet.event("plan.shopping_list_updated").await["data"]["change"],
        "extra_added"
    );
    let ticked = app
        .call(
            "PUT",
            &format!("/v1/me/shopping-list/extras/{extra}/checked"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(ticked.status, 200);
    let list = app
        .call("GET", "/v1/me/shopping-list", None, Some(&token))
        .await
        .json();
    assert_eq!(list["extras"][0]["checked"], true);
    let removed = app
        .call(
            "DELETE",
            &format!("/v1/me/shopping-list/extras/{extra}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(removed.status, 204);

    let cases = [
        (
            "POST",
            "/v1/me/shopping-list/extras",
            Some(json!({ "name": "x", "quantity": -1, "unit": "g" })),
            400,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/me/shopping-list/extras",
            Some(json!({ "name": "x", "quantity": 1, "unit": "bushel" })),
            400,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/me/shopping-list/extras",
            Some(json!({ "name": "", "quantity": 1, "unit": "g" })),
            400,
            "invalid_field",
        ),
        (
            "POST",
            "/v1/me/shopping-list/extras",
            Some(json!({ "name": "x" })),
            400,
            "invalid_body",
        ),
        (
            "DELETE",
            "/v1/me/shopping-list/extras/x99",
            None,
            404,
            "not_found",
        ),
        (
            "PUT",
            "/v1/me/shopping-list/items/caviar~mass/checked",
            None,
            404,
            "not_found",
        ),
        (
            "GET",
            "/v1/me/shopping-list?week=9",
            None,
            400,
            "invalid_query",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let response = app.call(method, path, body, Some(&token)).await;
        assert_eq!(
            response.status, status,
            "{method} {path}: {}",
            response.text
        );
        assert_error(&response.text, code);
    }
}

/// A rendered week is kept between reads: it must still show every change that matters.
#[actix_web::test]
async fn a_week_read_again_shows_a_tick_a_renamed_item_and_an_unpublished_one() {
    let app = spawn_app().await;
    known_plan(&app).await;
    let (_, token) = app.member();
    let (_, other) = app.member();
    choose(&app, &token, "test-plan").await;
    choose(&app, &other, "test-plan").await;
    let read = |token: String| {
        let app = &app;
        async move {
            let response = app
                .call("GET", "/v1/me/plan?week=1", None, Some(&token))
                .await;
            assert_eq!(response.status, 200, "{}", response.text);
            response.json()
        }
    };
    let entry = |week: &Value, id: &str| -> Value {
        week["days"]
            .as_array()
            .expect("days")
            .iter()
            .flat_map(|d| d["entries"].as_array().expect("entries").iter())
            .find(|e| e["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no entry {id} in {week}"))
    };
    let first = read(token.clone()).await;
    assert_eq!(entry(&first, "w1d1-breakfast")["done"], false);
    assert_eq!(read(token.clone()).await, first, "the same week read twice");

    let done = app
        .call(
            "PUT",
            "/v1/me/plan/items/w1d1-breakfast/done",
            None,
            Some(&token),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let ticked = read(token.clone()).await;
    assert_eq!(entry(&ticked, "w1d1-breakfast")["done"], true);
    assert_eq!(ticked["progress"], json!({"done": 1, "total": 4}));
    // Another member on the same plan did not tick it.
    let theirs = read(other.clone()).await;
    assert_eq!(entry(&theirs, "w1d1-breakfast")["done"], false);

    let renamed = app
        .call(
            "PUT",
            "/v1/admin/content/recipe/test-oats-a",
            Some(json!({
                "title": "Renamed oats", "minutes": 5, "kcal": 300, "protein_g": 10,
                "ingredients": [{"name": "Oats", "quantity": 80, "unit": "g", "aisle": "pantry"}],
                "steps": ["Mix"],
            })),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    let week = read(token.clone()).await;
    assert_eq!(
        entry(&week, "w1d1-breakfast")["item"]["title"],
        "Renamed oats"
    );
    assert_eq!(entry(&week, "w1d2-lunch")["item"]["title"], "Renamed oats");

    let gone = app
        .call(
            "DELETE",
            "/v1/admin/content/recipe/test-oats-b",
            None,
            Some(&app.admin()),
        )
        .await;
    assert_eq!(gone.status, 200, "{}", gone.text);
    let week = read(other.clone()).await;
    assert_eq!(entry(&week, "w1d2-breakfast")["item"]["available"], false);
}
