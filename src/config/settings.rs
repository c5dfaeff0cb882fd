//! The typed settings tree, its defaults and the checks serde cannot express.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use super::push::PushSettings;
use super::telemetry::TelemetrySettings;
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
    pub auth: AuthSettings,
    pub ws: WsSettings,
    pub live: LiveSettings,
    pub content: ContentSettings,
    pub outbox: OutboxSettings,
    pub email: EmailSettings,
    pub commerce: CommerceSettings,
    pub messages: MessageSettings,
    pub community: CommunitySettings,
    pub drops: DropSettings,
    pub push: PushSettings,
    pub telemetry: TelemetrySettings,
    pub metrics: MetricsSettings,
    pub ops: OpsSettings,
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
    /// Take the client address from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Open connections and sockets one client address may hold; beyond, requests answer
    /// 429 and sockets close 4008 (probes and metrics are always answered).
    pub max_connections_per_ip: usize,
    /// Where `/metrics` is served when set (a listener of its own, e.g. `0.0.0.0:9090`,
    /// scraped by Prometheus and never routed publicly); `/metrics` on `bind` then answers
    /// 404. Unset: `/metrics` is served on `bind` (a laptop, a single host).
    pub metrics_bind: Option<SocketAddr>,
    /// Which web origins may call the API from a browser.
    pub cors: CorsSettings,
}

/// Cross-origin access (`http.cors`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsSettings {
    /// Exact origins (`https://app.example.com`); empty: no cross-origin access.
    #[serde(deserialize_with = "comma_separated")]
    pub allowed_origins: Vec<String>,
}

