//! The conformance test functions; each takes the ports of one backend. Data is unique
//! per test (random ids and emails), so tests may share a keyspace and run in parallel.

use std::collections::HashSet;

use fitpulse::metrics::Metrics;
use fitpulse::store::Stores;
use fitpulse_actors::domain::{Email, ItemRef, Role, UserId, now_millis};
use fitpulse_actors::ports::store::{
    IdempotencyClaim, IdempotencyKey, StoreError, StoredResponse, UserRecord,
};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn user(email: Option<&str>) -> UserRecord {
    UserRecord {
        id: UserId::random(),
        email: email.map(|e| Email::parse(e).expect("valid test email")),
        display_name: "Ada".into(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        roles: [Role::Coach, Role::Member].into(),
        created_at: now_millis(),
    }
}

fn item() -> ItemRef {
    ItemRef::parse("recipe", &unique("oats")).expect("valid item")
}

pub async fn the_store_answers_a_ping(stores: &Stores, _: &Metrics) {
    stores.health.ping().await.expect("ping");
}

pub async fn a_user_reads_back_by_id_and_by_email_in_any_case(stores: &Stores, _: &Metrics) {
    let email = format!("{}@example.com", unique("ada"));
    let created = user(Some(&email));
    stores.users.create_user(&created).await.expect("created");

    let by_id = stores.users.user_by_id(created.id).await.expect("read");
    assert_eq!(by_id.as_ref(), Some(&created));
    let shouting = Email::parse(&email.to_uppercase()).expect("valid");
    let by_email = stores.users.user_by_email(&shouting).await.expect("read");
    assert_eq!(by_email, Some(created));
    assert_eq!(
        stores
            .users
            .user_by_id(UserId::random())
            .await
            .expect("read"),
        None
    );
}

pub async fn a_taken_email_is_a_conflict_and_leaves_no_trace(stores: &Stores, _: &Metrics) {
    let email = format!("{}@example.com", unique("taken"));
    let first = user(Some(&email));
    stores.users.create_user(&first).await.expect("first wins");
    let second = user(Some(&email.to_uppercase()));
    let err = stores.users.create_user(&second).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { what: "email" }),
        "{err:?}"
    );
    assert_eq!(
        stores.users.user_by_id(second.id).await.expect("read"),
        None
    );
    let owner = stores
        .users
        .user_by_email(first.email.as_ref().expect("email"))
        .await;
    assert_eq!(owner.expect("read").map(|u| u.id), Some(first.id));
}

