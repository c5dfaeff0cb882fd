//! `fitpulse migrate` for the scylla backend: creates the keyspace, then applies every
//! numbered file of `cql/` not yet recorded in `schema_migrations`, in order.
//!
//! Several pods may run it at once: the numbered files run under a lock row taken with a
//! lightweight transaction (with a TTL, so a crashed holder cannot block forever), and each
//! waiter re-reads the ledger once it holds the lock. Re-running is a no-op. Only the
//! bootstrap statements (keyspace, ledger and lock tables) run outside the lock; they are
//! `IF NOT EXISTS` and followed by a schema-agreement wait.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use scylla::client::session::Session;
use scylla::errors::ExecutionError;
use uuid::Uuid;

use super::{Lwt, decode_maybe_row, decode_rows, run_lwt};
use crate::config::ScyllaSettings;

/// One numbered CQL file, compiled into the binary so deployments need no `cql/` folder.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub cql: &'static str,
    /// Data to write once the file's tables exist (filling a new index from an old
    /// table); idempotent, since an interrupted run repeats it.
    pub fill: Option<Fill>,
}

/// What a data step answers: the rows it wrote.
pub type FillResult = Result<u64, Box<dyn std::error::Error + Send + Sync>>;

/// A data step's future.
pub type FillFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = FillResult> + Send + 'a>>;

/// A migration's data step.
pub type Fill = for<'a> fn(&'a Session) -> FillFuture<'a>;

/// Every migration in order. A test checks this list against the files in `cql/`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_users_likes_idempotency",
        cql: include_str!("../../../cql/0001_users_likes_idempotency.cql"),
        fill: None,
    },
    Migration {
        version: 2,
        name: "0002_feed_plans",
        cql: include_str!("../../../cql/0002_feed_plans.cql"),
        fill: None,
    },
    Migration {
        version: 3,
        name: "0003_live_classes",
        cql: include_str!("../../../cql/0003_live_classes.cql"),
        fill: None,
    },
    Migration {
        version: 4,
        name: "0004_content",
        cql: include_str!("../../../cql/0004_content.cql"),
        fill: None,
    },
    Migration {
        version: 5,
        name: "0005_commerce",
        cql: include_str!("../../../cql/0005_commerce.cql"),
        fill: None,
    },
    Migration {
        version: 6,
        name: "0006_drops",
        cql: include_str!("../../../cql/0006_drops.cql"),
        fill: None,
    },
    Migration {
        version: 7,
        name: "0007_messages",
        cql: include_str!("../../../cql/0007_messages.cql"),
        fill: None,
    },
    Migration {
        version: 8,
        name: "0008_community",
        cql: include_str!("../../../cql/0008_community.cql"),
        fill: None,
    },
    Migration {
        version: 9,
        name: "0009_drops_by_day",
        cql: include_str!("../../../cql/0009_drops_by_day.cql"),
        fill: None,
    },
    Migration {
        version: 10,
        name: "0010_token_revocations",
        cql: include_str!("../../../cql/0010_token_revocations.cql"),
        fill: None,
    },
    Migration {
        version: 11,
        name: "0011_drop_announcements_blocked_by",
        cql: include_str!("../../../cql/0011_drop_announcements_blocked_by.cql"),
        fill: Some(fill_blocked_by),
    },
    Migration {
        version: 12,
        name: "0012_drop_leases",
        cql: include_str!("../../../cql/0012_drop_leases.cql"),
        fill: Some(fill_drop_stock),
    },
    Migration {
        version: 13,
        name: "0013_accounts",
        cql: include_str!("../../../cql/0013_accounts.cql"),
        fill: Some(add_email_verified),
    },
    Migration {
        version: 14,
        name: "0014_admin_audit",
        cql: include_str!("../../../cql/0014_admin_audit.cql"),
        fill: None,
    },
    Migration {
        version: 15,
        name: "0015_user_timezone",
        cql: include_str!("../../../cql/0015_user_timezone.cql"),
        fill: Some(add_timezone),
    },
    Migration {
        version: 16,
        name: "0016_account_exports",
        cql: include_str!("../../../cql/0016_account_exports.cql"),
        fill: None,
    },
    Migration {
        version: 17,
        name: "0017_push",
        cql: include_str!("../../../cql/0017_push.cql"),
        fill: None,
    },
    Migration {
        version: 18,
        name: "0018_message_stats",
        cql: include_str!("../../../cql/0018_message_stats.cql"),
        fill: None,
    },
    Migration {
        version: 19,
        name: "0019_subscription_trial",
        cql: include_str!("../../../cql/0019_subscription_trial.cql"),
        fill: Some(add_subscription_trial),
    },
    Migration {
        version: 20,
        name: "0020_workouts_replays",
        cql: include_str!("../../../cql/0020_workouts_replays.cql"),
        fill: None,
    },
];

