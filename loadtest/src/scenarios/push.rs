//! `push`: a feature message with `push: true` to N stored devices, through fake APNs and
//! FCM on loopback that check what Apple and Google check. The scenario starts the fakes
//! (their CA, the APNs key and the FCM service account written into the data directory),
//! starts the server binary it is given, configured for them, registers N devices (each
//! its own member, half iOS and half Android unless told otherwise, none connected), posts
//! one message to everyone and times, from the POST, the pushes the fakes accept: the
//! first, the last, pushes per second, and the server's memory before and during.
//!
//! Every device must be pushed exactly once: fewer (within `--wait`) or more fails the run.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fitpulse_actors::domain::{Role, UserId, now_millis};
use fitpulse_fakes::{ApnsKey, FakeApns, FakeFcm, TestCa};
use futures_util::StreamExt;
use hyper::Method;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use crate::LoadError;
use crate::pool::{Call, Pool};
use crate::progress::Progress;
use crate::report::{Latency, Report};
use crate::target::{self, post_json, rss_bytes};
use crate::tokens::{KeyArgs, Minter};

const TOPIC: &str = "app.fitpulse.loadtest";
const PROJECT: &str = "fitpulse-loadtest";

#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// The server binary to start (e.g. target/release/fitpulse).
    #[arg(long)]
    pub server_bin: PathBuf,
    /// Where the server keeps its store and the fakes' files go (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The loopback port the server listens on.
    #[arg(long, default_value_t = 18_090)]
    pub port: u16,
    /// Devices to register, each its own member.
    #[arg(long, default_value_t = 10_000)]
    pub devices: usize,
    /// The share of them that are Android (FCM); the rest are iOS (APNs).
    #[arg(long, default_value_t = 0.5)]
    pub android_share: f64,
    /// Registrations in flight at once.
    #[arg(long, default_value_t = 64)]
    pub register_concurrency: usize,
    /// Extra `FITPULSE__...=value` settings for the server.
    #[arg(long = "server-env")]
    pub server_env: Vec<String>,
    /// How long to wait for the last push after the POST.
    #[arg(long, default_value = "600s")]
    pub wait: humantime::Duration,
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The server process, killed when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Fakes {
    apns: FakeApns,
    fcm: FakeFcm,
    env: Vec<(String, String)>,
}

