//! The client's address for rate limits: the socket peer, or the first `X-Forwarded-For`
//! hop when the operator says a trusted proxy sets it.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::{HttpRequest, web};

/// Whether to believe `X-Forwarded-For` (`http.trust_forwarded_for`).
#[derive(Debug, Clone, Copy)]
pub struct ClientIpPolicy {
    pub trust_forwarded_for: bool,
}

pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let trust = req
        .app_data::<web::Data<ClientIpPolicy>>()
        .is_some_and(|p| p.trust_forwarded_for);
    if trust
        && let Some(ip) = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|first| first.trim().parse().ok())
    {
        return ip;
    }
    req.peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip())
}
