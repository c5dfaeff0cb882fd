//! Spawning the application and talking to it.

use std::sync::Once;
use std::time::Duration;

use fitpulse::config::{LogFormat, LogSettings, Settings};
use fitpulse::lifecycle::Lifecycle;
use fitpulse::node::BusChoice;
use fitpulse::startup::{Application, Wiring};
use fitpulse_actors::domain::now_millis;
use fitpulse_actors::ports::clock::ManualClock;
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

/// Bound on every wait in these tests, so a hang fails instead of blocking CI.
pub const WAIT: Duration = Duration::from_secs(30);

static LOGS: Once = Once::new();

/// Logs to the terminal only when `TEST_LOG` is set (e.g. `TEST_LOG=debug`).
pub fn init_logs() {
    LOGS.call_once(|| {
        if let Ok(level) = std::env::var("TEST_LOG") {
            fitpulse::telemetry::init(&LogSettings {
                format: LogFormat::Pretty,
                level: if level.is_empty() {
                    "debug".into()
                } else {
                    level
                },
            });
        }
    });
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The metrics listener's port, when `http.metrics_bind` is set.
    pub metrics_port: Option<u16>,
    pub lifecycle: Lifecycle,
    pub client: awc::Client,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    pub stores: fitpulse::store::Stores,
    pub settings: Settings,
    /// The clock the app runs on, when the test moves it (see [`spawn_app_on_manual_clock`]).
    pub clock: Option<std::sync::Arc<ManualClock>>,
    pub _data_dir: TempDir,
}

/// A response with its body read.
pub struct Response {
    pub status: u16,
    pub headers: awc::http::header::HeaderMap,
    pub text: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        json(&self.text)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Settings for a test app: port 0, one worker, a fresh data directory.
pub fn test_settings(data_dir: &TempDir) -> Settings {
    let mut settings = Settings::default();
    settings.http.bind = "127.0.0.1:0".parse().expect("valid address");
    settings.http.workers = 1;
    settings.data_dir = data_dir.path().to_owned();
    settings.shutdown.grace_seconds = 10;
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns the app after `customize` adjusted the test settings; mounts the test routes.
pub async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(BusChoice::FromSettings, customize).await
}

/// Like [`spawn_app_with`], on the given bus (nodes sharing an in-process bus form a
/// cluster).
pub async fn spawn_app_on(bus: BusChoice, customize: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(&data_dir);
    customize(&mut settings);
    let wiring = Wiring {
        bus,
        ..Wiring::default()
    };
    spawn_in(settings, data_dir, wiring, None).await
}

/// Like [`spawn_app_on`], on `clock` (which the test moves; nodes of a cluster share it).
pub async fn spawn_app_on_clock(
    bus: BusChoice,
    clock: std::sync::Arc<ManualClock>,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    init_logs();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(&data_dir);
    customize(&mut settings);
    let wiring = Wiring {
        bus,
        clock: clock.clone(),
    };
    spawn_in(settings, data_dir, wiring, Some(clock)).await
}

/// Like [`spawn_app_with`], on a clock that stands at the wall clock's now until the test
/// advances it ([`TestApp::advance`]): reservations, scheduled messages and class phases
/// move only then.
pub async fn spawn_app_on_manual_clock(customize: impl FnOnce(&mut Settings)) -> TestApp {
    init_logs();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(&data_dir);
    customize(&mut settings);
    let clock = ManualClock::starting_at(now_millis());
    let wiring = Wiring {
        clock: clock.clone(),
        ..Wiring::default()
    };
    spawn_in(settings, data_dir, wiring, Some(clock)).await
}

/// The app on the suite's CQL keyspace, or `None` when no CQL server is configured.
pub async fn scylla_app(customize: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let on_scylla = scylla_store()?;
    Some(
        spawn_app_with(move |s| {
            on_scylla(s);
            customize(s);
        })
        .await,
    )
}

/// Like [`scylla_app`], on a manual clock (see [`spawn_app_on_manual_clock`]).
pub async fn scylla_app_on_manual_clock(customize: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let on_scylla = scylla_store()?;
    Some(
        spawn_app_on_manual_clock(move |s| {
            on_scylla(s);
            customize(s);
        })
        .await,
    )
}

/// What puts an app on the suite's CQL keyspace, or `None` when no CQL server is
/// configured.
fn scylla_store() -> Option<impl FnOnce(&mut Settings)> {
    let nodes = crate::store::support::cql_contact_point()?;
    let keyspace = crate::store::support::suite_keyspace(&nodes);
    Some(move |s: &mut Settings| {
        s.store.kind = fitpulse::config::StoreKind::Scylla;
        s.store.scylla.nodes = nodes.split(',').map(str::to_owned).collect();
        s.store.scylla.keyspace = keyspace.to_owned();
        s.store.scylla.request_timeout_ms = 20_000;
    })
}

/// Spawns the app with exactly `settings`, keeping `data_dir` alive as long as it runs.
async fn spawn_in(
    settings: Settings,
    data_dir: TempDir,
    wiring: Wiring,
    clock: Option<std::sync::Arc<ManualClock>>,
) -> TestApp {
    // Boxed: the build future is large, and tests start several apps on one thread.
    let app = Box::pin(Application::build_on(settings.clone(), test_routes, wiring))
        .await
        .expect("the app builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    let lifecycle = app.lifecycle();
    let stores = app.stores();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        metrics_port,
        lifecycle,
        client: awc::Client::builder().timeout(WAIT).finish(),
        server,
        stores,
        settings,
        clock,
        _data_dir: data_dir,
    }
}

impl TestApp {
    /// Moves the app's manual clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock
            .as_ref()
            .expect("an app spawned on a manual clock")
            .advance(by);
    }

