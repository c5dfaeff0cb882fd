//! Users in the embedded store: records by id, plus email and device indexes whose
//! uniqueness the single writer guarantees.

use async_trait::async_trait;
use std::collections::BTreeSet;

use fitpulse_actors::domain::{DeviceId, Email, Role, UserId};
use fitpulse_actors::ports::store::{ProfileUpdate, StoreError, UserRecord, UserStore};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::{
    ENTITLEMENTS, EmbeddedStore, USERS, USERS_BY_DEVICE, USERS_BY_EMAIL, backend, decode, encode,
    prefix_range,
};

fn read_user(txn: &ReadTransaction, id: &str) -> Result<Option<UserRecord>, StoreError> {
    let users = txn.open_table(USERS).map_err(backend)?;
    let row = users.get(id).map_err(backend)?;
    row.map(|bytes| decode(bytes.value())).transpose()
}

fn load_for_write(txn: &WriteTransaction, id: &str) -> Result<Option<UserRecord>, StoreError> {
    let users = txn.open_table(USERS).map_err(backend)?;
    let row = users.get(id).map_err(backend)?;
    row.map(|bytes| decode(bytes.value())).transpose()
}

fn save(txn: &WriteTransaction, user: &UserRecord) -> Result<(), StoreError> {
    let mut users = txn.open_table(USERS).map_err(backend)?;
    let bytes = encode(user)?;
    users
        .insert(user.id.to_string().as_str(), bytes.as_slice())
        .map_err(backend)?;
    Ok(())
}

/// Points `index[name]` at `id`, refusing if another user holds it.
fn claim(
    txn: &WriteTransaction,
    index: redb::TableDefinition<&str, &str>,
    name: &str,
    id: &str,
    what: &'static str,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(index).map_err(backend)?;
    if let Some(owner) = table.get(name).map_err(backend)?
        && owner.value() != id
    {
        return Err(StoreError::Conflict { what });
    }
    table.insert(name, id).map_err(backend)?;
    Ok(())
}

