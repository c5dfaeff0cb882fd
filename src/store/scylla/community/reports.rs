//! Reports: day buckets (`reports_by_day`), plus an index of the days that hold any
//! (`report_days`), written first.

use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::community::ReportRecord;
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::cql_limit;
use crate::store::scylla::{ConnectError, ScyllaStore, day_of, prepare};

/// The one partition of `report_days`.
const REPORT_DAYS_BUCKET: i32 = 0;

pub(super) struct Statements {
    put: PreparedStatement,
    mark_day: PreparedStatement,
    days: PreparedStatement,
    of_day: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            put: prepare(
                session,
                "INSERT INTO reports_by_day (day, created_at, id, reporter_id, target_kind, \
                 target_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            mark_day: prepare(
                session,
                "INSERT INTO report_days (bucket, day) VALUES (?, ?)",
            )
            .await?,
            days: prepare(session, "SELECT day FROM report_days WHERE bucket = ?").await?,
            of_day: prepare(
                session,
                "SELECT created_at, id, reporter_id, target_kind, target_id, reason \
                 FROM reports_by_day WHERE day = ? LIMIT ?",
            )
            .await?,
        })
    }
}

type ReportRow = (CqlTimestamp, Uuid, Uuid, String, String, String);

fn statements(store: &ScyllaStore) -> &Statements {
    &store.community_statements.reports
}

pub(super) async fn put(store: &ScyllaStore, r: &ReportRecord) -> Result<(), StoreError> {
    let st = statements(store);
    let day = day_of(r.created_at);
    // The day goes into the index first: a failure after it leaves an empty bucket to
    // skip, never a report that no read can reach.
    store.exec(&st.mark_day, (REPORT_DAYS_BUCKET, day)).await?;
    let values = (
        day,
        CqlTimestamp(r.created_at),
        r.id,
        r.reporter.as_uuid(),
        r.target_kind.as_str(),
        r.target_id.as_str(),
        r.reason.as_str(),
    );
    store.exec(&st.put, values).await
}

/// The newest reports first, at most `limit`, day bucket by day bucket.
pub(super) async fn newest(
    store: &ScyllaStore,
    limit: usize,
) -> Result<Vec<ReportRecord>, StoreError> {
    let st = statements(store);
    let mut found = Vec::new();
    if limit == 0 {
        return Ok(found);
    }
    let days = store
        .rows::<(i32,)>(&st.days, (REPORT_DAYS_BUCKET,))
        .await?;
    for (day,) in days {
        let values = (day, cql_limit(limit - found.len()));
        let rows = store.rows::<ReportRow>(&st.of_day, values).await?;
        found.extend(rows.into_iter().map(
            |(created_at, id, reporter, target_kind, target_id, reason)| ReportRecord {
                id,
                reporter: UserId::from_uuid(reporter),
                target_kind,
                target_id,
                reason,
                created_at: created_at.0,
            },
        ));
        if found.len() >= limit {
            break;
        }
    }
    Ok(found)
}