impl CorsSettings {
    /// An origin is a scheme, a host and an optional port: no path, no wildcard.
    fn validate(&self) -> Result<(), ConfigError> {
        for origin in &self.allowed_origins {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let plain = rest.is_some_and(|host| {
                !host.is_empty()
                    && host.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    })
            });
            if !plain {
                return Err(ConfigError::invalid(
                    "http.cors.allowed_origins",
                    format!("`{origin}` is not an origin such as https://app.example.com"),
                ));
            }
        }
        Ok(())
    }
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
    /// Feed appends nobody waits for (feature messages' entries, written after their
    /// deliveries) sent to the cluster at once, at most; the rest wait in memory. A
    /// feature message makes every online session append at once, and tens of thousands
    /// of writes in flight time out together and are retried together. Appends someone
    /// waits for are not held back.
    pub background_appends_in_flight: usize,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusSettings {
    /// `local`: one process, nothing shared. `nats`: many nodes sharing sessions, classes
    /// and notices through a NATS server (see `fitpulse_actors::cluster`).
    pub kind: BusKind,
    pub nats: NatsSettings,
    /// This node's name in the cluster; empty picks `<host name>-<random>`.
    pub node_id: String,
    pub heartbeat_ms: u64,
    /// A node not heard from for this long (while the bus is up) is gone.
    pub node_timeout_ms: u64,
    /// One attempt of a request to another node.
    pub request_timeout_ms: u64,
    /// How long requests to other nodes are retried (holder busy, bus down).
    pub retry_ms: u64,
    /// Messages queued for the bus at most (while it is slow or down); more are dropped
    /// and counted.
    pub publish_buffer: usize,
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
pub struct AuthSettings {
    /// `iss` of every token fitpulse signs.
    pub issuer: String,
    /// `aud` of every access token; tokens for another audience are refused.
    pub audience: String,
    pub access_ttl_seconds: u64,
    pub refresh_ttl_seconds: u64,
    /// Actions refused (403 `email_not_verified`) to users whose email is not verified.
    #[serde(deserialize_with = "verified_actions")]
    pub require_verified_email_for: Vec<VerifiedAction>,
    /// Where the links in account emails point: `<base>/reset-password?token=...` and
    /// `<base>/verify-email?token=...` (the app's web page or universal link).
    pub link_base_url: String,
    /// Password-reset requests per email per hour (each sends an email).
    pub password_resets_per_hour_per_email: u32,
    /// Sign in with Apple: ID tokens for these client ids (the app's bundle id, the web
    /// service id); off while `client_ids` is empty.
    pub apple: SocialSettings,
    /// Sign in with Google: ID tokens for these OAuth client ids; off while empty.
    pub google: SocialSettings,
    /// A refresh token presented again this soon after its exchange answers the same
    /// successor (two parts of an app refreshing at once); later, the family is revoked.
    pub refresh_reuse_interval_seconds: u64,
    /// PKCS#8 PEM Ed25519 private keys; the first signs, all verify (rotation). Empty: a
    /// key is generated into `<data_dir>/keys/` on first start (single node only).
    #[serde(deserialize_with = "comma_separated_paths")]
    pub signing_key_files: Vec<PathBuf>,
    /// Service clients allowed the `client_credentials` grant.
    pub clients: Vec<ClientSettings>,
    /// Login, registration and token attempts per client address per minute.
    pub attempts_per_minute_per_ip: u32,
    /// Password attempts per account per minute.
    pub attempts_per_minute_per_account: u32,
    /// Password hashes computed at once (each holds 19 MiB and a core); 0 means one per core.
    pub hash_concurrency: usize,
    /// How long a login waits for a free hasher before it is refused with 429.
    pub hash_wait_ms: u64,
    /// How often each node reads new token revocations from the store (a node that missed
    /// a revocation's announcement refuses the token within this).
    pub revocation_poll_ms: u64,
    /// Access tokens remembered after they verified, for up to a minute (each request then
    /// skips the signature check); 0 verifies every token every time.
    pub token_cache_entries: usize,
}

impl AuthSettings {
    /// The number of password hashing threads.
    pub fn hash_threads(&self) -> usize {
        match self.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    pub id: String,
    pub secret: Secret,
    /// Roles its tokens carry (`admin` for a CMS, for example).
    pub roles: Vec<String>,
}

/// One ID-token provider (`auth.apple`, `auth.google`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocialSettings {
    /// The provider's signing keys (a JWKS document).
    pub jwks_url: String,
    /// Accepted `aud` values; empty turns the provider off.
    #[serde(deserialize_with = "comma_separated")]
    pub client_ids: Vec<String>,
    /// Accepted `iss` values.
    #[serde(deserialize_with = "comma_separated")]
    pub issuers: Vec<String>,
}

impl SocialSettings {
    fn apple() -> Self {
        SocialSettings {
            jwks_url: "https://appleid.apple.com/auth/keys".into(),
            client_ids: Vec::new(),
            issuers: vec!["https://appleid.apple.com".into()],
        }
    }

    fn google() -> Self {
        SocialSettings {
            jwks_url: "https://www.googleapis.com/oauth2/v3/certs".into(),
            client_ids: Vec::new(),
            issuers: vec![
                "https://accounts.google.com".into(),
                "accounts.google.com".into(),
            ],
        }
    }

    pub fn enabled(&self) -> bool {
        !self.client_ids.is_empty()
    }
}

/// What `auth.require_verified_email_for` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifiedAction {
    /// Group posts.
    Post,
    /// Comments on group posts.
    Comment,
    /// Drop orders.
    Order,
}

impl VerifiedAction {
    pub fn describe(self) -> &'static str {
        match self {
            VerifiedAction::Post => "post",
            VerifiedAction::Comment => "comment",
            VerifiedAction::Order => "order",
        }
    }
}

/// WebSocket limits and session timings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsSettings {
    /// Largest client frame (after reassembly); larger ones close the socket with 1009.
    pub max_frame_bytes: usize,
    /// Sustained client frames per second per socket; beyond the burst the socket closes 4008.
    pub messages_per_second: u32,
    pub message_burst: u32,
    /// Frames queued for one socket before it counts as too slow and closes 4009.
    pub outbound_queue: usize,
    pub heartbeat_interval_ms: u64,
    /// A socket silent for this long (no frame, no pong) is dropped.
    pub client_timeout_ms: u64,
    pub max_sockets_per_user: usize,
    /// How long a user's session outlives their last socket.
    pub session_idle_grace_ms: u64,
    /// How long before its token expires a socket gets `token.expiring`.
    pub token_expiry_warning_seconds: u64,
    /// Hub shards; 0 means one per core.
    pub hub_shards: usize,
    /// Recent events per session kept in memory for instant resume.
    pub memory_events: usize,
    /// How long a feature message's feed entry waits before it is written (after the
    /// fan-out to every session; sooner with any other event of the user's). 0 writes it
    /// at once.
    pub broadcast_persist_delay_ms: u64,
}

