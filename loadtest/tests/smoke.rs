//! A short run of every scenario against a real server on port 0, so the load generator
//! never rots. Real runs are benchmarks (docs/BENCHMARKS.md), not tests.

use fitpulse::config::Settings;
use fitpulse::lifecycle::Lifecycle;
use fitpulse::startup::Application;
use fitpulse_loadtest::scenarios::LoadArgs;
use fitpulse_loadtest::scenarios::connect::{self, ConnectArgs};
use fitpulse_loadtest::scenarios::drop::{self, DropArgs};
use fitpulse_loadtest::scenarios::live::{self, LiveArgs};
use fitpulse_loadtest::scenarios::open_loop::SendArgs;
use fitpulse_loadtest::scenarios::rest::{self, RestArgs};
use fitpulse_loadtest::scenarios::spike::{self, SpikeArgs};
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

    fn load(&self) -> LoadArgs {
        load_args(&self.target, self.keys())
    }

    fn send(&self) -> SendArgs {
        send_args(&self.target, self.keys())
    }

    async fn stop(self) {
        self.lifecycle.request_shutdown();
        self.task.await.expect("no panic").expect("clean stop");
    }
}

/// The open-loop scenarios' common arguments, small: 8 connections.
fn send_args(target: &str, keys: KeyArgs) -> SendArgs {
    SendArgs {
        target: target.to_owned(),
        connections: 8,
        sources: 2,
        timeout: "5s".parse().expect("duration"),
        keys,
        out: None,
    }
}

