//! `migrate` against the real CQL server: creates the keyspace and tables, records each
//! migration once, and is safe to run from several processes at once.

use fitpulse::store::scylla::{migrate, open_session};

use super::support::{cql_contact_point, scylla_settings};

#[tokio::test]
async fn concurrent_migrations_apply_each_file_once_and_a_rerun_changes_nothing() {
    let Some(nodes) = cql_contact_point() else {
        return;
    };
    let keyspace = format!("fitpulse_migrate_{}", std::process::id());
    let settings = scylla_settings(&nodes, &keyspace);

    // Two "pods" migrating a fresh keyspace at the same time.
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let settings = settings.clone();
            tokio::spawn(async move {
                let session = open_session(&settings.store.scylla).await.expect("session");
                migrate::run(&session, &settings.store.scylla)
                    .await
                    .expect("migrate")
            })
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        let report = run.await.expect("task");
        applied.extend(report.applied);
    }
    let all: Vec<&str> = migrate::MIGRATIONS.iter().map(|m| m.name).collect();
    applied.sort();
    assert_eq!(applied, all, "each migration applied by exactly one run");

    let session = open_session(&settings.store.scylla).await.expect("session");
    let again = migrate::run(&session, &settings.store.scylla)
        .await
        .expect("rerun");
    assert!(again.applied.is_empty());
    assert_eq!(again.already_applied, all.len());
    assert!(migrate::pending(&session).await.expect("ledger").is_empty());

    // The tables exist: the store connects and prepares every statement.
    fitpulse::store::scylla::ScyllaStore::connect(
        &settings.store.scylla,
        &fitpulse::metrics::Metrics::new(),
    )
    .await
    .expect("connects to the migrated keyspace");
    session
        .query_unpaged(format!("DROP KEYSPACE {keyspace}"), ())
        .await
        .expect("drop the test keyspace");
}

#[tokio::test]
async fn the_server_refuses_to_start_on_an_unmigrated_keyspace() {
    let Some(nodes) = cql_contact_point() else {
        return;
    };
    let settings = scylla_settings(&nodes, &format!("fitpulse_absent_{}", std::process::id()));
    let err = fitpulse::store::scylla::ScyllaStore::connect(
        &settings.store.scylla,
        &fitpulse::metrics::Metrics::new(),
    )
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("fitpulse migrate"), "{err}");
}

#[tokio::test]
async fn migration_0011_mirrors_the_blocks_made_before_it() {
    let Some(nodes) = cql_contact_point() else {
        return;
    };
    let keyspace = super::support::suite_keyspace(&nodes);
    let settings = scylla_settings(&nodes, keyspace);
    let session = open_session(&settings.store.scylla).await.expect("session");
    session
        .use_keyspace(keyspace, true)
        .await
        .expect("keyspace");
    // A block as an older server wrote it: in blocks_by_user only.
    let (user, blocked) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    session
        .query_unpaged(
            "INSERT INTO blocks_by_user (user_id, blocked_id, blocked_at) VALUES (?, ?, toTimestamp(now()))",
            (user, blocked),
        )
        .await
        .expect("an old block");
    let fill = migrate::MIGRATIONS
        .iter()
        .find(|m| m.version == 11)
        .and_then(|m| m.fill)
        .expect("0011 fills blocked_by");
    assert!(fill(&session).await.expect("filled") >= 1);
    let rows = session
        .query_unpaged(
            "SELECT user_id FROM blocked_by WHERE blocked_id = ?",
            (blocked,),
        )
        .await
        .expect("read")
        .into_rows_result()
        .expect("rows");
    let found: Vec<uuid::Uuid> = rows
        .rows::<(uuid::Uuid,)>()
        .expect("typed")
        .map(|r| r.expect("row").0)
        .collect();
    assert_eq!(found, [user]);
}
