//! Users in the scylla store. A record goes in first under its fresh id (invisible until an
//! email or device claim points at it); claims are `INSERT ... IF NOT EXISTS` on their own
//! partitions, and a create that loses its claim deletes its record again. Releasing a claim
//! is conditional on still owning it, so it never removes someone else's.

use async_trait::async_trait;
use fitpulse_actors::domain::{
    DeviceId, DisplayName, Email, Locale, Role, TimeZone, Units, UserId,
};
use fitpulse_actors::ports::store::{ProfileUpdate, StoreError, UserRecord, UserStore};
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, MaybeUnset};
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};

/// The statements of one uniqueness index (`users_by_email`, `users_by_device`).
pub(super) struct Claims {
    what: &'static str,
    claim: PreparedStatement,
    release: PreparedStatement,
    owner: PreparedStatement,
    owner_serial: PreparedStatement,
}

impl Claims {
    async fn prepare(
        session: &Session,
        what: &'static str,
        table: &str,
        column: &str,
    ) -> Result<Self, ConnectError> {
        let owner = format!("SELECT user_id FROM {table} WHERE {column} = ?");
        Ok(Claims {
            what,
            claim: prepare(
                session,
                &format!("INSERT INTO {table} ({column}, user_id) VALUES (?, ?) IF NOT EXISTS"),
            )
            .await?,
            release: prepare(
                session,
                &format!("DELETE FROM {table} WHERE {column} = ? IF user_id = ?"),
            )
            .await?,
            owner: prepare(session, &owner).await?,
            owner_serial: prepare_serial(session, &owner).await?,
        })
    }
}

pub(super) struct Statements {
    insert_user: PreparedStatement,
    delete_user: PreparedStatement,
    user_by_id: PreparedStatement,
    update_profile: PreparedStatement,
    attach_email: PreparedStatement,
    set_password: PreparedStatement,
    set_roles: PreparedStatement,
    verify_email: PreparedStatement,
    change_email: PreparedStatement,
    delete_entitlements: PreparedStatement,
    emails: Claims,
    devices: Claims,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            insert_user: prepare(
                session,
                "INSERT INTO users (id, email, display_name, password_hash, roles, locale, \
                 units, device_id, created_at, email_verified, timezone) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            delete_user: prepare(session, "DELETE FROM users WHERE id = ?").await?,
            user_by_id: prepare(
                session,
                "SELECT id, email, display_name, password_hash, roles, locale, units, \
                 device_id, created_at, email_verified, timezone FROM users WHERE id = ?",
            )
            .await?,
            // Unset bind values leave their column untouched, so concurrent updates of
            // different fields do not overwrite each other.
            update_profile: prepare(
                session,
                "UPDATE users SET display_name = ?, locale = ?, units = ?, timezone = ? \
                 WHERE id = ? IF EXISTS",
            )
            .await?,
            attach_email: prepare(
                session,
                "UPDATE users SET email = ?, password_hash = ?, device_id = null, \
                 email_verified = false WHERE id = ? IF EXISTS",
            )
            .await?,
            set_roles: prepare(session, "UPDATE users SET roles = ? WHERE id = ? IF EXISTS")
                .await?,
            set_password: prepare(
                session,
                "UPDATE users SET password_hash = ? WHERE id = ? IF EXISTS",
            )
            .await?,
            // Conditional on the address, so a link for an address changed since does nothing.
            verify_email: prepare(
                session,
                "UPDATE users SET email_verified = true WHERE id = ? IF email = ?",
            )
            .await?,
            change_email: prepare(
                session,
                "UPDATE users SET email = ?, email_verified = false WHERE id = ? IF email = ?",
            )
            .await?,
            delete_entitlements: prepare(session, "DELETE FROM entitlements WHERE user_id = ?")
                .await?,
            emails: Claims::prepare(session, "email", "users_by_email", "email").await?,
            devices: Claims::prepare(session, "device", "users_by_device", "device_id").await?,
        })
    }
}

#[derive(DeserializeRow)]
struct UserRow {
    id: Uuid,
    email: Option<String>,
    display_name: Option<String>,
    password_hash: Option<String>,
    roles: Option<Vec<String>>,
    locale: Option<String>,
    units: Option<String>,
    device_id: Option<String>,
    created_at: Option<CqlTimestamp>,
    email_verified: Option<bool>,
    timezone: Option<String>,
}

