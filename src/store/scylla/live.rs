//! Live classes in the scylla store. State transitions are lightweight transactions on the
//! class's own partition (`IF state = ?`); listing a window reads one partition per day.

use async_trait::async_trait;
use fitpulse_actors::domain::{ClassId, ClassState, LiveClassRecord, UnixMillis, UserId};
use fitpulse_actors::ports::store::{LiveClassStore, StoreError};
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, day_of, prepare, run_lwt};

/// Most days one listing may span.
const MAX_DAYS: i64 = 62;

pub(super) struct Statements {
    insert: PreparedStatement,
    index: PreparedStatement,
    get: PreparedStatement,
    to_live: PreparedStatement,
    to_over: PreparedStatement,
    by_day: PreparedStatement,
    put_results: PreparedStatement,
    results: PreparedStatement,
    add_reminder: PreparedStatement,
    remove_reminder: PreparedStatement,
    reminders: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            insert: prepare(
                session,
                "INSERT INTO live_classes (id, coach_id, title, workout_id, scheduled_at, \
                 duration_minutes, premium, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 IF NOT EXISTS",
            )
            .await?,
            index: prepare(
                session,
                "INSERT INTO live_classes_by_day (day, scheduled_at, id) VALUES (?, ?, ?)",
            )
            .await?,
            get: prepare(
                session,
                "SELECT id, coach_id, title, workout_id, scheduled_at, duration_minutes, premium, \
                 state, started_at, ended_at, created_at FROM live_classes WHERE id = ?",
            )
            .await?,
            to_live: prepare(
                session,
                "UPDATE live_classes SET state = ?, started_at = ? WHERE id = ? IF state = ?",
            )
            .await?,
            to_over: prepare(
                session,
                "UPDATE live_classes SET state = ?, ended_at = ? WHERE id = ? IF state = ?",
            )
            .await?,
            by_day: prepare(
                session,
                "SELECT id FROM live_classes_by_day WHERE day = ? AND scheduled_at >= ? \
                 AND scheduled_at <= ?",
            )
            .await?,
            put_results: prepare(
                session,
                "INSERT INTO live_results (class_id, results) VALUES (?, ?)",
            )
            .await?,
            results: prepare(
                session,
                "SELECT results FROM live_results WHERE class_id = ?",
            )
            .await?,
            add_reminder: prepare(
                session,
                "INSERT INTO live_reminders (class_id, user_id) VALUES (?, ?)",
            )
            .await?,
            remove_reminder: prepare(
                session,
                "DELETE FROM live_reminders WHERE class_id = ? AND user_id = ?",
            )
            .await?,
            reminders: prepare(
                session,
                "SELECT user_id FROM live_reminders WHERE class_id = ?",
            )
            .await?,
        })
    }
}

#[derive(DeserializeRow)]
struct ClassRow {
    id: Uuid,
    coach_id: Option<Uuid>,
    title: Option<String>,
    workout_id: Option<String>,
    scheduled_at: Option<CqlTimestamp>,
    duration_minutes: Option<i32>,
    premium: Option<bool>,
    state: Option<String>,
    started_at: Option<CqlTimestamp>,
    ended_at: Option<CqlTimestamp>,
    created_at: Option<CqlTimestamp>,
}

impl ClassRow {
    fn into_record(self) -> Result<LiveClassRecord, StoreError> {
        let corrupt = |what: &str| {
            StoreError::backend(std::io::Error::other(format!("stored class: {what}")))
        };
        Ok(LiveClassRecord {
            id: ClassId::from_uuid(self.id),
            coach: UserId::from_uuid(self.coach_id.ok_or_else(|| corrupt("coach"))?),
            title: self.title.unwrap_or_default(),
            workout_id: self.workout_id,
            scheduled_at: self.scheduled_at.ok_or_else(|| corrupt("scheduled_at"))?.0,
            duration_minutes: u32::try_from(self.duration_minutes.unwrap_or(0)).unwrap_or(0),
            premium: self.premium.unwrap_or(false),
            state: self
                .state
                .as_deref()
                .and_then(ClassState::parse)
                .ok_or_else(|| corrupt("state"))?,
            started_at: self.started_at.map(|t| t.0),
            ended_at: self.ended_at.map(|t| t.0),
            created_at: self.created_at.map_or(0, |t| t.0),
        })
    }
}

