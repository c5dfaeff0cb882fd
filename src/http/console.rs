//! The web consoles (`web/console/`, compiled into the binary): `/console` lists them,
//! `/console/coach`, `/console/app` and `/console/ops` are the pages and
//! `/console/assets/{file}` their shared ES modules and stylesheet. Every answer carries
//! an `ETag` (304 on a match), `Cache-Control: no-cache` so a new build is picked up at
//! once, and a Content-Security-Policy that allows only this origin's scripts and sockets.

use std::future::{Ready, ready};
use std::sync::OnceLock;

use actix_web::http::header::{self, EntityTag};
use actix_web::{HttpRequest, HttpResponse, web};

use super::cache::{not_modified, tag_of};
use super::{ApiError, Contracts, ErrorCode};

/// Scripts, styles, fetches and sockets from this origin only; no inline code, no frames.
/// Images may also come from `https:` and `data:` (feature-message images, the favicon).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: https:; connect-src 'self' ws: wss:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// One embedded file; its tag is computed on first use.
struct Asset {
    content_type: &'static str,
    body: &'static str,
    tag: OnceLock<EntityTag>,
}

macro_rules! asset {
    ($content_type:expr, $path:literal) => {
        Asset {
            content_type: $content_type,
            body: include_str!(concat!("../../web/console/", $path)),
            tag: OnceLock::new(),
        }
    };
}

static INDEX: Asset = asset!(HTML, "index.html");
static COACH: Asset = asset!(HTML, "coach.html");
static APP: Asset = asset!(HTML, "app.html");
static OPS: Asset = asset!(HTML, "ops.html");

/// The files under `assets/`, by name.
static ASSETS: [(&str, Asset); 7] = [
    ("fitpulse.js", asset!(JS, "assets/fitpulse.js")),
    // The official SDK (clients/typescript), bundled by its `npm run build`.
    (
        "fitpulse-client.js",
        asset!(JS, "assets/fitpulse-client.js"),
    ),
    ("coach.js", asset!(JS, "assets/coach.js")),
    ("coach-timeline.js", asset!(JS, "assets/coach-timeline.js")),
    ("app.js", asset!(JS, "assets/app.js")),
    ("ops.js", asset!(JS, "assets/ops.js")),
    ("console.css", asset!(CSS, "assets/console.css")),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console").get(page(&INDEX)))
        .service(web::resource("/console/coach").get(page(&COACH)))
        .service(web::resource("/console/app").get(page(&APP)))
        .service(web::resource("/console/ops").get(page(&OPS)))
        .service(web::resource("/console/assets/{file}").get(asset));
}

/// Pages and assets are HTML, JavaScript and CSS, not JSON.
pub fn contracts(c: &mut Contracts) {
    for page in ["/console", "/console/coach", "/console/app", "/console/ops"] {
        c.get(page).media(200, HTML, "The console page").empty(304);
    }
    c.get("/console/assets/{file}")
        .media(
            200,
            JS,
            "A console script (or, for `.css`, a style sheet as text/css)",
        )
        .empty(304)
        .errors(&[404]);
}

/// The handler of one page.
fn page(page: &'static Asset) -> impl Fn(HttpRequest) -> Ready<HttpResponse> + Clone {
    move |req| ready(serve(&req, page))
}

async fn asset(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    ASSETS
        .iter()
        .find(|(name, _)| *name == file.as_str())
        .map(|(_, asset)| serve(&req, asset))
        .ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound).with_message(format!("no console asset {file}"))
        })
}

fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let tag = asset.tag.get_or_init(|| tag_of(asset.body.as_bytes()));
    let fresh = not_modified(req, tag);
    let mut builder = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    builder
        .insert_header(header::ETag(tag.clone()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if fresh {
        builder.finish()
    } else {
        builder.content_type(asset.content_type).body(asset.body)
    }
}
