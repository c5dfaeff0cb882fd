//! Group commit: small writes that many callers make at once (likes, plan edits, feed
//! appends) applied in one redb transaction per group, so a burst pays one commit (its
//! copy-on-write pages, checksums and fsync) instead of one each.
//!
//! A caller queues its operation and waits for its answer, which it gets only after the
//! transaction holding it committed: a write that was answered is on disk, as before.
//! Whoever finds no group in flight starts a drain task that commits what is queued, in
//! queue order, group after group until the queue is empty; callers arriving meanwhile
//! join the next group. The task is detached, so a caller that goes away (a client that
//! hung up) never strands the others.
//!
//! A group whose transaction fails is tried again one operation per transaction, so one
//! failing operation fails alone. The queue holds at most one operation per waiting
//! caller, and a group at most `MAX_GROUP`.

use std::sync::{Arc, Mutex};

use fitpulse_actors::ports::store::StoreError;
use redb::{Database, WriteTransaction};
use tokio::sync::oneshot;

use super::backend;

/// Operations committed in one transaction at most.
const MAX_GROUP: usize = 512;

/// Applies one operation inside a transaction; its answer is sent once that commits.
pub(super) type Apply<Op, T> = fn(&WriteTransaction, &Op) -> Result<T, StoreError>;

struct Job<Op, T> {
    op: Op,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

struct Queue<Op, T> {
    jobs: Vec<Job<Op, T>>,
    /// A drain task is running and will take what is queued.
    draining: bool,
}

pub(super) struct GroupCommit<Op, T> {
    db: Arc<Database>,
    queue: Mutex<Queue<Op, T>>,
    apply: Apply<Op, T>,
}

impl<Op, T> GroupCommit<Op, T>
where
    Op: Send + 'static,
    T: Send + 'static,
{
    pub fn new(db: Arc<Database>, apply: Apply<Op, T>) -> Arc<Self> {
        Arc::new(GroupCommit {
            db,
            queue: Mutex::new(Queue {
                jobs: Vec::new(),
                draining: false,
            }),
            apply,
        })
    }

    /// Queues `op` and answers once the transaction holding it committed.
    pub async fn submit(self: &Arc<Self>, op: Op) -> Result<T, StoreError> {
        let (answer, answered) = oneshot::channel();
        let start_drain = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.jobs.push(Job { op, answer });
            !std::mem::replace(&mut queue.draining, true)
        };
        if start_drain {
            // The guard exists before the task first runs: a task dropped unpolled (its
            // runtime stopping) resets the queue too.
            let guard = DrainGuard {
                commit: self.clone(),
                finished: false,
            };
            tokio::spawn(drain(guard));
        }
        answered.await.map_err(|_| {
            StoreError::backend(std::io::Error::other(
                "the group commit stopped before answering",
            ))
        })?
    }
}

/// Commits queued groups until the queue is empty.
async fn drain<Op, T>(mut guard: DrainGuard<Op, T>)
where
    Op: Send + 'static,
    T: Send + 'static,
{
    let commit = guard.commit.clone();
    loop {
        let group = {
            let mut queue = commit.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.jobs.is_empty() {
                queue.draining = false;
                guard.finished = true;
                return;
            }
            let take = queue.jobs.len().min(MAX_GROUP);
            queue.jobs.drain(..take).collect::<Vec<_>>()
        };
        let (db, apply) = (commit.db.clone(), commit.apply);
        let committed = tokio::task::spawn_blocking(move || commit_group(&db, apply, group)).await;
        if let Err(err) = committed {
            // The group's answers were dropped with it: its callers see an error.
            tracing::error!(error = %err, "a group commit panicked");
        }
    }
}

/// Unless the drain finished, the runtime dropped it (its thread stopping): whatever is
/// still queued is refused, so its callers get an error instead of waiting forever, and
/// the next caller starts a new drain.
struct DrainGuard<Op, T> {
    commit: Arc<GroupCommit<Op, T>>,
    finished: bool,
}

impl<Op, T> Drop for DrainGuard<Op, T> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut queue = self.commit.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.draining = false;
        queue.jobs.clear();
    }
}

/// Commits `group` in one transaction, or each operation alone if that fails.
fn commit_group<Op, T>(db: &Database, apply: Apply<Op, T>, group: Vec<Job<Op, T>>) {
    match in_one_transaction(db, apply, group.iter().map(|job| &job.op)) {
        Ok(answers) => {
            for (job, answer) in group.into_iter().zip(answers) {
                let _ = job.answer.send(Ok(answer));
            }
        }
        Err(err) if group.len() == 1 => {
            let job = group.into_iter().next().expect("one job");
            let _ = job.answer.send(Err(err));
        }
        Err(_) => {
            for job in group {
                let answer = in_one_transaction(db, apply, std::iter::once(&job.op))
                    .map(|mut answers| answers.pop().expect("one answer"));
                let _ = job.answer.send(answer);
            }
        }
    }
}

