//! The WebSocket gateway, `GET /v1/ws`: authenticates the upgrade, then runs one
//! [`connection::Connection`] actor per socket. actix-web-actors is confined to this module.
//!
//! - `connection`: the socket actor (limits, heartbeat, token expiry, delivery).
//! - `frames`: client frames, one file per family, dispatched from one enum.
//! - `replies`: the reply envelopes.
//! - `asyncapi`: the protocol as an AsyncAPI document, from the frames' Rust types.

pub mod asyncapi;
mod connection;
pub(crate) mod frames;
mod replies;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws::WsResponseBuilder;
use fitpulse_actors::device::{ClientInfo, close};
use fitpulse_actors::hub::Hub;
use fitpulse_actors::live::Live;
use serde::Deserialize;

use crate::auth::Auth;
use crate::auth::tokens::Principal;
use crate::config::WsSettings;
use crate::http::address_cap::AddressCap;
use crate::http::cache::{CachePolicy, respond_hashed};
use crate::http::caller::bearer_token;
use crate::http::client_ip::client_ip;
use crate::metrics::Metrics;

pub use connection::Connection;

/// The limits every connection enforces, derived from `[ws]` settings.
#[derive(Debug, Clone)]
pub struct WsLimits {
    pub max_frame_bytes: usize,
    pub messages_per_second: u32,
    pub message_burst: u32,
    pub outbound_queue: usize,
    pub heartbeat_interval: Duration,
    pub client_timeout: Duration,
    pub token_expiry_warning: Duration,
}

impl From<&WsSettings> for WsLimits {
    fn from(s: &WsSettings) -> Self {
        WsLimits {
            max_frame_bytes: s.max_frame_bytes,
            messages_per_second: s.messages_per_second,
            message_burst: s.message_burst,
            outbound_queue: s.outbound_queue,
            heartbeat_interval: Duration::from_millis(s.heartbeat_interval_ms),
            client_timeout: Duration::from_millis(s.client_timeout_ms),
            token_expiry_warning: Duration::from_secs(s.token_expiry_warning_seconds),
        }
    }
}

/// Everything a connection needs from the node, shared by all of them.
pub struct Gateway {
    pub hub: Hub,
    pub live: Live,
    pub replays: fitpulse_actors::replay::Replays,
    pub auth: Arc<Auth>,
    pub limits: WsLimits,
    pub metrics: Metrics,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/ws").get(connect))
        .service(web::resource("/v1/asyncapi.json").get(asyncapi_document));
}

async fn asyncapi_document(req: HttpRequest) -> HttpResponse {
    let policy = CachePolicy {
        max_age_seconds: 300,
        public: true,
        vary_authorization: false,
    };
    respond_hashed(&req, policy, asyncapi::document().to_owned())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectQuery {
    /// For browsers, which cannot set headers on a WebSocket request.
    access_token: Option<String>,
    /// Resume after this seq.
    since: Option<u64>,
    /// What the app is, for feature-message targeting: `ios`, `android` or `web`.
    platform: Option<String>,
    app_version: Option<String>,
    locale: Option<String>,
}

impl ConnectQuery {
    /// The client's description with the member's time zone from their token.
    fn client_of(&self, caller: &crate::auth::AuthUser) -> ClientInfo {
        ClientInfo {
            zone: caller.timezone,
            ..self.client()
        }
    }

    /// The client's description; values that are not plausible are left out rather than
    /// refusing the socket (targeting then treats them as unknown).
    fn client(&self) -> ClientInfo {
        let plain = |v: &Option<String>, max: usize, ok: fn(char) -> bool| {
            v.as_ref()
                .filter(|v| !v.is_empty() && v.len() <= max && v.chars().all(ok))
                .cloned()
        };
        ClientInfo {
            platform: self
                .platform
                .clone()
                .filter(|p| ["ios", "android", "web"].contains(&p.as_str())),
            app_version: plain(&self.app_version, 32, |c| c.is_ascii_digit() || c == '.'),
            locale: plain(&self.locale, 35, |c| c.is_ascii_alphanumeric() || c == '-'),
            zone: None,
        }
    }
}

/// Upgrades to a WebSocket. An invalid or missing token still upgrades, then closes with
/// 4001 and a reason: browsers cannot read the status of a refused handshake.
async fn connect(
    req: HttpRequest,
    stream: web::Payload,
    query: web::Query<ConnectQuery>,
    gateway: web::Data<Gateway>,
    lifecycle: web::Data<crate::lifecycle::Lifecycle>,
    cap: web::Data<AddressCap>,
) -> Result<HttpResponse, actix_web::Error> {
    let token = bearer_token(&req).or(query.access_token.as_deref());
    let gateway = gateway.into_inner();
    let slot = cap.into_inner().take(client_ip(&req));
    if slot.over {
        gateway
            .metrics
            .connections_refused_total
            .with_label_values(&["socket"])
            .inc();
        let refused = Connection::refuse(
            gateway.clone(),
            close::RATE_LIMITED,
            "too many sockets from your address",
        );
        return WsResponseBuilder::new(refused, &req, stream)
            .frame_size(gateway.limits.max_frame_bytes)
            .start();
    }
    // A draining node's sockets are being closed: a new one goes elsewhere at once.
    let attempt = match lifecycle.is_draining() {
        true => None,
        false => Some(token.map(|t| gateway.auth.authenticate(t))),
    };
    let connection = match attempt {
        None => Connection::refuse(
            gateway.clone(),
            close::GOING_AWAY,
            "server going away; reconnect and resume",
        ),
        Some(None) => Connection::refuse(
            gateway.clone(),
            close::UNAUTHENTICATED,
            "an access token is required",
        ),
        Some(Some(Err(err))) => {
            Connection::refuse(gateway.clone(), close::UNAUTHENTICATED, &err.to_string())
        }
        Some(Some(Ok(caller))) => match caller.principal {
            Principal::User(user) => Connection::new(
                gateway.clone(),
                caller.clone(),
                user,
                query.since,
                query.client_of(&caller),
            )
            .holding(slot),
            Principal::Client(_) => Connection::refuse(
                gateway.clone(),
                close::FORBIDDEN,
                "sockets are for users, not service clients",
            ),
        },
    };
    WsResponseBuilder::new(connection, &req, stream)
        .frame_size(gateway.limits.max_frame_bytes)
        .start()
}
