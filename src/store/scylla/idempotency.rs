//! Idempotency keys in the scylla store: claimed with `INSERT ... IF NOT EXISTS` (one
//! partition per key), completed with a conditional update on the claimant's id that
//! rewrites every cell with one TTL, so a key's fields always expire together.

use async_trait::async_trait;
use fitpulse_actors::ports::store::{
    IDEMPOTENCY_TTL_SECONDS, IdempotencyClaim, IdempotencyKey, IdempotencyStore, StoreError,
    StoredResponse,
};
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};

pub(super) struct Statements {
    claim: PreparedStatement,
    read_serial: PreparedStatement,
    complete: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            claim: prepare(
                session,
                "INSERT INTO idempotency_keys (scope, key, fingerprint, claim_id) \
                 VALUES (?, ?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            read_serial: prepare_serial(
                session,
                "SELECT fingerprint, claim_id, response_status, response_body \
                 FROM idempotency_keys WHERE scope = ? AND key = ?",
            )
            .await?,
            complete: prepare(
                session,
                &format!(
                    "UPDATE idempotency_keys USING TTL {IDEMPOTENCY_TTL_SECONDS} \
                     SET fingerprint = ?, claim_id = ?, response_status = ?, response_body = ? \
                     WHERE scope = ? AND key = ? IF claim_id = ?"
                ),
            )
            .await?,
        })
    }
}

#[derive(DeserializeRow)]
struct KeyRow {
    fingerprint: Option<String>,
    claim_id: Option<Uuid>,
    response_status: Option<i32>,
    response_body: Option<String>,
}

impl KeyRow {
    fn response(&self) -> Option<StoredResponse> {
        let status = u16::try_from(self.response_status?).ok()?;
        Some(StoredResponse {
            status,
            body: self.response_body.clone().unwrap_or_default(),
        })
    }
}

impl ScyllaStore {
    async fn read_key(&self, key: &IdempotencyKey) -> Result<Option<KeyRow>, StoreError> {
        self.maybe_row(
            &self.idempotency_statements.read_serial,
            (&key.scope, &key.key),
        )
        .await
    }
}

#[async_trait]
impl IdempotencyStore for ScyllaStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<IdempotencyClaim, StoreError> {
        self.ops
            .time("idempotency_claim", async {
                let claim_id = Uuid::new_v4();
                let values = (&key.scope, &key.key, fingerprint, claim_id);
                let outcome =
                    run_lwt(&self.session, &self.idempotency_statements.claim, values).await?;
                if outcome == Lwt::Applied {
                    return Ok(IdempotencyClaim::Fresh);
                }
                let Some(row) = self.read_key(key).await? else {
                    return Err(StoreError::unavailable(std::io::Error::other(
                        "idempotency claim settled without a row",
                    )));
                };
                if outcome == Lwt::Unknown && row.claim_id == Some(claim_id) {
                    return Ok(IdempotencyClaim::Fresh);
                }
                Ok(IdempotencyClaim::Seen {
                    response: row.response(),
                    fingerprint: row.fingerprint.unwrap_or_default(),
                })
            })
            .await
    }

    async fn complete(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        self.ops
            .time("idempotency_complete", async {
                let not_claimed = || {
                    StoreError::backend(std::io::Error::other(
                        "idempotency key completed without a claim",
                    ))
                };
                let row = self.read_key(key).await?.ok_or_else(not_claimed)?;
                let claim_id = row.claim_id.ok_or_else(not_claimed)?;
                let values = (
                    row.fingerprint.unwrap_or_default(),
                    claim_id,
                    i32::from(response.status),
                    &response.body,
                    &key.scope,
                    &key.key,
                    claim_id,
                );
                match run_lwt(&self.session, &self.idempotency_statements.complete, values).await? {
                    Lwt::Applied => Ok(()),
                    Lwt::NotApplied => Err(not_claimed()),
                    Lwt::Unknown => Err(StoreError::unavailable(std::io::Error::other(
                        "completing an idempotency key timed out",
                    ))),
                }
            })
            .await
    }
}
