//! Refresh tokens in the scylla store. Tokens and family rows carry a TTL; marking a token
//! used is a lightweight transaction on the token's own partition.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::{
    RefreshRotation, RefreshTokenRecord, RefreshTokenState, RefreshTokenStore, StoreError,
};
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt, ttl_until};

/// How long a revoked family is remembered: longer than any refresh token may live.
const REVOCATION_TTL_SECONDS: i32 = 400 * 24 * 60 * 60;

pub(super) struct Statements {
    insert_token: PreparedStatement,
    register_family: PreparedStatement,
    register_user_family: PreparedStatement,
    token: PreparedStatement,
    used_by_serial: PreparedStatement,
    family_revoked: PreparedStatement,
    use_token: PreparedStatement,
    insert_rotation: PreparedStatement,
    rotation: PreparedStatement,
    revoke_family: PreparedStatement,
    user_families: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            insert_token: prepare(
                session,
                "INSERT INTO refresh_tokens (id, family_id, user_id, secret_hash, expires_at) \
                 VALUES (?, ?, ?, ?, ?) USING TTL ?",
            )
            .await?,
            register_family: prepare(
                session,
                "UPDATE refresh_families USING TTL ? SET user_id = ? WHERE family_id = ?",
            )
            .await?,
            register_user_family: prepare(
                session,
                "INSERT INTO refresh_families_by_user (user_id, family_id) VALUES (?, ?) USING TTL ?",
            )
            .await?,
            token: prepare(
                session,
                "SELECT id, family_id, user_id, secret_hash, expires_at, used_by, used_at \
                 FROM refresh_tokens WHERE id = ?",
            )
            .await?,
            used_by_serial: prepare_serial(session, "SELECT used_by FROM refresh_tokens WHERE id = ?")
                .await?,
            family_revoked: prepare(
                session,
                "SELECT user_id, revoked FROM refresh_families WHERE family_id = ?",
            )
            .await?,
            use_token: prepare(
                session,
                "UPDATE refresh_tokens USING TTL ? SET used_by = ?, used_at = ? \
                 WHERE id = ? IF used_by = null",
            )
            .await?,
            insert_rotation: prepare(
                session,
                "INSERT INTO refresh_rotations (token_id, successor, sealed_secret, at) \
                 VALUES (?, ?, ?, ?) USING TTL ?",
            )
            .await?,
            rotation: prepare(
                session,
                "SELECT sealed_secret, at FROM refresh_rotations \
                 WHERE token_id = ? AND successor = ?",
            )
            .await?,
            revoke_family: prepare(
                session,
                &format!(
                    "UPDATE refresh_families USING TTL {REVOCATION_TTL_SECONDS} SET revoked = true \
                     WHERE family_id = ?"
                ),
            )
            .await?,
            user_families: prepare(
                session,
                "SELECT family_id FROM refresh_families_by_user WHERE user_id = ?",
            )
            .await?,
        })
    }
}

#[derive(DeserializeRow)]
struct TokenRow {
    id: Uuid,
    family_id: Option<Uuid>,
    user_id: Option<Uuid>,
    secret_hash: Option<String>,
    expires_at: Option<CqlTimestamp>,
    used_by: Option<Uuid>,
    used_at: Option<CqlTimestamp>,
}

impl ScyllaStore {
    async fn revoke(&self, family: Uuid) -> Result<(), StoreError> {
        self.exec(&self.refresh_statements.revoke_family, (family,))
            .await
    }
}

#[async_trait]
impl RefreshTokenStore for ScyllaStore {
    async fn insert_refresh_token(&self, token: &RefreshTokenRecord) -> Result<(), StoreError> {
        self.ops
            .time("insert_refresh_token", async {
                let st = &self.refresh_statements;
                let ttl = ttl_until(token.expires_at);
                let user = token.user.as_uuid();
                // The family is registered first, so a stored token always has a family.
                self.exec(&st.register_family, (ttl, user, token.family))
                    .await?;
                self.exec(&st.register_user_family, (user, token.family, ttl))
                    .await?;
                self.exec(
                    &st.insert_token,
                    (
                        token.id,
                        token.family,
                        user,
                        &token.secret_hash,
                        CqlTimestamp(token.expires_at),
                        ttl,
                    ),
                )
                .await
            })
            .await
    }

    async fn refresh_token(&self, id: Uuid) -> Result<Option<RefreshTokenState>, StoreError> {
        self.ops
            .time("refresh_token", async {
                let st = &self.refresh_statements;
                let Some(row) = self.maybe_row::<TokenRow>(&st.token, (id,)).await? else {
                    return Ok(None);
                };
                // A row without its fields is a leftover of a late `used_by` write.
                let (Some(family), Some(user), Some(secret_hash), Some(expires_at)) =
                    (row.family_id, row.user_id, row.secret_hash, row.expires_at)
                else {
                    return Ok(None);
                };
                let family_revoked = match self
                    .maybe_row::<(Option<Uuid>, Option<bool>)>(&st.family_revoked, (family,))
                    .await?
                {
                    Some((Some(_), revoked)) => revoked.unwrap_or(false),
                    // A token whose family is gone cannot be trusted.
                    _ => true,
                };
                let rotation = match row.used_by {
                    Some(successor) => self
                        .maybe_row::<(Option<String>, Option<CqlTimestamp>)>(
                            &st.rotation,
                            (row.id, successor),
                        )
                        .await?
                        .and_then(|(sealed, at)| {
                            Some(RefreshRotation {
                                successor,
                                sealed_secret: sealed?,
                                at: at.or(row.used_at)?.0,
                            })
                        }),
                    None => None,
                };
                Ok(Some(RefreshTokenState {
                    record: RefreshTokenRecord {
                        id: row.id,
                        family,
                        user: UserId::from_uuid(user),
                        secret_hash,
                        expires_at: expires_at.0,
                    },
                    used: row.used_by.is_some(),
                    rotation,
                    family_revoked,
                }))
            })
            .await
    }

    async fn use_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        rotation: &RefreshRotation,
    ) -> Result<bool, StoreError> {
        self.ops
            .time("use_refresh_token", async {
                let st = &self.refresh_statements;
                let ttl = ttl_until(token.expires_at);
                let exchange = rotation.successor;
                let at = CqlTimestamp(rotation.at);
                // The rotation first: a `used_by` always has its rotation row to read.
                self.exec(
                    &st.insert_rotation,
                    (token.id, exchange, &rotation.sealed_secret, at, ttl),
                )
                .await?;
                let values = (ttl, exchange, at, token.id);
                match run_lwt(&self.session, &st.use_token, values).await? {
                    Lwt::Applied => Ok(true),
                    Lwt::NotApplied => Ok(false),
                    Lwt::Unknown => {
                        let used_by = self
                            .maybe_row::<(Option<Uuid>,)>(&st.used_by_serial, (token.id,))
                            .await?
                            .and_then(|(u,)| u);
                        Ok(used_by == Some(exchange))
                    }
                }
            })
            .await
    }

    async fn revoke_token_family(&self, family: Uuid) -> Result<(), StoreError> {
        self.ops
            .time("revoke_token_family", self.revoke(family))
            .await
    }

    async fn revoke_user_tokens(&self, user: UserId) -> Result<(), StoreError> {
        self.ops
            .time("revoke_user_tokens", async {
                let families: Vec<(Uuid,)> = self
                    .rows(&self.refresh_statements.user_families, (user.as_uuid(),))
                    .await?;
                for (family,) in families {
                    self.revoke(family).await?;
                }
                Ok(())
            })
            .await
    }
}
