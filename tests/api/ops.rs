//! Operations artefacts stay true to the server: the dashboards are well-formed and every
//! metric a dashboard or alert rule queries is exported by a running server.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::helpers::spawn_app;

fn dashboards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// Every dashboard in `dashboards/`, by path, parsed.
pub fn dashboards() -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dashboards_dir()).expect("dashboards folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("readable");
            let value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            found.push((path.display().to_string(), value));
        }
    }
    assert!(found.len() >= 2, "the overview and live dashboards exist");
    found
}

/// Every `fitpulse_*` and `process_*` metric name mentioned in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (start, _) in text
        .match_indices("fitpulse_")
        .chain(text.match_indices("process_"))
    {
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

/// The linter's rules (variables, units, matchers, rate intervals) are in
/// `dashboard_lint`; this checks what Grafana itself needs to import a dashboard.
#[test]
fn every_dashboard_has_a_uid_and_queries_something() {
    for (path, dashboard) in dashboards() {
        assert!(dashboard["uid"].is_string(), "{path}: uid");
        let queried = dashboard["panels"]
            .as_array()
            .expect("panels")
            .iter()
            .filter_map(|p| p["targets"].as_array())
            .flatten()
            .count();
        assert!(queried > 0, "{path} queries something");
    }
}

#[actix_web::test]
async fn every_metric_a_dashboard_or_rule_queries_is_exported() {
    let mut referenced = BTreeSet::new();
    for (_, dashboard) in dashboards() {
        referenced.extend(metric_names(&dashboard.to_string()));
    }
    let rules =
        std::fs::read_to_string(dashboards_dir().join("alerts/fitpulse.rules.yml")).expect("rules");
    let from_rules = metric_names(&rules);
    assert!(from_rules.len() >= 6, "{from_rules:?}");
    referenced.extend(from_rules);

    let app = spawn_app().await;
    // Some traffic, so request-labelled series exist.
    app.get("/healthz").await;
    app.get("/readyz").await;
    // A drop being served (announced and not ended), so its per-drop stock series exists.
    let admin = app.mint(
        fitpulse_actors::domain::UserId::random(),
        &[fitpulse_actors::domain::Role::Admin],
        600,
    );
    let drop = app
        .call(
            "POST",
            "/v1/admin/drops",
            Some(serde_json::json!({
                "title": "Metrics", "stock": 1, "price_cents": 100, "currency": "EUR",
                "starts_at": fitpulse_actors::events::rfc3339(
                    fitpulse_actors::domain::now_millis() + 3_600_000,
                ),
                "per_user_limit": 1,
                "reservation_ttl_seconds": 60, "admission_per_second": null,
            })),
            Some(&admin),
        )
        .await
        .json();
    let drop = drop["id"].as_str().expect("id");
    app.get(&format!("/v1/drops/{drop}")).await;
    // The stock series appears at the drop's first tick.
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    let exported = loop {
        let exported = app.metrics().await;
        if exported.contains(drop) || tokio::time::Instant::now() > deadline {
            break exported;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let missing: Vec<&String> = referenced
        .iter()
        .filter(|name| {
            !exported.lines().any(|line| {
                line.starts_with(name.as_str()) && line[name.len()..].starts_with(['{', ' '])
            })
        })
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
    assert!(referenced.len() >= 15, "{referenced:?}");
}

#[test]
fn metric_names_are_found_whole() {
    let names = metric_names(
        r#"rate(fitpulse_a_total{x="1"}[5m]) / my_fitpulse_b + process_cpu_seconds_total"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["fitpulse_a_total", "process_cpu_seconds_total"]
    );
}

/// Every configuration file the Helm chart renders loads with the server's own loader
/// (unknown keys and bad values fail there). `scripts/check-helm`, which `scripts/test`
/// runs before the tests, leaves the rendered files in `target/check-helm`.
#[test]
fn every_configuration_the_helm_chart_renders_loads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/check-helm");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    if files.is_empty() {
        // The full suite always renders the chart first; a bare `cargo test` may not have.
        assert!(
            std::env::var("FITPULSE_TEST_REQUIRE_CQL").as_deref() != Ok("1"),
            "no rendered chart configuration in {}: run scripts/check-helm",
            dir.display()
        );
        crate::skips::skipped("no rendered chart configuration (run scripts/check-helm)");
        return;
    }
    for file in files {
        fitpulse::config::Settings::load(Some(&file))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

/// `/v1/openapi.json` documents every route the server mounts, and every documented
/// operation reaches a handler (no "no route", no 405).
#[actix_web::test]
async fn the_openapi_document_and_the_routes_agree() {
    let app = spawn_app().await;
    let (status, _, body) = app.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).expect("JSON");
    let paths = doc["paths"].as_object().expect("paths");
    let wildcard = |path: &str| -> Vec<String> {
        path.split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "*".to_owned()
                } else {
                    seg.to_owned()
                }
            })
            .collect()
    };
    let documented: Vec<Vec<String>> = paths.keys().map(|p| wildcard(p)).collect();

    // Every literal route in the source is documented.
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut mounted = Vec::new();
    let mut dirs = vec![src.join("http"), src.join("ws")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap_or_default();
            for part in text.split("web::resource(\"").skip(1) {
                mounted.push(part.split('"').next().expect("path").to_owned());
            }
        }
    }
    assert!(mounted.len() >= 70, "{mounted:?}");
    for route in &mounted {
        let pattern = wildcard(route);
        let covered = documented.iter().any(|doc| {
            doc.len() == pattern.len()
                && doc
                    .iter()
                    .zip(&pattern)
                    .all(|(d, p)| p == "*" || d == "*" || d == p)
        });
        assert!(covered, "{route} is mounted but not in openapi.json");
    }

    // Every documented operation reaches a handler.
    for (path, ops) in paths {
        let concrete = path
            .replace("{kind}", "recipe")
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    uuid::Uuid::new_v4().to_string()
                } else {
                    seg.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in ops.as_object().expect("operations").keys() {
            let response = app
                .call(&method.to_uppercase(), &concrete, None, None)
                .await;
            assert_ne!(response.status, 405, "{method} {path}");
            assert!(
                !response.text.contains("no route for"),
                "{method} {path} is documented but not routed"
            );
        }
    }
}

