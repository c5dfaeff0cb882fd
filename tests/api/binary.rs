//! The real `fitpulse` binary: exit codes, configuration errors, signals.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::WAIT;

pub(crate) fn fitpulse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fitpulse"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn a_bad_config_value_exits_2_and_names_the_key() {
    let data = tempfile::tempdir().expect("temp dir");
    let output = fitpulse()
        .env("FITPULSE__DATA_DIR", data.path())
        .env("FITPULSE__HTTP__BIND", "localhost-ish")
        .output()
        .await
        .expect("ran");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("FITPULSE__HTTP__BIND"), "{stderr}");
    assert!(stderr.contains("http.bind"), "{stderr}");
}

#[tokio::test]
async fn an_unknown_store_kind_exits_2() {
    let output = fitpulse()
        .env("FITPULSE__STORE__KIND", "sqlite")
        .output()
        .await
        .expect("ran");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("store.kind"));
}

#[tokio::test]
async fn an_empty_or_short_webhook_secret_exits_2_naming_the_key() {
    for (env, key) in [
        (
            "FITPULSE__COMMERCE__PAYMENTS_SECRET",
            "commerce.payments_secret",
        ),
        (
            "FITPULSE__COMMERCE__GOOGLEPLAY_PUSH_TOKEN",
            "commerce.googleplay_push_token",
        ),
    ] {
        for weak in ["", "tooshort"] {
            let data = tempfile::tempdir().expect("temp dir");
            // A server that accepted the secret would run on: bounded, it fails the test.
            let output = tokio::time::timeout(
                WAIT,
                fitpulse()
                    .env("FITPULSE__DATA_DIR", data.path())
                    .env("FITPULSE__HTTP__BIND", "127.0.0.1:0")
                    .env(env, weak)
                    .output(),
            )
            .await
            .expect("the start was refused at once")
            .expect("ran");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{env}={weak:?}: {stderr}");
            assert!(stderr.contains(key), "{stderr}");
        }
    }
}

#[tokio::test]
async fn version_prints_the_crate_version() {
    let output = fitpulse().arg("--version").output().await.expect("ran");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
}

#[tokio::test]
async fn an_unreachable_cql_cluster_fails_the_start_fast_with_a_clear_message() {
    let output = tokio::time::timeout(
        WAIT,
        fitpulse()
            .env("FITPULSE__STORE__KIND", "scylla")
            // Port 1 on loopback: nothing listens, the connection is refused at once.
            .env("FITPULSE__STORE__SCYLLA__NODES", "127.0.0.1:1")
            .env("FITPULSE__STORE__SCYLLA__CONNECT_TIMEOUT_MS", "2000")
            .env("FITPULSE__HTTP__BIND", "127.0.0.1:0")
            .output(),
    )
    .await
    .expect("gave up within the connect timeout")
    .expect("ran");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot reach the CQL cluster at 127.0.0.1:1"),
        "{stderr}"
    );
}

/// The server's process, its port and the rest of its (JSON) log.
pub(crate) type Served = (
    tokio::process::Child,
    u16,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
);

/// Starts the server on `data` and a free port.
async fn serve(data: &std::path::Path) -> Served {
    serve_with(data, &[]).await
}

/// Like [`serve`], with more configuration in `env`.
pub(crate) async fn serve_with(data: &std::path::Path, env: &[(&str, &str)]) -> Served {
    let mut command = fitpulse();
    command
        .env("FITPULSE__DATA_DIR", data)
        .env("FITPULSE__HTTP__BIND", "127.0.0.1:0")
        .env("FITPULSE__LOG__FORMAT", "json");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("started");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();

    // The JSON log line announcing the listener names the bound port.
    let port = tokio::time::timeout(WAIT, async {
        let mut last = Vec::new();
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if entry["message"] == "fitpulse listening" {
                return entry["port"].as_u64().expect("port field") as u16;
            }
            last.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = pipe.read_to_string(&mut stderr).await;
        }
        let tail = last[last.len().saturating_sub(5)..].join("\n");
        panic!("the server exited before listening: {stderr}\n{tail}");
    })
    .await
    .expect("listening in time");
    (child, port, lines)
}

#[actix_web::test]
async fn sigterm_drains_and_exits_0() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut child, port, mut lines) = serve(data.path()).await;

    let client = awc::Client::default();
    let response = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .expect("healthz answered");
    assert_eq!(response.status().as_u16(), 200);

    let pid = child.id().expect("running") as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exited within the grace period")
        .expect("waited");
    assert_eq!(status.code(), Some(0));

    let mut rest = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(5), lines.next_line())
        .await
        .unwrap_or(Ok(None))
    {
        rest.push(line);
    }
    assert!(
        rest.iter().any(|l| l.contains("shutdown: complete")),
        "{rest:#?}"
    );
}

