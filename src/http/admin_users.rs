//! Staff and account administration while the server runs (admin role):
//! `POST /v1/admin/users` creates a staff account, `PATCH /v1/admin/users/{id}` changes its
//! roles, `GET /v1/admin/users?email=` looks an account up with what support needs
//! (session, identities, subscriptions, entitlements), `POST /v1/admin/users/{id}/revoke`
//! ends every login, and `GET /v1/admin/audit` pages the audit log.

use std::collections::BTreeSet;

use actix_web::{HttpResponse, web};
use fitpulse_actors::domain::{DisplayName, Email, Password, Role, UserId, now_millis};
use fitpulse_actors::hub::Hub;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::views::{
    EntitlementView, IdentityView, Page, SubscriptionView, UserView, entitlement_view,
    identity_view, rfc3339, subscription_view,
};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::staff::NewStaff;
use crate::auth::{Accounts, AuthUser};
use crate::store::Stores;

const MAX_AUDIT_PAGE: usize = 200;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/users").post(create).get(lookup))
        .service(web::resource("/v1/admin/users/{id}").patch(set_roles))
        .service(web::resource("/v1/admin/users/{id}/revoke").post(revoke))
        .service(web::resource("/v1/admin/audit").get(audit));
}

pub fn contracts(c: &mut Contracts) {
    let admin = "admin role";
    c.post("/v1/admin/users")
        .body::<CreateBody>()
        .created::<UserView>()
        .bearer(admin)
        .errors(&[403, 409]);
    c.get("/v1/admin/users")
        .ok::<Lookup>()
        .bearer(admin)
        .errors(&[400, 403, 404]);
    c.patch("/v1/admin/users/{id}")
        .body::<RolesBody>()
        .ok::<UserView>()
        .bearer(admin)
        .errors(&[403, 404]);
    c.post("/v1/admin/users/{id}/revoke")
        .empty(204)
        .bearer(admin)
        .errors(&[400, 403, 404]);
    c.get("/v1/admin/audit")
        .ok::<Page<AuditView>>()
        .bearer(admin)
        .errors(&[400, 403]);
}

/// One account with what support looks at.
#[derive(Serialize, JsonSchema)]
struct Lookup<'a> {
    user: UserView<'a>,
    has_password: bool,
    device_id: Option<&'a str>,
    session: SessionPresence,
    identities: Vec<IdentityView<'a>>,
    subscriptions: Vec<SubscriptionView<'a>>,
    entitlements: Vec<EntitlementView<'a>>,
}

/// This node's view; the session may run on another node of a cluster.
#[derive(Serialize, JsonSchema)]
struct SessionPresence {
    here: bool,
}

/// One admin change in the audit log.
#[derive(Serialize, JsonSchema)]
struct AuditView<'a> {
    id: String,
    at: String,
    /// `user:<uuid>` or `client:<id>`.
    actor: &'a str,
    method: &'a str,
    /// The route's pattern, `/v1/admin/users/{id}/revoke`.
    route: &'a str,
    path: &'a str,
    status: u16,
    request_id: Option<&'a str>,
}

fn user_path(raw: &str) -> Result<UserId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(ErrorCode::InvalidPath).with_message("the user id is a UUID"))
}

fn roles_field(names: &[String]) -> Result<BTreeSet<Role>, ApiError> {
    if names.is_empty() || names.len() > 3 {
        return Err(ApiError::invalid_field(
            "roles",
            "one to three of member, coach, admin",
        ));
    }
    names
        .iter()
        .map(|name| {
            Role::parse(name)
                .ok_or_else(|| ApiError::invalid_field("roles", "one of member, coach, admin"))
        })
        .collect()
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "CreateStaffBody")]
#[serde(deny_unknown_fields)]
struct CreateBody {
    email: String,
    password: Option<String>,
    roles: Vec<String>,
    display_name: Option<String>,
}

/// Creates a staff account; without a password, it gets an email to set one.
async fn create(
    caller: AuthUser,
    body: web::Json<CreateBody>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let body = body.into_inner();
    let email = Email::parse(&body.email).map_err(|e| ApiError::invalid_field("email", e))?;
    let password = body
        .password
        .as_deref()
        .map(|p| Password::parse(p).map_err(|e| ApiError::invalid_field("password", e)))
        .transpose()?;
    let mut roles = roles_field(&body.roles)?;
    roles.insert(Role::Member);
    let name = body.display_name.unwrap_or_else(|| {
        email
            .as_str()
            .split('@')
            .next()
            .unwrap_or("staff")
            .to_owned()
    });
    let display_name =
        DisplayName::parse(&name).map_err(|e| ApiError::invalid_field("display_name", e))?;
    let user = accounts
        .create_staff(NewStaff {
            email,
            password,
            roles,
            display_name,
        })
        .await?;
    Ok(HttpResponse::Created().json(UserView::from(&user)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

async fn set_roles(
    caller: AuthUser,
    path: web::Path<String>,
    body: web::Json<RolesBody>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let user = user_path(&path)?;
    let roles = roles_field(&body.roles)?;
    let user = accounts.set_roles(user, roles).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

async fn revoke(
    caller: AuthUser,
    path: web::Path<String>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    accounts.revoke_all(user_path(&path)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupQuery {
    email: String,
}

/// One account by email with what support looks at.
async fn lookup(
    caller: AuthUser,
    query: web::Query<LookupQuery>,
    stores: web::Data<Stores>,
    accounts: web::Data<Accounts>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let email = Email::parse(&query.email).map_err(|e| ApiError::invalid_field("email", e))?;
    let user = stores.users.user_by_email(&email).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound).with_message("no account has that email")
    })?;
    let now = now_millis();
    // The shapes of the member's own routes, so support sees what the member sees.
    let identities = accounts.identities(user.id).await?;
    let subscriptions = stores.subscriptions.subscriptions(user.id).await?;
    let entitlements = stores.entitlements.entitlements(user.id).await?;
    Ok(HttpResponse::Ok().json(Lookup {
        user: UserView::from(&user),
        has_password: user.password_hash.is_some(),
        device_id: user.device_id.as_ref().map(|d| d.as_str()),
        session: SessionPresence {
            here: hub.holds(user.id).await,
        },
        identities: identities.iter().map(identity_view).collect(),
        subscriptions: subscriptions
            .iter()
            .map(|s| subscription_view(s, now))
            .collect(),
        entitlements: entitlements
            .iter()
            .map(|e| entitlement_view(e, now))
            .collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// The audit log, newest first; `next_cursor` pages on.
async fn audit(
    caller: AuthUser,
    query: web::Query<AuditQuery>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_AUDIT_PAGE {
        return Err(ApiError::new(ErrorCode::InvalidQuery)
            .with_message(format!("limit is 1 to {MAX_AUDIT_PAGE}")));
    }
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            uuid::Uuid::parse_str(c)
                .map_err(|_| ApiError::new(ErrorCode::InvalidQuery).with_message("bad cursor"))
        })
        .transpose()?;
    let entries = stores.audit.audit_entries(before, limit).await?;
    let next_cursor = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    let items = entries
        .iter()
        .map(|e| AuditView {
            id: e.id.to_string(),
            at: rfc3339(e.at),
            actor: &e.actor,
            method: &e.method,
            route: &e.route,
            path: &e.path,
            status: e.status,
            request_id: e.request_id.as_deref(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}
