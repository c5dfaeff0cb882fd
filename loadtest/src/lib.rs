//! fitpulse-loadtest: scenarios that load a fitpulse server on loopback and report what
//! they measured.
//!
//! - `scenarios`: one module per scenario (`connect`, `live`, `broadcast`, `rest`, `spike`,
//!   `drop`, `login-burst`);
//!   `rest`, `spike` and `drop` share an open-loop engine that sends through `pool`.
//! - `sockets`: opening many WebSockets from one process; `pool`: keep-alive HTTP/1.1
//!   connections for request scenarios; `tokens`: minting tokens with the server's key;
//!   `target`: the server's address, metrics and memory.
//! - `report`: the JSON report, its summary, and `compare`; `chart`: latency percentile
//!   curves of reports as an SVG.

pub mod chart;
pub mod pool;
pub mod progress;
pub mod report;
pub mod scenarios;
pub mod sockets;
pub mod target;
pub mod tokens;

use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Target(#[from] target::TargetError),
    #[error("cannot load the signing key")]
    Keys(#[from] fitpulse::auth::keys::KeyError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Profile(#[from] scenarios::profile::ProfileError),
    #[error(transparent)]
    Setup(#[from] scenarios::workload::SetupError),
    #[error(transparent)]
    Drop(#[from] scenarios::drop::DropError),
}

/// An error and its causes on one line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The machine a report was measured on.
pub fn host_info() -> Value {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    });
    json!({
        "cores": cores,
        "memory_gib": memory_kib.map(|k| (k as f64 / 1024.0 / 1024.0).round()),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
    })
}
