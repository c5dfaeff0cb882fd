//! The audit log of the admin API: every admin request that changes something (not GET or
//! HEAD) and succeeds is recorded with who made it, the route and path, the status and the
//! request id, before the answer leaves. One middleware rather than a line in each handler,
//! so a new admin route is audited without anyone remembering to. Bodies are not recorded:
//! some carry passwords.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use fitpulse_actors::ports::audit::AuditEntry;
use fitpulse_actors::ports::clock::SharedClock;

use super::caller::bearer_token;
use super::observe::RequestId;
use crate::auth::Auth;
use crate::auth::tokens::Principal;
use crate::store::Stores;

const ADMIN_PREFIX: &str = "/v1/admin/";

/// Whether a finished request is an admin change: decided by the route that served it
/// (the raw path may spell `/v1/%61dmin/...`, which routes the same).
fn audited(request: &HttpRequest, status: StatusCode) -> Option<String> {
    let route = request.match_pattern()?;
    let change = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    (change && status.is_success() && route.starts_with(ADMIN_PREFIX)).then_some(route)
}

/// `user:<uuid>` or `client:<id>` for the request's bearer token, if it verifies.
fn actor(request: &HttpRequest) -> Option<String> {
    let auth = request.app_data::<web::Data<Auth>>()?;
    let caller = auth.authenticate(bearer_token(request)?).ok()?;
    Some(match caller.principal {
        Principal::User(id) => format!("user:{id}"),
        Principal::Client(id) => format!("client:{id}"),
    })
}

pub async fn audit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let request = response.request();
    let Some(route) = audited(request, response.status()) else {
        return Ok(response);
    };
    let Some(actor) = actor(request) else {
        return Ok(response);
    };
    let (method, path) = (request.method().to_string(), request.path().to_owned());
    let (Some(stores), Some(clock)) = (
        request.app_data::<web::Data<Stores>>(),
        request.app_data::<web::Data<SharedClock>>(),
    ) else {
        return Ok(response);
    };
    let entry = AuditEntry {
        id: uuid::Uuid::now_v7(),
        at: clock.now(),
        actor,
        method,
        route,
        path,
        status: response.status().as_u16(),
        request_id: request.extensions().get::<RequestId>().map(|r| r.0.clone()),
    };
    // The action happened; a lost audit line is logged loudly rather than turned into an
    // error the admin would retry.
    if let Err(err) = stores.audit.record_audit(&entry).await {
        tracing::error!(error = %err, route = %entry.route, actor = %entry.actor, "cannot record an admin action in the audit log");
    }
    Ok(response)
}
