//! Class timelines and replays in the scylla store (schema in
//! `cql/0020_workouts_replays.cql`).
//!
//! A class's bound on timelines is a counter row changed by lightweight transactions, the
//! way group places are: a new timeline takes a place (`IF kept = ?`) before its row is
//! written, so the class never holds more than `max` however many takers end at once. It
//! errs towards fewer: two racing writes of the same new (taker, recorded_at) both take a
//! place for one row, and a place whose transaction timed out stays taken. A count of the
//! partition before inserting would be one read cheaper but lets every racer through at
//! once, and a class's takers all finish in the same second.

use async_trait::async_trait;
use fitpulse_actors::domain::{ClassId, UnixMillis, UserId};
use fitpulse_actors::ports::replays::{ReplayRecord, ReplayStore, Timeline};
use fitpulse_actors::ports::store::StoreError;
use fitpulse_actors::ports::workouts::WorkoutKind;
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};
use crate::store::samples;

/// Rounds of a place's compare-and-set before answering `Unavailable`; each round has a
/// winner, so this bounds how many writers can race for one class.
const CAS_ATTEMPTS: usize = 50;

pub(super) struct Statements {
    timeline_exists: PreparedStatement,
    put_timeline: PreparedStatement,
    index_class: PreparedStatement,
    timelines: PreparedStatement,
    kept_serial: PreparedStatement,
    kept_first: PreparedStatement,
    kept_set: PreparedStatement,
    create: PreparedStatement,
    index_replay: PreparedStatement,
    get: PreparedStatement,
    classes_of: PreparedStatement,
    timelines_of_taker: PreparedStatement,
    replays_of: PreparedStatement,
    get_serial: PreparedStatement,
    finish: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        let replay = "SELECT class_id, user_id, created_at, finished_at FROM replays WHERE id = ?";
        Ok(Statements {
            timeline_exists: prepare(
                session,
                "SELECT recorded_at FROM class_timelines WHERE class_id = ? AND taker_id = ? \
                 AND recorded_at = ?",
            )
            .await?,
            put_timeline: prepare(
                session,
                "INSERT INTO class_timelines (class_id, taker_id, recorded_at, name, kind, \
                 output) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .await?,
            index_class: prepare(
                session,
                "INSERT INTO timeline_classes_by_user (user_id, class_id) VALUES (?, ?)",
            )
            .await?,
            timelines: prepare(
                session,
                "SELECT taker_id, recorded_at, name, kind, output FROM class_timelines \
                 WHERE class_id = ? LIMIT ?",
            )
            .await?,
            kept_serial: prepare_serial(
                session,
                "SELECT kept FROM class_timeline_counts WHERE class_id = ?",
            )
            .await?,
            kept_first: prepare(
                session,
                "INSERT INTO class_timeline_counts (class_id, kept) VALUES (?, ?) IF NOT EXISTS",
            )
            .await?,
            kept_set: prepare(
                session,
                "UPDATE class_timeline_counts SET kept = ? WHERE class_id = ? IF kept = ?",
            )
            .await?,
            create: prepare(
                session,
                "INSERT INTO replays (id, class_id, user_id, created_at) VALUES (?, ?, ?, ?) \
                 IF NOT EXISTS",
            )
            .await?,
            index_replay: prepare(
                session,
                "INSERT INTO replays_by_user (user_id, id) VALUES (?, ?)",
            )
            .await?,
            get: prepare(session, replay).await?,
            classes_of: prepare(
                session,
                "SELECT class_id FROM timeline_classes_by_user WHERE user_id = ? LIMIT ?",
            )
            .await?,
            timelines_of_taker: prepare(
                session,
                "SELECT taker_id, recorded_at, name, kind, output FROM class_timelines \
                 WHERE class_id = ? AND taker_id = ? LIMIT ?",
            )
            .await?,
            replays_of: prepare(
                session,
                "SELECT id FROM replays_by_user WHERE user_id = ? LIMIT ?",
            )
            .await?,
            get_serial: prepare_serial(session, replay).await?,
            // `user_id = ?` keeps the update from creating a row for an unknown id (a
            // missing row's columns read as null, which `finished_at = null` would match).
            finish: prepare(
                session,
                "UPDATE replays SET finished_at = ? WHERE id = ? \
                 IF finished_at = null AND user_id = ?",
            )
            .await?,
        })
    }
}