    /// The app's time: its manual clock's, or the wall clock's.
    pub fn now(&self) -> fitpulse_actors::domain::UnixMillis {
        self.clock.as_ref().map_or_else(now_millis, |clock| {
            fitpulse_actors::ports::clock::Clock::now(clock.as_ref())
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> (u16, awc::http::header::HeaderMap, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent");
        let response = read("GET", path, response).await;
        (response.status, response.headers, response.text)
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.2
    }

    /// Sends `method path` with an optional JSON body and bearer token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        token: Option<&str>,
    ) -> Response {
        self.call_with_headers(method, path, body, token, &[]).await
    }

    /// Like [`TestApp::call`], with extra request headers.
    pub async fn call_with_headers(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        let verb = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(verb, self.url(path));
        if let Some(token) = token {
            request = request.insert_header(("authorization", format!("Bearer {token}")));
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let sent = match body {
            Some(body) => request.send_json(&body).await,
            None => request.send().await,
        };
        read(method, path, sent.expect("request sent")).await
    }

    /// Posts a form to `/oauth/token`, with HTTP Basic client credentials if given.
    pub async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
        let mut request = self.client.post(self.url("/oauth/token"));
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, secret);
        }
        let sent = request.send_form(&form).await;
        read("POST", "/oauth/token", sent.expect("request sent")).await
    }

    /// The password grant for `email` with `password`.
    pub async fn login_with(&self, email: &str, password: &str) -> Response {
        self.token(
            &[
                ("grant_type", "password"),
                ("username", email),
                ("password", password),
            ],
            None,
        )
        .await
    }

    /// The password grant for `email` with the test password.
    pub async fn login(&self, email: &str) -> Response {
        self.login_with(email, PASSWORD).await
    }

    /// Registers `email` with a fixed password and returns the token answer.
    pub async fn register(&self, email: &str) -> serde_json::Value {
        let response = self
            .call(
                "POST",
                "/v1/auth/register",
                Some(serde_json::json!({
                    "email": email,
                    "password": PASSWORD,
                    "display_name": "Ada",
                })),
                None,
            )
            .await;
        assert_eq!(response.status, 201, "{}", response.text);
        response.json()
    }
}

/// The password every test account gets.
pub const PASSWORD: &str = "correct horse battery";

/// A fresh address for a test account.
pub fn unique_email() -> String {
    format!("{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Reads the answer to `method path` and checks it against the OpenAPI document.
async fn read<S>(method: &str, path: &str, mut response: awc::ClientResponse<S>) -> Response
where
    S: futures_core::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    let body = response.body().limit(1 << 22).await.expect("body read");
    let response = Response {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: String::from_utf8_lossy(&body).into_owned(),
    };
    contract::check(method, path, &response);
    response
}

/// A JSON route used to exercise body handling before real write routes exist.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Echo {
    pub text: String,
}

fn test_routes(cfg: &mut actix_web::web::ServiceConfig) {
    cfg.service(actix_web::web::resource("/test/echo").post(
        |body: actix_web::web::Json<Echo>| async move {
            actix_web::HttpResponse::Ok().json(body.into_inner())
        },
    ));
}

/// Parses a JSON body, failing the test with the body if it is not JSON.
pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Asserts the catalogue's error shape with the given code.
pub fn assert_error(body: &str, code: &str) {
    let value = json(body);
    assert_eq!(value["error"]["code"], code, "{body}");
    assert!(value["error"]["message"].is_string(), "{body}");
    assert!(value["error"]["details"].is_object(), "{body}");
}

/// Every JSON answer the helpers read is checked against the document `/v1/openapi.json`
/// serves (the same text `fitpulse::http::contract::document` builds): the operation is
/// found by method and path template, the schema by status (errors without a response of
/// their own use `default`, the catalogue's `ErrorBody`). A mismatch panics with the call,
/// the validation error and the body. So does a success answer of an undocumented
/// operation or status: a new route cannot skip its contract.
pub mod contract {
    use std::collections::HashMap;
    use std::sync::{Arc, LazyLock, Mutex};

