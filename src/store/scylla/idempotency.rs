//! Idempotency keys in the scylla store: claimed with `INSERT ... IF NOT EXISTS` (one
//! partition per key), completed with a conditional update on the claimant's id that
//! rewrites every cell with one TTL, so a key's fields always expire together.

use async_trait::async_trait;
use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::store::{
    IDEMPOTENCY_TTL_SECONDS, IdempotencyClaim, IdempotencyKey, IdempotencyStore, SeenKey,
    StoreError, StoredResponse,
};
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};

pub(super) struct Statements {
    claim: PreparedStatement,
    read: PreparedStatement,
    read_serial: PreparedStatement,
    complete: PreparedStatement,
    take_over: PreparedStatement,
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
            read: prepare(
                session,
                "SELECT fingerprint, claim_id, response_status, response_body \
                 FROM idempotency_keys WHERE scope = ? AND key = ?",
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
            take_over: prepare(
                session,
                &format!(
                    "UPDATE idempotency_keys USING TTL {IDEMPOTENCY_TTL_SECONDS} \
                     SET fingerprint = ?, claim_id = ? WHERE scope = ? AND key = ? \
                     IF claim_id = ? AND response_status = null"
                ),
            )
            .await?,
        })
    }
}

#[derive(DeserializeRow)]
pub(super) struct KeyRow {
    pub(super) fingerprint: Option<String>,
    pub(super) claim_id: Option<Uuid>,
    response_status: Option<i32>,
    response_body: Option<String>,
}

impl KeyRow {
    pub(super) fn response(&self) -> Option<StoredResponse> {
        let status = u16::try_from(self.response_status?).ok()?;
        Some(StoredResponse {
            status,
            body: self.response_body.clone().unwrap_or_default(),
        })
    }
}

/// What a claim found.
pub(super) enum Claimed {
    /// This caller holds the key under `claim_id`.
    Held {
        claim_id: Uuid,
    },
    Seen(KeyRow),
}

/// A claim id that carries the moment it was made (a version 7 uuid).
fn claim_id_at(at: UnixMillis) -> Uuid {
    let at = u64::try_from(at).unwrap_or(0);
    Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        at / 1000,
        ((at % 1000) * 1_000_000) as u32,
    ))
}

/// When a claim was made; `None` for ids that carry no time (claims from before).
fn claimed_at(claim_id: Uuid) -> Option<UnixMillis> {
    let (secs, nanos) = claim_id.get_timestamp()?.to_unix();
    Some(i64::try_from(secs).ok()? * 1000 + i64::from(nanos / 1_000_000))
}

impl ScyllaStore {
    /// Claims `key` at `now`; a claim older than `lease_ms` that never completed is taken
    /// over (its holder died), as is one whose time is unknown.
    pub(super) async fn claim_key(
        &self,
        key: &IdempotencyKey,
        fingerprint: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<Claimed, StoreError> {
        let st = &self.idempotency_statements;
        let claim_id = claim_id_at(now);
        let values = (&key.scope, &key.key, fingerprint, claim_id);
        let outcome = run_lwt(&self.session, &st.claim, values).await?;
        if outcome == Lwt::Applied {
            return Ok(Claimed::Held { claim_id });
        }
        let Some(row) = self.read_key(key).await? else {
            return Err(StoreError::unavailable(std::io::Error::other(
                "idempotency claim settled without a row",
            )));
        };
        if row.claim_id == Some(claim_id) {
            return Ok(Claimed::Held { claim_id });
        }
        let stale = row.response().is_none()
            && row.fingerprint.as_deref() == Some(fingerprint)
            && row
                .claim_id
                .and_then(claimed_at)
                .is_none_or(|at| at + lease_ms <= now);
        if !stale {
            return Ok(Claimed::Seen(row));
        }
        let values = (fingerprint, claim_id, &key.scope, &key.key, row.claim_id);
        match run_lwt(&self.session, &st.take_over, values).await? {
            Lwt::Applied => Ok(Claimed::Held { claim_id }),
            _ => match self.read_key(key).await? {
                Some(now_row) if now_row.claim_id == Some(claim_id) => {
                    Ok(Claimed::Held { claim_id })
                }
                Some(now_row) => Ok(Claimed::Seen(now_row)),
                None => Ok(Claimed::Seen(row)),
            },
        }
    }

    /// Stores the answer of the request holding `key` under `claim_id`.
    pub(super) async fn complete_claim(
        &self,
        key: &IdempotencyKey,
        claim_id: Uuid,
        fingerprint: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let values = (
            fingerprint,
            claim_id,
            i32::from(response.status),
            &response.body,
            &key.scope,
            &key.key,
            claim_id,
        );
        match run_lwt(&self.session, &self.idempotency_statements.complete, values).await? {
            Lwt::Applied => Ok(()),
            Lwt::NotApplied => Err(StoreError::backend(std::io::Error::other(
                "idempotency key completed without its claim",
            ))),
            Lwt::Unknown => Err(StoreError::unavailable(std::io::Error::other(
                "completing an idempotency key timed out",
            ))),
        }
    }

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
                let claim_id = claim_id_at(fitpulse_actors::domain::now_millis());
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

    async fn seen(&self, key: &IdempotencyKey) -> Result<Option<SeenKey>, StoreError> {
        self.ops
            .time("idempotency_seen", async {
                let row: Option<KeyRow> = self
                    .maybe_row(&self.idempotency_statements.read, (&key.scope, &key.key))
                    .await?;
                Ok(row.map(|row| SeenKey {
                    response: row.response(),
                    fingerprint: row.fingerprint.unwrap_or_default(),
                }))
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