fn statements(store: &ScyllaStore) -> &Statements {
    &store.replay_statements
}

fn contended() -> StoreError {
    StoreError::unavailable(std::io::Error::other(
        "too much contention on a class's timelines; try again",
    ))
}

#[derive(DeserializeRow)]
struct TimelineRow {
    taker_id: Uuid,
    recorded_at: CqlTimestamp,
    name: Option<String>,
    kind: Option<String>,
    output: Option<Vec<u8>>,
}

impl TimelineRow {
    fn into_timeline(self) -> Result<Timeline, StoreError> {
        Ok(Timeline {
            taker: UserId::from_uuid(self.taker_id),
            name: self.name.unwrap_or_default(),
            kind: self
                .kind
                .as_deref()
                .and_then(WorkoutKind::parse)
                .ok_or_else(|| {
                    StoreError::backend(std::io::Error::other("stored timeline: kind"))
                })?,
            recorded_at: self.recorded_at.0,
            output: samples::from_bytes(self.output.as_deref().unwrap_or_default())
                .map_err(StoreError::backend)?,
        })
    }
}

type ReplayRow = (
    Option<Uuid>,
    Option<Uuid>,
    Option<CqlTimestamp>,
    Option<CqlTimestamp>,
);

fn replay_from(
    id: Uuid,
    (class, user, created_at, finished_at): ReplayRow,
) -> Option<ReplayRecord> {
    Some(ReplayRecord {
        id,
        class_id: ClassId::from_uuid(class?),
        user: UserId::from_uuid(user?),
        created_at: created_at.map_or(0, |t| t.0),
        finished_at: finished_at.map(|t| t.0),
    })
}

impl ScyllaStore {
    /// The replay `id`, if stored.
    async fn replay_row(&self, id: Uuid) -> Result<Option<ReplayRecord>, StoreError> {
        let row = self
            .maybe_row::<ReplayRow>(&statements(self).get, (id,))
            .await?;
        Ok(row.and_then(|row| replay_from(id, row)))
    }

    /// The class's kept timelines at SERIAL; `None` before its first.
    async fn kept(&self, class: Uuid) -> Result<Option<i32>, StoreError> {
        let row = self
            .maybe_row::<(Option<i32>,)>(&statements(self).kept_serial, (class,))
            .await?;
        Ok(row.map(|(n,)| n.unwrap_or(0)))
    }

    /// Takes one of the class's `max` places; false when all are taken.
    async fn take_timeline_place(&self, class: Uuid, max: usize) -> Result<bool, StoreError> {
        let st = statements(self);
        for _ in 0..CAS_ATTEMPTS {
            let taken = self.kept(class).await?;
            let now = taken.unwrap_or(0);
            if usize::try_from(now).unwrap_or(0) >= max {
                return Ok(false);
            }
            let outcome = match taken {
                None => run_lwt(&self.session, &st.kept_first, (class, 1_i32)).await?,
                Some(now) => run_lwt(&self.session, &st.kept_set, (now + 1, class, now)).await?,
            };
            match outcome {
                Lwt::Applied => return Ok(true),
                Lwt::NotApplied => continue,
                // The place may be taken: it stays taken (never over the bound), and the
                // caller retries.
                Lwt::Unknown => {
                    return Err(StoreError::unavailable(std::io::Error::other(
                        "taking a timeline place timed out",
                    )));
                }
            }
        }
        Err(contended())
    }

