//! Push devices, notification settings and daily push counts in the scylla store (schema
//! in `cql/0017_push.cql`). A member's devices are one partition; `push_tokens` names the
//! device that holds each token.
//!
//! Registration runs without lightweight transactions: it is a read of the token's holder,
//! then plain writes. Two accounts registering one token at the same moment is
//! last-writer-wins on the `push_tokens` row; the loser's device row may keep the token,
//! and is removed when the next push to it is answered Unregistered
//! (`delete_device_token`). The only conditional write is that removal, so a token the app
//! refreshed meanwhile is never deleted with the dead one.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::push::{
    DevicePage, DeviceRegistration, OwnedDevice, PushDevice, PushPlatform, PushStore,
};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, decode_rows, execution_error, prepare, run_lwt};
use crate::store::MalformedCursor;

const DEVICE_COLUMNS: &str =
    "device_id, platform, push_token, app_version, locale, timezone, updated_at";

pub(super) struct Statements {
    device: PreparedStatement,
    devices: PreparedStatement,
    insert_device: PreparedStatement,
    delete_device: PreparedStatement,
    delete_device_if_token: PreparedStatement,
    token: PreparedStatement,
    insert_token: PreparedStatement,
    delete_token: PreparedStatement,
    /// The whole-table scan; each call sets its own page size on a copy.
    page: PreparedStatement,
    settings: PreparedStatement,
    put_settings: PreparedStatement,
    count: PreparedStatement,
    counted: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            device: prepare(
                session,
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM push_devices WHERE user_id = ? AND device_id = ?"
                ),
            )
            .await?,
            devices: prepare(
                session,
                &format!("SELECT {DEVICE_COLUMNS} FROM push_devices WHERE user_id = ?"),
            )
            .await?,
            insert_device: prepare(
                session,
                "INSERT INTO push_devices (user_id, device_id, platform, push_token, \
                 app_version, locale, timezone, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            delete_device: prepare(
                session,
                "DELETE FROM push_devices WHERE user_id = ? AND device_id = ?",
            )
            .await?,
            delete_device_if_token: prepare(
                session,
                "DELETE FROM push_devices WHERE user_id = ? AND device_id = ? IF push_token = ?",
            )
            .await?,
            token: prepare(
                session,
                "SELECT user_id, device_id FROM push_tokens WHERE push_token = ?",
            )
            .await?,
            insert_token: prepare(
                session,
                "INSERT INTO push_tokens (push_token, user_id, device_id) VALUES (?, ?, ?)",
            )
            .await?,
            delete_token: prepare(session, "DELETE FROM push_tokens WHERE push_token = ?").await?,
            page: prepare(
                session,
                &format!("SELECT user_id, {DEVICE_COLUMNS} FROM push_devices"),
            )
            .await?,
            settings: prepare(
                session,
                "SELECT doc FROM notification_settings WHERE user_id = ?",
            )
            .await?,
            put_settings: prepare(
                session,
                "INSERT INTO notification_settings (user_id, doc) VALUES (?, ?)",
            )
            .await?,
            count: prepare(
                session,
                "INSERT INTO push_counts (user_id, day, kind, id) VALUES (?, ?, ?, now())",
            )
            .await?,
            counted: prepare(
                session,
                "SELECT COUNT(*) FROM push_counts WHERE user_id = ? AND day = ? AND kind = ?",
            )
            .await?,
        })
    }
}

/// A device as `DEVICE_COLUMNS` read it.
type DeviceRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// Why a stored device row cannot be read back.
#[derive(Debug, thiserror::Error)]
enum RowError {
    #[error("the push device {0:?} has no platform or push token")]
    Incomplete(String),
    #[error("the push device {device:?} has the unknown platform {platform:?}")]
    UnknownPlatform { device: String, platform: String },
}

fn to_device(row: DeviceRow) -> Result<PushDevice, StoreError> {
    let (device_id, platform, push_token, app_version, locale, timezone, updated_at) = row;
    let (Some(platform), Some(push_token)) = (platform, push_token) else {
        return Err(StoreError::backend(RowError::Incomplete(device_id)));
    };
    let Some(platform_parsed) = PushPlatform::parse(&platform) else {
        return Err(StoreError::backend(RowError::UnknownPlatform {
            device: device_id,
            platform,
        }));
    };
    Ok(PushDevice {
        device_id,
        platform: platform_parsed,
        push_token,
        app_version,
        locale,
        timezone,
        updated_at: updated_at.unwrap_or(0),
    })
}