impl UserRow {
    fn into_record(self) -> Result<UserRecord, StoreError> {
        let corrupt = |what: String| StoreError::backend(std::io::Error::other(what));
        let email = self
            .email
            .map(|e| Email::parse(&e).map_err(|err| corrupt(format!("stored email: {err}"))))
            .transpose()?;
        let roles = self
            .roles
            .unwrap_or_default()
            .iter()
            .map(|r| Role::parse(r).ok_or_else(|| corrupt(format!("stored role `{r}`"))))
            .collect::<Result<_, _>>()?;
        let display_name = DisplayName::stored(self.display_name.as_deref().unwrap_or_default());
        let locale = match self.locale {
            Some(l) => Locale::parse(&l).map_err(|err| corrupt(format!("stored locale: {err}")))?,
            None => Locale::default(),
        };
        let device_id = self
            .device_id
            .map(|d| DeviceId::parse(&d).map_err(|err| corrupt(format!("stored device: {err}"))))
            .transpose()?;
        Ok(UserRecord {
            id: UserId::from_uuid(self.id),
            email,
            display_name,
            password_hash: self.password_hash,
            roles,
            locale,
            units: self
                .units
                .as_deref()
                .and_then(Units::parse)
                .unwrap_or_default(),
            device_id,
            created_at: self.created_at.map_or(0, |t| t.0),
            email_verified: self.email_verified.unwrap_or(false),
            // A zone the tz database no longer knows reads as none (UTC).
            timezone: self.timezone.and_then(|z| TimeZone::parse(&z).ok()),
        })
    }
}

impl ScyllaStore {
    async fn owner(
        &self,
        claims: &Claims,
        name: &str,
        serial: bool,
    ) -> Result<Option<Uuid>, StoreError> {
        let statement = if serial {
            &claims.owner_serial
        } else {
            &claims.owner
        };
        Ok(self
            .maybe_row::<(Option<Uuid>,)>(statement, (name,))
            .await?
            .and_then(|(id,)| id))
    }

    /// Claims `name` for `id`: Ok if won (or already ours), `Conflict` if someone else
    /// holds it. An in-doubt claim is settled by a SERIAL read naming the winner.
    async fn claim(&self, claims: &Claims, name: &str, id: Uuid) -> Result<(), StoreError> {
        let won = match run_lwt(&self.session, &claims.claim, (name, id)).await? {
            Lwt::Applied => true,
            Lwt::NotApplied | Lwt::Unknown => match self.owner(claims, name, true).await? {
                Some(owner) => owner == id,
                None => {
                    return Err(StoreError::unavailable(std::io::Error::other(format!(
                        "{} claim timed out without a winner",
                        claims.what
                    ))));
                }
            },
        };
        if won {
            Ok(())
        } else {
            Err(StoreError::Conflict { what: claims.what })
        }
    }

    /// Releases `name` if `id` still holds it; a failure leaves an orphan claim, logged.
    async fn release(&self, claims: &Claims, name: &str, id: Uuid) {
        if let Err(err) = run_lwt(&self.session, &claims.release, (name, id)).await {
            tracing::warn!(user_id = %id, what = claims.what, error = %err, "could not release a claim");
        }
    }

    async fn fetch_user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        self.maybe_row::<UserRow>(&self.statements.user_by_id, (id,))
            .await?
            .map(UserRow::into_record)
            .transpose()
    }

    async fn fetch_by_claim(
        &self,
        claims: &Claims,
        name: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        match self.owner(claims, name, false).await? {
            Some(id) => self.fetch_user(id).await,
            None => Ok(None),
        }
    }

    async fn insert_record(&self, user: &UserRecord) -> Result<(), StoreError> {
        let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
        self.exec(
            &self.statements.insert_user,
            (
                user.id.as_uuid(),
                user.email.as_ref().map(Email::as_str),
                user.display_name.as_str(),
                &user.password_hash,
                roles,
                user.locale.as_str(),
                user.units.as_str(),
                user.device_id.as_ref().map(DeviceId::as_str),
                CqlTimestamp(user.created_at),
                user.email_verified,
                user.timezone.map(|z| z.as_str()),
            ),
        )
        .await
    }

    /// Runs a conditional update of one user row whose outcome must be known.
    async fn settle(
        &self,
        statement: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
        what: &str,
    ) -> Result<bool, StoreError> {
        match run_lwt(&self.session, statement, values).await? {
            Lwt::Applied => Ok(true),
            Lwt::NotApplied => Ok(false),
            Lwt::Unknown => Err(StoreError::unavailable(std::io::Error::other(format!(
                "{what} timed out"
            )))),
        }
    }

    /// Removes a record whose claim was lost; a failure leaves an unreachable row, logged.
    async fn discard_record(&self, id: Uuid) {
        if let Err(err) = self
            .session
            .execute_unpaged(&self.statements.delete_user, (id,))
            .await
        {
            tracing::warn!(user_id = %id, error = %err, "could not delete a user whose claim failed");
        }
    }
}