/// Sends `method path` with a bearer token to the server on `port`; answers the status.
async fn status_of(port: u16, method: &str, path: &str, token: &str) -> u16 {
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
    awc::Client::default()
        .request(method, format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16()
}

#[actix_web::test]
async fn a_deleted_accounts_access_token_stays_refused_after_a_crash_and_restart() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut child, port, _lines) = serve(data.path()).await;
    let register = |email: String| async move {
        let mut answer = awc::Client::default()
            .post(format!("http://127.0.0.1:{port}/v1/auth/register"))
            .send_json(&serde_json::json!({
                "email": email, "password": crate::helpers::PASSWORD, "display_name": "Ada",
            }))
            .await
            .expect("answered");
        assert_eq!(answer.status().as_u16(), 201);
        let body: serde_json::Value = answer.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    };
    let gone = register(crate::helpers::unique_email()).await;
    let kept = register(crate::helpers::unique_email()).await;
    let like = "/v1/me/likes/recipe/classic-banana-pancakes";
    assert_eq!(status_of(port, "PUT", like, &gone).await, 200);
    assert_eq!(status_of(port, "DELETE", "/v1/me", &gone).await, 204);
    assert_eq!(status_of(port, "GET", "/v1/me/likes", &gone).await, 401);

    // Killed outright: nothing gets a chance to flush; the revocation was stored already.
    child.kill().await.expect("killed");
    let (mut child, port, _lines) = serve(data.path()).await;
    // A live account's token still works (the positive control).
    assert_eq!(status_of(port, "GET", "/v1/me/likes", &kept).await, 200);
    for (method, path) in [
        ("GET", "/v1/me/likes"),
        ("PUT", like),
        ("GET", "/v1/me/plan"),
    ] {
        assert_eq!(
            status_of(port, method, path, &gone).await,
            401,
            "{method} {path}"
        );
    }
    child.kill().await.expect("killed");
}

#[actix_web::test]
async fn admin_create_user_makes_a_staff_account_the_server_then_signs_in() {
    let data = tempfile::tempdir().expect("temp dir");
    let output = fitpulse()
        .env("FITPULSE__DATA_DIR", data.path())
        .args([
            "admin",
            "create-user",
            "--email",
            "Coach@Example.com",
            "--password",
        ])
        .arg(crate::helpers::PASSWORD)
        .args(["--role", "coach"])
        .output()
        .await
        .expect("ran");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("roles member,coach"), "{stdout}");

    // The same email again is refused with exit code 1.
    let again = fitpulse()
        .env("FITPULSE__DATA_DIR", data.path())
        .args([
            "admin",
            "create-user",
            "--email",
            "coach@example.com",
            "--password",
            "another password",
        ])
        .args(["--role", "admin"])
        .output()
        .await
        .expect("ran");
    assert_eq!(again.status.code(), Some(1));

    let dir = data.path().to_owned();
    let app = crate::helpers::spawn_app_with(move |s| s.data_dir = dir).await;
    let login = app.login("coach@example.com").await;
    assert_eq!(login.status, 200, "{}", login.text);
    let access = login.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let me = app.call("GET", "/v1/me", None, Some(&access)).await.json();
    assert_eq!(me["roles"], serde_json::json!(["member", "coach"]));
}

#[actix_web::test]
async fn admin_mint_token_prints_only_a_token_the_server_accepts() {
    let data = tempfile::tempdir().expect("temp dir");
    let dir = data.path().to_owned();
    let app = crate::helpers::spawn_app_with(move |s| s.data_dir = dir).await;
    let answer = app.register(&crate::helpers::unique_email()).await;
    let user = answer["user"]["id"].as_str().expect("id");

    let output = fitpulse()
        .env("FITPULSE__DATA_DIR", data.path())
        .args([
            "admin",
            "mint-token",
            "--user",
            user,
            "--ttl",
            "10m",
            "--scope",
            "content:premium",
        ])
        .output()
        .await
        .expect("ran");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let token = stdout.trim();
    assert_eq!(
        token.split('.').count(),
        3,
        "stdout is exactly one JWT: {stdout:?}"
    );
    let me = app.call("GET", "/v1/me", None, Some(token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["id"], user);

    let bad = fitpulse()
        .env("FITPULSE__DATA_DIR", data.path())
        .args(["admin", "mint-token", "--user", "not-a-uuid"])
        .output()
        .await
        .expect("ran");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--user"));
}
