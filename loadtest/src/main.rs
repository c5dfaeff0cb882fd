//! `fitpulse-loadtest`: load scenarios as subcommands, each printing a summary and
//! optionally writing a JSON report; `compare` puts two reports side by side.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fitpulse_loadtest::report::{self, Report};
use fitpulse_loadtest::scenarios;

#[derive(Parser)]
#[command(
    name = "fitpulse-loadtest",
    version,
    about = "Load generator for fitpulse"
)]
struct Cli {
    /// Also draw the run's latency percentile curve as an SVG chart at this path.
    #[arg(long, global = true)]
    chart: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ramp to N authenticated sockets, hold them, measure memory per session.
    Connect(scenarios::connect::ConnectArgs),
    /// N participants in one class, a coach sending K cues: delivery latency and losses.
    Live(scenarios::live::LiveArgs),
    /// Catalog reads, likes and plan reads at a constant rate, open loop, every body checked.
    Rest(scenarios::rest::RestArgs),
    /// The same mix with the rate ramping from idle to R req/s, then holding.
    Spike(scenarios::spike::SpikeArgs),
    /// B buyers for S units of a product drop, arriving within T seconds, open loop:
    /// orders, sold_out answers, oversell (must be 0), errors, latency.
    Drop(scenarios::drop::DropArgs),
    /// A feature message to N connected sessions: time until the last delivery, frames
    /// per second, delivery latency, missing deliveries (must be 0).
    Broadcast(scenarios::broadcast::BroadcastArgs),
    /// Starts fake APNs and FCM and the server for them, registers N devices, pushes one
    /// feature message to all: pushes per second, time to the last, server memory.
    Push(scenarios::push::PushArgs),
    /// N password logins for unknown emails at once from A addresses, `/healthz` probed
    /// meanwhile: the server's memory growth and the probe's latency.
    LoginBurst(scenarios::login_burst::LoginBurstArgs),
    /// Compare two JSON reports side by side.
    Compare { a: PathBuf, b: PathBuf },
    /// Draw the latency percentile curves of JSON reports as one SVG chart.
    Chart {
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Where to write the SVG.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "latency by percentile")]
        title: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let chart = cli.chart;
    let (report, out) = match cli.command {
        Command::Chart {
            reports,
            out,
            title,
        } => return draw_chart(&reports, &out, &title),
        Command::Compare { a, b } => {
            return match (Report::read(&a), Report::read(&b)) {
                (Ok(a), Ok(b)) => {
                    print!("{}", report::compare(&a, &b));
                    ExitCode::SUCCESS
                }
                (Err(err), _) | (_, Err(err)) => {
                    eprintln!("fitpulse-loadtest: {err}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Connect(args) => {
            let out = args.out.clone();
            (scenarios::connect::run(args).await, out)
        }
        Command::Live(args) => {
            let out = args.out.clone();
            (scenarios::live::run(args).await, out)
        }
        Command::Rest(args) => {
            let out = args.load.send.out.clone();
            (scenarios::rest::run(args).await, out)
        }
        Command::Spike(args) => {
            let out = args.load.send.out.clone();
            (scenarios::spike::run(args).await, out)
        }
        Command::Drop(args) => {
            let out = args.send.out.clone();
            (scenarios::drop::run(args).await, out)
        }
        Command::Broadcast(args) => {
            let out = args.out.clone();
            (scenarios::broadcast::run(args).await, out)
        }
        Command::Push(args) => {
            let out = args.out.clone();
            (scenarios::push::run(args).await, out)
        }
        Command::LoginBurst(args) => {
            let out = args.out.clone();
            (scenarios::login_burst::run(args).await, out)
        }
    };
    match report {
        Ok(report) => {
            print!("{}", report.summary());
            if let Some(path) = out
                && let Err(err) = report.write(&path)
            {
                eprintln!("fitpulse-loadtest: cannot write {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
            if let Some(path) = chart {
                let svg = fitpulse_loadtest::chart::svg(
                    &format!("{} latency", report.scenario),
                    &[(report.scenario.clone(), report.clone())],
                );
                if let Err(err) = std::fs::write(&path, svg) {
                    eprintln!("fitpulse-loadtest: cannot write {}: {err}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!(
                "fitpulse-loadtest: {}",
                fitpulse_loadtest::error_chain(&err)
            );
            ExitCode::FAILURE
        }
    }
}

/// One chart of the reports at `paths`, each labelled by its file name.
fn draw_chart(paths: &[PathBuf], out: &std::path::Path, title: &str) -> ExitCode {
    let mut series = Vec::new();
    for path in paths {
        match Report::read(path) {
            Ok(report) => {
                let label = path.file_stem().map_or_else(
                    || report.scenario.clone(),
                    |s| s.to_string_lossy().into_owned(),
                );
                series.push((label, report));
            }
            Err(err) => {
                eprintln!("fitpulse-loadtest: {}: {err}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    match std::fs::write(out, fitpulse_loadtest::chart::svg(title, &series)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("fitpulse-loadtest: cannot write {}: {err}", out.display());
            ExitCode::FAILURE
        }
    }
}