/// The driver's paging state as a cursor: base64url of its bytes, opaque to the caller.
fn cursor_of(state: &PagingState) -> Option<String> {
    state
        .as_bytes_slice()
        .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

/// The paging state a cursor holds. Bytes that decode but were never a paging state are
/// refused by the server, which the scan reports as a backend error.
fn paging_state_of(cursor: &str) -> Result<PagingState, StoreError> {
    let malformed = || StoreError::backend(MalformedCursor(cursor.to_owned()));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    if bytes.is_empty() {
        return Err(malformed());
    }
    Ok(PagingState::new_from_raw_bytes(bytes))
}

impl ScyllaStore {
    async fn read_device(
        &self,
        user: Uuid,
        device_id: &str,
    ) -> Result<Option<PushDevice>, StoreError> {
        self.maybe_row::<DeviceRow>(&self.push_statements.device, (user, device_id))
            .await?
            .map(to_device)
            .transpose()
    }

    async fn token_holder(&self, push_token: &str) -> Result<Option<(Uuid, String)>, StoreError> {
        Ok(self
            .maybe_row::<(Option<Uuid>, Option<String>)>(&self.push_statements.token, (push_token,))
            .await?
            .and_then(|(user, device)| user.zip(device)))
    }

    /// Removes a token's row while it still names the device (another may hold it now).
    async fn unindex_token(
        &self,
        push_token: &str,
        user: Uuid,
        device_id: &str,
    ) -> Result<(), StoreError> {
        let held_here = self
            .token_holder(push_token)
            .await?
            .is_some_and(|(u, d)| u == user && d == device_id);
        if held_here {
            self.exec(&self.push_statements.delete_token, (push_token,))
                .await?;
        }
        Ok(())
    }

    async fn remove_device(&self, user: Uuid, device: &PushDevice) -> Result<(), StoreError> {
        self.exec(
            &self.push_statements.delete_device,
            (user, device.device_id.as_str()),
        )
        .await?;
        self.unindex_token(&device.push_token, user, &device.device_id)
            .await
    }

    async fn register(
        &self,
        user: UserId,
        device: &PushDevice,
        max_devices: usize,
    ) -> Result<DeviceRegistration, StoreError> {
        let u = user.as_uuid();
        let token = device.push_token.as_str();
        let previous = self.read_device(u, &device.device_id).await?;
        let mut registration = DeviceRegistration {
            created: previous.is_none(),
            ..DeviceRegistration::default()
        };
        if let Some((holder, holder_device)) = self.token_holder(token).await?
            && (holder, holder_device.as_str()) != (u, device.device_id.as_str())
        {
            // The token belongs to whoever registered it last; the device that had it can
            // no longer be reached through it, so it goes.
            let holds_it = self
                .read_device(holder, &holder_device)
                .await?
                .is_some_and(|d| d.push_token == token);
            if holds_it {
                self.exec(
                    &self.push_statements.delete_device,
                    (holder, holder_device.as_str()),
                )
                .await?;
                registration
                    .token_taken_from
                    .push((UserId::from_uuid(holder), holder_device));
            }
        }
        self.exec(
            &self.push_statements.insert_device,
            (
                u,
                device.device_id.as_str(),
                device.platform.as_str(),
                token,
                device.app_version.as_deref(),
                device.locale.as_deref(),
                device.timezone.as_deref(),
                device.updated_at,
            ),
        )
        .await?;
        self.exec(
            &self.push_statements.insert_token,
            (token, u, device.device_id.as_str()),
        )
        .await?;
        if let Some(previous) = previous.filter(|p| p.push_token != token) {
            // The app refreshed its token: the old one no longer reaches this device.
            self.unindex_token(&previous.push_token, u, &device.device_id)
                .await?;
        }

        let mut others = self.devices_of(u).await?;
        others.retain(|d| d.device_id != device.device_id);
        let keep = max_devices.saturating_sub(1);
        if others.len() > keep {
            others.sort_by(|a, b| (a.updated_at, &a.device_id).cmp(&(b.updated_at, &b.device_id)));
            let excess = others.len() - keep;
            for gone in others.into_iter().take(excess) {
                self.remove_device(u, &gone).await?;
                registration.evicted.push(gone.device_id);
            }
        }
        Ok(registration)
    }

    async fn devices_of(&self, user: Uuid) -> Result<Vec<PushDevice>, StoreError> {
        let rows: Vec<DeviceRow> = self.rows(&self.push_statements.devices, (user,)).await?;
        rows.into_iter().map(to_device).collect()
    }

    async fn page_of_devices(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DevicePage, StoreError> {
        let state = after
            .map(paging_state_of)
            .transpose()?
            .unwrap_or_else(PagingState::start);
        let mut statement = self.push_statements.page.clone();
        // A page of nothing would hand back the cursor it got and never end a scan.
        statement.set_page_size(i32::try_from(limit.max(1)).unwrap_or(i32::MAX));
        let (result, paging) = self
            .session
            .execute_single_page(&statement, (), state)
            .await
            .map_err(execution_error)?;
        type PageRow = (
            Uuid,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<PageRow> = decode_rows(result).map_err(StoreError::Backend)?;
        let devices = rows
            .into_iter()
            .map(|(user, id, platform, token, version, locale, zone, at)| {
                Ok(OwnedDevice {
                    user: UserId::from_uuid(user),
                    device: to_device((id, platform, token, version, locale, zone, at))?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = match paging {
            PagingStateResponse::HasMorePages { state } => cursor_of(&state),
            PagingStateResponse::NoMorePages => None,
        };
        Ok(DevicePage { devices, next })
    }
}

#[async_trait]
impl PushStore for ScyllaStore {
    async fn put_device(
        &self,
        user: UserId,
        device: &PushDevice,
        max_devices: usize,
    ) -> Result<DeviceRegistration, StoreError> {
        self.ops
            .time("put_device", self.register(user, device, max_devices))
            .await
    }

    async fn devices(&self, user: UserId) -> Result<Vec<PushDevice>, StoreError> {
        self.ops
            .time("devices", async {
                let mut devices = self.devices_of(user.as_uuid()).await?;
                devices.sort_by(|a, b| {
                    (b.updated_at, &a.device_id).cmp(&(a.updated_at, &b.device_id))
                });
                Ok(devices)
            })
            .await
    }

    async fn delete_device(&self, user: UserId, device_id: &str) -> Result<bool, StoreError> {
        self.ops
            .time("delete_device", async {
                let u = user.as_uuid();
                let Some(device) = self.read_device(u, device_id).await? else {
                    return Ok(false);
                };
                self.remove_device(u, &device).await?;
                Ok(true)
            })
            .await
    }

    async fn delete_device_token(
        &self,
        user: UserId,
        device_id: &str,
        push_token: &str,
    ) -> Result<bool, StoreError> {
        self.ops
            .time("delete_device_token", async {
                let u = user.as_uuid();
                let statement = &self.push_statements.delete_device_if_token;
                match run_lwt(&self.session, statement, (u, device_id, push_token)).await? {
                    Lwt::Applied => {
                        self.unindex_token(push_token, u, device_id).await?;
                        Ok(true)
                    }
                    Lwt::NotApplied => Ok(false),
                    Lwt::Unknown => Err(StoreError::unavailable(std::io::Error::other(
                        "removing a device with a dead token timed out",
                    ))),
                }
            })
            .await
    }

    async fn device_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DevicePage, StoreError> {
        self.ops
            .time("device_page", self.page_of_devices(after, limit))
            .await
    }

    async fn notification_settings(&self, user: UserId) -> Result<Option<String>, StoreError> {
        self.ops
            .time("notification_settings", async {
                Ok(self
                    .maybe_row::<(Option<String>,)>(
                        &self.push_statements.settings,
                        (user.as_uuid(),),
                    )
                    .await?
                    .and_then(|(doc,)| doc))
            })
            .await
    }

    async fn put_notification_settings(&self, user: UserId, doc: &str) -> Result<(), StoreError> {
        self.ops
            .time(
                "put_notification_settings",
                self.exec(&self.push_statements.put_settings, (user.as_uuid(), doc)),
            )
            .await
    }

    async fn count_push(&self, user: UserId, day: i32, kind: &str) -> Result<u32, StoreError> {
        self.ops
            .time("count_push", async {
                let values = (user.as_uuid(), day, kind);
                self.exec(&self.push_statements.count, values).await?;
                let (count,): (i64,) = self
                    .first_row(&self.push_statements.counted, values)
                    .await?;
                Ok(u32::try_from(count).unwrap_or(u32::MAX))
            })
            .await
    }

    /// The pairs at once: each is its own partition, so nothing is gained by a batch.
    async fn count_pushes(
        &self,
        pushes: &[(UserId, i32)],
        kind: &str,
    ) -> Result<Vec<u32>, StoreError> {
        futures_util::future::try_join_all(
            pushes
                .iter()
                .map(|(user, day)| self.count_push(*user, *day, kind)),
        )
        .await
    }
}