/// Live classes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSettings {
    /// The waiting room opens this long before a class's scheduled start.
    pub waiting_room_minutes: u64,
    /// Entries in the pushed leaderboard.
    pub leaderboard_size: usize,
    /// Members who asked for a reminder get a push this many minutes before the start.
    pub reminder_minutes: u64,
    /// Entries in the roster page each member is sent (`live.roster`).
    pub roster_page_size: usize,
    /// Members whose output a class records for on-demand replays, and timelines a class
    /// keeps in all (live takers and finished replays).
    pub timeline_takers: usize,
    /// On-demand replays one member may start in an hour on each node (the budget refills
    /// evenly; a start beyond it is refused with `rate_limited` and `Retry-After`).
    pub replay_starts_per_hour: u32,
    /// What a self-reported metric may do; a sample that breaks it is dropped and counted.
    pub plausibility: PlausibilitySettings,
}

/// Bounds on self-reported live metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlausibilitySettings {
    /// Cumulative output may grow at most this fast (kJ per second; 1 kJ/s is 1,000 W).
    pub max_output_kj_per_second: f64,
    /// Cumulative reps may grow at most this fast.
    pub max_reps_per_minute: u32,
    /// Heart rate (bpm) outside this range is dropped.
    pub heart_rate_min: u32,
    pub heart_rate_max: u32,
    /// Growth is judged over at least this many seconds (apps report in bursts).
    pub min_window_seconds: u64,
    /// Rejections after which a participant is off the public board.
    pub flag_after: u32,
}

impl PlausibilitySettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.max_output_kj_per_second > 0.0 && self.max_output_kj_per_second <= 100.0) {
            return Err(ConfigError::invalid(
                "live.plausibility.max_output_kj_per_second",
                "must be above 0 and at most 100",
            ));
        }
        if !(1..=10_000).contains(&self.max_reps_per_minute) {
            return Err(ConfigError::invalid(
                "live.plausibility.max_reps_per_minute",
                "must be 1 to 10000",
            ));
        }
        if self.heart_rate_min >= self.heart_rate_max || self.heart_rate_max > 300 {
            return Err(ConfigError::invalid(
                "live.plausibility.heart_rate_max",
                "must be above heart_rate_min and at most 300",
            ));
        }
        if !(1..=600).contains(&self.min_window_seconds) {
            return Err(ConfigError::invalid(
                "live.plausibility.min_window_seconds",
                "must be 1 to 600",
            ));
        }
        if self.flag_after == 0 {
            return Err(ConfigError::invalid(
                "live.plausibility.flag_after",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Product drops: how nodes lease stock and take over stalled orders.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropSettings {
    /// How long a node's lease of a drop's units lives without renewal; a crashed node's
    /// unsold units go back to the pool a lease after it expired.
    pub lease_seconds: u32,
    /// A node hands its unsold units back when nobody bought for this long.
    pub quiet_seconds: u32,
    /// An order request that never answered (its node died) is taken over by a retry
    /// with its `Idempotency-Key` after this long.
    pub claim_lease_seconds: u32,
    /// A waiting room opens this long before its drop starts; everyone who joins before
    /// the start gets a place drawn at random at the start (refreshing early gains
    /// nothing), later arrivals queue behind in order.
    pub pre_queue_seconds: u32,
    /// Queue joins one user may make per minute (per node).
    pub queue_joins_per_minute_per_user: u32,
    /// Queue joins one client address may make per minute (per node).
    pub queue_joins_per_minute_per_ip: u32,
}

impl DropSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("drops.lease_seconds", self.lease_seconds),
            ("drops.quiet_seconds", self.quiet_seconds),
            ("drops.claim_lease_seconds", self.claim_lease_seconds),
        ] {
            if !(1..=3_600).contains(&value) {
                return Err(ConfigError::invalid(key, "between 1 and 3600"));
            }
        }
        if self.pre_queue_seconds > 86_400 {
            return Err(ConfigError::invalid(
                "drops.pre_queue_seconds",
                "at most 86400",
            ));
        }
        for (key, value) in [
            (
                "drops.queue_joins_per_minute_per_user",
                self.queue_joins_per_minute_per_user,
            ),
            (
                "drops.queue_joins_per_minute_per_ip",
                self.queue_joins_per_minute_per_ip,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "at least 1"));
            }
        }
        Ok(())
    }
}