/// Operations answered with something other than a JSON body on success, each for a
/// reason: metrics are Prometheus text, the console is HTML and scripts, the socket
/// upgrades, and a few accepted requests answer 202 without a body.
const NOT_JSON: &[(&str, &str, &str)] = &[
    ("get", "/metrics", "Prometheus text exposition"),
    ("get", "/console", "HTML page"),
    ("get", "/console/coach", "HTML page"),
    ("get", "/console/app", "HTML page"),
    ("get", "/console/ops", "HTML page"),
    ("get", "/console/assets/{file}", "JavaScript and CSS"),
    ("get", "/v1/ws", "WebSocket upgrade (101)"),
    (
        "post",
        "/v1/auth/password-reset",
        "202, no body: reveals no account",
    ),
    ("post", "/v1/auth/verify-email/resend", "202, no body"),
];

/// Every route handler in `src/http` and `src/ws` that reads a JSON body: the JSON
/// extractor, or raw bytes checked by `require_json` (signed or fingerprinted bodies).
/// Answers (method, path pattern as mounted).
fn routes_with_json_bodies() -> Vec<(String, String)> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut dirs = vec![src.join("http"), src.join("ws")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for part in text.split("web::resource(\"").skip(1) {
                let route = part.split('"').next().expect("path").to_owned();
                let chain = part.split("web::resource(").next().unwrap_or(part);
                let chain = chain.split(';').next().unwrap_or(chain);
                for method in ["get", "post", "put", "patch", "delete"] {
                    for call in chain.split(&format!(".{method}(")).skip(1) {
                        let handler = call.split(')').next().expect("handler").trim();
                        // `module::handler` lives in `module.rs` beside this file.
                        let (file, name) = match handler.rsplit_once("::") {
                            Some((module, name)) => (dir.join(format!("{module}.rs")), name),
                            None => (path.clone(), handler),
                        };
                        let source = std::fs::read_to_string(&file).unwrap_or_default();
                        let Some(body) = source.split(&format!("fn {name}(")).nth(1) else {
                            continue;
                        };
                        let signature = body.split('{').next().unwrap_or_default();
                        let function = body.split("\n}").next().unwrap_or_default();
                        if signature.contains("web::Json<") || function.contains("require_json(") {
                            found.push((method.to_owned(), route.clone()));
                        }
                    }
                }
            }
        }
    }
    found
}

/// `/v1/live/classes/{id}/{action:start|end|cancel}` as the documented paths it serves.
fn documented_forms(route: &str) -> Vec<String> {
    let Some(start) = route.find(":") else {
        return vec![route.to_owned()];
    };
    let open = route[..start].rfind('{').expect("a pattern segment");
    let close = open + route[open..].find('}').expect("a closed segment");
    route[start + 1..close]
        .split('|')
        .map(|alt| format!("{}{alt}{}", &route[..open], &route[close + 1..]))
        .collect()
}