/// How long a lock holder may run before its lock expires on its own.
const LOCK_TTL_SECONDS: i32 = 300;
/// How long a waiter waits for another `migrate` before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(330);
const LOCK_POLL: Duration = Duration::from_millis(500);

const LEDGER_TABLES: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS schema_migrations (
        version int PRIMARY KEY, name text, checksum text, applied_at timestamp)",
    "CREATE TABLE IF NOT EXISTS schema_migration_lock (name text PRIMARY KEY, owner uuid)",
];

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot create keyspace `{keyspace}`")]
    Keyspace {
        keyspace: String,
        #[source]
        source: Box<ExecutionError>,
    },
    #[error("migration {name} failed at statement {index}")]
    Statement {
        name: &'static str,
        index: usize,
        #[source]
        source: Box<ExecutionError>,
    },
    #[error(
        "migration {name} changed after it was applied (checksum {applied}, file {current}); add a new migration instead"
    )]
    Changed {
        name: &'static str,
        applied: String,
        current: String,
    },
    #[error("another `fitpulse migrate` held the lock for longer than {0:?}")]
    LockTimeout(Duration),
    #[error("cannot read or write the migration ledger")]
    Ledger(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn ledger_error(err: impl std::error::Error + Send + Sync + 'static) -> MigrateError {
    MigrateError::Ledger(Box::new(err))
}

/// What a run did.
#[derive(Debug, Default)]
pub struct MigrateReport {
    pub applied: Vec<&'static str>,
    pub already_applied: usize,
}

/// Brings the configured keyspace up to the latest migration.
pub async fn run(
    session: &Session,
    settings: &ScyllaSettings,
) -> Result<MigrateReport, MigrateError> {
    let keyspace = &settings.keyspace;
    // The keyspace name was validated as a plain identifier, so formatting it in is safe.
    let create_keyspace = format!(
        "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
         {{'class': 'SimpleStrategy', 'replication_factor': {}}}",
        settings.replication_factor
    );
    let keyspace_error = |source| MigrateError::Keyspace {
        keyspace: keyspace.clone(),
        source: Box::new(source),
    };
    session
        .query_unpaged(create_keyspace, ())
        .await
        .map_err(keyspace_error)?;
    session
        .await_schema_agreement()
        .await
        .map_err(ledger_error)?;
    session
        .use_keyspace(keyspace, true)
        .await
        .map_err(ledger_error)?;
    for statement in LEDGER_TABLES {
        session
            .query_unpaged(statement, ())
            .await
            .map_err(ledger_error)?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(ledger_error)?;

    let owner = Uuid::new_v4();
    acquire_lock(session, owner).await?;
    let outcome = apply_pending(session).await;
    release_lock(session, owner).await;
    outcome
}

/// The migrations the connected keyspace has not applied yet, oldest first.
pub async fn pending(session: &Session) -> Result<Vec<&'static Migration>, MigrateError> {
    let applied = ledger(session).await?;
    Ok(MIGRATIONS
        .iter()
        .filter(|m| !applied.contains_key(&m.version))
        .collect())
}

async fn apply_pending(session: &Session) -> Result<MigrateReport, MigrateError> {
    let applied = ledger(session).await?;
    let mut report = MigrateReport::default();
    for migration in MIGRATIONS {
        let current = checksum(migration.cql);
        if let Some(recorded) = applied.get(&migration.version) {
            if *recorded != current {
                return Err(MigrateError::Changed {
                    name: migration.name,
                    applied: recorded.clone(),
                    current,
                });
            }
            report.already_applied += 1;
            continue;
        }
        for (index, statement) in statements(migration.cql).enumerate() {
            session
                .query_unpaged(statement, ())
                .await
                .map_err(|source| MigrateError::Statement {
                    name: migration.name,
                    index,
                    source: Box::new(source),
                })?;
        }
        session
            .await_schema_agreement()
            .await
            .map_err(ledger_error)?;
        if let Some(fill) = migration.fill {
            let rows = fill(session).await.map_err(MigrateError::Ledger)?;
            tracing::info!(migration = migration.name, rows, "migration data written");
        }
        session
            .query_unpaged(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) \
                 VALUES (?, ?, ?, toTimestamp(now()))",
                (migration.version, migration.name, current),
            )
            .await
            .map_err(ledger_error)?;
        tracing::info!(migration = migration.name, "migration applied");
        report.applied.push(migration.name);
    }
    Ok(report)
}