fn start_fakes(dir: &std::path::Path) -> Result<Fakes, LoadError> {
    let ca = TestCa::new();
    let key = ApnsKey::generate();
    let apns = FakeApns::start(&ca, &key, TOPIC)?;
    let fcm = FakeFcm::start(&ca, PROJECT)?;
    let path = |p: PathBuf| p.display().to_string();
    let env = vec![
        ("FITPULSE__PUSH__CA_FILE", path(ca.write_root_pem(dir)?)),
        ("FITPULSE__PUSH__APNS__TEAM_ID", key.team_id.clone()),
        ("FITPULSE__PUSH__APNS__KEY_ID", key.key_id.clone()),
        ("FITPULSE__PUSH__APNS__KEY_FILE", path(key.write_p8(dir)?)),
        ("FITPULSE__PUSH__APNS__TOPIC", TOPIC.to_owned()),
        ("FITPULSE__PUSH__APNS__ENVIRONMENT", "sandbox".to_owned()),
        ("FITPULSE__PUSH__APNS__ENDPOINT", apns.endpoint()),
        ("FITPULSE__PUSH__FCM__PROJECT_ID", PROJECT.to_owned()),
        (
            "FITPULSE__PUSH__FCM__SERVICE_ACCOUNT_FILE",
            path(fcm.write_service_account(dir)?),
        ),
        ("FITPULSE__PUSH__FCM__ENDPOINT", fcm.endpoint()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Ok(Fakes { apns, fcm, env })
}

async fn start_server(
    args: &PushArgs,
    fakes: &Fakes,
    addr: SocketAddr,
) -> Result<Server, LoadError> {
    let mut command = std::process::Command::new(&args.server_bin);
    command
        .env("FITPULSE__DATA_DIR", args.data_dir.join("data"))
        .env("FITPULSE__HTTP__BIND", addr.to_string())
        .env("FITPULSE__LOG__LEVEL", "warn")
        .envs(fakes.env.iter().cloned())
        .stdin(Stdio::null());
    for setting in &args.server_env {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| std::io::Error::other(format!("--server-env {setting}: KEY=value")))?;
        command.env(key, value);
    }
    let server = Server(command.spawn()?);
    let deadline = Instant::now() + Duration::from_secs(30);
    while target::get(addr, "/readyz").await.is_err() {
        if Instant::now() > deadline {
            return Err(std::io::Error::other("the server did not become ready in 30 s").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(server)
}

pub async fn run(args: PushArgs) -> Result<Report, LoadError> {
    std::fs::create_dir_all(&args.data_dir)?;
    let addr: SocketAddr = ([127, 0, 0, 1], args.port).into();
    let fakes = Arc::new(start_fakes(&args.data_dir)?);
    let server = start_server(&args, &fakes, addr).await?;
    let pid = server.0.id();
    let started_at = fitpulse_actors::events::rfc3339(now_millis());
    let minter = Arc::new(Minter::new(&KeyArgs {
        data_dir: args.data_dir.join("data"),
        key: None,
        issuer: "fitpulse".into(),
        audience: "fitpulse-api".into(),
    })?);
    let ttl = 3_600 + Duration::from(args.wait).as_secs() as i64;

    // Registration: every device its own member, none connected.
    let pool = Arc::new(Pool::new(addr, args.register_concurrency, 1));
    let android = (args.devices as f64 * args.android_share.clamp(0.0, 1.0)).round() as usize;
    let registered = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let progress = Progress::start("push", {
        let (registered, fakes) = (registered.clone(), fakes.clone());
        let total = args.devices;
        move || {
            format!(
                "{}/{total} registered, {} pushed",
                registered.load(Ordering::Relaxed),
                fakes.apns.accepted_total() + fakes.fcm.accepted_total()
            )
        }
    });
    let register_started = Instant::now();
    futures_util::stream::iter(0..args.devices)
        .map(|n| {
            let (pool, minter, registered, refused) =
                (pool.clone(), minter.clone(), registered.clone(), refused.clone());
            async move {
                let token = minter.member(UserId::random(), ttl);
                let body = match n < android {
                    true => json!({"platform": "android", "push_token": format!("fcm:{:0>150}", n), "locale": "pt-BR"}),
                    false => json!({"platform": "ios", "push_token": format!("{n:064x}"), "locale": "en-US"}),
                };
                let call = Call {
                    authorization: HeaderValue::from_str(&format!("Bearer {token}")).ok(),
                    json: Some(body.to_string().into()),
                    headers: Vec::new(),
                };
                let path: hyper::Uri = format!("/v1/me/devices/device-{n}")
                    .parse()
                    .expect("a valid path");
                match pool.send(&Method::PUT, &path, &call).await {
                    Ok(answer) if answer.status == 201 => registered.fetch_add(1, Ordering::Relaxed),
                    _ => refused.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
        .buffer_unordered(args.register_concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
    let register_time = register_started.elapsed();
    let registered = registered.load(Ordering::Relaxed);
    let rss_registered = rss_bytes(pid);

    // One message to everyone, pushed.
    let admin = minter.with_roles(UserId::random(), &[Role::Admin], ttl);
    let body = json!({
        "title": "fitpulse-loadtest push",
        "body": format!("to {registered} devices"),
        "expires_at": fitpulse_actors::events::rfc3339(now_millis() + 3_600_000),
        "segment": {},
        "push": true,
    });
    let pushed = || fakes.apns.accepted_total() + fakes.fcm.accepted_total();
    let before = pushed();
    let cpu_before = (
        target::cpu_seconds(pid),
        target::cpu_seconds(std::process::id()),
    );
    let posted = Instant::now();
    let (status, answer) = post_json(addr, "/v1/admin/messages", &admin, &body).await?;
    if status != 201 {
        return Err(std::io::Error::other(format!(
            "posting the message failed: {status} {answer}"
        ))
        .into());
    }
    let wait: Duration = args.wait.into();
    let mut first = None;
    let mut rss_peak = rss_registered.unwrap_or(0);
    let mut timeline: Vec<(f64, u64)> = Vec::new();
    let mut last_sample = Instant::now();
    while pushed() - before < registered && posted.elapsed() < wait {
        let now = pushed() - before;
        if first.is_none() && now > 0 {
            first = Some(posted.elapsed());
        }
        if last_sample.elapsed() >= Duration::from_millis(250) {
            last_sample = Instant::now();
            timeline.push((posted.elapsed().as_secs_f64(), now));
            rss_peak = rss_peak.max(rss_bytes(pid).unwrap_or(0));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last = posted.elapsed();
    let cpu_after = (
        target::cpu_seconds(pid),
        target::cpu_seconds(std::process::id()),
    );
    // Anything beyond one push per device would show within a few polls.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let delivered = pushed() - before;
    let rss_after = rss_bytes(pid);
    let metrics_text = target::get(addr, "/metrics").await.unwrap_or_default();
    progress.stop().await;
    drop(server);

    let mut counts = BTreeMap::new();
    counts.insert("registered".into(), registered);
    counts.insert(
        "registration_refused".into(),
        refused.load(Ordering::Relaxed),
    );
    counts.insert("pushed".into(), delivered);
    counts.insert("pushed_apns".into(), fakes.apns.accepted_total());
    counts.insert("pushed_fcm".into(), fakes.fcm.accepted_total());
    counts.insert("fcm_access_tokens".into(), fakes.fcm.access_tokens_issued());
    let mut figures = BTreeMap::new();
    figures.insert(
        "registrations_per_second".into(),
        registered as f64 / register_time.as_secs_f64().max(0.001),
    );
    figures.insert(
        "time_to_first_push_ms".into(),
        first.unwrap_or(last).as_secs_f64() * 1000.0,
    );
    figures.insert("time_to_last_push_ms".into(), last.as_secs_f64() * 1000.0);
    figures.insert(
        "pushes_per_second".into(),
        delivered as f64 / last.as_secs_f64().max(0.001),
    );
    for (name, rss) in [
        ("server_rss_registered_mb", rss_registered),
        ("server_rss_peak_mb", Some(rss_peak)),
        ("server_rss_after_mb", rss_after),
        ("loadtest_rss_mb", rss_bytes(std::process::id())),
    ] {
        if let Some(rss) = rss {
            figures.insert(name.into(), rss as f64 / 1e6);
        }
    }
    for (name, metric) in [
        (
            "server_push_sent_apns",
            "fitpulse_push_sent_total{provider=\"apns\",result=\"sent\"} ",
        ),
        (
            "server_push_sent_fcm",
            "fitpulse_push_sent_total{provider=\"fcm\",result=\"sent\"} ",
        ),
        (
            "server_push_retry_apns",
            "fitpulse_push_sent_total{provider=\"apns\",result=\"retry\"} ",
        ),
        (
            "server_push_retry_fcm",
            "fitpulse_push_sent_total{provider=\"fcm\",result=\"retry\"} ",
        ),
    ] {
        if let Some(value) = target::metric(&metrics_text, metric) {
            figures.insert(name.into(), value);
        }
    }
    // CPU spent from the POST to the last push: the server's, and this process's (the
    // fakes, which verify every provider token and payload, and the polling).
    for (name, before, after) in [
        ("server_cpu_s", cpu_before.0, cpu_after.0),
        ("loadtest_and_fakes_cpu_s", cpu_before.1, cpu_after.1),
    ] {
        if let (Some(before), Some(after)) = (before, after) {
            figures.insert(name.into(), after - before);
            if delivered > 0 {
                figures.insert(
                    format!("{name}_per_1000_pushes"),
                    (after - before) * 1000.0 / delivered as f64,
                );
            }
        }
    }
    // The providers' answers as the server timed them (mean per request).
    for provider in ["apns", "fcm"] {
        let sum = target::metric(
            &metrics_text,
            &format!("fitpulse_push_latency_seconds_sum{{provider=\"{provider}\"}} "),
        );
        let count = target::metric(
            &metrics_text,
            &format!("fitpulse_push_latency_seconds_count{{provider=\"{provider}\"}} "),
        );
        if let (Some(sum), Some(count)) = (sum, count)
            && count > 0.0
        {
            figures.insert(
                format!("server_{provider}_request_mean_ms"),
                sum / count * 1000.0,
            );
        }
    }
    let mut failed = Vec::new();
    if registered < args.devices as u64 {
        failed.push(format!(
            "only {registered} of {} devices registered",
            args.devices
        ));
    }
    if delivered < registered {
        failed.push(format!(
            "{} of {registered} devices were not pushed within {}",
            registered - delivered,
            args.wait
        ));
    }
    if delivered > registered {
        failed.push(format!(
            "{} pushes more than devices",
            delivered - registered
        ));
    }
    Ok(Report {
        scenario: "push".into(),
        parameters: json!({
            "devices": args.devices,
            "android_share": args.android_share,
            "register_concurrency": args.register_concurrency,
            "server_env": args.server_env,
            "wait": args.wait.to_string(),
            "timeline_s_pushed": timeline.iter().map(|(s, n)| json!([ (s * 100.0).round() / 100.0, n ])).collect::<Vec<Value>>(),
        }),
        counts,
        latency_ms: Latency::default(),
        latency_by: BTreeMap::new(),
        figures,
        failed,
        started_at,
        host: json!({}),
    })
}