    /// Gives `n` of the class's places back (an erased taker's timelines).
    async fn give_timeline_places(&self, class: Uuid, n: i32) -> Result<(), StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(now) = self.kept(class).await?.filter(|k| *k > 0) else {
                return Ok(());
            };
            let values = ((now - n).max(0), class, now);
            match run_lwt(&self.session, &statements(self).kept_set, values).await? {
                Lwt::NotApplied => continue,
                // Unknown: not retried, so places are never given back twice.
                Lwt::Applied | Lwt::Unknown => return Ok(()),
            }
        }
        Err(contended())
    }

    async fn put_class_timeline(
        &self,
        class: ClassId,
        t: &Timeline,
        max: usize,
    ) -> Result<bool, StoreError> {
        let st = statements(self);
        let (c, taker, at) = (
            class.as_uuid(),
            t.taker.as_uuid(),
            CqlTimestamp(t.recorded_at),
        );
        let existing: Option<(CqlTimestamp,)> =
            self.maybe_row(&st.timeline_exists, (c, taker, at)).await?;
        if existing.is_none() && !self.take_timeline_place(c, max).await? {
            return Ok(false);
        }
        // The index first: an erasure must find every class that may hold the taker's row.
        self.exec(&st.index_class, (taker, c)).await?;
        let values = (
            c,
            taker,
            at,
            t.name.as_str(),
            t.kind.as_str(),
            samples::to_bytes(&t.output),
        );
        self.exec(&st.put_timeline, values).await?;
        Ok(true)
    }

    async fn create_replay_row(&self, r: &ReplayRecord) -> Result<(), StoreError> {
        let st = statements(self);
        let (id, user) = (r.id, r.user.as_uuid());
        // The index first: an erasure must find every replay the user may have.
        self.exec(&st.index_replay, (user, id)).await?;
        let values = (id, r.class_id.as_uuid(), user, CqlTimestamp(r.created_at));
        match run_lwt(&self.session, &st.create, values).await? {
            Lwt::Applied => Ok(()),
            Lwt::NotApplied => Err(StoreError::Conflict { what: "replay id" }),
            // Settled by whose replay the row holds.
            Lwt::Unknown => {
                let row = self.maybe_row::<ReplayRow>(&st.get_serial, (id,)).await?;
                match row.and_then(|row| replay_from(id, row)) {
                    Some(stored)
                        if stored.user == r.user
                            && stored.class_id == r.class_id
                            && stored.created_at == r.created_at =>
                    {
                        Ok(())
                    }
                    Some(_) => Err(StoreError::Conflict { what: "replay id" }),
                    None => Err(StoreError::unavailable(std::io::Error::other(
                        "creating a replay timed out",
                    ))),
                }
            }
        }
    }

    async fn finish_replay_row(&self, id: Uuid, at: UnixMillis) -> Result<bool, StoreError> {
        let st = statements(self);
        let Some(replay) = self
            .maybe_row::<ReplayRow>(&st.get, (id,))
            .await?
            .and_then(|row| replay_from(id, row))
        else {
            return Ok(false);
        };
        let values = (CqlTimestamp(at), id, replay.user.as_uuid());
        match run_lwt(&self.session, &st.finish, values).await? {
            Lwt::Applied => Ok(true),
            Lwt::NotApplied => Ok(false),
            Lwt::Unknown => Err(StoreError::unavailable(std::io::Error::other(
                "finishing a replay timed out",
            ))),
        }
    }

    /// Removes the user's timelines, giving their classes the places back, and replays,
    /// each found through the user's index; part of the erasure.
    pub(super) async fn erase_replays(&self, u: Uuid) -> Result<(), StoreError> {
        let classes: Vec<(Uuid,)> = self
            .scan(
                "SELECT class_id FROM timeline_classes_by_user WHERE user_id = ?",
                (u,),
            )
            .await?;
        for (class,) in classes {
            let rows: Vec<(CqlTimestamp,)> = self
                .scan(
                    "SELECT recorded_at FROM class_timelines WHERE class_id = ? AND taker_id = ?",
                    (class, u),
                )
                .await?;
            self.run(
                "DELETE FROM class_timelines WHERE class_id = ? AND taker_id = ?",
                (class, u),
            )
            .await?;
            let n = i32::try_from(rows.len()).unwrap_or(i32::MAX);
            if n > 0 {
                self.give_timeline_places(class, n).await?;
            }
        }
        self.run(
            "DELETE FROM timeline_classes_by_user WHERE user_id = ?",
            (u,),
        )
        .await?;
        let replays: Vec<(Uuid,)> = self
            .scan("SELECT id FROM replays_by_user WHERE user_id = ?", (u,))
            .await?;
        for (id,) in replays {
            self.run("DELETE FROM replays WHERE id = ?", (id,)).await?;
        }
        self.run("DELETE FROM replays_by_user WHERE user_id = ?", (u,))
            .await
    }
}

