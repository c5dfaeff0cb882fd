//! The audit log in the scylla store: one partition per month, newest first; a page walks
//! back month by month, at most [`MONTHS_BACK`] of them.

use async_trait::async_trait;
use chrono::{Datelike, TimeZone, Utc};
use fitpulse_actors::domain::now_millis;
use fitpulse_actors::ports::audit::{AuditEntry, AuditStore};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, ScyllaStore, prepare};

/// How far back a page looks for entries: two years of months.
const MONTHS_BACK: u32 = 24;

pub(super) struct Statements {
    insert: PreparedStatement,
    latest: PreparedStatement,
    before: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        const COLUMNS: &str = "id, at, actor, method, route, path, status, request_id";
        Ok(Statements {
            insert: prepare(
                session,
                "INSERT INTO audit_log (month, id, at, actor, method, route, path, status, \
                 request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            latest: prepare(
                session,
                &format!("SELECT {COLUMNS} FROM audit_log WHERE month = ? LIMIT ?"),
            )
            .await?,
            before: prepare(
                session,
                &format!("SELECT {COLUMNS} FROM audit_log WHERE month = ? AND id < ? LIMIT ?"),
            )
            .await?,
        })
    }
}

type Row = (
    Uuid,
    Option<CqlTimestamp>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<String>,
);

/// `(year, month)` of a Unix millisecond time, in UTC.
fn month_of(at: i64) -> (i32, u32) {
    let time = Utc
        .timestamp_millis_opt(at)
        .single()
        .unwrap_or_else(Utc::now);
    (time.year(), time.month())
}

fn month_key((year, month): (i32, u32)) -> String {
    format!("{year:04}-{month:02}")
}

fn previous((year, month): (i32, u32)) -> (i32, u32) {
    if month == 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    }
}

/// The time a v7 uuid carries, in Unix milliseconds.
fn uuid_millis(id: Uuid) -> Option<i64> {
    let (seconds, nanos) = id.get_timestamp()?.to_unix();
    Some(seconds as i64 * 1000 + i64::from(nanos / 1_000_000))
}

#[async_trait]
impl AuditStore for ScyllaStore {
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.ops
            .time("record_audit", async {
                let values = (
                    month_key(month_of(entry.at)),
                    entry.id,
                    CqlTimestamp(entry.at),
                    &entry.actor,
                    &entry.method,
                    &entry.route,
                    &entry.path,
                    i32::from(entry.status),
                    &entry.request_id,
                );
                self.exec(&self.audit_statements.insert, values).await
            })
            .await
    }

    async fn audit_entries(
        &self,
        before: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.ops
            .time("audit_entries", async {
                let st = &self.audit_statements;
                let start = before.and_then(uuid_millis).unwrap_or_else(now_millis);
                let mut month = month_of(start.max(now_millis()));
                let mut found = Vec::new();
                for _ in 0..MONTHS_BACK {
                    let wanted = i32::try_from(limit - found.len()).unwrap_or(i32::MAX);
                    let key = month_key(month);
                    let rows: Vec<Row> = match before {
                        Some(cursor) => self.rows(&st.before, (&key, cursor, wanted)).await?,
                        None => self.rows(&st.latest, (&key, wanted)).await?,
                    };
                    found.extend(rows.into_iter().map(
                        |(id, at, actor, method, route, path, status, request_id)| AuditEntry {
                            id,
                            at: at.map_or(0, |t| t.0),
                            actor: actor.unwrap_or_default(),
                            method: method.unwrap_or_default(),
                            route: route.unwrap_or_default(),
                            path: path.unwrap_or_default(),
                            status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(0),
                            request_id,
                        },
                    ));
                    if found.len() >= limit {
                        break;
                    }
                    month = previous(month);
                }
                found.truncate(limit);
                Ok(found)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_step_back_across_a_year() {
        assert_eq!(previous((2026, 1)), (2025, 12));
        assert_eq!(month_key(previous((2026, 12))), "2026-11");
        let id = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_767_225_600,
            0,
        ));
        assert_eq!(uuid_millis(id), Some(1_767_225_600_000));
        assert_eq!(month_key(month_of(1_767_225_600_000)), "2026-01");
    }
}
