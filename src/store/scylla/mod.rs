//! The scylla store: ScyllaDB or Apache Cassandra through the scylla driver, with prepared
//! statements, the schema of `cql/` (applied by `migrate`), and configurable contact points,
//! keyspace, consistency and timeouts.
//!
//! Lightweight transactions (unique emails, one like per user, idempotency keys) read the
//! `[applied]` column untyped, because Cassandra and ScyllaDB return different extra
//! columns. A LWT whose outcome is unknown (a CAS timeout) is settled by reading back at
//! SERIAL consistency and checking whose token the row holds.

mod account_tokens;
mod audit;
mod community;
mod content;
mod drops;
mod entitlements;
mod erasure;
mod feed;
mod idempotency;
mod identities;
mod likes;
mod live;
mod messages;
pub mod migrate;
mod outbox;
mod plans;
mod push;
mod refresh_tokens;
mod replays;
mod revocations;
mod saves;
mod subscriptions;
mod users;
mod workouts;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fitpulse_actors::ports::store::{HealthCheck, StoreError};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError, WriteType};
use scylla::response::query_result::QueryResult;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::{CqlTimestamp, CqlValue, Row};

use super::timed::OpMetrics;
use crate::config::ScyllaSettings;
use crate::metrics::Metrics;

/// The backend's name in metrics and logs.
pub const BACKEND: &str = "scylla";

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach the CQL cluster at {nodes}")]
    Unreachable {
        nodes: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the keyspace `{keyspace}` is missing or not migrated: run `fitpulse migrate`")]
    NotMigrated {
        keyspace: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("cannot prepare a statement")]
    Prepare(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub struct ScyllaStore {
    session: Arc<Session>,
    statements: users::Statements,
    like_statements: likes::Statements,
    idempotency_statements: idempotency::Statements,
    refresh_statements: refresh_tokens::Statements,
    account_token_statements: account_tokens::Statements,
    identity_statements: identities::Statements,
    audit_statements: audit::Statements,
    revocation_statements: revocations::Statements,
    entitlement_statements: entitlements::Statements,
    feed_statements: feed::Statements,
    plan_statements: plans::Statements,
    live_statements: live::Statements,
    save_statements: saves::Statements,
    content_statements: content::Statements,
    subscription_statements: subscriptions::Statements,
    outbox_statements: outbox::Statements,
    drop_statements: drops::Statements,
    message_statements: messages::Statements,
    community_statements: community::Statements,
    push_statements: push::Statements,
    workout_statements: workouts::Statements,
    replay_statements: replays::Statements,
    /// Feed appends nobody waits for, in flight at once
    /// (`store.scylla.background_appends_in_flight`).
    appends_behind: tokio::sync::Semaphore,
    ops: OpMetrics,
}

/// Opens a session to the cluster without selecting a keyspace (used by `migrate`).
pub async fn open_session(settings: &ScyllaSettings) -> Result<Session, ConnectError> {
    let profile = ExecutionProfile::builder()
        .consistency(consistency(&settings.consistency))
        .serial_consistency(Some(SerialConsistency::Serial))
        .request_timeout(Some(Duration::from_millis(settings.request_timeout_ms)))
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&settings.nodes)
        .connection_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .default_execution_profile_handle(profile.into_handle());
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.user(user, password.expose());
    }
    let unreachable =
        |source: Box<dyn std::error::Error + Send + Sync>| ConnectError::Unreachable {
            nodes: settings.nodes.join(","),
            source,
        };
    // The driver retries contact points on its own; bound the whole attempt.
    let deadline = Duration::from_millis(settings.connect_timeout_ms.saturating_mul(2));
    tokio::time::timeout(deadline, builder.build())
        .await
        .map_err(|elapsed| unreachable(Box::new(elapsed)))?
        .map_err(|err| unreachable(Box::new(err)))
}

