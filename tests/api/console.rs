//! The web consoles are served from the binary: the right content type, an `ETag` with
//! `304` on a match, `no-cache`, a Content-Security-Policy without inline scripts, every
//! file a page or module refers to, and the one JSON error shape for anything else.

use crate::helpers::{assert_error, spawn_app};

const PAGES: [&str; 4] = ["/console", "/console/coach", "/console/app", "/console/ops"];

/// The `/console/assets/...` files a page or module names in double quotes (`src`,
/// `href`, `import ... from "./x.js"`).
fn referenced_assets(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| {
            quoted
                .strip_prefix("/console/assets/")
                .or_else(|| quoted.strip_prefix("./"))
        })
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn every_console_page_is_html_with_a_strict_policy_and_every_file_it_names_is_served() {
    let app = spawn_app().await;
    let mut assets = Vec::new();
    for page in PAGES {
        let response = app.call("GET", page, None, None).await;
        assert_eq!(response.status, 200, "{page}");
        assert_eq!(
            response.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(response.header("cache-control"), Some("no-cache"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        let policy = response.header("content-security-policy").expect("CSP");
        assert!(policy.contains("default-src 'self'"), "{policy}");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(policy.contains("connect-src 'self' ws: wss:"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        // The policy allows no inline script or handler, so a page must have none.
        for script in response.text.split("<script").skip(1) {
            let tag = script.split('>').next().expect("tag");
            assert!(
                tag.contains("src=\"/console/assets/"),
                "{page}: inline <script{tag}>"
            );
        }
        assert!(
            !response.text.contains(" onclick="),
            "{page}: inline handler"
        );
        assets.extend(referenced_assets(&response.text));
    }
    assert!(assets.iter().any(|a| a == "console.css"), "{assets:?}");
    // Modules import each other; follow them all.
    let mut seen = std::collections::BTreeSet::new();
    while let Some(asset) = assets.pop() {
        if !seen.insert(asset.clone()) {
            continue;
        }
        let response = app
            .call("GET", &format!("/console/assets/{asset}"), None, None)
            .await;
        assert_eq!(response.status, 200, "{asset}: {}", response.text);
        let expected = if asset.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(response.header("content-type"), Some(expected), "{asset}");
        assert!(response.header("etag").is_some(), "{asset}");
        if asset.ends_with(".js") {
            assets.extend(referenced_assets(&response.text));
        }
    }
    for module in ["fitpulse.js", "coach.js", "app.js", "ops.js"] {
        assert!(seen.contains(module), "{module} is never loaded: {seen:?}");
    }
}

#[actix_web::test]
async fn a_console_file_the_caller_has_answers_304_with_its_tag() {
    let app = spawn_app().await;
    for path in ["/console/coach", "/console/assets/fitpulse.js"] {
        let first = app.call("GET", path, None, None).await;
        let tag = first.header("etag").expect("etag").to_owned();
        let again = app
            .call_with_headers("GET", path, None, None, &[("if-none-match", &tag)])
            .await;
        assert_eq!(again.status, 304, "{path}");
        assert_eq!(again.header("etag"), Some(tag.as_str()));
        assert_eq!(again.header("cache-control"), Some("no-cache"));
        assert!(again.text.is_empty());
        let stale = app
            .call_with_headers(
                "GET",
                path,
                None,
                None,
                &[("if-none-match", "\"something-else\"")],
            )
            .await;
        assert_eq!(stale.status, 200, "{path}");
    }
}

#[actix_web::test]
async fn unknown_console_files_and_other_methods_answer_the_error_shape() {
    let app = spawn_app().await;
    for path in [
        "/console/assets/nope.js",
        "/console/assets/..%2Fcoach.html",
        "/console/assets/coach.html",
    ] {
        let response = app.call("GET", path, None, None).await;
        assert_eq!(response.status, 404, "{path}");
        assert_error(&response.text, "not_found");
    }
    let unknown_page = app.call("GET", "/console/nope", None, None).await;
    assert_eq!(unknown_page.status, 404);
    assert_error(&unknown_page.text, "not_found");
    let post = app.call("POST", "/console/coach", None, None).await;
    assert_eq!(post.status, 405);
    assert_error(&post.text, "method_not_allowed");
}
