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
    /// Compare two JSON reports side by side.
    Compare { a: PathBuf, b: PathBuf },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (report, out) = match cli.command {
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
