//! Class timelines and replays in the embedded store. A class's timelines sit under its id,
//! one per (taker, recorded_at), so counting them against the class's bound and adding one
//! happen in one write transaction and the bound is exact; each taker's classes are indexed
//! for erasure. A replay is one row by id, finished by a check inside its transaction.

use async_trait::async_trait;
use fitpulse_actors::domain::{ClassId, UnixMillis, UserId};
use fitpulse_actors::ports::replays::{ReplayRecord, ReplayStore, Timeline};
use fitpulse_actors::ports::store::StoreError;
use fitpulse_actors::ports::workouts::WorkoutKind;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    CLASS_TIMELINES, EmbeddedStore, KEY_SEPARATOR, REPLAYS, REPLAYS_BY_USER, TIMELINE_CLASSES,
    ascending, backend, decode, encode, key, prefix_range,
};
use crate::store::samples;

/// What a timeline row holds besides its key and samples.
#[derive(Serialize, Deserialize)]
struct TimelineHead {
    taker: UserId,
    name: String,
    kind: WorkoutKind,
    recorded_at: UnixMillis,
}

fn timeline_key(class: ClassId, taker: UserId, recorded_at: UnixMillis) -> String {
    key(&[
        &class.to_string(),
        &taker.to_string(),
        &ascending(recorded_at),
    ])
}

/// A timeline row: the head's length (u32, little-endian), the head as JSON, then the
/// samples as [`samples::to_bytes`] lays them out, so an hour of output stays ~14 KiB.
fn timeline_bytes(t: &Timeline) -> Result<Vec<u8>, StoreError> {
    let head = encode(&TimelineHead {
        taker: t.taker,
        name: t.name.clone(),
        kind: t.kind,
        recorded_at: t.recorded_at,
    })?;
    let len = u32::try_from(head.len()).map_err(StoreError::backend)?;
    let mut out = Vec::with_capacity(4 + head.len() + t.output.len() * 4);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&samples::to_bytes(&t.output));
    Ok(out)
}

fn timeline_from(bytes: &[u8]) -> Result<Timeline, StoreError> {
    let torn = || StoreError::backend(std::io::Error::other("a torn timeline row"));
    let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(torn)?;
    let len = usize::try_from(u32::from_le_bytes(*len)).map_err(StoreError::backend)?;
    let (head, output) = rest.split_at_checked(len).ok_or_else(torn)?;
    let head: TimelineHead = decode(head)?;
    Ok(Timeline {
        taker: head.taker,
        name: head.name,
        kind: head.kind,
        recorded_at: head.recorded_at,
        output: samples::from_bytes(output).map_err(StoreError::backend)?,
    })
}

