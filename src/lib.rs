//! fitpulse: a real-time engagement server for fitness apps.
//!
//! The server crate holds the adapters around the engagement core (`fitpulse-actors`):
//!
//! - [`config`]: layered settings (defaults, file, `FITPULSE__*` environment).
//! - [`startup`]: builds the [`startup::Application`] (listener, routes, store) and runs it
//!   until a graceful shutdown; [`lifecycle`] carries readiness and the stop request.
//! - [`http`]: REST routes, one `configure` per area, the error catalogue and the
//!   per-request middleware.
//! - [`store`]: the embedded and scylla backends of the core's store ports.
//! - [`outbox`]: the worker that carries out side effects with retries and dead letters;
//!   [`email`]: the emails it sends (templates, SMTP or log sender).
//! - [`metrics`]: every Prometheus metric; [`telemetry`]: tracing output.
//! - [`cli`] and [`migrate`]: the command line.
//!
//! A request flows: listener -> `http::observe` (id, span, metrics) -> route handler ->
//! store port -> backend.

pub mod admin;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod commerce;
pub mod community;
pub mod config;
pub mod content;
pub mod drops;
pub mod email;
pub mod fd_limit;
pub mod http;
pub mod lifecycle;
pub mod messages;
pub mod metrics;
pub mod migrate;
pub mod node;
pub mod outbox;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod ws;