/// Metrics that cost a store read to produce.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// How often `fitpulse_subscriptions` is counted (a scan of every subscription, by one
    /// node of the cluster).
    pub business_refresh_seconds: u64,
}

/// Watching the services the node depends on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsSettings {
    /// How often each configured dependency (store, bus, SMTP, push providers) is probed
    /// for `fitpulse_dependency_up` and the details of `/readyz`.
    pub dependency_probe_seconds: u64,
}

/// The community: fan-out bounds, group size, and per-user write budgets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunitySettings {
    /// Authors with this many followers or more are pulled on read instead of pushed.
    pub push_limit: usize,
    pub max_group_size: u32,
    pub posts_per_minute: u32,
    pub comments_per_minute: u32,
    pub follows_per_minute: u32,
}

/// Feature messages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSettings {
    /// Feature messages pushed to one user per UTC day at most; more wait in the inbox.
    pub daily_cap: u32,
    /// How often a node adds the message counts it gathered (deliveries, reads, clicks,
    /// dismissals) to the store; the stats route adds its own node's at once.
    pub stats_flush_ms: u64,
}

/// Store and payment webhooks. A provider without its secret (or root certificate)
/// answers its webhook with `not_configured`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommerceSettings {
    /// PEM root certificate App Store notification chains must lead to (Apple Root CA - G3).
    pub appstore_root_cert_file: Option<PathBuf>,
    /// The app's bundle id; notifications for other apps are refused.
    pub appstore_bundle_id: String,
    /// The App Store environment this server serves; notifications from the other one
    /// are refused.
    pub appstore_environment: AppStoreEnvironment,
    /// The token Google Pub/Sub push sends (`?token=` or a bearer header).
    pub googleplay_push_token: Option<Secret>,
    pub googleplay_package_name: String,
    /// The web payment provider's HMAC signing secret.
    pub payments_secret: Option<Secret>,
    /// How far a signed timestamp may be from now.
    pub payments_tolerance_seconds: u64,
}

/// Apple's two App Store environments, spelled as Apple's notifications spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppStoreEnvironment {
    Production,
    Sandbox,
}

impl AppStoreEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            AppStoreEnvironment::Production => "Production",
            AppStoreEnvironment::Sandbox => "Sandbox",
        }
    }
}

/// The catalog and client configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentSettings {
    /// Fill an empty catalog with the demo catalog on start.
    pub seed_demo: bool,
    /// Offer ids a `premium_required` answer names as the way to unlock premium content;
    /// a comma-separated string in the environment.
    #[serde(deserialize_with = "comma_separated")]
    pub premium_offers: Vec<String>,
    /// `Cache-Control: max-age` of catalog and client-configuration reads.
    pub max_age_seconds: u32,
}

/// The outbox worker that carries out side effects (emails, calls to third parties).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// How often the worker looks for due items.
    pub poll_interval_ms: u64,
    /// Items taken per poll at most.
    pub batch: usize,
    /// How long a claimed item is reserved for one attempt; an attempt running longer is
    /// abandoned and retried, since another node may take the item then.
    pub lease_ms: u64,
    /// Attempts before an item goes dead.
    pub max_attempts: u32,
    /// Delay before the first retry; it doubles per attempt (with jitter) up to the cap.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

/// Outgoing email.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The `From` of every email: `Name <address>` or a bare address.
    pub from: String,
    pub smtp: SmtpSettings,
}