fn release(
    txn: &WriteTransaction,
    index: redb::TableDefinition<&str, &str>,
    name: &str,
    id: &str,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(index).map_err(backend)?;
    let owned = table
        .get(name)
        .map_err(backend)?
        .is_some_and(|o| o.value() == id);
    if owned {
        table.remove(name).map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl UserStore for EmbeddedStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let user = user.clone();
        self.write("create_user", move |txn| {
            let id = user.id.to_string();
            if load_for_write(txn, &id)?.is_some() {
                return Err(StoreError::Conflict { what: "user id" });
            }
            if let Some(email) = &user.email {
                claim(txn, USERS_BY_EMAIL, email.as_str(), &id, "email")?;
            }
            if let Some(device) = &user.device_id {
                claim(txn, USERS_BY_DEVICE, device.as_str(), &id, "device")?;
            }
            save(txn, &user)
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.read("user_by_id", move |txn| read_user(txn, &id.to_string()))
            .await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let email = email.clone();
        self.read("user_by_email", move |txn| {
            let index = txn.open_table(USERS_BY_EMAIL).map_err(backend)?;
            match index.get(email.as_str()).map_err(backend)? {
                Some(id) => read_user(txn, id.value()),
                None => Ok(None),
            }
        })
        .await
    }

    async fn user_by_device(&self, device: &DeviceId) -> Result<Option<UserRecord>, StoreError> {
        let device = device.clone();
        self.read("user_by_device", move |txn| {
            let index = txn.open_table(USERS_BY_DEVICE).map_err(backend)?;
            match index.get(device.as_str()).map_err(backend)? {
                Some(id) => read_user(txn, id.value()),
                None => Ok(None),
            }
        })
        .await
    }

    async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
    ) -> Result<Option<UserRecord>, StoreError> {
        let update = update.clone();
        self.write("update_profile", move |txn| {
            let Some(mut user) = load_for_write(txn, &id.to_string())? else {
                return Ok(None);
            };
            if let Some(name) = update.display_name {
                user.display_name = name;
            }
            if let Some(locale) = update.locale {
                user.locale = locale;
            }
            if let Some(units) = update.units {
                user.units = units;
            }
            if let Some(zone) = update.timezone {
                user.timezone = Some(zone);
            }
            save(txn, &user)?;
            Ok(Some(user))
        })
        .await
    }

    async fn attach_email(
        &self,
        id: UserId,
        email: &Email,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let (email, hash) = (email.clone(), password_hash.to_owned());
        self.write("attach_email", move |txn| {
            let key = id.to_string();
            let Some(mut user) = load_for_write(txn, &key)? else {
                return Ok(false);
            };
            claim(txn, USERS_BY_EMAIL, email.as_str(), &key, "email")?;
            if let Some(device) = user.device_id.take() {
                release(txn, USERS_BY_DEVICE, device.as_str(), &key)?;
            }
            user.email = Some(email);
            user.password_hash = Some(hash);
            save(txn, &user)?;
            Ok(true)
        })
        .await
    }

    async fn set_roles(&self, id: UserId, roles: &BTreeSet<Role>) -> Result<bool, StoreError> {
        let roles = roles.clone();
        self.write("set_roles", move |txn| {
            let Some(mut user) = load_for_write(txn, &id.to_string())? else {
                return Ok(false);
            };
            user.roles = roles;
            save(txn, &user)?;
            Ok(true)
        })
        .await
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<bool, StoreError> {
        let hash = password_hash.to_owned();
        self.write("set_password", move |txn| {
            let Some(mut user) = load_for_write(txn, &id.to_string())? else {
                return Ok(false);
            };
            user.password_hash = Some(hash);
            save(txn, &user)?;
            Ok(true)
        })
        .await
    }

    async fn verify_email(&self, id: UserId, email: &Email) -> Result<bool, StoreError> {
        let email = email.clone();
        self.write("verify_email", move |txn| {
            let Some(mut user) = load_for_write(txn, &id.to_string())? else {
                return Ok(false);
            };
            if user.email.as_ref() != Some(&email) {
                return Ok(false);
            }
            user.email_verified = true;
            save(txn, &user)?;
            Ok(true)
        })
        .await
    }

    async fn change_email(&self, id: UserId, email: &Email) -> Result<bool, StoreError> {
        let email = email.clone();
        self.write("change_email", move |txn| {
            let key = id.to_string();
            let Some(mut user) = load_for_write(txn, &key)? else {
                return Ok(false);
            };
            if user.email.as_ref() == Some(&email) {
                return Ok(true);
            }
            claim(txn, USERS_BY_EMAIL, email.as_str(), &key, "email")?;
            if let Some(old) = user.email.take() {
                release(txn, USERS_BY_EMAIL, old.as_str(), &key)?;
            }
            user.email = Some(email);
            user.email_verified = false;
            save(txn, &user)?;
            Ok(true)
        })
        .await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.write("delete_user", move |txn| {
            let key = id.to_string();
            let Some(user) = load_for_write(txn, &key)? else {
                return Ok(false);
            };
            if let Some(email) = &user.email {
                release(txn, USERS_BY_EMAIL, email.as_str(), &key)?;
            }
            if let Some(device) = &user.device_id {
                release(txn, USERS_BY_DEVICE, device.as_str(), &key)?;
            }
            let mut entitlements = txn.open_table(ENTITLEMENTS).map_err(backend)?;
            let (start, end) = prefix_range(&key);
            entitlements
                .retain_in(start.as_str()..end.as_str(), |_, _| false)
                .map_err(backend)?;
            let mut users = txn.open_table(USERS).map_err(backend)?;
            users.remove(key.as_str()).map_err(backend)?;
            Ok(true)
        })
        .await
    }
}
