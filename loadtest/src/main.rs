//! `fitpulse-loadtest`: the load generator for fitpulse. Scenarios (connect, live,
//! broadcast, rest, drop) arrive as subcommands with their own issue; until then the binary
//! only says so, so nobody mistakes it for a measurement.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "fitpulse-loadtest {}: no scenarios yet; see docs/BENCHMARKS.md",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