/// The SMTP server emails go through (plain SMTP: a relay on a trusted network).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Unset or empty: emails are written to the log instead of sent.
    pub host: Option<String>,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Bound on connecting and on each SMTP command.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// Time between turning unready and refusing new connections, so load balancers notice.
    pub drain_delay_ms: u64,
    /// Upper bound for in-flight work to finish once the listener stops.
    pub grace_seconds: u64,
    /// Sockets closed (1001) at a time while draining.
    pub drain_batch: usize,
    /// Longest random pause between those batches, so apps do not reconnect at once.
    pub drain_jitter_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            http: HttpSettings {
                bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
                workers: 0,
                max_body_bytes: 256 * 1024,
                max_connections: 200_000,
                trust_forwarded_for: false,
                max_connections_per_ip: 256,
                metrics_bind: None,
                cors: CorsSettings::default(),
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
                    background_appends_in_flight: 128,
                    username: None,
                    password: None,
                },
            },
            bus: BusSettings {
                kind: BusKind::Local,
                nats: NatsSettings {
                    url: "nats://127.0.0.1:4222".into(),
                },
                node_id: String::new(),
                heartbeat_ms: 1000,
                node_timeout_ms: 3500,
                request_timeout_ms: 2000,
                retry_ms: 5000,
                publish_buffer: 65_536,
            },
            log: LogSettings {
                format: LogFormat::Pretty,
                level: "info".into(),
            },
            shutdown: ShutdownSettings {
                drain_delay_ms: 0,
                grace_seconds: 30,
                drain_batch: 500,
                drain_jitter_ms: 200,
            },
            auth: AuthSettings {
                issuer: "fitpulse".into(),
                audience: "fitpulse-api".into(),
                access_ttl_seconds: 15 * 60,
                refresh_ttl_seconds: 30 * 24 * 60 * 60,
                refresh_reuse_interval_seconds: 10,
                require_verified_email_for: Vec::new(),
                link_base_url: "http://127.0.0.1:8080".into(),
                password_resets_per_hour_per_email: 5,
                apple: SocialSettings::apple(),
                google: SocialSettings::google(),
                signing_key_files: Vec::new(),
                clients: Vec::new(),
                attempts_per_minute_per_ip: 30,
                attempts_per_minute_per_account: 10,
                hash_concurrency: 0,
                hash_wait_ms: 2_000,
                revocation_poll_ms: 2_000,
                token_cache_entries: 20_000,
            },
            ws: WsSettings {
                max_frame_bytes: 64 * 1024,
                messages_per_second: 20,
                message_burst: 40,
                outbound_queue: 256,
                heartbeat_interval_ms: 15_000,
                client_timeout_ms: 45_000,
                max_sockets_per_user: 10,
                session_idle_grace_ms: 30_000,
                token_expiry_warning_seconds: 60,
                hub_shards: 0,
                memory_events: 256,
                broadcast_persist_delay_ms: 1_000,
            },
            live: LiveSettings {
                waiting_room_minutes: 10,
                leaderboard_size: 10,
                reminder_minutes: 10,
                roster_page_size: 20,
                timeline_takers: 500,
                replay_starts_per_hour: 30,
                plausibility: PlausibilitySettings {
                    max_output_kj_per_second: 2.5,
                    max_reps_per_minute: 120,
                    heart_rate_min: 30,
                    heart_rate_max: 230,
                    min_window_seconds: 10,
                    flag_after: 3,
                },
            },
            content: ContentSettings {
                seed_demo: true,
                premium_offers: vec!["premium_monthly".into(), "premium_yearly".into()],
                max_age_seconds: 60,
            },
            outbox: OutboxSettings {
                poll_interval_ms: 500,
                batch: 50,
                lease_ms: 60_000,
                max_attempts: 8,
                backoff_base_ms: 1_000,
                backoff_max_ms: 300_000,
            },
            email: EmailSettings {
                from: "fitpulse <no-reply@fitpulse.invalid>".into(),
                smtp: SmtpSettings {
                    host: None,
                    port: 25,
                    username: None,
                    password: None,
                    timeout_ms: 10_000,
                },
            },
            commerce: CommerceSettings {
                appstore_root_cert_file: None,
                appstore_bundle_id: "app.fitpulse".into(),
                appstore_environment: AppStoreEnvironment::Production,
                googleplay_push_token: None,
                googleplay_package_name: "app.fitpulse".into(),
                payments_secret: None,
                payments_tolerance_seconds: 300,
            },
            messages: MessageSettings {
                daily_cap: 3,
                stats_flush_ms: 1000,
            },
            drops: DropSettings {
                lease_seconds: 30,
                quiet_seconds: 10,
                claim_lease_seconds: 30,
                pre_queue_seconds: 600,
                queue_joins_per_minute_per_user: 20,
                queue_joins_per_minute_per_ip: 600,
            },
            community: CommunitySettings {
                push_limit: 1_000,
                max_group_size: 500,
                posts_per_minute: 10,
                comments_per_minute: 30,
                follows_per_minute: 60,
            },
            push: PushSettings::default(),
            telemetry: TelemetrySettings::default(),
            metrics: MetricsSettings {
                business_refresh_seconds: 60,
            },
            ops: OpsSettings {
                dependency_probe_seconds: 5,
            },
        }
    }
}