impl ScyllaStore {
    async fn fetch_class(&self, id: Uuid) -> Result<Option<LiveClassRecord>, StoreError> {
        self.maybe_row::<ClassRow>(&self.live_statements.get, (id,))
            .await?
            .map(ClassRow::into_record)
            .transpose()
    }
}

#[async_trait]
impl LiveClassStore for ScyllaStore {
    async fn create_class(&self, class: &LiveClassRecord) -> Result<(), StoreError> {
        self.ops
            .time("create_class", async {
                let st = &self.live_statements;
                let values = (
                    class.id.as_uuid(),
                    class.coach.as_uuid(),
                    &class.title,
                    &class.workout_id,
                    CqlTimestamp(class.scheduled_at),
                    i32::try_from(class.duration_minutes).unwrap_or(i32::MAX),
                    class.premium,
                    class.state.as_str(),
                    CqlTimestamp(class.created_at),
                );
                if run_lwt(&self.session, &st.insert, values).await? == Lwt::NotApplied {
                    return Err(StoreError::Conflict { what: "class id" });
                }
                self.exec(
                    &st.index,
                    (
                        day_of(class.scheduled_at),
                        CqlTimestamp(class.scheduled_at),
                        class.id.as_uuid(),
                    ),
                )
                .await
            })
            .await
    }

    async fn class(&self, id: ClassId) -> Result<Option<LiveClassRecord>, StoreError> {
        self.ops.time("class", self.fetch_class(id.as_uuid())).await
    }

    async fn transition_class(
        &self,
        id: ClassId,
        from: ClassState,
        to: ClassState,
        at: UnixMillis,
    ) -> Result<bool, StoreError> {
        self.ops
            .time("transition_class", async {
                let st = &self.live_statements;
                let statement = if to == ClassState::Live {
                    &st.to_live
                } else {
                    &st.to_over
                };
                let values = (to.as_str(), CqlTimestamp(at), id.as_uuid(), from.as_str());
                match run_lwt(&self.session, statement, values).await? {
                    Lwt::Applied => Ok(true),
                    Lwt::NotApplied => Ok(false),
                    // Settle an in-doubt transition by looking at where the class stands.
                    Lwt::Unknown => Ok(self
                        .fetch_class(id.as_uuid())
                        .await?
                        .is_some_and(|c| c.state == to)),
                }
            })
            .await
    }

    async fn classes_between(
        &self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<LiveClassRecord>, StoreError> {
        self.ops
            .time("classes_between", async {
                let last_day = day_of(to).min(day_of(from).saturating_add(MAX_DAYS as i32));
                let ids = self
                    .ids_by_day(&self.live_statements.by_day, from, to, last_day)
                    .await?;
                let mut classes = Vec::new();
                for id in ids {
                    if let Some(class) = self.fetch_class(id).await? {
                        classes.push(class);
                    }
                }
                Ok(classes)
            })
            .await
    }

    async fn put_results(&self, id: ClassId, results: &str) -> Result<(), StoreError> {
        self.ops
            .time("put_results", async {
                self.exec(&self.live_statements.put_results, (id.as_uuid(), results))
                    .await
            })
            .await
    }

    async fn results(&self, id: ClassId) -> Result<Option<String>, StoreError> {
        self.ops
            .time("results", async {
                let row: Option<(Option<String>,)> = self
                    .maybe_row(&self.live_statements.results, (id.as_uuid(),))
                    .await?;
                Ok(row.and_then(|(r,)| r))
            })
            .await
    }

    async fn add_reminder(&self, id: ClassId, user: UserId) -> Result<(), StoreError> {
        self.ops
            .time("add_reminder", async {
                self.exec(
                    &self.live_statements.add_reminder,
                    (id.as_uuid(), user.as_uuid()),
                )
                .await
            })
            .await
    }

    async fn remove_reminder(&self, id: ClassId, user: UserId) -> Result<(), StoreError> {
        self.ops
            .time("remove_reminder", async {
                self.exec(
                    &self.live_statements.remove_reminder,
                    (id.as_uuid(), user.as_uuid()),
                )
                .await
            })
            .await
    }

    async fn reminders(&self, id: ClassId) -> Result<Vec<UserId>, StoreError> {
        self.ops
            .time("reminders", async {
                let rows: Vec<(Uuid,)> = self
                    .rows(&self.live_statements.reminders, (id.as_uuid(),))
                    .await?;
                Ok(rows.into_iter().map(|(u,)| UserId::from_uuid(u)).collect())
            })
            .await
    }
}
