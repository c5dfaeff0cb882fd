//! Devices and notification settings: `PUT/DELETE /v1/me/devices/{device_id}`,
//! `GET /v1/me/devices`, `GET/PATCH /v1/me/notification-settings`, and the operators'
//! `POST /v1/admin/users/{id}/push` (a test push to every device of a member, answering
//! what each provider said).

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use fitpulse_actors::domain::{Role, UserId};
use schemars::JsonSchema;
use serde::Serialize;

use super::error::uuid_path;
use super::views::{DeviceView, Page, device_view};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::AuthUser;
use crate::push::devices::{DeviceInput, Devices, parse_device_id};
use crate::push::sender::Sender;
use crate::push::settings::{NotificationSettings, SettingsPatch};
use crate::push::{SendOutcome, texts};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/me/devices/{device_id}")
            .put(register)
            .delete(remove),
    )
    .service(web::resource("/v1/me/devices").get(list))
    .service(
        web::resource("/v1/me/notification-settings")
            .get(settings)
            .patch(change_settings),
    )
    .service(web::resource("/v1/admin/users/{id}/push").post(test_push));
}

pub fn contracts(c: &mut Contracts) {
    let who = "a user";
    c.put("/v1/me/devices/{device_id}")
        .body::<DeviceInput>()
        .ok::<DeviceView>()
        .created::<DeviceView>()
        .bearer(who)
        .errors(&[400, 403]);
    c.delete("/v1/me/devices/{device_id}")
        .empty(204)
        .bearer(who)
        .errors(&[400, 403, 404]);
    c.get("/v1/me/devices")
        .ok::<Page<DeviceView>>()
        .bearer(who)
        .errors(&[403]);
    c.get("/v1/me/notification-settings")
        .ok::<NotificationSettings>()
        .bearer(who)
        .errors(&[403]);
    c.patch("/v1/me/notification-settings")
        .body::<SettingsPatch>()
        .ok::<NotificationSettings>()
        .bearer(who)
        .errors(&[400, 403]);
    c.post("/v1/admin/users/{id}/push")
        .ok::<TestPushView>()
        .bearer("admin role")
        .errors(&[400, 403, 404]);
}

/// What each device's provider answered to a test push.
#[derive(Serialize, JsonSchema)]
struct TestPushView {
    devices: Vec<TestPushResult>,
}

#[derive(Serialize, JsonSchema)]
struct TestPushResult {
    device_id: String,
    platform: &'static str,
    /// `sent`, `invalid_token` (the device was removed), `retry` or `failed`.
    result: &'static str,
    reason: Option<String>,
}

fn device_id(raw: &str) -> Result<String, ApiError> {
    parse_device_id(raw).map_err(|e| ApiError::invalid_field(e.field, e.reason))
}

async fn register(
    caller: AuthUser,
    path: web::Path<String>,
    body: web::Json<DeviceInput>,
    devices: web::Data<Arc<Devices>>,
    sender: web::Data<Arc<Sender>>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let device = body
        .into_inner()
        .into_device(device_id(&path)?, sender.now())
        .map_err(|e| ApiError::invalid_field(e.field, e.reason))?;
    let registration = devices.register(user, &device).await?;
    let view = device_view(device);
    Ok(match registration.created {
        true => HttpResponse::Created().json(view),
        false => HttpResponse::Ok().json(view),
    })
}

async fn remove(
    caller: AuthUser,
    path: web::Path<String>,
    devices: web::Data<Arc<Devices>>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    match devices.remove(user, &device_id(&path)?).await? {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(ApiError::new(ErrorCode::NotFound).with_message("no such device")),
    }
}

async fn list(
    caller: AuthUser,
    devices: web::Data<Arc<Devices>>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let items = devices
        .list(user)
        .await?
        .into_iter()
        .map(device_view)
        .collect();
    Ok(HttpResponse::Ok().json(Page::all(items)))
}

async fn settings(
    caller: AuthUser,
    devices: web::Data<Arc<Devices>>,
) -> Result<HttpResponse, ApiError> {
    let settings = devices.settings(caller.user_id()?).await?;
    Ok(HttpResponse::Ok().json(settings))
}

async fn change_settings(
    caller: AuthUser,
    body: web::Json<SettingsPatch>,
    devices: web::Data<Arc<Devices>>,
) -> Result<HttpResponse, ApiError> {
    let changed = devices
        .change_settings(caller.user_id()?, &body)
        .await?
        .map_err(|e| ApiError::invalid_field("quiet_hours", e))?;
    Ok(HttpResponse::Ok().json(changed))
}

async fn test_push(
    caller: AuthUser,
    path: web::Path<String>,
    sender: web::Data<Arc<Sender>>,
    stores: web::Data<crate::store::Stores>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let user = UserId::from_uuid(uuid_path(&path, "id")?);
    if stores.users.user_by_id(user).await?.is_none() {
        return Err(ApiError::new(ErrorCode::NotFound).with_message("no such user"));
    }
    let results = sender
        .test_push(user, &texts::test_push(sender.now()))
        .await?;
    tracing::info!(user_id = %user, by = %caller.user_id()?, devices = results.len(), "test push sent");
    let devices = results
        .into_iter()
        .map(|r| TestPushResult {
            device_id: r.device_id,
            platform: r.platform.as_str(),
            result: r.outcome.label(),
            reason: match r.outcome {
                SendOutcome::Sent => None,
                SendOutcome::InvalidToken { reason }
                | SendOutcome::Retry { reason, .. }
                | SendOutcome::Failed { reason } => Some(reason),
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(TestPushView { devices }))
}
