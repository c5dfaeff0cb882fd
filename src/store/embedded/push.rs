//! Push devices, notification settings and daily push counts in the embedded store.
//! Devices are keyed `user<sep>device id`, so a user's devices are one range scan and a
//! scan over every device is a walk of the table in key order; `PUSH_TOKENS` says which
//! device holds a token, so registering it elsewhere finds the loser in one lookup. The
//! single writer makes each registration (take the token, write, evict) one transaction.

use std::ops::Bound;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::push::{
    DevicePage, DeviceRegistration, OwnedDevice, PushDevice, PushPlatform, PushStore,
};
use fitpulse_actors::ports::store::StoreError;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{
    EmbeddedStore, KEY_SEPARATOR, NOTIFICATION_SETTINGS, PUSH_COUNTS, PUSH_DEVICES, PUSH_TOKENS,
    backend, decode, encode, key, prefix_range,
};
use crate::store::MalformedCursor;

/// How many days before the one being counted a count is kept: the port promises two.
const COUNT_DAYS_KEPT: i32 = 2;

/// The stored form of a device (its user and id are the key).
#[derive(Serialize, Deserialize)]
struct Row {
    platform: String,
    push_token: String,
    app_version: Option<String>,
    locale: Option<String>,
    timezone: Option<String>,
    updated_at: UnixMillis,
}

impl Row {
    fn of(device: &PushDevice) -> Row {
        Row {
            platform: device.platform.as_str().to_owned(),
            push_token: device.push_token.clone(),
            app_version: device.app_version.clone(),
            locale: device.locale.clone(),
            timezone: device.timezone.clone(),
            updated_at: device.updated_at,
        }
    }

    fn device(self, device_id: &str) -> Result<PushDevice, StoreError> {
        Ok(PushDevice {
            device_id: device_id.to_owned(),
            platform: PushPlatform::parse(&self.platform).ok_or_else(|| {
                StoreError::backend(std::io::Error::other(format!(
                    "a stored device has the unknown platform {:?}",
                    self.platform
                )))
            })?,
            push_token: self.push_token,
            app_version: self.app_version,
            locale: self.locale,
            timezone: self.timezone,
            updated_at: self.updated_at,
        })
    }
}

/// The user and device id of a `user<sep>device id` key. The user id never contains the
/// separator, so splitting at the first one keeps any device id whole.
fn split_device_key(raw: &str) -> Option<(UserId, &str)> {
    let (user, device) = raw.split_once(KEY_SEPARATOR)?;
    Some((user.parse().ok()?, device))
}

/// The user and device id of a stored device key.
fn owner_of(raw: &str) -> Result<(UserId, String), StoreError> {
    split_device_key(raw)
        .map(|(user, device)| (user, device.to_owned()))
        .ok_or_else(|| {
            StoreError::backend(std::io::Error::other(format!(
                "the push device key {raw:?} does not name a user and a device"
            )))
        })
}

/// The cursor of a page: the last device key it returned, base64url (keys hold the
/// separator, which does not belong in a URL or a log line).
fn cursor_of(device_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(device_key)
}

/// The device key a cursor names; anything that is not one is an error.
fn key_of_cursor(cursor: &str) -> Result<String, StoreError> {
    let malformed = || StoreError::backend(MalformedCursor(cursor.to_owned()));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    let raw = String::from_utf8(bytes).map_err(|_| malformed())?;
    split_device_key(&raw).ok_or_else(malformed)?;
    Ok(raw)
}

fn read_device(txn: &WriteTransaction, device_key: &str) -> Result<Option<Row>, StoreError> {
    let table = txn.open_table(PUSH_DEVICES).map_err(backend)?;
    let row = table.get(device_key).map_err(backend)?;
    row.map(|r| decode(r.value())).transpose()
}

/// Removes a token's index entry while it still points at `device_key` (another device
/// may have taken the token since).
fn unindex_token(
    txn: &WriteTransaction,
    push_token: &str,
    device_key: &str,
) -> Result<(), StoreError> {
    let mut tokens = txn.open_table(PUSH_TOKENS).map_err(backend)?;
    let points_here = tokens
        .get(push_token)
        .map_err(backend)?
        .is_some_and(|holder| holder.value() == device_key);
    if points_here {
        tokens.remove(push_token).map_err(backend)?;
    }
    Ok(())
}