/// The browsing scenarios' arguments, small: 20 users.
fn load_args(target: &str, keys: KeyArgs) -> LoadArgs {
    LoadArgs {
        send: send_args(target, keys),
        mix: "catalog=70,like=10,plan=10,edit=10".parse().expect("mix"),
        users: 20,
        plan_template: "lose-weight-2-week-plan".into(),
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
        spread: Vec::new(),
        participants: 20,
        cues: 3,
        cue_interval: "100ms".parse().expect("duration"),
        rate: 500,
        metrics_per_second: 0.0,
        keys: server.keys(),
        // The server runs in this process: its CPU is read from here.
        server_pid: Some(std::process::id()),
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
    assert!(report.figures["server_cpu_seconds_cues"] >= 0.0);
    assert!(report.figures.contains_key("server_cpu_us_per_frame"));
    assert!(report.figures.contains_key("loadtest_cpu_us_per_frame"));
    assert!(
        !report.counts.contains_key("metrics_sent"),
        "metrics are off"
    );
    server.stop().await;
}

#[actix_web::test]
async fn live_with_metrics_has_every_metric_answered_and_measures_the_pushes() {
    let server = Server::start().await;
    let args = LiveArgs {
        target: server.target.clone(),
        spread: Vec::new(),
        participants: 20,
        cues: 15,
        cue_interval: "200ms".parse().expect("duration"),
        rate: 500,
        metrics_per_second: 2.0,
        keys: server.keys(),
        server_pid: None,
        socket: SocketArgs {
            buffer_bytes: 4096,
            sockets_per_source_ip: 10,
        },
        out: None,
    };
    let report = live::run(args).await.expect("the scenario runs");
    let counts = &report.counts;
    assert_eq!(counts["joined"], 20, "{}", report.summary());
    assert_eq!(counts["lost"], 0, "{}", report.summary());
    // Plausible values at a pace the server allows: every metric is taken.
    assert!(counts["metrics_sent"] > 0, "{}", report.summary());
    assert_eq!(
        counts["metrics_acked"],
        counts["metrics_sent"],
        "{}",
        report.summary()
    );
    assert_eq!(counts["metrics_unanswered"], 0);
    // The leaderboard is pushed while metrics flow, and its gaps are measured.
    assert!(counts["leaderboard_gaps"] > 0, "{}", report.summary());
    assert!(counts.contains_key("leaderboard_gaps_over_1500ms"));
    assert!(counts.contains_key("rank_gaps"));
    for figure in [
        "leaderboard_gap_p50_ms",
        "leaderboard_gap_p99_ms",
        "leaderboard_gap_max_ms",
        "rank_gap_max_ms",
    ] {
        assert!(
            report.figures.contains_key(figure),
            "{figure}: {}",
            report.summary()
        );
    }
    server.stop().await;
}

/// Every request answered, correct, and of every kind in the mix.
fn assert_all_correct(report: &fitpulse_loadtest::report::Report, sent: u64) {
    assert_eq!(report.counts["ok"], sent, "{}", report.summary());
    assert_eq!(
        report.counts.values().sum::<u64>(),
        sent,
        "nothing but ok: {}",
        report.summary()
    );
    assert_eq!(report.figures["correct_fraction"], 1.0);
    assert!(report.failed.is_empty(), "{}", report.summary());
    assert_eq!(report.latency_ms.count, sent);
    for kind in ["catalog", "like", "plan", "edit"] {
        assert!(
            report.latency_by[kind].count > 0,
            "{kind}: {}",
            report.summary()
        );
    }
}

#[actix_web::test]
async fn rest_answers_every_request_correctly_at_a_steady_rate() {
    let server = Server::start().await;
    let args = RestArgs {
        rate: 200,
        duration: "2s".parse().expect("duration"),
        load: server.load(),
    };
    let report = rest::run(args).await.expect("the scenario runs");
    assert_all_correct(&report, 400);
    assert_eq!(report.figures["requests_sent"], 400.0);
    assert!(report.figures["catalog_items"] >= 113.0, "the demo catalog");
    server.stop().await;
}

#[actix_web::test]
async fn spike_ramps_then_holds_and_answers_every_request_correctly() {
    let server = Server::start().await;
    let args = SpikeArgs {
        from: 0,
        rate: 200,
        ramp: "1s".parse().expect("duration"),
        hold: "1s".parse().expect("duration"),
        load: server.load(),
    };
    let report = spike::run(args).await.expect("the scenario runs");
    // 1 s from 0 to 200/s is 100 requests, then 200 in the hold.
    assert_all_correct(&report, 300);
    assert_eq!(report.latency_by["ramp"].count, 100, "{}", report.summary());
    assert_eq!(report.latency_by["hold"].count, 200, "{}", report.summary());
    server.stop().await;
}

fn drop_args(server: &Server, buyers: u32, stock: u32) -> DropArgs {
    DropArgs {
        buyers,
        within: "2s".parse().expect("duration"),
        front_load: 1,
        stock,
        per_user_limit: 1,
        reservation_ttl_seconds: 3600,
        drop: None,
        admission_per_second: None,
        opens_in: "5s".parse().expect("duration"),
        spread: Vec::new(),
        send: server.send(),
    }
}

#[actix_web::test]
async fn drop_reserves_exactly_the_stock_and_answers_everyone_else_sold_out() {
    let server = Server::start().await;
    let report = drop::run(drop_args(&server, 300, 20))
        .await
        .expect("the scenario runs");
    assert_eq!(report.counts["reserved"], 20, "{}", report.summary());
    assert_eq!(report.counts["sold_out"], 280, "{}", report.summary());
    assert_eq!(
        report.counts.values().sum::<u64>(),
        300,
        "nothing but reservations and sold_out: {}",
        report.summary()
    );
    assert!(report.failed.is_empty(), "{}", report.summary());
    for (figure, value) in [
        ("oversell", 0.0),
        ("errors", 0.0),
        ("units_for_sale", 20.0),
        ("server_reserved", 20.0),
        ("server_units_taken", 20.0),
        ("orders_read_back", 20.0),
    ] {
        assert_eq!(
            report.figures[figure],
            value,
            "{figure}: {}",
            report.summary()
        );
    }
    assert_eq!(report.latency_ms.count, 300);
    assert_eq!(report.latency_by["reserved"].count, 20);
    assert_eq!(report.latency_by["sold_out"].count, 280);
    server.stop().await;
}

#[actix_web::test]
async fn drop_through_a_waiting_room_admits_every_buyer_then_reserves_exactly_the_stock() {
    let server = Server::start().await;
    let args = DropArgs {
        admission_per_second: Some(40),
        opens_in: "1s".parse().expect("duration"),
        ..drop_args(&server, 100, 20)
    };
    let report = drop::run(args).await.expect("the scenario runs");
    let count = |k: &str| report.counts.get(k).copied().unwrap_or(0);
    assert_eq!(
        (count("joined"), count("admitted"), count("errors")),
        (100, 100, 0),
        "{}",
        report.summary()
    );
    assert_eq!(
        (count("reserved"), count("sold_out")),
        (20, 80),
        "{}",
        report.summary()
    );
    assert_eq!(report.figures["server_reserved"], 20.0);
    // The admission-rate bar is wall-clock; only the counts are checked here.
    assert!(
        report
            .failed
            .iter()
            .all(|f| f.starts_with("admissions came at")),
        "{:?}",
        report.failed
    );
    server.stop().await;
}

#[actix_web::test]
async fn drop_on_a_sold_out_drop_reserves_nothing_and_still_passes() {
    let server = Server::start().await;
    let first = drop::run(drop_args(&server, 30, 10))
        .await
        .expect("the first run");
    assert!(first.failed.is_empty(), "{}", first.summary());
    let id = first.parameters["drop"].as_str().expect("the drop's id");
    // The same drop again, buyers crowding the start: nothing is left for them.
    let again = DropArgs {
        drop: Some(id.to_owned()),
        front_load: 3,
        ..drop_args(&server, 40, 10)
    };
    let report = drop::run(again).await.expect("the second run");
    assert_eq!(report.counts["reserved"], 0, "{}", report.summary());
    assert_eq!(report.counts["sold_out"], 40, "{}", report.summary());
    assert_eq!(report.figures["units_for_sale"], 0.0);
    assert_eq!(report.figures["server_reserved"], 10.0);
    assert!(report.failed.is_empty(), "{}", report.summary());
    server.stop().await;
}

#[actix_web::test]
async fn open_loop_scenarios_refuse_targets_off_loopback() {
    let keys = KeyArgs {
        data_dir: "/nonexistent".into(),
        key: None,
        issuer: "fitpulse".into(),
        audience: "fitpulse-api".into(),
    };
    let args = RestArgs {
        rate: 10,
        duration: "1s".parse().expect("duration"),
        load: load_args("http://10.0.0.1:8080", keys.clone()),
    };
    let err = rest::run(args).await.expect_err("refused");
    assert!(err.to_string().contains("loopback"), "{err}");
    let args = DropArgs {
        buyers: 10,
        within: "1s".parse().expect("duration"),
        front_load: 1,
        stock: 5,
        per_user_limit: 1,
        reservation_ttl_seconds: 3600,
        drop: None,
        admission_per_second: None,
        opens_in: "5s".parse().expect("duration"),
        spread: Vec::new(),
        send: send_args("http://10.0.0.1:8080", keys),
    };
    let err = drop::run(args).await.expect_err("refused");
    assert!(err.to_string().contains("loopback"), "{err}");
}
