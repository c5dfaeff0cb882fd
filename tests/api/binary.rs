//! The real `fitpulse` binary: exit codes, configuration errors, signals.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::WAIT;

fn fitpulse() -> Command {
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

#[actix_web::test]
async fn sigterm_drains_and_exits_0() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut child = fitpulse()
        .env("FITPULSE__DATA_DIR", data.path())
        .env("FITPULSE__HTTP__BIND", "127.0.0.1:0")
        .env("FITPULSE__LOG__FORMAT", "json")
        .spawn()
        .expect("started");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();

    // The JSON log line announcing the listener names the bound port.
    let port = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.expect("stdout readable") {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if entry["message"] == "fitpulse listening" {
                return entry["port"].as_u64().expect("port field") as u16;
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("listening in time");

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
