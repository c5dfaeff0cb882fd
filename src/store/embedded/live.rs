//! Live classes in the embedded store: records by id, a time index for listing windows,
//! results and reminders. State transitions check the current state inside the write
//! transaction, so of two racing transitions exactly one applies.

use async_trait::async_trait;
use fitpulse_actors::domain::{ClassId, ClassState, LiveClassRecord, UnixMillis, UserId};
use fitpulse_actors::ports::store::{LiveClassStore, StoreError};
use redb::{ReadTransaction, ReadableTable};

use super::{
    EmbeddedStore, LIVE_BY_TIME, LIVE_CLASSES, LIVE_REMINDERS, LIVE_RESULTS, backend, decode,
    encode, key, prefix_range,
};

fn time_key(at: UnixMillis, id: ClassId) -> String {
    key(&[&format!("{:020}", at.max(0)), &id.to_string()])
}

fn read_class(txn: &ReadTransaction, id: &str) -> Result<Option<LiveClassRecord>, StoreError> {
    let table = txn.open_table(LIVE_CLASSES).map_err(backend)?;
    let row = table.get(id).map_err(backend)?;
    row.map(|bytes| decode(bytes.value())).transpose()
}

#[async_trait]
impl LiveClassStore for EmbeddedStore {
    async fn create_class(&self, class: &LiveClassRecord) -> Result<(), StoreError> {
        let class = class.clone();
        self.write("create_class", move |txn| {
            let id = class.id.to_string();
            let mut classes = txn.open_table(LIVE_CLASSES).map_err(backend)?;
            if classes.get(id.as_str()).map_err(backend)?.is_some() {
                return Err(StoreError::Conflict { what: "class id" });
            }
            classes
                .insert(id.as_str(), encode(&class)?.as_slice())
                .map_err(backend)?;
            let mut by_time = txn.open_table(LIVE_BY_TIME).map_err(backend)?;
            by_time
                .insert(time_key(class.scheduled_at, class.id).as_str(), id.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn class(&self, id: ClassId) -> Result<Option<LiveClassRecord>, StoreError> {
        self.read("class", move |txn| read_class(txn, &id.to_string()))
            .await
    }

    async fn transition_class(
        &self,
        id: ClassId,
        from: ClassState,
        to: ClassState,
        at: UnixMillis,
    ) -> Result<bool, StoreError> {
        self.write("transition_class", move |txn| {
            let key = id.to_string();
            let mut classes = txn.open_table(LIVE_CLASSES).map_err(backend)?;
            let current = classes
                .get(key.as_str())
                .map_err(backend)?
                .map(|bytes| decode::<LiveClassRecord>(bytes.value()))
                .transpose()?;
            let Some(mut class) = current.filter(|c| c.state == from) else {
                return Ok(false);
            };
            class.state = to;
            match to {
                ClassState::Live => class.started_at = Some(at),
                ClassState::Ended | ClassState::Cancelled => class.ended_at = Some(at),
                ClassState::Scheduled => {}
            }
            classes
                .insert(key.as_str(), encode(&class)?.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn classes_between(
        &self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<LiveClassRecord>, StoreError> {
        self.read("classes_between", move |txn| {
            let by_time = txn.open_table(LIVE_BY_TIME).map_err(backend)?;
            let start = format!("{:020}", from.max(0));
            let end = format!("{:020}", to.max(0).saturating_add(1));
            let mut classes = Vec::new();
            for entry in by_time
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
            {
                let (_, id) = entry.map_err(backend)?;
                if let Some(class) = read_class(txn, id.value())? {
                    classes.push(class);
                }
            }
            Ok(classes)
        })
        .await
    }

    async fn put_results(&self, id: ClassId, results: &str) -> Result<(), StoreError> {
        let results = results.to_owned();
        self.write("put_results", move |txn| {
            let mut table = txn.open_table(LIVE_RESULTS).map_err(backend)?;
            table
                .insert(id.to_string().as_str(), results.as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn results(&self, id: ClassId) -> Result<Option<String>, StoreError> {
        self.read("results", move |txn| {
            let table = txn.open_table(LIVE_RESULTS).map_err(backend)?;
            let row = table.get(id.to_string().as_str()).map_err(backend)?;
            Ok(row.map(|v| v.value().to_owned()))
        })
        .await
    }

    async fn add_reminder(&self, id: ClassId, user: UserId) -> Result<(), StoreError> {
        self.write("add_reminder", move |txn| {
            let mut table = txn.open_table(LIVE_REMINDERS).map_err(backend)?;
            table
                .insert(key(&[&id.to_string(), &user.to_string()]).as_str(), ())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn remove_reminder(&self, id: ClassId, user: UserId) -> Result<(), StoreError> {
        self.write("remove_reminder", move |txn| {
            let mut table = txn.open_table(LIVE_REMINDERS).map_err(backend)?;
            table
                .remove(key(&[&id.to_string(), &user.to_string()]).as_str())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn reminders(&self, id: ClassId) -> Result<Vec<UserId>, StoreError> {
        self.read("reminders", move |txn| {
            let table = txn.open_table(LIVE_REMINDERS).map_err(backend)?;
            let (start, end) = prefix_range(&id.to_string());
            let mut users = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
                let (k, _) = entry.map_err(backend)?;
                let raw = k
                    .value()
                    .rsplit(super::KEY_SEPARATOR)
                    .next()
                    .unwrap_or_default();
                let user = raw.parse().map_err(StoreError::backend)?;
                users.push(user);
            }
            Ok(users)
        })
        .await
    }
}