fn in_one_transaction<'a, Op: 'a, T>(
    db: &Database,
    apply: Apply<Op, T>,
    ops: impl Iterator<Item = &'a Op>,
) -> Result<Vec<T>, StoreError> {
    let txn = db.begin_write().map_err(backend)?;
    let answers = ops
        .map(|op| apply(&txn, op))
        .collect::<Result<Vec<_>, _>>()?;
    txn.commit().map_err(backend)?;
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, ReadableTable, TableDefinition};

    const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("counts");

    /// Adds one to a key's count; the key "fail" fails its operation.
    fn add_one(txn: &WriteTransaction, key: &String) -> Result<u64, StoreError> {
        if key == "fail" {
            return Err(StoreError::backend(std::io::Error::other("refused")));
        }
        let mut counts = txn.open_table(COUNTS).map_err(backend)?;
        let now = counts
            .get(key.as_str())
            .map_err(backend)?
            .map_or(0, |v| v.value())
            + 1;
        counts.insert(key.as_str(), now).map_err(backend)?;
        Ok(now)
    }

    fn database() -> (tempfile::TempDir, Arc<Database>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = Database::create(dir.path().join("grouped.redb")).expect("database");
        (dir, Arc::new(db))
    }

    fn count(db: &Database, key: &str) -> u64 {
        let txn = db.begin_read().expect("read");
        let counts = txn.open_table(COUNTS).expect("table");
        counts.get(key).expect("get").map_or(0, |v| v.value())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_operations_are_each_answered_after_their_commit() {
        let (_dir, db) = database();
        let grouped = GroupCommit::new(db.clone(), add_one);
        let calls = (0..300).map(|i| {
            let (grouped, db) = (grouped.clone(), db.clone());
            tokio::spawn(async move {
                let key = format!("k{}", i % 3);
                let answer = grouped.submit(key.clone()).await.expect("applied");
                // Answered only once committed: a fresh read sees at least this count.
                assert!(count(&db, &key) >= answer);
                answer
            })
        });
        let mut answers: Vec<u64> = futures_util::future::join_all(calls)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
            .collect();
        answers.sort();
        // Every operation applied exactly once, in some order: each key counted 1..=100.
        let expected: Vec<u64> = (1..=100).flat_map(|n| [n, n, n]).collect();
        assert_eq!(answers, expected);
        for key in ["k0", "k1", "k2"] {
            assert_eq!(count(&db, key), 100);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_operation_fails_alone() {
        let (_dir, db) = database();
        let grouped = GroupCommit::new(db.clone(), add_one);
        let calls = (0..50).map(|i| {
            let grouped = grouped.clone();
            let key = if i == 25 {
                "fail".to_owned()
            } else {
                "ok".to_owned()
            };
            tokio::spawn(async move { grouped.submit(key).await })
        });
        let answers: Vec<_> = futures_util::future::join_all(calls)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
            .collect();
        assert_eq!(answers.iter().filter(|a| a.is_err()).count(), 1);
        assert!(answers[25].is_err());
        assert_eq!(count(&db, "ok"), 49);
        assert_eq!(count(&db, "fail"), 0);
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_strands_nobody() {
        let (_dir, db) = database();
        let grouped = GroupCommit::new(db.clone(), add_one);
        // The first caller starts the drain and is dropped before it is polled further.
        let first = grouped.submit("k".to_owned());
        drop(futures_util::FutureExt::now_or_never(first));
        let second = grouped.submit("k".to_owned()).await.expect("applied");
        assert_eq!(second, 2, "the first caller's like was committed too");
    }

    #[test]
    fn a_drain_dropped_with_its_runtime_leaves_the_queue_usable() {
        let (_dir, db) = database();
        let grouped = GroupCommit::new(db.clone(), add_one);
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        first.block_on(async {
            let grouped = grouped.clone();
            // Queues a like and spawns the drain, which has not run when the runtime goes.
            tokio::spawn(async move { grouped.submit("k".to_owned()).await });
            tokio::task::yield_now().await;
        });
        first.shutdown_background();
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let answer = second.block_on(async {
            let submitted = grouped.submit("k".to_owned());
            tokio::time::timeout(std::time::Duration::from_secs(10), submitted).await
        });
        let count = answer
            .expect("a new drain answers; the queue was not left for a drain that is gone")
            .expect("applied");
        assert!(count >= 1);
    }
}
