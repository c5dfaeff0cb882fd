//! One-time account tokens in the scylla store. Taking one is a lightweight transaction
//! that names the taker, so a take whose outcome timed out can tell whether it won.

use async_trait::async_trait;
use fitpulse_actors::domain::{Email, UserId};
use fitpulse_actors::ports::accounts::{AccountToken, AccountTokenPurpose, AccountTokenStore};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt, ttl_until};

pub(super) struct Statements {
    insert: PreparedStatement,
    token: PreparedStatement,
    take: PreparedStatement,
    taken_by_serial: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            insert: prepare(
                session,
                "INSERT INTO account_tokens (hash, purpose, user_id, email, expires_at) \
                 VALUES (?, ?, ?, ?, ?) USING TTL ?",
            )
            .await?,
            token: prepare(
                session,
                "SELECT purpose, user_id, email, expires_at, taken_by FROM account_tokens \
                 WHERE hash = ?",
            )
            .await?,
            // The purpose condition fails on a missing row, so a take never creates one.
            take: prepare(
                session,
                "UPDATE account_tokens USING TTL ? SET taken_by = ? WHERE hash = ? \
                 IF purpose = ? AND taken_by = null",
            )
            .await?,
            taken_by_serial: prepare_serial(
                session,
                "SELECT taken_by FROM account_tokens WHERE hash = ?",
            )
            .await?,
        })
    }
}

type TokenRow = (
    Option<String>,
    Option<Uuid>,
    Option<String>,
    Option<CqlTimestamp>,
    Option<Uuid>,
);

#[async_trait]
impl AccountTokenStore for ScyllaStore {
    async fn insert_account_token(&self, token: &AccountToken) -> Result<(), StoreError> {
        self.ops
            .time("insert_account_token", async {
                let values = (
                    &token.hash,
                    token.purpose.as_str(),
                    token.user.as_uuid(),
                    token.email.as_str(),
                    CqlTimestamp(token.expires_at),
                    ttl_until(token.expires_at),
                );
                self.exec(&self.account_token_statements.insert, values)
                    .await
            })
            .await
    }

    async fn take_account_token(&self, hash: &str) -> Result<Option<AccountToken>, StoreError> {
        self.ops
            .time("take_account_token", async {
                let st = &self.account_token_statements;
                let Some((Some(purpose), Some(user), Some(email), Some(expires_at), None)) =
                    self.maybe_row::<TokenRow>(&st.token, (hash,)).await?
                else {
                    return Ok(None);
                };
                let corrupt =
                    |what: &str| StoreError::backend(std::io::Error::other(what.to_owned()));
                let token = AccountToken {
                    hash: hash.to_owned(),
                    purpose: AccountTokenPurpose::parse(&purpose)
                        .ok_or_else(|| corrupt("stored token purpose"))?,
                    user: UserId::from_uuid(user),
                    email: Email::parse(&email).map_err(|_| corrupt("stored token email"))?,
                    expires_at: expires_at.0,
                };
                let taker = Uuid::new_v4();
                let values = (ttl_until(token.expires_at), taker, hash, purpose.as_str());
                let won = match run_lwt(&self.session, &st.take, values).await? {
                    Lwt::Applied => true,
                    Lwt::NotApplied => false,
                    Lwt::Unknown => {
                        self.maybe_row::<(Option<Uuid>,)>(&st.taken_by_serial, (hash,))
                            .await?
                            .and_then(|(t,)| t)
                            == Some(taker)
                    }
                };
                Ok(won.then_some(token))
            })
            .await
    }
}