impl ScyllaStore {
    /// Connects, enters the keyspace, checks that every migration is applied and prepares
    /// the statements. Fails fast when the cluster cannot be reached.
    pub async fn connect(
        settings: &ScyllaSettings,
        metrics: &Metrics,
    ) -> Result<Self, ConnectError> {
        let session = open_session(settings).await?;
        let not_migrated =
            |source: Option<Box<dyn std::error::Error + Send + Sync>>| ConnectError::NotMigrated {
                keyspace: settings.keyspace.clone(),
                source,
            };
        session
            .use_keyspace(&settings.keyspace, true)
            .await
            .map_err(|e| not_migrated(Some(Box::new(e))))?;
        match migrate::pending(&session).await {
            Ok(pending) if pending.is_empty() => {}
            Ok(_) => return Err(not_migrated(None)),
            Err(err) => return Err(not_migrated(Some(Box::new(err)))),
        }
        Ok(ScyllaStore {
            statements: users::Statements::prepare(&session).await?,
            like_statements: likes::Statements::prepare(&session).await?,
            idempotency_statements: idempotency::Statements::prepare(&session).await?,
            refresh_statements: refresh_tokens::Statements::prepare(&session).await?,
            account_token_statements: account_tokens::Statements::prepare(&session).await?,
            identity_statements: identities::Statements::prepare(&session).await?,
            audit_statements: audit::Statements::prepare(&session).await?,
            revocation_statements: revocations::Statements::prepare(&session).await?,
            entitlement_statements: entitlements::Statements::prepare(&session).await?,
            feed_statements: feed::Statements::prepare(&session).await?,
            plan_statements: plans::Statements::prepare(&session).await?,
            live_statements: live::Statements::prepare(&session).await?,
            save_statements: saves::Statements::prepare(&session).await?,
            content_statements: content::Statements::prepare(&session).await?,
            subscription_statements: subscriptions::Statements::prepare(&session).await?,
            outbox_statements: outbox::Statements::prepare(&session).await?,
            drop_statements: drops::Statements::prepare(&session).await?,
            message_statements: messages::Statements::prepare(&session).await?,
            community_statements: community::Statements::prepare(&session).await?,
            push_statements: push::Statements::prepare(&session).await?,
            workout_statements: workouts::Statements::prepare(&session).await?,
            replay_statements: replays::Statements::prepare(&session).await?,
            session: Arc::new(session),
            appends_behind: tokio::sync::Semaphore::new(
                settings.background_appends_in_flight.max(1),
            ),
            ops: OpMetrics::new(BACKEND, metrics),
        })
    }
}

/// Seconds until `expires_at`, at least one (CQL takes a TTL of zero as "no TTL"): the TTL
/// of rows that must go when what they hold expires.
fn ttl_until(expires_at: fitpulse_actors::domain::UnixMillis) -> i32 {
    let seconds = (expires_at - fitpulse_actors::domain::now_millis()).div_euclid(1000);
    i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
}

/// Prepares one statement; a failure here means the schema and the code disagree.
async fn prepare(session: &Session, cql: &str) -> Result<PreparedStatement, ConnectError> {
    session
        .prepare(cql)
        .await
        .map_err(|e| ConnectError::Prepare(Box::new(e)))
}

/// Prepares a read that must see the outcome of lightweight transactions.
async fn prepare_serial(session: &Session, cql: &str) -> Result<PreparedStatement, ConnectError> {
    let mut statement = prepare(session, cql).await?;
    statement.set_consistency(Consistency::Serial);
    Ok(statement)
}

/// Maps a configured consistency name (validated at load) to the driver's level.
fn consistency(name: &str) -> Consistency {
    match name.to_ascii_lowercase().as_str() {
        "one" => Consistency::One,
        "two" => Consistency::Two,
        "three" => Consistency::Three,
        "quorum" => Consistency::Quorum,
        "all" => Consistency::All,
        "local_one" => Consistency::LocalOne,
        _ => Consistency::LocalQuorum,
    }
}

/// The outcome of a lightweight transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lwt {
    Applied,
    NotApplied,
    /// The coordinator timed out during Paxos: the write may or may not have applied.
    Unknown,
}