#[async_trait]
impl ReplayStore for EmbeddedStore {
    async fn put_timeline(
        &self,
        class: ClassId,
        timeline: &Timeline,
        max: usize,
    ) -> Result<bool, StoreError> {
        let row_key = timeline_key(class, timeline.taker, timeline.recorded_at);
        let (bytes, taker) = (timeline_bytes(timeline)?, timeline.taker);
        self.write("put_timeline", move |txn| {
            let mut table = txn.open_table(CLASS_TIMELINES).map_err(backend)?;
            let replacing = table.get(row_key.as_str()).map_err(backend)?.is_some();
            if !replacing {
                let (start, end) = prefix_range(&class.to_string());
                let kept = table
                    .range(start.as_str()..end.as_str())
                    .map_err(backend)?
                    .take(max)
                    .count();
                if kept >= max {
                    return Ok(false);
                }
            }
            table
                .insert(row_key.as_str(), bytes.as_slice())
                .map_err(backend)?;
            txn.open_table(TIMELINE_CLASSES)
                .map_err(backend)?
                .insert(key(&[&taker.to_string(), &class.to_string()]).as_str(), ())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn timelines(&self, class: ClassId, limit: usize) -> Result<Vec<Timeline>, StoreError> {
        self.read("timelines", move |txn| {
            let table = txn.open_table(CLASS_TIMELINES).map_err(backend)?;
            let (start, end) = prefix_range(&class.to_string());
            let mut found = Vec::new();
            for entry in table
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
                .take(limit)
            {
                let (_, bytes) = entry.map_err(backend)?;
                found.push(timeline_from(bytes.value())?);
            }
            Ok(found)
        })
        .await
    }

    async fn create_replay(&self, replay: &ReplayRecord) -> Result<(), StoreError> {
        let replay = replay.clone();
        self.write("create_replay", move |txn| {
            let id = replay.id.to_string();
            let mut replays = txn.open_table(REPLAYS).map_err(backend)?;
            if replays.get(id.as_str()).map_err(backend)?.is_some() {
                return Err(StoreError::Conflict { what: "replay id" });
            }
            replays
                .insert(id.as_str(), encode(&replay)?.as_slice())
                .map_err(backend)?;
            txn.open_table(REPLAYS_BY_USER)
                .map_err(backend)?
                .insert(key(&[&replay.user.to_string(), &id]).as_str(), ())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn replay(&self, id: Uuid) -> Result<Option<ReplayRecord>, StoreError> {
        self.read("replay", move |txn| {
            let table = txn.open_table(REPLAYS).map_err(backend)?;
            let row = table.get(id.to_string().as_str()).map_err(backend)?;
            row.map(|bytes| decode(bytes.value())).transpose()
        })
        .await
    }

    async fn finish_replay(&self, id: Uuid, at: UnixMillis) -> Result<bool, StoreError> {
        self.write("finish_replay", move |txn| {
            let id = id.to_string();
            let mut replays = txn.open_table(REPLAYS).map_err(backend)?;
            let current = replays
                .get(id.as_str())
                .map_err(backend)?
                .map(|bytes| decode::<ReplayRecord>(bytes.value()))
                .transpose()?;
            let Some(mut replay) = current.filter(|r| r.finished_at.is_none()) else {
                return Ok(false);
            };
            replay.finished_at = Some(at);
            replays
                .insert(id.as_str(), encode(&replay)?.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn timelines_of(
        &self,
        user: UserId,
        limit: usize,
    ) -> Result<Vec<(ClassId, Timeline)>, StoreError> {
        self.read("timelines_of", move |txn| {
            let classes = txn.open_table(TIMELINE_CLASSES).map_err(backend)?;
            let timelines = txn.open_table(CLASS_TIMELINES).map_err(backend)?;
            let taker = user.to_string();
            let (start, end) = prefix_range(&taker);
            let mut found = Vec::new();
            for entry in classes
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
            {
                let (row, _) = entry.map_err(backend)?;
                let class_part = row.value().rsplit(KEY_SEPARATOR).next().unwrap_or_default();
                let Ok(class) = class_part.parse::<ClassId>() else {
                    continue;
                };
                let (from, to) = prefix_range(&key(&[class_part, &taker]));
                for timeline in timelines
                    .range(from.as_str()..to.as_str())
                    .map_err(backend)?
                {
                    if found.len() >= limit {
                        return Ok(found);
                    }
                    let (_, bytes) = timeline.map_err(backend)?;
                    found.push((class, timeline_from(bytes.value())?));
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
        self.read("replays_of", move |txn| {
            let index = txn.open_table(REPLAYS_BY_USER).map_err(backend)?;
            let replays = txn.open_table(REPLAYS).map_err(backend)?;
            let (start, end) = prefix_range(&user.to_string());
            let mut found = Vec::new();
            for entry in index
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
                .take(limit)
            {
                let (row, _) = entry.map_err(backend)?;
                let id = row.value().rsplit(KEY_SEPARATOR).next().unwrap_or_default();
                if let Some(bytes) = replays.get(id).map_err(backend)? {
                    found.push(decode(bytes.value())?);
                }
            }
            Ok(found)
        })
        .await
    }
}

/// Removes the user's timelines (found through their index of classes) and replays, with
/// both indexes; part of the account erasure's transaction.
pub(super) fn erase(txn: &redb::WriteTransaction, user: &str) -> Result<(), StoreError> {
    let classes = super::erasure::remove_prefix(txn, TIMELINE_CLASSES, user)?;
    for entry in classes {
        let class = entry.rsplit(KEY_SEPARATOR).next().unwrap_or_default();
        super::erasure::remove_prefix(txn, CLASS_TIMELINES, &key(&[class, user]))?;
    }
    let replays = super::erasure::remove_prefix(txn, REPLAYS_BY_USER, user)?;
    let mut table = txn.open_table(REPLAYS).map_err(backend)?;
    for entry in replays {
        let id = entry.rsplit(KEY_SEPARATOR).next().unwrap_or_default();
        table.remove(id).map_err(backend)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_row_reads_back_whole() {
        let timeline = Timeline {
            taker: UserId::random(),
            name: "Ada \u{1f}".into(),
            kind: WorkoutKind::Replay,
            recorded_at: -5,
            output: vec![0.0, 0.25, 1.0e-3, 98_765.43],
        };
        let back = timeline_from(&timeline_bytes(&timeline).expect("encode")).expect("decode");
        assert_eq!(back, timeline);
    }

    #[test]
    fn a_truncated_timeline_row_is_an_error() {
        assert!(timeline_from(&[9, 0, 0, 0, b'{']).is_err());
        assert!(timeline_from(&[1, 0]).is_err());
    }
}
