//! The audit log of the admin API: every admin request that changes something (not GET or
//! HEAD) and succeeds is recorded with who made it, the route and path, the status and the
//! request id, before the answer leaves. One middleware rather than a line in each handler,
//! so a new admin route is audited without anyone remembering to. Bodies are not recorded:
//! some carry passwords.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use fitpulse_actors::ports::audit::AuditEntry;
use fitpulse_actors::ports::clock::SharedClock;

use super::caller::bearer_token;
use super::observe::RequestId;
use crate::auth::Auth;
use crate::auth::tokens::Principal;
use crate::store::Stores;

const ADMIN_PREFIX: &str = "/v1/admin/";

fn audited(req: &ServiceRequest) -> bool {
    req.path().starts_with(ADMIN_PREFIX)
        && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `user:<uuid>` or `client:<id>` for the request's bearer token, if it verifies.
fn actor(req: &ServiceRequest) -> Option<String> {
    let auth = req.app_data::<web::Data<Auth>>()?;
    let caller = auth.authenticate(bearer_token(req.request())?).ok()?;
    Some(match caller.principal {
        Principal::User(id) => format!("user:{id}"),
        Principal::Client(id) => format!("client:{id}"),
    })
}

pub async fn audit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !audited(&req) {
        return next.call(req).await;
    }
    let actor = actor(&req);
    let (method, path) = (req.method().to_string(), req.path().to_owned());
    let response = next.call(req).await?;
    let Some(actor) = actor.filter(|_| response.status().is_success()) else {
        return Ok(response);
    };
    let request = response.request();
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
        route: request.match_pattern().unwrap_or_else(|| path.clone()),
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
