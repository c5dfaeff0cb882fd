//! A short run of every scenario against a real server on port 0, so the load generator
//! never rots. Real runs are benchmarks (docs/BENCHMARKS.md), not tests.

use fitpulse::config::Settings;
use fitpulse::startup::Application;
use fitpulse_loadtest::scenarios::connect::{self, ConnectArgs};
use fitpulse_loadtest::tokens::KeyArgs;

#[actix_web::test]
async fn connect_opens_holds_and_closes_every_socket() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::default();
    settings.http.bind = "127.0.0.1:0".parse().expect("address");
    settings.http.workers = 1;
    settings.data_dir = data.path().to_owned();
    let app = Application::build(settings).await.expect("server builds");
    let port = app.port();
    let lifecycle = app.lifecycle();
    let server = actix_web::rt::spawn(app.run_until_stopped());

    let args = ConnectArgs {
        target: format!("http://127.0.0.1:{port}"),
        sockets: 30,
        rate: 300,
        hold: "1s".parse().expect("duration"),
        keys: KeyArgs {
            data_dir: data.path().to_owned(),
            key: None,
            issuer: "fitpulse".into(),
            audience: "fitpulse-api".into(),
        },
        server_pid: Some(std::process::id()),
        buffer_bytes: 4096,
        // Spread even this small run over several source addresses.
        sockets_per_source_ip: 10,
        out: None,
    };
    let report = connect::run(args).await.expect("the scenario runs");
    assert_eq!(report.counts["connected"], 30, "{}", report.summary());
    assert_eq!(
        report.counts.values().sum::<u64>(),
        30,
        "no failures or drops: {}",
        report.summary()
    );
    assert_eq!(report.figures["server_sessions_active"], 30.0);
    assert_eq!(report.figures["server_ws_connections"], 30.0);
    assert!(report.figures.contains_key("bytes_per_session"));
    assert_eq!(report.latency_ms.count, 30);

    lifecycle.request_shutdown();
    server.await.expect("no panic").expect("clean stop");
}