#[async_trait]
impl UserStore for ScyllaStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.ops
            .time("create_user", async {
                let id = user.id.as_uuid();
                self.insert_record(user).await?;
                let st = &self.statements;
                if let Some(email) = &user.email
                    && let Err(err) = self.claim(&st.emails, email.as_str(), id).await
                {
                    self.discard_record(id).await;
                    return Err(err);
                }
                if let Some(device) = &user.device_id
                    && let Err(err) = self.claim(&st.devices, device.as_str(), id).await
                {
                    if let Some(email) = &user.email {
                        self.release(&st.emails, email.as_str(), id).await;
                    }
                    self.discard_record(id).await;
                    return Err(err);
                }
                Ok(())
            })
            .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.ops
            .time("user_by_id", self.fetch_user(id.as_uuid()))
            .await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        self.ops
            .time(
                "user_by_email",
                self.fetch_by_claim(&self.statements.emails, email.as_str()),
            )
            .await
    }

    async fn user_by_device(&self, device: &DeviceId) -> Result<Option<UserRecord>, StoreError> {
        self.ops
            .time(
                "user_by_device",
                self.fetch_by_claim(&self.statements.devices, device.as_str()),
            )
            .await
    }

    async fn update_profile(
        &self,
        id: UserId,
        update: &ProfileUpdate,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.ops
            .time("update_profile", async {
                fn set(value: Option<&str>) -> MaybeUnset<&str> {
                    value.map_or(MaybeUnset::Unset, MaybeUnset::Set)
                }
                let values = (
                    set(update.display_name.as_ref().map(DisplayName::as_str)),
                    set(update.locale.as_ref().map(Locale::as_str)),
                    set(update.units.map(Units::as_str)),
                    set(update.timezone.map(|z| z.as_str())),
                    id.as_uuid(),
                );
                match run_lwt(&self.session, &self.statements.update_profile, values).await? {
                    Lwt::NotApplied => Ok(None),
                    Lwt::Applied => self.fetch_user(id.as_uuid()).await,
                    Lwt::Unknown => Err(StoreError::unavailable(std::io::Error::other(
                        "profile update timed out",
                    ))),
                }
            })
            .await
    }

    async fn attach_email(
        &self,
        id: UserId,
        email: &Email,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        self.ops
            .time("attach_email", async {
                let uuid = id.as_uuid();
                let Some(user) = self.fetch_user(uuid).await? else {
                    return Ok(false);
                };
                let st = &self.statements;
                self.claim(&st.emails, email.as_str(), uuid).await?;
                let values = (email.as_str(), password_hash, uuid);
                match run_lwt(&self.session, &st.attach_email, values).await {
                    Ok(Lwt::Applied) => {}
                    Ok(Lwt::NotApplied) => {
                        self.release(&st.emails, email.as_str(), uuid).await;
                        return Ok(false);
                    }
                    Ok(Lwt::Unknown) => {
                        return Err(StoreError::unavailable(std::io::Error::other(
                            "attaching an email timed out",
                        )));
                    }
                    Err(err) => {
                        self.release(&st.emails, email.as_str(), uuid).await;
                        return Err(err);
                    }
                }
                if let Some(device) = &user.device_id {
                    self.release(&st.devices, device.as_str(), uuid).await;
                }
                Ok(true)
            })
            .await
    }

    async fn set_roles(
        &self,
        id: UserId,
        roles: &std::collections::BTreeSet<Role>,
    ) -> Result<bool, StoreError> {
        let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        self.ops
            .time(
                "set_roles",
                self.settle(
                    &self.statements.set_roles,
                    (roles, id.as_uuid()),
                    "setting roles",
                ),
            )
            .await
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<bool, StoreError> {
        self.ops
            .time(
                "set_password",
                self.settle(
                    &self.statements.set_password,
                    (password_hash, id.as_uuid()),
                    "setting a password",
                ),
            )
            .await
    }

    async fn verify_email(&self, id: UserId, email: &Email) -> Result<bool, StoreError> {
        self.ops
            .time(
                "verify_email",
                self.settle(
                    &self.statements.verify_email,
                    (id.as_uuid(), email.as_str()),
                    "verifying an email",
                ),
            )
            .await
    }

    async fn change_email(&self, id: UserId, email: &Email) -> Result<bool, StoreError> {
        self.ops
            .time("change_email", async {
                let uuid = id.as_uuid();
                let Some(user) = self.fetch_user(uuid).await? else {
                    return Ok(false);
                };
                let Some(old) = user.email else {
                    return Ok(false);
                };
                if &old == email {
                    return Ok(true);
                }
                let st = &self.statements;
                self.claim(&st.emails, email.as_str(), uuid).await?;
                let values = (email.as_str(), uuid, old.as_str());
                match self
                    .settle(&st.change_email, values, "changing an email")
                    .await
                {
                    Ok(true) => {
                        self.release(&st.emails, old.as_str(), uuid).await;
                        Ok(true)
                    }
                    // Deleted, or changed by someone else meanwhile: the new claim goes.
                    Ok(false) => {
                        self.release(&st.emails, email.as_str(), uuid).await;
                        Ok(false)
                    }
                    Err(err) => Err(err),
                }
            })
            .await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.ops
            .time("delete_user", async {
                let uuid = id.as_uuid();
                let Some(user) = self.fetch_user(uuid).await? else {
                    return Ok(false);
                };
                let st = &self.statements;
                self.exec(&st.delete_user, (uuid,)).await?;
                if let Some(email) = &user.email {
                    self.release(&st.emails, email.as_str(), uuid).await;
                }
                if let Some(device) = &user.device_id {
                    self.release(&st.devices, device.as_str(), uuid).await;
                }
                self.exec(&st.delete_entitlements, (uuid,)).await?;
                Ok(true)
            })
            .await
    }
}