impl BusSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        // The node id is a token of bus subjects: no dots, spaces or wildcards.
        let token = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.node_id.len() > 64 || !self.node_id.chars().all(token) {
            return Err(ConfigError::invalid(
                "bus.node_id",
                "at most 64 of a-z, A-Z, 0-9, `-` and `_` (empty picks one)",
            ));
        }
        if self.heartbeat_ms == 0 || self.node_timeout_ms <= self.heartbeat_ms * 2 {
            return Err(ConfigError::invalid(
                "bus.node_timeout_ms",
                "must be above twice bus.heartbeat_ms (and the heartbeat above 0)",
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "bus.request_timeout_ms",
                "must be above 0",
            ));
        }
        if self.publish_buffer == 0 {
            return Err(ConfigError::invalid(
                "bus.publish_buffer",
                "must be above 0",
            ));
        }
        Ok(())
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
        if self.http.max_connections_per_ip == 0 {
            return Err(ConfigError::invalid(
                "http.max_connections_per_ip",
                "must be above 0",
            ));
        }
        if self.shutdown.grace_seconds == 0 {
            return Err(ConfigError::invalid(
                "shutdown.grace_seconds",
                "must be above 0",
            ));
        }
        self.http.cors.validate()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::invalid("log.level", e.to_string()))?;
        self.bus.validate()?;
        self.drops.validate()?;
        if !(1..=3_600).contains(&self.metrics.business_refresh_seconds) {
            return Err(ConfigError::invalid(
                "metrics.business_refresh_seconds",
                "between 1 and 3600",
            ));
        }
        if !(1..=300).contains(&self.ops.dependency_probe_seconds) {
            return Err(ConfigError::invalid(
                "ops.dependency_probe_seconds",
                "between 1 and 300",
            ));
        }
        if self.shutdown.drain_batch == 0 {
            return Err(ConfigError::invalid(
                "shutdown.drain_batch",
                "must be above 0",
            ));
        }
        let auth = &self.auth;
        if !(10..=24 * 60 * 60).contains(&auth.access_ttl_seconds) {
            return Err(ConfigError::invalid(
                "auth.access_ttl_seconds",
                "must be between 10 seconds and one day",
            ));
        }
        if !(60..=MAX_REFRESH_TTL_SECONDS).contains(&auth.refresh_ttl_seconds) {
            return Err(ConfigError::invalid(
                "auth.refresh_ttl_seconds",
                "must be between one minute and 365 days",
            ));
        }
        if !(auth.link_base_url.starts_with("https://")
            || auth.link_base_url.starts_with("http://"))
            || auth.link_base_url.ends_with('/')
        {
            return Err(ConfigError::invalid(
                "auth.link_base_url",
                "must be an http(s) URL without a trailing slash",
            ));
        }
        for (name, social) in [("auth.apple", &auth.apple), ("auth.google", &auth.google)] {
            let url_ok =
                social.jwks_url.starts_with("https://") || social.jwks_url.starts_with("http://");
            if social.enabled() && (!url_ok || social.issuers.is_empty()) {
                return Err(ConfigError::invalid(
                    name,
                    "needs an http(s) `jwks_url` and at least one issuer",
                ));
            }
        }
        if auth.password_resets_per_hour_per_email == 0 {
            return Err(ConfigError::invalid(
                "auth.password_resets_per_hour_per_email",
                "must be above 0",
            ));
        }
        if auth.refresh_reuse_interval_seconds > 300 {
            return Err(ConfigError::invalid(
                "auth.refresh_reuse_interval_seconds",
                "must be at most 300 (0 turns repeats into reuse at once)",
            ));
        }
        if auth.attempts_per_minute_per_ip == 0 || auth.attempts_per_minute_per_account == 0 {
            return Err(ConfigError::invalid(
                "auth.attempts_per_minute_per_ip",
                "rate limits must be above 0",
            ));
        }
        if auth.token_cache_entries > 10_000_000 {
            return Err(ConfigError::invalid(
                "auth.token_cache_entries",
                "must be at most 10000000",
            ));
        }
        if !(100..=60_000).contains(&auth.revocation_poll_ms) {
            return Err(ConfigError::invalid(
                "auth.revocation_poll_ms",
                "must be between 100 and 60000",
            ));
        }
        if auth.hash_wait_ms > 60_000 {
            return Err(ConfigError::invalid(
                "auth.hash_wait_ms",
                "must be at most 60000",
            ));
        }
        if auth.hash_concurrency > 256 {
            return Err(ConfigError::invalid(
                "auth.hash_concurrency",
                "must be 0 (one per core) to 256",
            ));
        }
        for client in &auth.clients {
            if client.id.is_empty() || client.secret.expose().len() < 16 {
                return Err(ConfigError::invalid(
                    "auth.clients",
                    format!(
                        "client `{}` needs an id and a secret of 16+ characters",
                        client.id
                    ),
                ));
            }
            if let Some(role) = client
                .roles
                .iter()
                .find(|r| fitpulse_actors::domain::Role::parse(r).is_none())
            {
                return Err(ConfigError::invalid(
                    "auth.clients",
                    format!("client `{}` has unknown role `{role}`", client.id),
                ));
            }
        }
        let ws = &self.ws;
        for (key, value) in [
            ("ws.max_frame_bytes", ws.max_frame_bytes),
            ("ws.messages_per_second", ws.messages_per_second as usize),
            ("ws.message_burst", ws.message_burst as usize),
            ("ws.outbound_queue", ws.outbound_queue),
            (
                "ws.heartbeat_interval_ms",
                ws.heartbeat_interval_ms as usize,
            ),
            ("ws.max_sockets_per_user", ws.max_sockets_per_user),
            ("ws.memory_events", ws.memory_events),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be above 0"));
            }
        }
        if ws.client_timeout_ms <= ws.heartbeat_interval_ms {
            return Err(ConfigError::invalid(
                "ws.client_timeout_ms",
                "must be longer than ws.heartbeat_interval_ms",
            ));
        }
        if self.live.leaderboard_size == 0 || self.live.leaderboard_size > 100 {
            return Err(ConfigError::invalid(
                "live.leaderboard_size",
                "must be 1 to 100",
            ));
        }
        if !(1..=200).contains(&self.live.roster_page_size) {
            return Err(ConfigError::invalid(
                "live.roster_page_size",
                "must be 1 to 200",
            ));
        }
        if !(1..=10_000).contains(&self.live.timeline_takers) {
            return Err(ConfigError::invalid(
                "live.timeline_takers",
                "must be 1 to 10000",
            ));
        }
        if !(1..=3_600).contains(&self.live.replay_starts_per_hour) {
            return Err(ConfigError::invalid(
                "live.replay_starts_per_hour",
                "must be 1 to 3600",
            ));
        }
        self.live.plausibility.validate()?;
        if self.content.max_age_seconds > 86_400 {
            return Err(ConfigError::invalid(
                "content.max_age_seconds",
                "must be at most 86400",
            ));
        }
        self.outbox.validate()?;
        self.email.validate()?;
        self.commerce.validate()?;
        self.push.validate()?;
        self.telemetry.validate()?;
        // A fan-out item starts pushes for half the lease; one request may then take
        // push.timeout_ms more, and all of it must end before another node may take over.
        let pushing = self.push.apns.enabled() || self.push.fcm.enabled();
        if pushing
            && self.push.timeout_ms.saturating_mul(10) > self.outbox.lease_ms.saturating_mul(4)
        {
            return Err(ConfigError::invalid(
                "push.timeout_ms",
                "must be at most 40% of outbox.lease_ms",
            ));
        }
        if !(10..=60_000).contains(&self.messages.stats_flush_ms) {
            return Err(ConfigError::invalid(
                "messages.stats_flush_ms",
                "must be between 10 and 60000",
            ));
        }
        if !(1..=1_440).contains(&self.live.reminder_minutes) {
            return Err(ConfigError::invalid(
                "live.reminder_minutes",
                "must be 1 to 1440",
            ));
        }
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
        if !(1..=100_000).contains(&scylla.background_appends_in_flight) {
            return Err(ConfigError::invalid(
                "store.scylla.background_appends_in_flight",
                "must be 1 to 100000",
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

/// The shortest secret accepted: anything shorter can be guessed or is a placeholder.
pub const MIN_SECRET_BYTES: usize = 16;

/// A secret that is set must be strong enough; unset keeps its feature off.
fn check_secret(key: &str, secret: Option<&Secret>) -> Result<(), ConfigError> {
    match secret {
        Some(s) if s.expose().trim().len() < MIN_SECRET_BYTES => Err(ConfigError::invalid(
            key,
            format!(
                "a configured secret needs at least {MIN_SECRET_BYTES} bytes (leave it unset to turn the feature off)"
            ),
        )),
        _ => Ok(()),
    }
}

impl CommerceSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        check_secret("commerce.payments_secret", self.payments_secret.as_ref())?;
        check_secret(
            "commerce.googleplay_push_token",
            self.googleplay_push_token.as_ref(),
        )?;
        Ok(())
    }
}

impl OutboxSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("outbox.poll_interval_ms", self.poll_interval_ms),
            ("outbox.max_attempts", u64::from(self.max_attempts)),
            ("outbox.backoff_base_ms", self.backoff_base_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::invalid(key, "must be above 0"));
            }
        }
        if !(1..=1_000).contains(&self.batch) {
            return Err(ConfigError::invalid("outbox.batch", "must be 1 to 1000"));
        }
        if self.lease_ms < 1_000 {
            return Err(ConfigError::invalid(
                "outbox.lease_ms",
                "must be at least 1000",
            ));
        }
        if self.backoff_max_ms < self.backoff_base_ms {
            return Err(ConfigError::invalid(
                "outbox.backoff_max_ms",
                "must be at least outbox.backoff_base_ms",
            ));
        }
        Ok(())
    }
}

