//! Integration tests of the fitpulse server: the real application on port 0 (or the real
//! binary), its own temporary data directory, and, for the scylla backend, a fresh
//! keyspace on the CQL server started by `scripts/cql-test-server`.

mod account_links;
mod accounts;
mod binary;
mod business;
mod cluster;
mod commerce;
mod community;
mod console;
mod content;
mod cors;
mod dashboard_lint;
mod dependencies;
mod drops;
mod drops_restarts;
mod drops_returns;
mod erasure;
mod errors;
mod hardening;
mod hardening_more;
mod health;
mod helpers;
mod message_feed_entries;
mod message_stats;
mod messages;
mod ops;
mod outbox;
mod plan;
mod push;
mod shutdown;
mod skips;
mod smtp;
mod social;
mod sockets;
mod staff;
pub mod store;
mod tokens;
mod traces;
mod workouts;