    use serde_json::{Value, json};

    use super::Response;

    /// Routes `spawn_app` mounts for tests only (`test_routes`); not part of the API.
    const TEST_ONLY_PREFIX: &str = "/test/";

    struct Document {
        doc: Value,
        /// Path templates split into segments, `None` for a `{parameter}`.
        templates: Vec<(String, Vec<Option<String>>)>,
        /// Compiled validators by schema text.
        validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    }

    static DOCUMENT: LazyLock<Document> = LazyLock::new(|| {
        let doc: Value =
            serde_json::from_str(fitpulse::http::contract::document()).expect("JSON document");
        let templates = doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(|template| {
                let segments = template
                    .split('/')
                    .map(|seg| (!seg.starts_with('{')).then(|| seg.to_owned()))
                    .collect();
                (template.clone(), segments)
            })
            .collect();
        Document {
            doc,
            templates,
            validators: Mutex::default(),
        }
    });

    /// The documented template `path` matches, preferring literal segments over parameters
    /// (`/v1/live/classes/{id}/status` over nothing else, `/v1/me/plan` over `/v1/me/{x}`).
    pub fn template_of(path: &str) -> Option<String> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        // The router matches decoded segments: `/v1/%61dmin/...` is `/v1/admin/...`.
        let decoded = percent_decoded(path);
        let segments: Vec<&str> = decoded.split('/').collect();
        DOCUMENT
            .templates
            .iter()
            .filter(|(_, template)| {
                template.len() == segments.len()
                    && template.iter().zip(&segments).all(|(t, s)| match t {
                        Some(literal) => literal == s,
                        None => !s.is_empty(),
                    })
            })
            .max_by_key(|(_, template)| template.iter().filter(|t| t.is_some()).count())
            .map(|(name, _)| name.clone())
    }

    fn percent_decoded(path: &str) -> String {
        let bytes = path.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (bytes[i], hex) {
                (b'%', Some(byte)) if byte != b'/' => {
                    out.push(byte);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn is_json(response: &Response) -> bool {
        response.header("content-type").is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence == "application/json" || essence.ends_with("+json")
        })
    }

    fn error_body_schema() -> Value {
        json!({ "$ref": "#/components/schemas/ErrorBody" })
    }

    /// The schema the answer must meet, or why there is none.
    fn schema_for(method: &str, path: &str, status: u16) -> Result<Value, String> {
        let is_error = status >= 400;
        let Some(template) = template_of(path) else {
            // The router's own answer for a path no route has.
            return if status == 404 {
                Ok(error_body_schema())
            } else {
                Err("no documented path matches".to_owned())
            };
        };
        let operation = &DOCUMENT.doc["paths"][&template][method.to_lowercase()];
        if operation.is_null() {
            return if status == 404 || status == 405 {
                Ok(error_body_schema())
            } else {
                Err(format!("{template} documents no {method}"))
            };
        }
        let responses = &operation["responses"];
        let response = match &responses[status.to_string()] {
            Value::Null if is_error => &responses["default"],
            Value::Null => return Err(format!("{method} {template} documents no {status}")),
            declared => declared,
        };
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_null() {
            return Err(format!(
                "{method} {template} answers {status} without a JSON body"
            ));
        }
        Ok(schema.clone())
    }

    fn validator(schema: &Value) -> Arc<jsonschema::Validator> {
        let key = schema.to_string();
        let mut validators = DOCUMENT.validators.lock().expect("validators");
        validators
            .entry(key)
            .or_insert_with(|| {
                // The response's schema as the root, the components beside it so that
                // `#/components/schemas/...` resolves in the same document.
                let mut root = schema.clone();
                root["components"] = DOCUMENT.doc["components"].clone();
                Arc::new(jsonschema::draft202012::new(&root).expect("the schema compiles"))
            })
            .clone()
    }

    /// Panics unless a JSON answer to `method path` meets the document.
    pub fn check(method: &str, path: &str, response: &Response) {
        if !is_json(response) || path.starts_with(TEST_ONLY_PREFIX) {
            return;
        }
        let status = response.status;
        let fail = |why: &str| -> ! {
            panic!(
                "contract: {method} {path} answered {status}: {why}\nbody: {}",
                response.text
            )
        };
        let schema = schema_for(method, path, status).unwrap_or_else(|why| fail(&why));
        let body: Value = serde_json::from_str(&response.text)
            .unwrap_or_else(|e| fail(&format!("the body is not JSON ({e})")));
        let validator = validator(&schema);
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            fail(&format!("does not match {schema}: {}", errors.join("; ")));
        }
    }
}
