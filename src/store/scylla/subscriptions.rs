//! Subscriptions and purchase links in the scylla store. A commit is one logged batch of
//! the subscription, its entitlement and its outbox items with their due-index entries, so
//! a state change and the side effects it causes are stored together or not at all.
//!
//! The counts by product and state are a paged scan of the whole table: no index or
//! counter table keeps them, since counter updates cannot join the commit's logged batch
//! and would drift on every retried commit. The scan reads two short columns of every
//! subscription ever stored, so it runs on one node on an interval (see
//! `commerce::census`), never on a request path.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use std::collections::BTreeMap;

use fitpulse_actors::ports::commerce::{
    SubscriptionCommit, SubscriptionCount, SubscriptionRecord, SubscriptionStore,
};
use fitpulse_actors::ports::store::StoreError;
use futures_util::TryStreamExt;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlValue};
use uuid::Uuid;

use super::outbox::{due_values, insert_values, logged_batch};
use super::{ConnectError, Lwt, ScyllaStore, execution_error, prepare, prepare_serial, run_lwt};

pub(super) struct Statements {
    put: PreparedStatement,
    list: PreparedStatement,
    get: PreparedStatement,
    link: PreparedStatement,
    owner: PreparedStatement,
    owner_serial: PreparedStatement,
    census: PreparedStatement,
}

const COLUMNS: &str = "id, product_id, state, expires_at, auto_renew, changed_at, trial";

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        const OWNER: &str = "SELECT user_id FROM purchase_links WHERE external_id = ?";
        Ok(Statements {
            put: prepare(
                session,
                &format!(
                    "INSERT INTO subscriptions (user_id, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
            )
            .await?,
            list: prepare(
                session,
                &format!("SELECT {COLUMNS} FROM subscriptions WHERE user_id = ?"),
            )
            .await?,
            get: prepare(
                session,
                &format!("SELECT {COLUMNS} FROM subscriptions WHERE user_id = ? AND id = ?"),
            )
            .await?,
            link: prepare(
                session,
                "INSERT INTO purchase_links (external_id, user_id) VALUES (?, ?) IF NOT EXISTS",
            )
            .await?,
            owner: prepare(session, OWNER).await?,
            owner_serial: prepare_serial(session, OWNER).await?,
            census: prepare(session, "SELECT product_id, state FROM subscriptions").await?,
        })
    }
}

type Row = (
    String,
    String,
    String,
    Option<CqlTimestamp>,
    Option<bool>,
    Option<CqlTimestamp>,
    Option<bool>,
);

fn to_record(user: UserId, row: Row) -> SubscriptionRecord {
    let (id, product_id, state, expires_at, auto_renew, changed_at, trial) = row;
    SubscriptionRecord {
        user,
        id,
        product_id,
        state,
        expires_at: expires_at.map(|t| t.0),
        auto_renew: auto_renew.unwrap_or(false),
        trial: trial.unwrap_or(false),
        changed_at: changed_at.map_or(0, |t| t.0),
    }
}

impl ScyllaStore {
    async fn link_owner(
        &self,
        external_id: &str,
        serial: bool,
    ) -> Result<Option<UserId>, StoreError> {
        let st = &self.subscription_statements;
        let statement = if serial { &st.owner_serial } else { &st.owner };
        Ok(self
            .maybe_row::<(Uuid,)>(statement, (external_id,))
            .await?
            .map(|(u,)| UserId::from_uuid(u)))
    }
}

#[async_trait]
impl SubscriptionStore for ScyllaStore {
    async fn commit_subscription(&self, commit: &SubscriptionCommit) -> Result<(), StoreError> {
        self.ops
            .time("commit_subscription", async {
                let sub = &commit.subscription;
                let ent = &commit.entitlement;
                let mut batch = logged_batch();
                let mut values: Vec<Vec<Option<CqlValue>>> = Vec::new();
                batch.append_statement(self.subscription_statements.put.clone());
                values.push(vec![
                    Some(CqlValue::Uuid(sub.user.as_uuid())),
                    Some(CqlValue::Text(sub.id.clone())),
                    Some(CqlValue::Text(sub.product_id.clone())),
                    Some(CqlValue::Text(sub.state.clone())),
                    sub.expires_at.map(|t| CqlValue::Timestamp(CqlTimestamp(t))),
                    Some(CqlValue::Boolean(sub.auto_renew)),
                    Some(CqlValue::Timestamp(CqlTimestamp(sub.changed_at))),
                    Some(CqlValue::Boolean(sub.trial)),
                ]);
                batch.append_statement(self.entitlement_statements.grant.clone());
                values.push(vec![
                    Some(CqlValue::Uuid(sub.user.as_uuid())),
                    Some(CqlValue::Text(ent.name.clone())),
                    ent.expires_at.map(|t| CqlValue::Timestamp(CqlTimestamp(t))),
                    Some(CqlValue::Text(ent.source.clone())),
                ]);
                for item in &commit.outbox {
                    batch.append_statement(self.outbox_statements.insert.clone());
                    values.push(insert_values(item));
                    batch.append_statement(self.outbox_statements.index_due.clone());
                    values.push(due_values(item));
                }
                self.session
                    .batch(&batch, values)
                    .await
                    .map(|_| ())
                    .map_err(execution_error)
            })
            .await
    }

    async fn subscriptions(&self, user: UserId) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.ops
            .time("subscriptions", async {
                let rows: Vec<Row> = self
                    .rows(&self.subscription_statements.list, (user.as_uuid(),))
                    .await?;
                Ok(rows.into_iter().map(|r| to_record(user, r)).collect())
            })
            .await
    }

    async fn subscription(
        &self,
        user: UserId,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.ops
            .time("subscription", async {
                Ok(self
                    .maybe_row::<Row>(&self.subscription_statements.get, (user.as_uuid(), id))
                    .await?
                    .map(|r| to_record(user, r)))
            })
            .await
    }

    async fn link_purchase(&self, external_id: &str, user: UserId) -> Result<UserId, StoreError> {
        self.ops
            .time("link_purchase", async {
                let values = (external_id, user.as_uuid());
                match run_lwt(&self.session, &self.subscription_statements.link, values).await? {
                    Lwt::Applied => Ok(user),
                    _ => self.link_owner(external_id, true).await?.ok_or_else(|| {
                        StoreError::backend(std::io::Error::other("a purchase link vanished"))
                    }),
                }
            })
            .await
    }

    async fn purchase_owner(&self, external_id: &str) -> Result<Option<UserId>, StoreError> {
        self.ops
            .time("purchase_owner", async {
                self.link_owner(external_id, false).await
            })
            .await
    }

    async fn subscription_counts(&self) -> Result<Vec<SubscriptionCount>, StoreError> {
        self.ops
            .time("subscription_counts", async {
                let mut rows = self
                    .session
                    .execute_iter(self.subscription_statements.census.clone(), ())
                    .await
                    .map_err(StoreError::unavailable)?
                    .rows_stream::<(Option<String>, Option<String>)>()
                    .map_err(StoreError::backend)?;
                let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
                while let Some((product_id, state)) =
                    rows.try_next().await.map_err(StoreError::unavailable)?
                {
                    // A row half-deleted by an erasure has lost its columns: not a subscription.
                    if let (Some(product_id), Some(state)) = (product_id, state) {
                        *counts.entry((product_id, state)).or_default() += 1;
                    }
                }
                Ok(counts
                    .into_iter()
                    .map(|((product_id, state), count)| SubscriptionCount {
                        product_id,
                        state,
                        count,
                    })
                    .collect())
            })
            .await
    }
}