/// 0013: `users.email_verified`.
fn add_email_verified(session: &Session) -> FillFuture<'_> {
    Box::pin(add_column(session, "users", "email_verified", "boolean"))
}

/// 0015: `users.timezone`.
fn add_timezone(session: &Session) -> FillFuture<'_> {
    Box::pin(add_column(session, "users", "timezone", "text"))
}

/// 0018: `subscriptions.trial`.
fn add_subscription_trial(session: &Session) -> FillFuture<'_> {
    Box::pin(add_column(session, "subscriptions", "trial", "boolean"))
}

/// Adds a column when the table does not have it yet, so a repeated run is a no-op. The
/// names are ours, never input.
async fn add_column(session: &Session, table: &str, column: &str, kind: &str) -> FillResult {
    let keyspace = session
        .get_keyspace()
        .ok_or("migrations run in a keyspace")?;
    let found = session
        .query_unpaged(
            "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? \
             AND table_name = ? AND column_name = ?",
            (keyspace.as_str(), table, column),
        )
        .await?
        .into_rows_result()?
        .rows_num();
    if found > 0 {
        return Ok(0);
    }
    session
        .query_unpaged(format!("ALTER TABLE {table} ADD {column} {kind}"), ())
        .await?;
    session.await_schema_agreement().await?;
    Ok(1)
}

/// 0011: the mirror of every block made before it (`blocked_by` from `blocks_by_user`).
fn fill_blocked_by(session: &Session) -> FillFuture<'_> {
    Box::pin(async move {
        use futures_util::StreamExt;
        let insert = session
            .prepare("INSERT INTO blocked_by (blocked_id, user_id) VALUES (?, ?)")
            .await?;
        let mut rows = session
            .query_iter("SELECT user_id, blocked_id FROM blocks_by_user", ())
            .await?
            .rows_stream::<(Uuid, Uuid)>()?;
        let mut written = 0;
        while let Some(row) = rows.next().await {
            let (user, blocked) = row?;
            session.execute_unpaged(&insert, (blocked, user)).await?;
            written += 1;
        }
        Ok(written)
    })
}

/// Moves each drop's count of units out of the pool into `drop_stock` (only where it is
/// not there yet: a repeated run never overwrites what leases changed since), and indexes
/// every order with its quantity in `drop_order_index`.
fn fill_drop_stock(session: &Session) -> FillFuture<'_> {
    Box::pin(async move {
        use futures_util::StreamExt;
        let init = session
            .prepare("UPDATE drop_stock SET stock = ?, out = ? WHERE drop_id = ? IF out = null")
            .await?;
        let order = session
            .prepare("SELECT quantity FROM orders WHERE id = ?")
            .await?;
        let index = session
            .prepare("INSERT INTO drop_order_index (drop_id, id, quantity) VALUES (?, ?, ?)")
            .await?;
        let mut written = 0;
        let mut drops = session
            .query_iter("SELECT id, stock, leased FROM drops", ())
            .await?
            .rows_stream::<(Uuid, Option<i32>, Option<i32>)>()?;
        while let Some(row) = drops.next().await {
            let (id, stock, leased) = row?;
            run_lwt(
                session,
                &init,
                (stock.unwrap_or(0), leased.unwrap_or(0), id),
            )
            .await?;
            written += 1;
        }
        let mut orders = session
            .query_iter("SELECT drop_id, id FROM orders_by_drop", ())
            .await?
            .rows_stream::<(Uuid, Uuid)>()?;
        while let Some(row) = orders.next().await {
            let (drop_id, id) = row?;
            let result = session.execute_unpaged(&order, (id,)).await?;
            let quantity = decode_maybe_row::<(Option<i32>,)>(result)?.and_then(|(q,)| q);
            session
                .execute_unpaged(&index, (drop_id, id, quantity.unwrap_or(0)))
                .await?;
            written += 1;
        }
        Ok(written)
    })
}