/// The served document is the generated one, and it types what the routes read and
/// answer: a request body schema wherever a handler reads JSON, a success answer on every
/// operation with a schema wherever it is JSON, an error schema on every error answer, and
/// every `$ref` names a component.
#[actix_web::test]
async fn every_operation_has_typed_bodies_answers_and_errors() {
    let app = spawn_app().await;
    let (status, _, served) = app.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(served, fitpulse::http::contract::document());
    let doc: Value = serde_json::from_str(&served).expect("JSON");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");

    let with_bodies = routes_with_json_bodies();
    assert!(with_bodies.len() >= 30, "{with_bodies:?}");
    for (method, route) in &with_bodies {
        for path in documented_forms(route) {
            let operation = &doc["paths"][&path][method];
            assert!(operation.is_object(), "{method} {path} is not documented");
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            assert!(
                schema["$ref"].is_string(),
                "{method} {path} reads JSON but documents no body"
            );
            assert_eq!(
                operation["requestBody"]["required"], true,
                "{method} {path}"
            );
        }
    }

    let mut operations = 0;
    let mut typed = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            operations += 1;
            let responses = operation["responses"].as_object().expect("responses");
            let exempt = NOT_JSON.iter().any(|(m, p, _)| *m == method && *p == path);
            let mut successes = 0;
            for (status, response) in responses {
                let code: u16 = status.parse().unwrap_or(0);
                let schema = &response["content"]["application/json"]["schema"];
                if (100..400).contains(&code) {
                    successes += 1;
                    if schema.is_object() {
                        typed += 1;
                    } else {
                        assert!(
                            exempt || code == 204 || code == 304,
                            "{method} {path} answers {status} without a JSON schema"
                        );
                    }
                } else {
                    assert!(
                        schema["$ref"].is_string(),
                        "{method} {path} {status} has no schema"
                    );
                }
            }
            assert!(successes > 0, "{method} {path} documents no success answer");
            assert!(responses.contains_key("default"), "{method} {path}");
            assert!(
                operation["security"].is_array(),
                "{method} {path} states no security"
            );
        }
    }
    assert!(operations >= 130, "{operations}");
    assert!(typed >= 100, "{typed} typed success answers");

    for part in served.split("\"$ref\": \"").skip(1) {
        let target = part.split('"').next().expect("a ref");
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target} does not point into the components"));
        assert!(schemas.contains_key(name), "{target} names no component");
    }
    let codes = &schemas["ErrorCode"]["enum"];
    assert!(
        codes
            .as_array()
            .is_some_and(|c| c.contains(&"not_found".into())),
        "{codes}"
    );
}

/// The answer checker finds operations by path template, preferring literal segments.
#[test]
fn answers_are_matched_to_their_path_templates() {
    use crate::helpers::contract::template_of;
    let id = uuid::Uuid::new_v4();
    assert_eq!(template_of("/v1/me/plan").as_deref(), Some("/v1/me/plan"));
    assert_eq!(
        template_of(&format!("/v1/live/classes/{id}/status?x=1")).as_deref(),
        Some("/v1/live/classes/{id}/status")
    );
    assert_eq!(
        template_of(&format!("/v1/groups/{id}/members/me")).as_deref(),
        Some("/v1/groups/{id}/members/me")
    );
    assert_eq!(template_of("/v1/nothing-here"), None);
}

/// A positive control for the answer checker: a body that breaks its operation's schema,
/// a success of an undocumented route, and an undocumented status are all refused.
#[test]
fn the_answer_checker_refuses_what_the_document_does_not_allow() {
    use crate::helpers::{Response, contract::check};
    let answer = |status: u16, text: &str| {
        let mut headers = awc::http::header::HeaderMap::new();
        headers.insert(
            awc::http::header::CONTENT_TYPE,
            awc::http::header::HeaderValue::from_static("application/json"),
        );
        Response {
            status,
            headers,
            text: text.to_owned(),
        }
    };
    check("GET", "/healthz", &answer(200, r#"{"status":"ok"}"#));
    check(
        "GET",
        "/v1/nothing-here",
        &answer(
            404,
            r#"{"error":{"code":"not_found","message":"no route","details":{}}}"#,
        ),
    );
    for (method, path, status, body) in [
        ("GET", "/healthz", 200, r#"{"status":5}"#),
        ("GET", "/healthz", 200, r#"{}"#),
        ("GET", "/v1/nothing-here", 200, r#"{}"#),
        ("GET", "/healthz", 201, r#"{"status":"ok"}"#),
        (
            "GET",
            "/v1/me",
            401,
            r#"{"error":{"code":"no_such_code","message":"","details":{}}}"#,
        ),
    ] {
        let refused = std::panic::catch_unwind(|| check(method, path, &answer(status, body)));
        assert!(refused.is_err(), "{method} {path} {status} {body} passed");
    }
}