impl EmailSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::invalid(
                "email.from",
                "must be an address, optionally with a name: `Name <user@example.com>`",
            ));
        }
        let smtp = &self.smtp;
        if smtp.port == 0 {
            return Err(ConfigError::invalid("email.smtp.port", "must be above 0"));
        }
        if smtp.timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "email.smtp.timeout_ms",
                "must be above 0",
            ));
        }
        if smtp.username.is_some() != smtp.password.is_some() {
            return Err(ConfigError::invalid(
                "email.smtp.username",
                "username and password are set together or not at all",
            ));
        }
        Ok(())
    }

    /// The SMTP host, when one is configured.
    pub fn smtp_host(&self) -> Option<&str> {
        self.smtp
            .host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
    }
}

/// The longest a refresh token may live; stores size their revocation memory by it.
pub const MAX_REFRESH_TTL_SECONDS: u64 = 365 * 24 * 60 * 60;

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

/// `auth.require_verified_email_for` as a list or a comma-separated string.
fn verified_actions<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<VerifiedAction>, D::Error> {
    comma_separated(deserializer)?
        .into_iter()
        .map(|name| {
            serde_json::from_value(serde_json::Value::String(name.clone())).map_err(|_| {
                serde::de::Error::custom(format!(
                    "unknown action `{name}` (expected post, comment or order)"
                ))
            })
        })
        .collect()
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

/// Paths as a list (from a file) or a comma-separated string (from the environment).
fn comma_separated_paths<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<PathBuf>, D::Error> {
    Ok(comma_separated(deserializer)?
        .into_iter()
        .map(PathBuf::from)
        .collect())
}