/// Removes a device with its token's index entry; answers whether it was there.
fn remove_device(txn: &WriteTransaction, device_key: &str) -> Result<bool, StoreError> {
    let Some(row) = read_device(txn, device_key)? else {
        return Ok(false);
    };
    txn.open_table(PUSH_DEVICES)
        .map_err(backend)?
        .remove(device_key)
        .map_err(backend)?;
    unindex_token(txn, &row.push_token, device_key)?;
    Ok(true)
}

/// The user's devices as (device id, row), in key order.
fn devices_of(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    user: UserId,
) -> Result<Vec<(String, Row)>, StoreError> {
    let (start, end) = prefix_range(&user.to_string());
    let mut found = Vec::new();
    for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
        let (k, v) = entry.map_err(backend)?;
        let (_, device_id) = owner_of(k.value())?;
        found.push((device_id, decode::<Row>(v.value())?));
    }
    Ok(found)
}

fn put_device(
    txn: &WriteTransaction,
    user: UserId,
    device: &PushDevice,
    max_devices: usize,
) -> Result<DeviceRegistration, StoreError> {
    let own = key(&[&user.to_string(), &device.device_id]);
    let token = device.push_token.as_str();
    let previous = read_device(txn, &own)?;
    let mut registration = DeviceRegistration {
        created: previous.is_none(),
        ..DeviceRegistration::default()
    };
    if let Some(previous) = previous.filter(|p| p.push_token != token) {
        // The app refreshed its token: the old one no longer reaches this device.
        unindex_token(txn, &previous.push_token, &own)?;
    }
    let holder = txn
        .open_table(PUSH_TOKENS)
        .map_err(backend)?
        .get(token)
        .map_err(backend)?
        .map(|h| h.value().to_owned());
    if let Some(holder) = holder.filter(|h| *h != own) {
        // The token belongs to whoever registered it last; the device that had it can no
        // longer be reached through it, so it goes.
        if read_device(txn, &holder)?.is_some_and(|row| row.push_token == token) {
            txn.open_table(PUSH_DEVICES)
                .map_err(backend)?
                .remove(holder.as_str())
                .map_err(backend)?;
            registration.token_taken_from.push(owner_of(&holder)?);
        }
    }
    txn.open_table(PUSH_DEVICES)
        .map_err(backend)?
        .insert(own.as_str(), encode(&Row::of(device))?.as_slice())
        .map_err(backend)?;
    txn.open_table(PUSH_TOKENS)
        .map_err(backend)?
        .insert(token, own.as_str())
        .map_err(backend)?;

    let mut others: Vec<(String, Row)> = {
        let table = txn.open_table(PUSH_DEVICES).map_err(backend)?;
        devices_of(&table, user)?
    };
    others.retain(|(id, _)| *id != device.device_id);
    let keep = max_devices.saturating_sub(1);
    if others.len() > keep {
        others.sort_by(|(a_id, a), (b_id, b)| (a.updated_at, a_id).cmp(&(b.updated_at, b_id)));
        let excess = others.len() - keep;
        for (device_id, _) in others.into_iter().take(excess) {
            remove_device(txn, &key(&[&user.to_string(), &device_id]))?;
            registration.evicted.push(device_id);
        }
    }
    Ok(registration)
}

fn count_push(
    txn: &WriteTransaction,
    user: UserId,
    day: i32,
    kind: &str,
) -> Result<u32, StoreError> {
    let id = user.to_string();
    let mut counts = txn.open_table(PUSH_COUNTS).map_err(backend)?;
    // The embedded store has no TTL: a write clears the user's days that are past keeping.
    let (start, end) = prefix_range(&id);
    let stale: Vec<String> = counts
        .range(start.as_str()..end.as_str())
        .map_err(backend)?
        .filter_map(|entry| entry.ok().map(|(k, _)| k.value().to_owned()))
        .filter(|k| {
            k.split(KEY_SEPARATOR)
                .nth(1)
                .and_then(|d| d.parse::<i32>().ok())
                .is_some_and(|d| d < day.saturating_sub(COUNT_DAYS_KEPT))
        })
        .collect();
    for stale in stale {
        counts.remove(stale.as_str()).map_err(backend)?;
    }
    let row = key(&[&id, &day.to_string(), kind]);
    let count = counts
        .get(row.as_str())
        .map_err(backend)?
        .map_or(0, |c| c.value())
        .saturating_add(1);
    counts.insert(row.as_str(), count).map_err(backend)?;
    Ok(count)
}

