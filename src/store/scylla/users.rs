//! Users in the scylla store. The record goes in first under its fresh id (invisible until
//! its email points at it); the email is then claimed with `INSERT ... IF NOT EXISTS`, and a
//! losing create deletes its record again.

use async_trait::async_trait;
use fitpulse_actors::domain::{Email, Role, UserId};
use fitpulse_actors::ports::store::{StoreError, UserRecord, UserStore};
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, execution_error, prepare, prepare_serial, run_lwt};

pub(super) struct Statements {
    insert_user: PreparedStatement,
    delete_user: PreparedStatement,
    claim_email: PreparedStatement,
    email_owner: PreparedStatement,
    email_owner_serial: PreparedStatement,
    user_by_id: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            insert_user: prepare(
                session,
                "INSERT INTO users (id, email, display_name, password_hash, roles, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .await?,
            delete_user: prepare(session, "DELETE FROM users WHERE id = ?").await?,
            claim_email: prepare(
                session,
                "INSERT INTO users_by_email (email, user_id) VALUES (?, ?) IF NOT EXISTS",
            )
            .await?,
            email_owner: prepare(
                session,
                "SELECT user_id FROM users_by_email WHERE email = ?",
            )
            .await?,
            email_owner_serial: prepare_serial(
                session,
                "SELECT user_id FROM users_by_email WHERE email = ?",
            )
            .await?,
            user_by_id: prepare(
                session,
                "SELECT id, email, display_name, password_hash, roles, created_at \
                 FROM users WHERE id = ?",
            )
            .await?,
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
    created_at: Option<CqlTimestamp>,
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
        Ok(UserRecord {
            id: UserId::from_uuid(self.id),
            email,
            display_name: self.display_name.unwrap_or_default(),
            password_hash: self.password_hash,
            roles,
            created_at: self.created_at.map_or(0, |t| t.0),
        })
    }
}

impl ScyllaStore {
    async fn email_owner(&self, email: &str, serial: bool) -> Result<Option<Uuid>, StoreError> {
        let st = &self.statements;
        let statement = if serial {
            &st.email_owner_serial
        } else {
            &st.email_owner
        };
        let rows = self
            .session
            .execute_unpaged(statement, (email,))
            .await
            .map_err(execution_error)?
            .into_rows_result()
            .map_err(StoreError::backend)?;
        Ok(rows
            .maybe_first_row::<(Option<Uuid>,)>()
            .map_err(StoreError::backend)?
            .and_then(|(id,)| id))
    }

    async fn fetch_user(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        let rows = self
            .session
            .execute_unpaged(&self.statements.user_by_id, (id,))
            .await
            .map_err(execution_error)?
            .into_rows_result()
            .map_err(StoreError::backend)?;
        rows.maybe_first_row::<UserRow>()
            .map_err(StoreError::backend)?
            .map(UserRow::into_record)
            .transpose()
    }

    /// Removes a record whose email claim was lost; a failure leaves an unreachable row.
    async fn discard_user(&self, id: Uuid) {
        if let Err(err) = self
            .session
            .execute_unpaged(&self.statements.delete_user, (id,))
            .await
        {
            tracing::warn!(user_id = %id, error = %err, "could not delete a user whose email claim failed");
        }
    }
}

#[async_trait]
impl UserStore for ScyllaStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.ops
            .time("create_user", async {
                let id = user.id.as_uuid();
                let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
                self.session
                    .execute_unpaged(
                        &self.statements.insert_user,
                        (
                            id,
                            user.email.as_ref().map(Email::as_str),
                            &user.display_name,
                            &user.password_hash,
                            roles,
                            CqlTimestamp(user.created_at),
                        ),
                    )
                    .await
                    .map_err(execution_error)?;
                let Some(email) = &user.email else {
                    return Ok(());
                };
                let claim = run_lwt(
                    &self.session,
                    &self.statements.claim_email,
                    (email.as_str(), id),
                )
                .await;
                let won = match claim {
                    Ok(Lwt::Applied) => Ok(true),
                    Ok(Lwt::NotApplied) => Ok(false),
                    // A SERIAL read settles an in-doubt Paxos round, then names the winner.
                    Ok(Lwt::Unknown) => match self.email_owner(email.as_str(), true).await {
                        Ok(Some(owner)) => Ok(owner == id),
                        Ok(None) => Err(StoreError::unavailable(std::io::Error::other(
                            "email claim timed out without a winner",
                        ))),
                        Err(err) => Err(err),
                    },
                    Err(err) => Err(err),
                };
                match won {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        self.discard_user(id).await;
                        Err(StoreError::Conflict { what: "email" })
                    }
                    Err(err) => {
                        self.discard_user(id).await;
                        Err(err)
                    }
                }
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
            .time("user_by_email", async {
                match self.email_owner(email.as_str(), false).await? {
                    Some(id) => self.fetch_user(id).await,
                    None => Ok(None),
                }
            })
            .await
    }
}
