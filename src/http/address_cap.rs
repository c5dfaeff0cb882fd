//! The per-address cap on open connections and sockets (`http.max_connections_per_ip`), so
//! one address (cheap anonymous accounts, one script) cannot take every descriptor of the
//! node and starve everyone else.
//!
//! Connections are counted by their peer address from accept to close (a [`Slot`] in the
//! connection's data); sockets are counted by the client's address, which behind a
//! trusted proxy is the forwarded one (the proxy itself is the peer of every connection,
//! so connections are then not counted). Beyond the cap a request is answered 429 with
//! `Connection: close` and a socket is closed 4008 at once, both counted in
//! `fitpulse_connections_refused_total`. `/healthz`, `/readyz` and `/metrics` always
//! answer, whatever their address holds: probes must keep working during an attack.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};

use super::ApiError;
use crate::metrics::Metrics;

/// Paths answered whatever the caller's address holds.
const ALWAYS_ANSWERED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Open connections (or sockets) per address.
pub struct AddressCap {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection or socket; gives its place back when dropped.
pub struct Slot {
    cap: Arc<AddressCap>,
    ip: IpAddr,
    /// Counted beyond the cap: the connection may only reach the always-answered paths.
    pub over: bool,
}

impl AddressCap {
    pub fn new(max: usize) -> Arc<AddressCap> {
        Arc::new(AddressCap {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Counts one more for `ip`; the slot says whether it is beyond the cap.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Slot {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        *count += 1;
        Slot {
            cap: self.clone(),
            ip,
            over: *count > self.max,
        }
    }

    /// How many `ip` holds now.
    pub fn held(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.cap.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The caps of a node: connections by peer (unless behind a trusted proxy) and sockets by
/// client address.
pub struct AddressCaps {
    pub connections: Option<Arc<AddressCap>>,
    pub sockets: Arc<AddressCap>,
}

impl AddressCaps {
    pub fn new(max_per_ip: usize, trust_forwarded_for: bool) -> AddressCaps {
        AddressCaps {
            connections: (!trust_forwarded_for).then(|| AddressCap::new(max_per_ip)),
            sockets: AddressCap::new(max_per_ip),
        }
    }
}

/// Refuses requests on connections beyond their address's cap, except the probes.
pub async fn refuse_over_cap(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let over = req.conn_data::<Slot>().is_some_and(|slot| slot.over);
    if over && !ALWAYS_ANSWERED.contains(&req.path()) {
        if let Some(metrics) = req.app_data::<web::Data<Metrics>>() {
            metrics
                .connections_refused_total
                .with_label_values(&["connection"])
                .inc();
        }
        let mut response: HttpResponse = too_many().error_response();
        // Closing frees the descriptor at once instead of keeping an idle connection.
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn too_many() -> ApiError {
    ApiError::rate_limited(1).with_message("too many connections from your address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_per_address_and_slots_give_their_place_back() {
        let cap = AddressCap::new(2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let first = cap.take(a);
        let second = cap.take(a);
        let third = cap.take(a);
        assert!(!first.over && !second.over && third.over);
        assert!(!cap.take(b).over, "another address has its own share");
        drop(third);
        drop(first);
        assert!(!cap.take(a).over, "a closed connection frees its place");
        drop(second);
        assert_eq!(cap.held(a), 0);
    }
}