#[async_trait]
impl PushStore for EmbeddedStore {
    async fn put_device(
        &self,
        user: UserId,
        device: &PushDevice,
        max_devices: usize,
    ) -> Result<DeviceRegistration, StoreError> {
        let device = device.clone();
        self.write("put_device", move |txn| {
            put_device(txn, user, &device, max_devices)
        })
        .await
    }

    async fn devices(&self, user: UserId) -> Result<Vec<PushDevice>, StoreError> {
        self.read("devices", move |txn| {
            let table = txn.open_table(PUSH_DEVICES).map_err(backend)?;
            let mut devices = devices_of(&table, user)?
                .into_iter()
                .map(|(id, row)| row.device(&id))
                .collect::<Result<Vec<_>, _>>()?;
            devices.sort_by(|a, b| (b.updated_at, &a.device_id).cmp(&(a.updated_at, &b.device_id)));
            Ok(devices)
        })
        .await
    }

    async fn delete_device(&self, user: UserId, device_id: &str) -> Result<bool, StoreError> {
        let own = key(&[&user.to_string(), device_id]);
        self.write("delete_device", move |txn| remove_device(txn, &own))
            .await
    }

    async fn delete_device_token(
        &self,
        user: UserId,
        device_id: &str,
        push_token: &str,
    ) -> Result<bool, StoreError> {
        let own = key(&[&user.to_string(), device_id]);
        let push_token = push_token.to_owned();
        self.write("delete_device_token", move |txn| {
            match read_device(txn, &own)? {
                Some(row) if row.push_token == push_token => remove_device(txn, &own),
                _ => Ok(false),
            }
        })
        .await
    }

    async fn device_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DevicePage, StoreError> {
        let after = after.map(key_of_cursor).transpose()?;
        // A page of nothing would hand back the cursor it got and never end a scan.
        let limit = limit.max(1);
        self.read("device_page", move |txn| {
            let table = txn.open_table(PUSH_DEVICES).map_err(backend)?;
            let start = match &after {
                Some(last) => Bound::Excluded(last.as_str()),
                None => Bound::Unbounded,
            };
            let mut page = DevicePage::default();
            let mut last_key = None;
            for entry in table
                .range::<&str>((start, Bound::Unbounded))
                .map_err(backend)?
            {
                let (k, v) = entry.map_err(backend)?;
                if page.devices.len() == limit {
                    // One more exists: the page is not the last.
                    page.next = last_key.as_deref().map(cursor_of);
                    break;
                }
                let (user, device_id) = owner_of(k.value())?;
                page.devices.push(OwnedDevice {
                    user,
                    device: decode::<Row>(v.value())?.device(&device_id)?,
                });
                last_key = Some(k.value().to_owned());
            }
            Ok(page)
        })
        .await
    }

    async fn notification_settings(&self, user: UserId) -> Result<Option<String>, StoreError> {
        self.read("notification_settings", move |txn| {
            let table = txn.open_table(NOTIFICATION_SETTINGS).map_err(backend)?;
            let row = table.get(user.to_string().as_str()).map_err(backend)?;
            Ok(row.map(|r| r.value().to_owned()))
        })
        .await
    }

    async fn put_notification_settings(&self, user: UserId, doc: &str) -> Result<(), StoreError> {
        let doc = doc.to_owned();
        self.write("put_notification_settings", move |txn| {
            txn.open_table(NOTIFICATION_SETTINGS)
                .map_err(backend)?
                .insert(user.to_string().as_str(), doc.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn count_push(&self, user: UserId, day: i32, kind: &str) -> Result<u32, StoreError> {
        let kind = kind.to_owned();
        self.write("count_push", move |txn| count_push(txn, user, day, &kind))
            .await
    }

    /// One commit for the whole batch: a commit is an fsync, and a fan-out counts a page.
    async fn count_pushes(
        &self,
        pushes: &[(UserId, i32)],
        kind: &str,
    ) -> Result<Vec<u32>, StoreError> {
        let (pushes, kind) = (pushes.to_vec(), kind.to_owned());
        self.write("count_pushes", move |txn| {
            pushes
                .iter()
                .map(|(user, day)| count_push(txn, *user, *day, &kind))
                .collect()
        })
        .await
    }
}
