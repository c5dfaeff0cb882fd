//! Users in the embedded store: records by id, and an email index whose uniqueness the
//! single writer guarantees.

use async_trait::async_trait;
use fitpulse_actors::domain::{Email, UserId};
use fitpulse_actors::ports::store::{StoreError, UserRecord, UserStore};
use redb::ReadableTable;

use super::{EmbeddedStore, USERS, USERS_BY_EMAIL, backend};

#[async_trait]
impl UserStore for EmbeddedStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let user = user.clone();
        self.write("create_user", move |txn| {
            let id = user.id.to_string();
            let mut by_email = txn.open_table(USERS_BY_EMAIL).map_err(backend)?;
            if let Some(email) = &user.email {
                if by_email.get(email.as_str()).map_err(backend)?.is_some() {
                    return Err(StoreError::Conflict { what: "email" });
                }
                by_email
                    .insert(email.as_str(), id.as_str())
                    .map_err(backend)?;
            }
            let mut users = txn.open_table(USERS).map_err(backend)?;
            if users.get(id.as_str()).map_err(backend)?.is_some() {
                return Err(StoreError::Conflict { what: "user id" });
            }
            let bytes = serde_json::to_vec(&user).map_err(StoreError::backend)?;
            users
                .insert(id.as_str(), bytes.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.read("user_by_id", move |txn| {
            let users = txn.open_table(USERS).map_err(backend)?;
            let row = users.get(id.to_string().as_str()).map_err(backend)?;
            row.map(|bytes| serde_json::from_slice(bytes.value()).map_err(StoreError::backend))
                .transpose()
        })
        .await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<UserRecord>, StoreError> {
        let email = email.clone();
        self.read("user_by_email", move |txn| {
            let by_email = txn.open_table(USERS_BY_EMAIL).map_err(backend)?;
            let Some(id) = by_email.get(email.as_str()).map_err(backend)? else {
                return Ok(None);
            };
            let users = txn.open_table(USERS).map_err(backend)?;
            let row = users.get(id.value()).map_err(backend)?;
            row.map(|bytes| serde_json::from_slice(bytes.value()).map_err(StoreError::backend))
                .transpose()
        })
        .await
    }
}
