//! Builds the application from settings and runs it until a graceful shutdown completes.
//!
//! Shutdown order (SIGTERM, SIGINT or [`Lifecycle::request_shutdown`]): readiness turns
//! false, the node keeps serving for `shutdown.drain_delay_ms` so load balancers notice,
//! then the listener closes and in-flight requests get up to `shutdown.grace_seconds`.
//! Sessions persist and the outbox worker finishes its current deliveries meanwhile, both
//! within the same grace. In a cluster the node first tells the others it is draining and
//! hands its live classes to their new owners; sockets close in batches with jitter.
//! Last, once no session or request can count anything more, the feature-message counts
//! this node gathered are flushed to the store.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use crate::auth::rate_limit::LoginLimiter;
use crate::auth::{Accounts, Auth, AuthParts};
use crate::commerce::Webhooks;
use crate::commerce::process::WebhookProcessor;
use crate::community::Community;
use crate::config::Settings;
use crate::content::Content;
use crate::content::plan_commands::PlanCommands;
use crate::drops::{DropTerms, Drops, ORDER_PAYMENT_KIND, OrderPayments};
use crate::email;
use crate::http;
use crate::http::client_ip::ClientIpPolicy;
use crate::lifecycle::Lifecycle;
use crate::messages::Messages;
use crate::messages::stats::StatsRecorder;
use crate::metrics::Metrics;
use crate::node::BusChoice;
use crate::outbox::{Deliverer, Handlers, OutboxWorker, WorkerConfig};
use crate::push::Notifier;
use crate::push::devices::Devices;
use crate::push::handler::PushHandler;
use crate::push::sender::Sender;
use crate::store::{self, Stores};
use crate::ws::{Gateway, WsLimits};
use fitpulse_actors::cluster::Cluster;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::live::{Live, LiveConfig, LiveDeps};
use fitpulse_actors::node::Node;
use fitpulse_actors::ports::clock::{SharedClock, SystemClock};
use fitpulse_actors::replay::{ReplayConfig, ReplayDeps, Replays};
use fitpulse_actors::session::{SessionConfig, SessionDeps};
use std::sync::Arc;