#[async_trait]
impl ReplayStore for ScyllaStore {
    async fn put_timeline(
        &self,
        class: ClassId,
        timeline: &Timeline,
        max: usize,
    ) -> Result<bool, StoreError> {
        self.ops
            .time(
                "put_timeline",
                self.put_class_timeline(class, timeline, max),
            )
            .await
    }

    async fn timelines(&self, class: ClassId, limit: usize) -> Result<Vec<Timeline>, StoreError> {
        self.ops
            .time("timelines", async {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let limit = i32::try_from(limit).unwrap_or(i32::MAX);
                let rows = self
                    .rows::<TimelineRow>(&statements(self).timelines, (class.as_uuid(), limit))
                    .await?;
                rows.into_iter().map(TimelineRow::into_timeline).collect()
            })
            .await
    }

    async fn create_replay(&self, replay: &ReplayRecord) -> Result<(), StoreError> {
        self.ops
            .time("create_replay", self.create_replay_row(replay))
            .await
    }

    async fn replay(&self, id: Uuid) -> Result<Option<ReplayRecord>, StoreError> {
        self.ops
            .time("replay", async { self.replay_row(id).await })
            .await
    }

    async fn finish_replay(&self, id: Uuid, at: UnixMillis) -> Result<bool, StoreError> {
        self.ops
            .time("finish_replay", self.finish_replay_row(id, at))
            .await
    }

    async fn timelines_of(
        &self,
        user: UserId,
        limit: usize,
    ) -> Result<Vec<(ClassId, Timeline)>, StoreError> {
        self.ops
            .time("timelines_of", async {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let s = statements(self);
                // Every kept class has at least one of the user's timelines.
                let most = i32::try_from(limit).unwrap_or(i32::MAX);
                let classes: Vec<(Uuid,)> =
                    self.rows(&s.classes_of, (user.as_uuid(), most)).await?;
                let mut found = Vec::new();
                for (class,) in classes {
                    let left = limit.saturating_sub(found.len());
                    if left == 0 {
                        break;
                    }
                    let left = i32::try_from(left).unwrap_or(i32::MAX);
                    let rows = self
                        .rows::<TimelineRow>(&s.timelines_of_taker, (class, user.as_uuid(), left))
                        .await?;
                    for row in rows {
                        found.push((ClassId::from_uuid(class), row.into_timeline()?));
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn replays_of(
        &self,
        user: UserId,
        limit: usize,
    ) -> Result<Vec<ReplayRecord>, StoreError> {
        self.ops
            .time("replays_of", async {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let s = statements(self);
                let limit = i32::try_from(limit).unwrap_or(i32::MAX);
                let ids: Vec<(Uuid,)> = self.rows(&s.replays_of, (user.as_uuid(), limit)).await?;
                let mut found = Vec::new();
                for (id,) in ids {
                    found.extend(self.replay_row(id).await?);
                }
                Ok(found)
            })
            .await
    }
}