/// Runs a lightweight transaction and reads its `[applied]` column without assuming the
/// rest of the row's shape.
async fn run_lwt(
    session: &Session,
    statement: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<Lwt, StoreError> {
    let result = match session.execute_unpaged(statement, values).await {
        Ok(result) => result,
        Err(err) if outcome_unknown(&err) => return Ok(Lwt::Unknown),
        Err(err) => return Err(execution_error(err)),
    };
    applied(result)
}

/// Runs a conditional batch (one partition) and reads its `[applied]` column.
/// Runs a batch whose result has no rows worth reading.
async fn run_batch(
    store: &ScyllaStore,
    batch: &scylla::statement::batch::Batch,
    values: impl scylla::serialize::batch::BatchValues,
) -> Result<(), StoreError> {
    store
        .session
        .batch(batch, values)
        .await
        .map(|_| ())
        .map_err(execution_error)
}

async fn run_lwt_batch(
    session: &Session,
    batch: &scylla::statement::batch::Batch,
    values: impl scylla::serialize::batch::BatchValues,
) -> Result<Lwt, StoreError> {
    let result = match session.batch(batch, values).await {
        Ok(result) => result,
        Err(err) if outcome_unknown(&err) => return Ok(Lwt::Unknown),
        Err(err) => return Err(execution_error(err)),
    };
    applied(result)
}

/// The `[applied]` column of a lightweight transaction's answer.
fn applied(result: scylla::response::query_result::QueryResult) -> Result<Lwt, StoreError> {
    let row: Row = decode_first_row(result).map_err(StoreError::Backend)?;
    match row.columns.first() {
        Some(Some(CqlValue::Boolean(true))) => Ok(Lwt::Applied),
        Some(Some(CqlValue::Boolean(false))) => Ok(Lwt::NotApplied),
        other => Err(StoreError::backend(std::io::Error::other(format!(
            "a lightweight transaction answered without [applied]: {other:?}"
        )))),
    }
}

/// True when a write may have been applied although the request failed.
fn outcome_unknown(err: &ExecutionError) -> bool {
    match err {
        ExecutionError::RequestTimeout(_) => true,
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => matches!(
            db,
            DbError::WriteTimeout {
                write_type: WriteType::Cas,
                ..
            }
        ),
        _ => false,
    }
}

/// Days since the epoch: the partition of the per-day indexes (classes and drops by start).
fn day_of(at: fitpulse_actors::domain::UnixMillis) -> i32 {
    i32::try_from(at.div_euclid(86_400_000)).unwrap_or(i32::MAX)
}

impl ScyllaStore {
    /// The ids a per-day index holds between `from` and `to`, day by day from `from`'s day
    /// through `last_day`, in index order; `by_day` takes (day, from, to) and answers one
    /// uuid column.
    async fn ids_by_day(
        &self,
        by_day: &PreparedStatement,
        from: fitpulse_actors::domain::UnixMillis,
        to: fitpulse_actors::domain::UnixMillis,
        last_day: i32,
    ) -> Result<Vec<uuid::Uuid>, StoreError> {
        let mut ids = Vec::new();
        for day in day_of(from)..=last_day {
            let rows: Vec<(uuid::Uuid,)> = self
                .rows(by_day, (day, CqlTimestamp(from), CqlTimestamp(to)))
                .await?;
            ids.extend(rows.into_iter().map(|(id,)| id));
        }
        Ok(ids)
    }
}

impl ScyllaStore {
    /// Runs a statement whose result has no rows worth reading.
    async fn exec(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<(), StoreError> {
        self.execute(statement, values).await.map(|_| ())
    }

    /// Runs a query and decodes every row of its (single) page as `T`.
    async fn rows<T>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        decode_rows(self.execute(statement, values).await?).map_err(StoreError::Backend)
    }

    /// Runs a query and decodes its first row as `T`, if there is one.
    async fn maybe_row<T>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Option<T>, StoreError>
    where
        T: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        decode_maybe_row(self.execute(statement, values).await?).map_err(StoreError::Backend)
    }

    /// Runs a query that always answers a row (an aggregate such as `COUNT(*)`) and
    /// decodes it as `T`; no row at all is a backend error.
    async fn first_row<T>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<T, StoreError>
    where
        T: for<'f, 'm> DeserializeRow<'f, 'm>,
    {
        decode_first_row(self.execute(statement, values).await?).map_err(StoreError::Backend)
    }

    /// Runs a statement and keeps its raw result for one of the `decode_` functions.
    async fn execute(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<QueryResult, StoreError> {
        self.session
            .execute_unpaged(statement, values)
            .await
            .map_err(execution_error)
    }
}

/// A driver error met while decoding a result, boxed the way `StoreError::Backend` and
/// `migrate::MigrateError::Ledger` hold it.
type DecodeError = Box<dyn std::error::Error + Send + Sync>;

/// Decodes every row of a result's (single) page as `T`. Works on any session, so
/// `migrate` uses it as well as the store.
fn decode_rows<T>(result: QueryResult) -> Result<Vec<T>, DecodeError>
where
    T: for<'f, 'm> DeserializeRow<'f, 'm>,
{
    let rows = result.into_rows_result()?;
    rows.rows::<T>()?
        .map(|row| row.map_err(DecodeError::from))
        .collect()
}

/// Decodes the first row of a result as `T`, if there is one.
fn decode_maybe_row<T>(result: QueryResult) -> Result<Option<T>, DecodeError>
where
    T: for<'f, 'm> DeserializeRow<'f, 'm>,
{
    Ok(result.into_rows_result()?.maybe_first_row::<T>()?)
}

/// Decodes the first row of a result as `T`; a result without rows is an error.
fn decode_first_row<T>(result: QueryResult) -> Result<T, DecodeError>
where
    T: for<'f, 'm> DeserializeRow<'f, 'm>,
{
    Ok(result.into_rows_result()?.first_row::<T>()?)
}

/// Classifies a driver error: unreachable or overloaded clusters are `Unavailable`.
fn execution_error(err: ExecutionError) -> StoreError {
    let unavailable = match &err {
        ExecutionError::RequestTimeout(_)
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::EmptyPlan => true,
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => matches!(
            db,
            DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::ReadTimeout { .. }
                | DbError::WriteTimeout { .. }
        ),
        ExecutionError::LastAttemptError(RequestAttemptError::BrokenConnectionError(_)) => true,
        _ => false,
    };
    if unavailable {
        StoreError::unavailable(err)
    } else {
        StoreError::backend(err)
    }
}

#[async_trait]
impl HealthCheck for ScyllaStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.ops
            .time("ping", async {
                self.session
                    .query_unpaged("SELECT release_version FROM system.local", ())
                    .await
                    .map(|_| ())
                    .map_err(execution_error)
            })
            .await
    }
}