/// Extra routes mounted under the same middleware and error handling as the built-in ones.
pub type RouteConfig = fn(&mut web::ServiceConfig);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot bind {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the store")]
    Store(#[from] store::OpenError),
    #[error("cannot load the token signing keys")]
    Keys(#[from] crate::auth::keys::KeyError),
    #[error("cannot set up the store webhooks")]
    Webhooks(#[from] crate::commerce::CommerceError),
    #[error("cannot load the token revocations")]
    Revocations(#[source] fitpulse_actors::ports::store::StoreError),
    #[error("cannot load the feature messages")]
    Messages(#[source] fitpulse_actors::ports::store::StoreError),
    #[error("cannot load the catalog")]
    Catalog(#[from] crate::content::CatalogError),
    #[error("cannot set up email")]
    Email(#[from] email::EmailSetupError),
    #[error("cannot start the HTTP server")]
    Server(#[source] std::io::Error),
    #[error("cannot join the cluster")]
    Cluster(#[from] fitpulse_actors::ports::bus::BusError),
    #[error("cannot set up push")]
    Push(#[from] crate::push::PushSetupError),
}

/// What an embedder or a test hands a node instead of what the settings say.
#[derive(Clone)]
pub struct Wiring {
    pub bus: BusChoice,
    /// Business time for every part of the node (the wall clock unless a test moves it).
    pub clock: SharedClock,
}

impl Default for Wiring {
    fn default() -> Self {
        Wiring {
            bus: BusChoice::FromSettings,
            clock: SystemClock::shared(),
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    /// The metrics listener (`http.metrics_bind`) and its port, when configured.
    metrics_server: Option<(Server, u16)>,
    lifecycle: Lifecycle,
    stores: Stores,
    node: Node,
    outbox: OutboxWorker,
    /// Its unsold units go back to the pool when the node drains and when it stops.
    drops: Arc<Drops>,
    /// Feature-message counts not yet stored: flushed last.
    message_stats: Arc<StatsRecorder>,
    /// Background rounds that run while the application lives: the dependency probe and
    /// the subscription census.
    _prober: Arc<crate::dependencies::Prober>,
    _census: Arc<crate::commerce::census::SubscriptionCensus>,
    drain_delay: Duration,
    drain_batch: usize,
    drain_jitter: Duration,
    grace: Duration,
}

impl Application {
    /// Opens the store, binds the listener and prepares the server; nothing is served
    /// until [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_routes(settings, |_| {}).await
    }

    /// Like [`Application::build`], mounting `extra` routes beside the built-in ones.
    pub async fn build_with_routes(
        settings: Settings,
        extra: RouteConfig,
    ) -> Result<Self, StartupError> {
        Self::build_on(settings, extra, Wiring::default()).await
    }

    /// Like [`Application::build_with_routes`], wired as `wiring` says: on a bus shared
    /// with other nodes of this process (they form a cluster, as they would over NATS),
    /// with a clock of the caller's.
    pub async fn build_on(
        settings: Settings,
        extra: RouteConfig,
        wiring: Wiring,
    ) -> Result<Self, StartupError> {
        // On the heap: the wiring's future is large, and callers (tests, tools) await it on
        // a thread's stack beside futures of their own.
        Box::pin(Self::wire(settings, extra, wiring)).await
    }

    async fn wire(
        settings: Settings,
        extra: RouteConfig,
        wiring: Wiring,
    ) -> Result<Self, StartupError> {
        let Wiring { bus, clock } = wiring;
        let metrics = Metrics::new();
        let stores = store::open(&settings, &metrics).await?;
        let auth = AuthParts::build(&settings.auth, &settings.data_dir, &stores, &clock)?;
        // Before serving: revocations made while this node was down hold at once.
        let revocations = auth
            .auth
            .revoked
            .load()
            .await
            .map_err(StartupError::Revocations)?;
        tracing::debug!(revocations, "token revocations loaded");
        auth.auth
            .revoked
            .poll_store(Duration::from_millis(settings.auth.revocation_poll_ms));
        let content = Arc::new(Content::load(&stores, settings.content.clone()).await?);
        let webhooks = Webhooks::from_settings(&settings.commerce)?;
        let lifecycle = Lifecycle::new();
        let workers = match settings.http.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let addr = settings.http.bind;
        let listener =
            TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr, source })?
            .port();
        // The cluster first: the hub and the live registry are handed it.
        let cluster = crate::node::cluster(
            &settings.bus,
            bus,
            format!("{}:{port}", addr.ip()),
            &metrics,
        )
        .await?;
        let hub = start_hub(
            &settings, &stores, &metrics, &content, workers, &cluster, &clock,
        );
        let live = start_live(
            &settings, &stores, &metrics, &content, &hub, &cluster, &clock,
        );
        let replays = start_replays(&settings, &stores, &metrics, &clock);
        let message_stats = StatsRecorder::new(stores.messages.clone(), metrics.clone());
        message_stats.flush_every(Duration::from_millis(settings.messages.stats_flush_ms));
        let messages = Messages::start(
            stores.clone(),
            hub.clone(),
            settings.messages.daily_cap,
            clock.clone(),
            message_stats.clone(),
        )
        .await
        .map_err(StartupError::Messages)?;
        // Push is queued through the outbox from anywhere; what decides and sends needs
        // the hub (presence is asked of the node holding a member's session).
        let providers = crate::push::providers::from_settings(&settings.push, &clock, &metrics)?;
        let (dependencies, prober) =
            watch_dependencies(&settings, &stores, &cluster, &providers, &metrics, &clock);
        let census = crate::commerce::census::SubscriptionCensus::start(
            stores.subscriptions.clone(),
            metrics.business.clone(),
            cluster.clone(),
            Duration::from_secs(settings.metrics.business_refresh_seconds),
        );
        let notifier = Arc::new(Notifier::new(
            stores.outbox.clone(),
            providers.any(),
            clock.clone(),
            settings.live.reminder_minutes,
            settings.push.social_batch_seconds,
        ));
        let push_sender = Arc::new(Sender::new(
            stores.push.clone(),
            stores.users.clone(),
            stores.outbox.clone(),
            Arc::new(hub.clone()),
            providers,
            metrics.push.clone(),
            clock.clone(),
            settings.messages.daily_cap,
        ));
        let devices = Arc::new(Devices::new(
            stores.push.clone(),
            settings.push.max_devices_per_user,
        ));
        let drops = Drops::new(
            stores.clone(),
            (hub.clone(), cluster.clone()),
            auth.auth.access.clone(),
            metrics.clone(),
            clock.clone(),
            DropTerms {
                owner: cluster.node_id().to_owned(),
                lease_ms: i64::from(settings.drops.lease_seconds) * 1000,
                quiet_ms: i64::from(settings.drops.quiet_seconds) * 1000,
                claim_lease_ms: i64::from(settings.drops.claim_lease_seconds) * 1000,
                pre_queue_ms: i64::from(settings.drops.pre_queue_seconds) * 1000,
                joins_per_minute_per_user: settings.drops.queue_joins_per_minute_per_user,
                joins_per_minute_per_ip: settings.drops.queue_joins_per_minute_per_ip,
            },
        );
        let auth_state = Arc::new(auth.auth);
        let gateway = Gateway {
            hub: hub.clone(),
            live: live.clone(),
            replays: replays.clone(),
            auth: auth_state.clone(),
            limits: WsLimits::from(&settings.ws),
            metrics: metrics.clone(),
        };

        let in_step = crate::node::InStep {
            messages: &messages,
            content: &content,
            revoked: &auth_state.revoked,
        };
        let (node, cluster_state) =
            crate::node::serve(&settings.bus, cluster, hub.clone(), live.clone(), in_step).await?;
        node.host_rooms(Arc::new(crate::drops::rooms::RoomRequests(drops.clone())));
        let exports = Arc::new(crate::auth::export::Exports::new(
            stores.clone(),
            clock.clone(),
        ));
        drops.push_through(notifier.clone());
        let mut handlers = outbox_handlers(&settings, &stores, &hub, &metrics, &drops, &notifier)?;
        handlers.register(
            crate::push::items::PREFIX,
            Arc::new(PushHandler::new(
                push_sender.clone(),
                stores.clone(),
                settings.push.concurrency,
                settings.push.fanout_page,
                Duration::from_millis(settings.outbox.lease_ms / 2),
            )),
        );
        handlers.register(
            crate::auth::export::EXPORT_KIND,
            Arc::new(crate::auth::export::ExportHandler(exports.clone())),
        );
        // Once served: what the outbox publishes reaches users held on other nodes.
        let outbox = OutboxWorker::start(Deliverer::new(
            stores.outbox.clone(),
            handlers,
            WorkerConfig::from(&settings.outbox),
            metrics.clone(),
            clock.clone(),
        ));

        let metrics_server = match settings.http.metrics_bind {
            Some(addr) => Some(metrics_listener(addr, &metrics)?),
            None => None,
        };
        let max_body = settings.http.max_body_bytes;
        let caps = http::address_cap::AddressCaps::new(
            settings.http.max_connections_per_ip,
            settings.http.trust_forwarded_for,
        );
        let connection_cap = caps.connections.clone();
        let app_data = AppData {
            metrics: web::Data::new(metrics),
            dependencies: web::Data::from(dependencies),
            stores: web::Data::new(stores.clone()),
            lifecycle: web::Data::new(lifecycle.clone()),
            auth: web::Data::from(auth_state),
            gateway: web::Data::new(gateway),
            socket_cap: web::Data::from(caps.sockets),
            hub: web::Data::new(hub.clone()),
            live: web::Data::new(live.clone()),
            replays: web::Data::new(replays),
            cluster: web::Data::new(cluster_state),
            live_settings: web::Data::new(settings.live.clone()),
            clock: web::Data::new(clock.clone()),
            plans: web::Data::new(crate::content::plans::Plans::new(
                hub.clone(),
                content.clone(),
                stores.clone(),
            )),
            content: web::Data::from(content),
            webhooks: web::Data::new(webhooks),
            drops: web::Data::new(drops.clone()),
            messages: web::Data::new(messages),
            community: web::Data::new(Arc::new(
                Community::new(
                    stores.clone(),
                    hub.clone(),
                    &settings.community,
                    clock.clone(),
                )
                .push_through(notifier.clone()),
            )),
            notifier: web::Data::new(notifier),
            push_sender: web::Data::new(push_sender),
            devices: web::Data::new(devices),
            workouts: web::Data::new(crate::workouts::Workouts::new(stores.clone())),
            accounts: web::Data::new(auth.accounts),
            limiter: web::Data::new(auth.limiter),
            social: web::Data::new(auth.social),
            exports: web::Data::from(exports),
            client_ip: web::Data::new(ClientIpPolicy {
                trust_forwarded_for: settings.http.trust_forwarded_for,
            }),
            metrics_placement: web::Data::new(http::ops::MetricsPlacement {
                on_main_listener: metrics_server.is_none(),
            }),
        };
        let cors_settings = settings.http.cors.clone();
        let server = HttpServer::new(move || {
            // Built per worker: the middleware is not shared across threads.
            let cors = http::cors::middleware(&cors_settings);
            let (cors_on, cors) = (cors.is_some(), cors.unwrap_or_default());
            App::new()
                .app_data(app_data.metrics.clone())
                .app_data(app_data.dependencies.clone())
                .app_data(app_data.stores.clone())
                .app_data(app_data.lifecycle.clone())
                .app_data(app_data.auth.clone())
                .app_data(app_data.accounts.clone())
                .app_data(app_data.limiter.clone())
                .app_data(app_data.social.clone())
                .app_data(app_data.exports.clone())
                .app_data(app_data.client_ip.clone())
                .app_data(app_data.metrics_placement.clone())
                .app_data(app_data.gateway.clone())
                .app_data(app_data.socket_cap.clone())
                .app_data(app_data.hub.clone())
                .app_data(app_data.live.clone())
                .app_data(app_data.replays.clone())
                .app_data(app_data.cluster.clone())
                .app_data(app_data.live_settings.clone())
                .app_data(app_data.clock.clone())
                .app_data(app_data.content.clone())
                .app_data(app_data.plans.clone())
                .app_data(app_data.webhooks.clone())
                .app_data(app_data.drops.clone())
                .app_data(app_data.messages.clone())
                .app_data(app_data.community.clone())
                .app_data(app_data.notifier.clone())
                .app_data(app_data.push_sender.clone())
                .app_data(app_data.devices.clone())
                .app_data(app_data.workouts.clone())
                .configure(|cfg| http::extractor_config(cfg, max_body))
                .wrap(from_fn(http::audit::audit))
                .wrap(from_fn(http::address_cap::refuse_over_cap))
                .wrap(from_fn(http::observe::observe))
                .wrap(actix_web::middleware::Condition::new(cors_on, cors))
                .configure(http::configure)
                .configure(crate::ws::configure)
                .configure(extra)
                .default_service(web::to(http::not_found))
        })
        .on_connect(move |connection, data| {
            // Counted from accept to close: the slot leaves with the connection's data.
            if let (Some(cap), Some(peer)) = (
                &connection_cap,
                connection
                    .downcast_ref::<actix_web::rt::net::TcpStream>()
                    .and_then(|stream| stream.peer_addr().ok()),
            ) {
                data.insert(cap.take(peer.ip()));
            }
        })
        .workers(workers)
        // actix counts connections per worker; the setting is for the whole node.
        .max_connections(settings.http.max_connections.div_ceil(workers))
        // The kernel caps this at net.core.somaxconn; ask for plenty for reconnect storms.
        .backlog(65_535)
        .disable_signals()
        .shutdown_timeout(settings.shutdown.grace_seconds)
        .listen(listener)
        .map_err(StartupError::Server)?
        .run();

        tracing::info!(
            address = %format!("{}:{port}", addr.ip()),
            port,
            workers,
            store = backend_name(&settings),
            "fitpulse listening"
        );
        Ok(Application {
            port,
            server,
            metrics_server,
            lifecycle,
            stores,
            node,
            outbox,
            drops,
            message_stats,
            _prober: prober,
            _census: census,
            drain_delay: Duration::from_millis(settings.shutdown.drain_delay_ms),
            drain_batch: settings.shutdown.drain_batch,
            drain_jitter: Duration::from_millis(settings.shutdown.drain_jitter_ms),
            grace: Duration::from_secs(settings.shutdown.grace_seconds),
        })
    }

    /// The bound port (the real one when the settings asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, when `http.metrics_bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// The session hub (for embedders and operator tooling).
    pub fn hub(&self) -> Hub {
        self.node.hub.clone()
    }

    /// The store ports the application serves from (for embedders and operator tooling).
    pub fn stores(&self) -> Stores {
        self.stores.clone()
    }

    /// A handle to request a graceful shutdown, or to watch readiness.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle.clone()
    }

    /// Serves until a shutdown is requested by signal or handle, then drains gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        // The metrics listener answers until the very end, so the drain can be watched.
        let metrics_server = self.metrics_server.map(|(server, _)| {
            let handle = server.handle();
            (tokio::spawn(server), handle)
        });
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            finished = &mut server => return finished.map_err(std::io::Error::other)?,
            () = shutdown_signal(&self.lifecycle) => {}
        }
        tracing::info!(
            drain_delay_ms = self.drain_delay.as_millis() as u64,
            "shutdown: draining"
        );
        self.lifecycle.begin_draining();
        // Other nodes stop sending new users and classes here at once, and no new session
        // starts here: the nodes that stay take them.
        self.node.cluster.begin_draining();
        self.node.hub.refuse_new_sessions().await;
        // Other nodes sell what this one held; it leases again only if buyers still come.
        self.drops.hand_back_all().await;
        tokio::time::sleep(self.drain_delay).await;
        tracing::info!(
            "shutdown: handing classes over, closing sockets (1001), persisting sessions, finishing outbox deliveries"
        );
        let sessions = async {
            let drain = async {
                tokio::join!(self.node.live.hand_over(), self.drops.hand_over_rooms());
                self.node
                    .hub
                    .drain(self.drain_batch, self.drain_jitter)
                    .await;
            };
            if tokio::time::timeout(self.grace, drain).await.is_err() {
                tracing::warn!(
                    "shutdown: sessions did not finish persisting within the grace period"
                );
            }
        };
        tokio::join!(sessions, self.outbox.stop(self.grace));
        tracing::info!("shutdown: closing the listener and finishing in-flight requests");
        handle.stop(true).await;
        let result = server.await.map_err(std::io::Error::other)?;
        // No order can come any more: whatever is unsold goes back.
        self.drops.hand_back_all().await;
        // Sessions and requests are done: nothing counts a delivery or a read any more.
        match tokio::time::timeout(self.grace, self.message_stats.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "shutdown: feature-message counts not stored")
            }
            Err(_) => tracing::warn!(
                "shutdown: storing feature-message counts did not finish within the grace period"
            ),
        }
        if let Some((task, handle)) = metrics_server {
            handle.stop(true).await;
            let _ = task.await;
        }
        tracing::info!("shutdown: complete");
        result
    }
}

/// Shared state handed to every worker's `App`.
struct AppData {
    metrics: web::Data<Metrics>,
    dependencies: web::Data<crate::dependencies::Dependencies>,
    stores: web::Data<Stores>,
    lifecycle: web::Data<Lifecycle>,
    auth: web::Data<Auth>,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
    social: web::Data<crate::auth::id_tokens::SocialProviders>,
    exports: web::Data<crate::auth::export::Exports>,
    client_ip: web::Data<ClientIpPolicy>,
    metrics_placement: web::Data<http::ops::MetricsPlacement>,
    gateway: web::Data<Gateway>,
    socket_cap: web::Data<http::address_cap::AddressCap>,
    hub: web::Data<Hub>,
    live: web::Data<Live>,
    replays: web::Data<Replays>,
    cluster: web::Data<crate::http::cluster::ClusterState>,
    live_settings: web::Data<crate::config::LiveSettings>,
    clock: web::Data<SharedClock>,
    content: web::Data<Content>,
    plans: web::Data<crate::content::plans::Plans>,
    webhooks: web::Data<Webhooks>,
    drops: web::Data<Arc<Drops>>,
    messages: web::Data<Arc<Messages>>,
    community: web::Data<Arc<Community>>,
    notifier: web::Data<Arc<Notifier>>,
    push_sender: web::Data<Arc<Sender>>,
    devices: web::Data<Arc<Devices>>,
    workouts: web::Data<crate::workouts::Workouts>,
}

/// Binds the metrics listener (`http.metrics_bind`): one worker serving `/metrics` only.
fn metrics_listener(
    addr: std::net::SocketAddr,
    metrics: &Metrics,
) -> Result<(Server, u16), StartupError> {
    let listener = TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, source })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartupError::Bind { addr, source })?
        .port();
    let metrics = web::Data::new(metrics.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .configure(http::ops::metrics_listener)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(StartupError::Server)?
    .run();
    tracing::info!(address = %addr, port, "metrics listening");
    Ok((server, port))
}

/// The outbox handlers by kind prefix. An item whose kind has no handler here goes dead, so
/// whatever enqueues a new kind of item registers its handler here.
fn outbox_handlers(
    settings: &Settings,
    stores: &Stores,
    hub: &Hub,
    metrics: &Metrics,
    drops: &Arc<Drops>,
    notifier: &Arc<Notifier>,
) -> Result<Handlers, StartupError> {
    let mut handlers = Handlers::new();
    handlers.register(ORDER_PAYMENT_KIND, Arc::new(OrderPayments(drops.clone())));
    handlers.register(
        "webhook.",
        WebhookProcessor::new(
            stores.clone(),
            hub.clone(),
            metrics.clone(),
            notifier.clone(),
        ),
    );
    let mailer = email::mailer(&settings.email)?;
    handlers.register(
        email::EMAIL_PREFIX,
        Arc::new(email::EmailHandler::new(mailer)),
    );
    Ok(handlers)
}

/// Starts probing what this node is configured to depend on: the store and the bus
/// always, the SMTP relay when `email.smtp.host` is set, each push provider with
/// credentials.
fn watch_dependencies(
    settings: &Settings,
    stores: &Stores,
    cluster: &Cluster,
    providers: &crate::push::sender::Providers,
    metrics: &Metrics,
    clock: &SharedClock,
) -> (
    Arc<crate::dependencies::Dependencies>,
    Arc<crate::dependencies::Prober>,
) {
    use crate::dependencies::{Dependencies, Dependency, Prober, probe::Probe};
    let mut probes = vec![
        (Dependency::Store, Probe::Store(stores.health.clone())),
        (Dependency::Bus, Probe::Bus(cluster.bus().clone())),
    ];
    if let Some(host) = settings.email.smtp_host() {
        let (host, port) = (host.to_owned(), settings.email.smtp.port);
        probes.push((Dependency::Smtp, Probe::Smtp { host, port }));
    }
    let pushes = [
        (Dependency::Apns, &providers.apns),
        (Dependency::Fcm, &providers.fcm),
    ];
    for (dependency, provider) in pushes {
        if let Some(provider) = provider {
            let health = metrics.push.health().clone();
            let provider = provider.name();
            probes.push((dependency, Probe::Push { provider, health }));
        }
    }
    let configured: Vec<Dependency> = probes.iter().map(|(d, _)| *d).collect();
    let dependencies = Arc::new(Dependencies::new(metrics.dependencies.clone(), &configured));
    let prober = Prober::start(
        dependencies.clone(),
        probes,
        clock.clone(),
        Duration::from_secs(settings.ops.dependency_probe_seconds),
    );
    (dependencies, prober)
}

/// Starts the live-class registry.
fn start_live(
    settings: &Settings,
    stores: &Stores,
    metrics: &Metrics,
    content: &Arc<Content>,
    hub: &Hub,
    cluster: &Cluster,
    clock: &SharedClock,
) -> Live {
    let live = &settings.live;
    let config = LiveConfig {
        waiting_room: Duration::from_secs(live.waiting_room_minutes * 60),
        leaderboard_size: live.leaderboard_size,
        roster_page_size: live.roster_page_size,
        timeline_takers: live.timeline_takers,
        plausibility: plausibility(settings),
        ..LiveConfig::default()
    };
    Live::start(
        LiveDeps {
            classes: stores.live.clone(),
            users: stores.users.clone(),
            community: stores.community.clone(),
            workouts: stores.workouts.clone(),
            replays: stores.replays.clone(),
            blocks: Arc::new(crate::content::workout_blocks::CatalogBlocks(
                content.clone(),
            )),
            hub: hub.clone(),
            observer: Arc::new(metrics.clone()),
            config,
            clock: clock.clone(),
        },
        cluster.clone(),
    )
}

/// The plausibility bounds from settings.
fn plausibility(settings: &Settings) -> fitpulse_actors::live::plausibility::Bounds {
    let bounds = &settings.live.plausibility;
    fitpulse_actors::live::plausibility::Bounds {
        max_output_per_second: bounds.max_output_kj_per_second,
        max_reps_per_minute: bounds.max_reps_per_minute,
        heart_rate: (bounds.heart_rate_min, bounds.heart_rate_max),
        min_window: Duration::from_secs(bounds.min_window_seconds),
        flag_after: bounds.flag_after,
    }
}

/// Starts this node's on-demand replays.
fn start_replays(
    settings: &Settings,
    stores: &Stores,
    metrics: &Metrics,
    clock: &SharedClock,
) -> Replays {
    Replays::start(ReplayDeps {
        replays: stores.replays.clone(),
        workouts: stores.workouts.clone(),
        classes: stores.live.clone(),
        users: stores.users.clone(),
        observer: Arc::new(metrics.clone()),
        clock: clock.clone(),
        config: ReplayConfig {
            leaderboard_size: settings.live.leaderboard_size,
            bounds: plausibility(settings),
            timeline_takers: settings.live.timeline_takers,
            starts_per_hour: settings.live.replay_starts_per_hour,
            ..ReplayConfig::default()
        },
    })
}

/// Starts the session hub: its shards run beside the HTTP workers.
fn start_hub(
    settings: &Settings,
    stores: &Stores,
    metrics: &Metrics,
    content: &Arc<Content>,
    workers: usize,
    cluster: &Cluster,
    clock: &SharedClock,
) -> Hub {
    let ws = &settings.ws;
    let config = SessionConfig {
        max_devices: ws.max_sockets_per_user,
        memory_events: ws.memory_events,
        idle_grace: Duration::from_millis(ws.session_idle_grace_ms),
        broadcast_persist_delay: Duration::from_millis(ws.broadcast_persist_delay_ms),
        ..SessionConfig::default()
    };
    let deps = SessionDeps {
        feed: stores.feed.clone(),
        plans: stores.plans.clone(),
        entitlements: stores.entitlements.clone(),
        observer: Arc::new(metrics.clone()),
        plan_editor: Arc::new(PlanCommands(content.clone())),
        config,
        clock: clock.clone(),
    };
    let shards = match ws.hub_shards {
        0 => workers,
        n => n,
    };
    Hub::start(deps, shards, cluster.clone())
}

fn backend_name(settings: &Settings) -> &'static str {
    match settings.store.kind {
        crate::config::StoreKind::Embedded => store::embedded::BACKEND,
        crate::config::StoreKind::Scylla => store::scylla::BACKEND,
    }
}

/// Resolves on SIGTERM, SIGINT or a shutdown requested through the lifecycle.
async fn shutdown_signal(lifecycle: &Lifecycle) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        () = lifecycle.shutdown_requested() => tracing::info!("shutdown requested"),
    }
}
