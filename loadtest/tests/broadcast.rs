//! A short `broadcast` run against a real server on port 0: every connected socket gets
//! the feature message, and the report charts.

use fitpulse::config::Settings;
use fitpulse::startup::Application;
use fitpulse_loadtest::scenarios::broadcast::{self, BroadcastArgs};
use fitpulse_loadtest::sockets::SocketArgs;
use fitpulse_loadtest::tokens::KeyArgs;

#[actix_web::test]
async fn broadcast_reaches_every_connected_socket() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::default();
    settings.http.bind = "127.0.0.1:0".parse().expect("address");
    settings.http.workers = 1;
    settings.data_dir = data.path().to_owned();
    let app = Application::build(settings).await.expect("server builds");
    let target = format!("http://127.0.0.1:{}", app.port());
    let lifecycle = app.lifecycle();
    let server = actix_web::rt::spawn(app.run_until_stopped());

    let args = |sockets| BroadcastArgs {
        target: target.clone(),
        sockets,
        rate: 500,
        wait: "10s".parse().expect("duration"),
        keys: KeyArgs {
            data_dir: data.path().to_owned(),
            key: None,
            issuer: "fitpulse".into(),
            audience: "fitpulse-api".into(),
        },
        server_pid: Some(std::process::id()),
        at: None,
        title: "fitpulse-loadtest broadcast".into(),
        listen_only: false,
        socket: SocketArgs {
            buffer_bytes: 4096,
            sockets_per_source_ip: 20,
        },
        out: None,
    };
    let report = broadcast::run(args(50)).await.expect("the scenario runs");
    assert_eq!(report.counts["connected"], 50, "{}", report.summary());
    assert_eq!(report.counts["delivered"], 50, "{}", report.summary());
    assert_eq!(report.counts["missing"], 0, "{}", report.summary());
    assert!(report.failed.is_empty(), "{}", report.summary());
    assert!(
        !report.counts.contains_key("other_messages"),
        "{}",
        report.summary()
    );
    assert_eq!(report.latency_ms.count, 50);
    let last = report.figures["time_to_last_delivery_ms"];
    assert!(last > 0.0 && last >= report.latency_ms.max - 0.1, "{last}");
    assert!(report.figures["frames_per_second"] > 0.0);
    assert!(report.figures.contains_key("server_rss_delivered_mb"));

    // A second run: the first message went to other users, so only the new one counts.
    let again = broadcast::run(args(20)).await.expect("the second run");
    assert_eq!(again.counts["delivered"], 20, "{}", again.summary());
    assert_ne!(again.parameters["message"], report.parameters["message"]);

    // Two generators share one run: one posts at the agreed instant, the other only
    // listens for the message's title; each times its own sockets from that instant.
    let at = fitpulse_actors::domain::now_millis() as u64 + 3_000;
    let shared = |sockets, listen_only| BroadcastArgs {
        at: Some(at),
        title: format!("shared {at}"),
        listen_only,
        ..args(sockets)
    };
    let (posted, heard) = tokio::join!(
        broadcast::run(shared(10, false)),
        broadcast::run(shared(15, true))
    );
    let (posted, heard) = (
        posted.expect("the poster runs"),
        heard.expect("the listener runs"),
    );
    assert_eq!(posted.counts["delivered"], 10, "{}", posted.summary());
    assert_eq!(heard.counts["delivered"], 15, "{}", heard.summary());
    assert!(heard.failed.is_empty(), "{}", heard.summary());
    assert_eq!(
        heard.parameters["message"],
        format!("titled \"shared {at}\"")
    );
    assert!(!heard.figures.contains_key("post_answered_ms"));

    let svg = fitpulse_loadtest::chart::svg(
        "broadcast",
        &[("50".to_owned(), report), ("20".to_owned(), again)],
    );
    assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");

    lifecycle.request_shutdown();
    server.await.expect("no panic").expect("clean stop");
}
