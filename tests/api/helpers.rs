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
        let mut response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent");
        let body = response.body().await.expect("body read");
        (
            response.status().as_u16(),
            response.headers().clone(),
            String::from_utf8_lossy(&body).into_owned(),
        )
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
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
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
        read(sent.expect("request sent")).await
    }

    /// Posts a form to `/oauth/token`, with HTTP Basic client credentials if given.
    pub async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
        let mut request = self.client.post(self.url("/oauth/token"));
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, secret);
        }
        read(request.send_form(&form).await.expect("request sent")).await
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

async fn read<S>(mut response: awc::ClientResponse<S>) -> Response
where
    S: futures_core::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    let body = response.body().limit(1 << 22).await.expect("body read");
    Response {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: String::from_utf8_lossy(&body).into_owned(),
    }
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