pub async fn exactly_one_of_many_concurrent_creates_wins_an_email(stores: &Stores, _: &Metrics) {
    const CONTENDERS: usize = 12;
    let email = format!("{}@example.com", unique("race"));
    let candidates: Vec<UserRecord> = (0..CONTENDERS).map(|_| user(Some(&email))).collect();
    let attempts = candidates.iter().map(|u| {
        let users = stores.users.clone();
        let u = u.clone();
        tokio::spawn(async move { (u.id, users.create_user(&u).await) })
    });
    let mut winners = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        let (id, result) = attempt.await.expect("task");
        match result {
            Ok(()) => winners.push(id),
            Err(StoreError::Conflict { what: "email" }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let owner = stores
        .users
        .user_by_email(&Email::parse(&email).expect("valid"))
        .await
        .expect("read")
        .expect("an owner");
    assert_eq!(owner.id, winners[0]);
    for loser in candidates.iter().filter(|u| u.id != winners[0]) {
        assert_eq!(stores.users.user_by_id(loser.id).await.expect("read"), None);
    }
}

pub async fn users_without_email_never_collide(stores: &Stores, _: &Metrics) {
    let (a, b) = (user(None), user(None));
    stores.users.create_user(&a).await.expect("a");
    stores.users.create_user(&b).await.expect("b");
    assert_eq!(stores.users.user_by_id(b.id).await.expect("read"), Some(b));
}

pub async fn liking_twice_counts_once_and_unliking_undoes_it(stores: &Stores, _: &Metrics) {
    let (who, what) = (UserId::random(), item());
    assert!(!stores.likes.has_liked(who, &what).await.expect("read"));
    assert!(stores.likes.like(who, &what).await.expect("like"));
    assert!(!stores.likes.like(who, &what).await.expect("again"));
    assert!(stores.likes.has_liked(who, &what).await.expect("read"));
    assert_eq!(stores.likes.like_count(&what).await.expect("count"), 1);

    assert!(stores.likes.unlike(who, &what).await.expect("unlike"));
    assert!(!stores.likes.unlike(who, &what).await.expect("again"));
    assert!(!stores.likes.has_liked(who, &what).await.expect("read"));
    assert_eq!(stores.likes.like_count(&what).await.expect("count"), 0);
    assert_eq!(stores.likes.like_count(&item()).await.expect("count"), 0);
}

pub async fn no_like_increment_is_lost_under_contention(stores: &Stores, _: &Metrics) {
    const LIKERS: usize = 40;
    let what = item();
    let users: Vec<UserId> = (0..LIKERS).map(|_| UserId::random()).collect();
    // Every user likes twice at once: the count must still be one per user.
    let likes: Vec<_> = users
        .iter()
        .chain(users.iter())
        .map(|&who| {
            let (likes, what) = (stores.likes.clone(), what.clone());
            tokio::spawn(async move { likes.like(who, &what).await })
        })
        .collect();
    let mut changed = 0;
    for like in likes {
        changed += usize::from(like.await.expect("task").expect("like"));
    }
    assert_eq!(changed, LIKERS);
    assert_eq!(
        stores.likes.like_count(&what).await.expect("count"),
        LIKERS as u64
    );

    let unlikes: Vec<_> = users[..LIKERS / 2]
        .iter()
        .map(|&who| {
            let (likes, what) = (stores.likes.clone(), what.clone());
            tokio::spawn(async move { likes.unlike(who, &what).await })
        })
        .collect();
    for unlike in unlikes {
        assert!(unlike.await.expect("task").expect("unlike"));
    }
    assert_eq!(
        stores.likes.like_count(&what).await.expect("count"),
        (LIKERS - LIKERS / 2) as u64
    );
}

fn key() -> IdempotencyKey {
    IdempotencyKey {
        scope: unique("orders"),
        key: unique("key"),
    }
}

pub async fn an_idempotency_key_replays_the_first_response(stores: &Stores, _: &Metrics) {
    let k = key();
    let store = &stores.idempotency;
    assert_eq!(
        store.claim(&k, "sha-a").await.expect("claim"),
        IdempotencyClaim::Fresh
    );
    assert_eq!(
        store.claim(&k, "sha-b").await.expect("claim"),
        IdempotencyClaim::Seen {
            fingerprint: "sha-a".into(),
            response: None
        }
    );
    let response = StoredResponse {
        status: 201,
        body: r#"{"id":"o-1","status":"reserved"}"#.into(),
    };
    store.complete(&k, &response).await.expect("complete");
    assert_eq!(
        store.claim(&k, "sha-a").await.expect("claim"),
        IdempotencyClaim::Seen {
            fingerprint: "sha-a".into(),
            response: Some(response)
        }
    );
    // The same key in another scope is another key.
    let other = IdempotencyKey {
        scope: unique("orders"),
        key: k.key.clone(),
    };
    assert_eq!(
        store.claim(&other, "sha-a").await.expect("claim"),
        IdempotencyClaim::Fresh
    );
}

pub async fn exactly_one_of_many_concurrent_claims_of_a_key_is_fresh(stores: &Stores, _: &Metrics) {
    const CLAIMS: usize = 12;
    let k = key();
    let claims: Vec<_> = (0..CLAIMS)
        .map(|i| {
            let (store, k) = (stores.idempotency.clone(), k.clone());
            tokio::spawn(async move { store.claim(&k, &format!("sha-{i}")).await })
        })
        .collect();
    let mut fresh = 0;
    let mut fingerprints = HashSet::new();
    for claim in claims {
        match claim.await.expect("task").expect("claim") {
            IdempotencyClaim::Fresh => fresh += 1,
            IdempotencyClaim::Seen { fingerprint, .. } => {
                fingerprints.insert(fingerprint);
            }
        }
    }
    assert_eq!(fresh, 1);
    // Everyone who lost saw the same winner's fingerprint.
    assert_eq!(fingerprints.len(), 1, "{fingerprints:?}");
}

pub async fn completing_an_unclaimed_key_fails(stores: &Stores, _: &Metrics) {
    let response = StoredResponse {
        status: 200,
        body: "{}".into(),
    };
    let result = stores.idempotency.complete(&key(), &response).await;
    assert!(result.is_err(), "{result:?}");
}

pub async fn store_calls_are_timed_by_backend_and_operation(stores: &Stores, metrics: &Metrics) {
    stores
        .users
        .user_by_id(UserId::random())
        .await
        .expect("read");
    let text = metrics.render();
    let expected = format!(
        r#"fitpulse_store_op_duration_seconds_count{{backend="{}",op="user_by_id"}} 1"#,
        stores.backend
    );
    assert!(text.contains(&expected), "{text}");
}
