//! fitpulse: a real-time engagement server for fitness apps.
//!
//! The server crate holds the adapters and services around the engagement core
//! (`fitpulse-actors`), which it runs as one node of a cluster (a cluster of one by
//! default). `docs/ARCHITECTURE.md` walks through how the parts meet.
//!
//! Running:
//! - [`cli`]: the command line; [`admin`] and [`migrate`]: its operator commands.
//! - [`config`]: layered settings (defaults, file, `FITPULSE__*` environment).
//! - [`startup`]: builds the [`startup::Application`] (listeners, store, node, services,
//!   routes) and runs it until a graceful shutdown; [`lifecycle`] carries draining and the
//!   stop request; [`fd_limit`] raises the open-file limit for many sockets.
//! - [`node`]: this node's bus, cluster membership and the announcements that keep nodes
//!   in step; [`bus`]: the local and NATS bus backends.
//!
//! Edges (parse, call a service, render):
//! - [`http`]: REST routes, one `configure` per area, the error catalogue shared with the
//!   socket, and the per-request middleware.
//! - [`ws`]: the WebSocket gateway, one connection actor per socket, frames by family.
//!
//! Services (the rules):
//! - [`auth`]: accounts, passwords, access and refresh tokens, revocations, login limits.
//! - [`content`]: the catalog and its read model, plans and shopping lists.
//! - [`classes`]: live-class reads the routes share (participant counts, roster pages).
//! - [`community`]: check-ins, follows, blocks, groups, posts, reports and their fan-out.
//! - [`commerce`]: products, app-store and payment webhooks, subscriptions.
//! - [`drops`]: limited product drops, their sellers and waiting rooms.
//! - [`workouts`]: members' workout history and personal records.
//! - [`messages`]: scheduled, segmented feature messages and inboxes.
//! - [`outbox`]: side effects carried out with retries and dead letters; [`email`]: the
//!   emails it sends.
//! - [`schedule`]: work that falls due on the node's clock (reservations, message starts).
//!
//! Around them:
//! - [`store`]: the embedded and scylla backends of the core's store ports.
//! - [`metrics`]: every Prometheus metric; [`telemetry`]: tracing output; [`digest`]: hex
//!   SHA-256; [`generations`]: the bounded map behind the caches.
//! - [`dependencies`]: the probe of the store, bus, SMTP relay and push providers behind
//!   `fitpulse_dependency_up` and the details of `/readyz`.
//!
//! A request flows: listener -> `http::observe` (id, span, metrics) -> route (parse) ->
//! service (rules) -> store port or the core's hub -> backend or session actor.

pub mod admin;
pub mod auth;
pub mod bus;
pub mod classes;
pub mod cli;
pub mod commerce;
pub mod community;
pub mod config;
pub mod content;
pub mod dependencies;
pub mod digest;
pub mod drops;
pub mod email;
pub mod fd_limit;
pub mod generations;
pub mod http;
pub mod lifecycle;
pub mod messages;
pub mod metrics;
pub mod migrate;
pub mod node;
pub mod outbox;
pub mod push;
pub mod schedule;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod workouts;
pub mod ws;
