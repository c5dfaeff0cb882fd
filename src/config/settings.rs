//! The typed settings tree, its defaults and the checks serde cannot express.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use super::{ConfigError, Secret};

/// Everything the server reads at start. Field paths are the contract keys of DESIGN.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub data_dir: PathBuf,
    pub store: StoreSettings,
    pub bus: BusSettings,
    pub log: LogSettings,
    pub shutdown: ShutdownSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Address the HTTP and WebSocket listener binds; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest request body accepted, in bytes; larger bodies answer 413.
    pub max_body_bytes: usize,
    /// Open connections across all workers before new ones wait in the backlog.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    pub kind: StoreKind,
    pub scylla: ScyllaSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Embedded,
    Scylla,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScyllaSettings {
    /// Contact points, `host:port`; a comma-separated string in the environment.
    #[serde(deserialize_with = "comma_separated")]
    pub nodes: Vec<String>,
    pub keyspace: String,
    /// Replication factor used when `migrate` creates the keyspace.
    pub replication_factor: u8,
    /// Consistency of ordinary reads and writes (`one`, `local_quorum`, `quorum`, ...).
    pub consistency: String,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSettings {
    pub kind: BusKind,
    pub nats: NatsSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    Local,
    Nats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSettings {
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter directive such as `info` or `info,fitpulse=debug`.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// Time between turning unready and refusing new connections, so load balancers notice.
    pub drain_delay_ms: u64,
    /// Upper bound for in-flight work to finish once the listener stops.
    pub grace_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            http: HttpSettings {
                bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
                workers: 0,
                max_body_bytes: 256 * 1024,
                max_connections: 200_000,
            },
            data_dir: PathBuf::from("./data"),
            store: StoreSettings {
                kind: StoreKind::Embedded,
                scylla: ScyllaSettings {
                    nodes: vec!["127.0.0.1:9042".into()],
                    keyspace: "fitpulse".into(),
                    replication_factor: 1,
                    consistency: "local_quorum".into(),
                    connect_timeout_ms: 5_000,
                    request_timeout_ms: 5_000,
                    username: None,
                    password: None,
                },
            },
            bus: BusSettings {
                kind: BusKind::Local,
                nats: NatsSettings {
                    url: "nats://127.0.0.1:4222".into(),
                },
            },
            log: LogSettings {
                format: LogFormat::Pretty,
                level: "info".into(),
            },
            shutdown: ShutdownSettings {
                drain_delay_ms: 0,
                grace_seconds: 30,
            },
        }
    }
}

impl Settings {
    /// Checks that need more than a type: ranges, identifiers, filter syntax.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.http.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "http.max_body_bytes",
                "must be above 0",
            ));
        }
        if self.http.max_connections == 0 {
            return Err(ConfigError::invalid(
                "http.max_connections",
                "must be above 0",
            ));
        }
        if self.shutdown.grace_seconds == 0 {
            return Err(ConfigError::invalid(
                "shutdown.grace_seconds",
                "must be above 0",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::invalid("log.level", e.to_string()))?;
        let scylla = &self.store.scylla;
        if !is_cql_identifier(&scylla.keyspace) {
            return Err(ConfigError::invalid(
                "store.scylla.keyspace",
                "must be 1-48 characters of a-z, 0-9 and _, starting with a letter",
            ));
        }
        if scylla.nodes.is_empty() {
            return Err(ConfigError::invalid(
                "store.scylla.nodes",
                "needs at least one host:port",
            ));
        }
        if scylla.replication_factor == 0 {
            return Err(ConfigError::invalid(
                "store.scylla.replication_factor",
                "must be above 0",
            ));
        }
        if scylla.consistency.parse::<ConsistencyName>().is_err() {
            return Err(ConfigError::invalid(
                "store.scylla.consistency",
                format!("unknown level; one of {}", ConsistencyName::ALL.join(", ")),
            ));
        }
        Ok(())
    }
}

/// Consistency level names accepted in configuration; the store maps them to the driver's.
pub struct ConsistencyName;

impl ConsistencyName {
    pub const ALL: [&'static str; 7] = [
        "one",
        "two",
        "three",
        "quorum",
        "all",
        "local_quorum",
        "local_one",
    ];
}

impl std::str::FromStr for ConsistencyName {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL
            .contains(&s.to_ascii_lowercase().as_str())
            .then_some(ConsistencyName)
            .ok_or(())
    }
}

fn is_cql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 48
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Accepts a list (from a file) or a comma-separated string (from the environment).
fn comma_separated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    let items = match ListOrString::deserialize(deserializer)? {
        ListOrString::List(items) => items,
        ListOrString::String(joined) => joined.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_owned())
        .filter(|item| !item.is_empty())
        .collect())
}
