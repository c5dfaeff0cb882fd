//! A short run of every scenario against a real server on port 0, so the load generator
//! never rots. Real runs are benchmarks (docs/BENCHMARKS.md), not tests.

use fitpulse::config::Settings;
use fitpulse::lifecycle::Lifecycle;
use fitpulse::startup::Application;
use fitpulse_loadtest::scenarios::connect::{self, ConnectArgs};
use fitpulse_loadtest::scenarios::live::{self, LiveArgs};
use fitpulse_loadtest::sockets::SocketArgs;
use fitpulse_loadtest::tokens::KeyArgs;
use tempfile::TempDir;

struct Server {
    target: String,
    data: TempDir,
    lifecycle: Lifecycle,
    task: actix_web::rt::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start() -> Server {
        let data = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::default();
        settings.http.bind = "127.0.0.1:0".parse().expect("address");
        settings.http.workers = 1;
        settings.data_dir = data.path().to_owned();
        let app = Application::build(settings).await.expect("server builds");
        Server {
            target: format!("http://127.0.0.1:{}", app.port()),
            lifecycle: app.lifecycle(),
            data,
            task: actix_web::rt::spawn(app.run_until_stopped()),
        }
    }

    fn keys(&self) -> KeyArgs {
        KeyArgs {
            data_dir: self.data.path().to_owned(),
            key: None,
            issuer: "fitpulse".into(),
            audience: "fitpulse-api".into(),
        }
    }

    async fn stop(self) {
        self.lifecycle.request_shutdown();
        self.task.await.expect("no panic").expect("clean stop");
    }
}

#[actix_web::test]
async fn connect_opens_holds_and_closes_every_socket() {
    let server = Server::start().await;
    let args = ConnectArgs {
        target: server.target.clone(),
        sockets: 30,
        rate: 300,
        hold: "1s".parse().expect("duration"),
        keys: server.keys(),
        server_pid: Some(std::process::id()),
        // Spread even this small run over several source addresses.
        socket: SocketArgs {
            buffer_bytes: 4096,
            sockets_per_source_ip: 10,
        },
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
    server.stop().await;
}

#[actix_web::test]
async fn live_delivers_every_cue_to_every_participant() {
    let server = Server::start().await;
    let args = LiveArgs {
        target: server.target.clone(),
        participants: 20,
        cues: 3,
        cue_interval: "100ms".parse().expect("duration"),
        rate: 500,
        keys: server.keys(),
        socket: SocketArgs {
            buffer_bytes: 4096,
            sockets_per_source_ip: 10,
        },
        out: None,
    };
    let report = live::run(args).await.expect("the scenario runs");
    assert_eq!(report.counts["joined"], 20, "{}", report.summary());
    assert_eq!(report.counts["frames_received"], 60, "{}", report.summary());
    assert_eq!(report.counts["lost"], 0);
    assert_eq!(report.latency_ms.count, 60);
    assert!(report.figures["frames_per_second"] > 0.0);
    server.stop().await;
}