/// Applied versions and their checksums.
async fn ledger(session: &Session) -> Result<BTreeMap<i32, String>, MigrateError> {
    let result = session
        .query_unpaged("SELECT version, checksum FROM schema_migrations", ())
        .await
        .map_err(ledger_error)?;
    let rows: Vec<(i32, String)> = decode_rows(result).map_err(MigrateError::Ledger)?;
    Ok(rows.into_iter().collect())
}

async fn acquire_lock(session: &Session, owner: Uuid) -> Result<(), MigrateError> {
    let statement = session
        .prepare(format!(
            "INSERT INTO schema_migration_lock (name, owner) VALUES ('migrate', ?) \
             IF NOT EXISTS USING TTL {LOCK_TTL_SECONDS}"
        ))
        .await
        .map_err(ledger_error)?;
    let started = Instant::now();
    loop {
        match run_lwt(session, &statement, (owner,))
            .await
            .map_err(ledger_error)?
        {
            Lwt::Applied => return Ok(()),
            Lwt::NotApplied | Lwt::Unknown if started.elapsed() < LOCK_WAIT => {
                tokio::time::sleep(LOCK_POLL).await;
            }
            _ => return Err(MigrateError::LockTimeout(LOCK_WAIT)),
        }
        // An Unknown outcome may have been ours: check before waiting again.
        if lock_owner(session).await? == Some(owner) {
            return Ok(());
        }
    }
}

async fn lock_owner(session: &Session) -> Result<Option<Uuid>, MigrateError> {
    let mut statement = session
        .prepare("SELECT owner FROM schema_migration_lock WHERE name = 'migrate'")
        .await
        .map_err(ledger_error)?;
    statement.set_consistency(scylla::statement::Consistency::Serial);
    let result = session
        .execute_unpaged(&statement, ())
        .await
        .map_err(ledger_error)?;
    let row: Option<(Option<Uuid>,)> = decode_maybe_row(result).map_err(MigrateError::Ledger)?;
    Ok(row.and_then(|(owner,)| owner))
}

/// Releases the lock if we still hold it; a failure only delays others until the TTL.
async fn release_lock(session: &Session, owner: Uuid) {
    let released = async {
        let statement = session
            .prepare("DELETE FROM schema_migration_lock WHERE name = 'migrate' IF owner = ?")
            .await?;
        session.execute_unpaged(&statement, (owner,)).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    if let Err(err) = released.await {
        tracing::warn!(error = %err, "could not release the migration lock; it expires on its own");
    }
}

/// The statements of a migration file: `--` comments removed, split on `;`.
pub fn statements(cql: &str) -> impl Iterator<Item = String> + '_ {
    let without_comments: String = cql
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

/// A migration's fingerprint as recorded in the ledger: hex SHA-256 of the file.
pub fn checksum(cql: &str) -> String {
    crate::digest::sha256_hex(cql.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_the_cql_folder_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/cql");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("cql folder")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".cql"))
            .map(|name| name.trim_end_matches(".cql").to_owned())
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, listed);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn statements_are_split_on_semicolons_with_comments_dropped() {
        let cql = "-- header; with a semicolon\nCREATE TABLE a (x int PRIMARY KEY);\n\n\
                   CREATE TABLE b (y int PRIMARY KEY) -- trailing\n;\n";
        let parsed: Vec<String> = statements(cql).collect();
        assert_eq!(
            parsed,
            vec![
                "CREATE TABLE a (x int PRIMARY KEY)".to_owned(),
                "CREATE TABLE b (y int PRIMARY KEY)".to_owned()
            ]
        );
    }

    #[test]
    fn every_migration_statement_is_safe_to_run_twice() {
        for m in MIGRATIONS {
            for statement in statements(m.cql) {
                assert!(
                    statement.contains("IF NOT EXISTS"),
                    "{}: {statement}",
                    m.name
                );
            }
        }
    }
}
