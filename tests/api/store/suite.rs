//! The conformance test functions; each takes the ports of one backend. Data is unique
//! per test (random ids and emails), so tests may share a keyspace and run in parallel.

use std::collections::HashSet;

use fitpulse::metrics::Metrics;
use fitpulse::store::Stores;
use fitpulse_actors::domain::{
    DeviceId, DisplayName, Email, ItemRef, Locale, Role, Units, UserId, now_millis,
};
use fitpulse_actors::ports::store::{
    Entitlement, IdempotencyClaim, IdempotencyKey, ProfileUpdate, RefreshRotation,
    RefreshTokenRecord, StoreError, StoredResponse, UserRecord,
};
use tokio::sync::oneshot;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn user(email: Option<&str>) -> UserRecord {
    UserRecord {
        id: UserId::random(),
        email: email.map(|e| Email::parse(e).expect("valid test email")),
        display_name: DisplayName::parse("Ada").expect("valid"),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        roles: [Role::Coach, Role::Member].into(),
        locale: Locale::parse("pt-BR").expect("valid"),
        units: Units::Imperial,
        device_id: None,
        created_at: now_millis(),
        email_verified: false,
        timezone: None,
    }
}

fn anonymous() -> UserRecord {
    UserRecord {
        email: None,
        password_hash: None,
        roles: [Role::Member].into(),
        device_id: Some(DeviceId::parse(&unique("device")).expect("valid")),
        ..user(None)
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

pub async fn a_device_id_names_one_anonymous_account(stores: &Stores, _: &Metrics) {
    let first = anonymous();
    stores.users.create_user(&first).await.expect("created");
    let device = first.device_id.clone().expect("device");
    let found = stores.users.user_by_device(&device).await.expect("read");
    assert_eq!(found, Some(first.clone()));

    let second = UserRecord {
        device_id: Some(device),
        ..anonymous()
    };
    let err = stores.users.create_user(&second).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { what: "device" }),
        "{err:?}"
    );
    assert_eq!(
        stores.users.user_by_id(second.id).await.expect("read"),
        None
    );
}

pub async fn a_profile_update_changes_only_the_given_fields(stores: &Stores, _: &Metrics) {
    let created = user(Some(&format!("{}@example.com", unique("profile"))));
    stores.users.create_user(&created).await.expect("created");
    let renamed = ProfileUpdate {
        display_name: Some(DisplayName::parse("Grace").expect("valid")),
        ..ProfileUpdate::default()
    };
    let after = stores
        .users
        .update_profile(created.id, &renamed)
        .await
        .expect("update");
    assert_eq!(
        after.as_ref().map(|u| u.display_name.as_str()),
        Some("Grace")
    );
    let metric = ProfileUpdate {
        units: Some(Units::Metric),
        ..ProfileUpdate::default()
    };
    let after = stores
        .users
        .update_profile(created.id, &metric)
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(after.display_name.as_str(), "Grace");
    assert_eq!(after.units, Units::Metric);
    assert_eq!(after.locale, created.locale);
    assert_eq!(
        stores.users.user_by_id(created.id).await.expect("read"),
        Some(after)
    );
    let missing = stores.users.update_profile(UserId::random(), &metric).await;
    assert_eq!(missing.expect("update"), None);
}

pub async fn attaching_an_email_keeps_the_id_and_releases_the_device(stores: &Stores, _: &Metrics) {
    let anon = anonymous();
    stores.users.create_user(&anon).await.expect("created");
    let device = anon.device_id.clone().expect("device");
    let email = Email::parse(&format!("{}@example.com", unique("upgrade"))).expect("valid");
    assert!(
        stores
            .users
            .attach_email(anon.id, &email, "hash-1")
            .await
            .expect("attach")
    );

    let upgraded = stores
        .users
        .user_by_email(&email)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(upgraded.id, anon.id);
    assert_eq!(upgraded.password_hash.as_deref(), Some("hash-1"));
    assert_eq!(upgraded.device_id, None);
    assert_eq!(
        stores.users.user_by_device(&device).await.expect("read"),
        None
    );

    let other = anonymous();
    stores.users.create_user(&other).await.expect("created");
    let err = stores
        .users
        .attach_email(other.id, &email, "hash-2")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { what: "email" }),
        "{err:?}"
    );
    let fresh = Email::parse(&format!("{}@example.com", unique("ghost"))).expect("valid");
    assert!(
        !stores
            .users
            .attach_email(UserId::random(), &fresh, "h")
            .await
            .expect("attach")
    );
}

pub async fn deleting_a_user_frees_its_email_and_removes_its_entitlements(
    stores: &Stores,
    _: &Metrics,
) {
    let email = format!("{}@example.com", unique("gone"));
    let doomed = user(Some(&email));
    stores.users.create_user(&doomed).await.expect("created");
    let premium = Entitlement {
        name: "premium".into(),
        expires_at: None,
        source: "test".into(),
    };
    stores
        .entitlements
        .grant_entitlement(doomed.id, &premium)
        .await
        .expect("grant");

    assert!(stores.users.delete_user(doomed.id).await.expect("delete"));
    assert!(!stores.users.delete_user(doomed.id).await.expect("again"));
    assert_eq!(
        stores.users.user_by_id(doomed.id).await.expect("read"),
        None
    );
    let parsed = Email::parse(&email).expect("valid");
    assert_eq!(
        stores.users.user_by_email(&parsed).await.expect("read"),
        None
    );
    assert!(
        stores
            .entitlements
            .entitlements(doomed.id)
            .await
            .expect("read")
            .is_empty()
    );

    let successor = user(Some(&email));
    stores
        .users
        .create_user(&successor)
        .await
        .expect("the email is free again");
}

pub async fn a_password_verification_and_email_change_apply_to_the_current_email(
    stores: &Stores,
    _: &Metrics,
) {
    let users = &stores.users;
    let first = Email::parse(&format!("{}@example.com", unique("first"))).expect("valid");
    let second = Email::parse(&format!("{}@example.com", unique("second"))).expect("valid");
    let record = user(Some(first.as_str()));
    users.create_user(&record).await.expect("create");
    let read = |id| async move { users.user_by_id(id).await.expect("read").expect("found") };
    assert!(!read(record.id).await.email_verified);

    assert!(
        users
            .set_password(record.id, "new-hash")
            .await
            .expect("set")
    );
    assert_eq!(
        read(record.id).await.password_hash.as_deref(),
        Some("new-hash")
    );
    assert!(
        !users
            .verify_email(record.id, &second)
            .await
            .expect("verify")
    );
    assert!(!read(record.id).await.email_verified, "not its address");
    assert!(users.verify_email(record.id, &first).await.expect("verify"));
    assert!(read(record.id).await.email_verified);

    // A change moves the claim and needs a new verification.
    assert!(
        users
            .change_email(record.id, &second)
            .await
            .expect("change")
    );
    let changed = read(record.id).await;
    assert_eq!(changed.email.as_ref(), Some(&second));
    assert!(!changed.email_verified);
    assert_eq!(
        users
            .user_by_email(&second)
            .await
            .expect("read")
            .map(|u| u.id),
        Some(record.id)
    );
    assert_eq!(users.user_by_email(&first).await.expect("read"), None);
    assert!(!users.verify_email(record.id, &first).await.expect("verify"));
    // The old address is free; another account's address is not.
    let other = user(Some(first.as_str()));
    users
        .create_user(&other)
        .await
        .expect("the old address is free");
    assert!(matches!(
        users.change_email(record.id, &first).await,
        Err(StoreError::Conflict { what: "email" })
    ));
    assert!(
        !users
            .set_password(UserId::random(), "x")
            .await
            .expect("set")
    );
}

pub async fn an_account_token_is_taken_once(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::ports::accounts::{AccountToken, AccountTokenPurpose};
    let store = &stores.account_tokens;
    let token = AccountToken {
        hash: unique("hash"),
        purpose: AccountTokenPurpose::PasswordReset,
        user: UserId::random(),
        email: Email::parse("someone@example.com").expect("valid"),
        expires_at: now_millis() + 1_800_000,
    };
    store.insert_account_token(&token).await.expect("insert");
    assert_eq!(
        store
            .take_account_token(&unique("hash"))
            .await
            .expect("take"),
        None
    );
    let takes: Vec<_> = (0..6)
        .map(|_| {
            let (store, hash) = (stores.account_tokens.clone(), token.hash.clone());
            tokio::spawn(async move { store.take_account_token(&hash).await })
        })
        .collect();
    let mut taken = Vec::new();
    for take in takes {
        taken.extend(take.await.expect("task").expect("take"));
    }
    assert_eq!(taken, vec![token.clone()], "one caller takes it, whole");
    assert_eq!(
        store.take_account_token(&token.hash).await.expect("take"),
        None
    );
}

pub async fn an_identity_is_linked_once_listed_and_unlinked(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::ports::accounts::{Identity, SocialProvider};
    let store = &stores.identities;
    let (who, other) = (UserId::random(), UserId::random());
    let identity = |provider, subject: &str, user| Identity {
        provider,
        subject: subject.to_owned(),
        user,
        email: Some(Email::parse("relay@privaterelay.appleid.com").expect("valid")),
        linked_at: now_millis(),
    };
    let subject = unique("sub");
    let apple = identity(SocialProvider::Apple, &subject, who);
    store.link_identity(&apple).await.expect("link");
    let google = identity(SocialProvider::Google, &unique("sub"), who);
    store.link_identity(&google).await.expect("link");
    // The same subject at another provider is another identity.
    store
        .link_identity(&identity(SocialProvider::Google, &subject, other))
        .await
        .expect("another provider's subject");
    assert!(matches!(
        store
            .link_identity(&identity(SocialProvider::Apple, &subject, other))
            .await,
        Err(StoreError::Conflict { what: "identity" })
    ));
    assert_eq!(
        store
            .identity(SocialProvider::Apple, &subject)
            .await
            .expect("read"),
        Some(apple.clone())
    );
    let mut mine = store.identities_of(who).await.expect("list");
    mine.sort_by_key(|i| i.provider);
    assert_eq!(mine, vec![apple.clone(), google.clone()]);

    assert!(
        store
            .unlink_identity(who, SocialProvider::Apple)
            .await
            .expect("unlink")
    );
    assert!(
        !store
            .unlink_identity(who, SocialProvider::Apple)
            .await
            .expect("unlink again")
    );
    assert_eq!(
        store
            .identity(SocialProvider::Apple, &subject)
            .await
            .expect("read"),
        None
    );
    assert_eq!(store.identities_of(who).await.expect("list"), vec![google]);
    // The subject is free for a new link.
    store
        .link_identity(&identity(SocialProvider::Apple, &subject, other))
        .await
        .expect("relinked");
}

pub async fn the_audit_log_pages_newest_first(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::ports::audit::AuditEntry;
    let store = &stores.audit;
    let marker = unique("path");
    // Three entries a millisecond apart, each with a fresh v7 id.
    let mut written = Vec::new();
    for i in 0..3u16 {
        let entry = AuditEntry {
            id: uuid::Uuid::now_v7(),
            at: now_millis(),
            actor: "user:someone".into(),
            method: "POST".into(),
            route: "/v1/admin/users/{id}/revoke".into(),
            path: format!("{marker}/{i}"),
            status: 200 + i,
            request_id: Some(format!("req-{i}")),
        };
        store.record_audit(&entry).await.expect("record");
        written.push(entry);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    // Other suites write entries too: only ours are compared, in the order read.
    let ours = |page: Vec<AuditEntry>| -> Vec<AuditEntry> {
        page.into_iter()
            .filter(|e| e.path.starts_with(&marker))
            .collect()
    };
    let newest = ours(store.audit_entries(None, 500).await.expect("page"));
    let expected: Vec<AuditEntry> = written.iter().rev().cloned().collect();
    assert_eq!(newest, expected);
    let older = ours(
        store
            .audit_entries(Some(written[2].id), 500)
            .await
            .expect("page"),
    );
    assert_eq!(older, expected[1..].to_vec());
    assert_eq!(store.audit_entries(None, 1).await.expect("page").len(), 1);
}

pub async fn erasure_leaves_pending_outbox_items_to_the_worker(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::ports::commerce::OutboxItem;
    let address = format!("{}@example.com", unique("erased"));
    let record = user(Some(&address));
    stores.users.create_user(&record).await.expect("create");
    let now = now_millis();
    let item = |payload: String| OutboxItem::new(uuid::Uuid::new_v4(), "email.send", payload, now);
    let delivered = item(format!(r#"{{"to":"{address}"}}"#));
    let pending = item(format!(r#"{{"user_id":"{}"}}"#, record.id));
    for it in [&delivered, &pending] {
        stores.outbox.enqueue(it).await.expect("enqueue");
    }
    assert!(
        stores
            .outbox
            .claim(delivered.id, now, 60_000)
            .await
            .expect("claim")
    );
    stores
        .outbox
        .complete(delivered.id)
        .await
        .expect("complete");

    stores
        .account_data
        .erase_user(record.id, UserId::random())
        .await
        .expect("erase");
    assert_eq!(
        stores.outbox.outbox_item(delivered.id).await.expect("read"),
        None,
        "a delivered email to the address goes"
    );
    let due = stores.outbox.due(now + 1, 10_000).await.expect("due");
    assert!(
        due.iter().any(|i| i.id == pending.id),
        "the worker still finds the pending item"
    );
    assert!(
        stores
            .outbox
            .claim(pending.id, now, 60_000)
            .await
            .expect("claim")
    );
    stores.outbox.complete(pending.id).await.expect("complete");
}

pub async fn a_built_export_lands_only_on_its_own_request(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::ports::accounts::ExportRecord;
    let data = &stores.account_data;
    let record = user(Some(&format!("{}@example.com", unique("export"))));
    stores.users.create_user(&record).await.expect("create");
    let asked = ExportRecord {
        requested_at: now_millis(),
        ready_at: None,
        document: None,
    };
    data.put_export(record.id, &asked).await.expect("put");
    let built = ExportRecord {
        ready_at: Some(now_millis()),
        document: Some("{}".into()),
        ..asked.clone()
    };
    let stale = ExportRecord {
        requested_at: asked.requested_at - 1,
        ..built.clone()
    };
    assert!(!data.finish_export(record.id, &stale).await.expect("finish"));
    assert_eq!(data.export_of(record.id).await.expect("read"), Some(asked));
    assert!(data.finish_export(record.id, &built).await.expect("finish"));
    assert_eq!(
        data.export_of(record.id).await.expect("read"),
        Some(built.clone())
    );

    data.erase_user(record.id, UserId::random())
        .await
        .expect("erase");
    assert!(!data.finish_export(record.id, &built).await.expect("finish"));
    assert_eq!(data.export_of(record.id).await.expect("read"), None);
}

fn rotation() -> RefreshRotation {
    RefreshRotation {
        successor: uuid::Uuid::new_v4(),
        sealed_secret: unique("sealed"),
        at: now_millis(),
    }
}

fn refresh_token(user: UserId, family: uuid::Uuid) -> RefreshTokenRecord {
    RefreshTokenRecord {
        id: uuid::Uuid::new_v4(),
        family,
        user,
        secret_hash: unique("hash"),
        expires_at: now_millis() + 3_600_000,
    }
}

pub async fn a_refresh_token_is_used_once_and_revoked_with_its_family(
    stores: &Stores,
    _: &Metrics,
) {
    let store = &stores.refresh_tokens;
    let who = UserId::random();
    let token = refresh_token(who, uuid::Uuid::new_v4());
    store.insert_refresh_token(&token).await.expect("insert");

    let state = store
        .refresh_token(token.id)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(state.record, token);
    assert!(!state.used && !state.family_revoked && state.rotation.is_none());
    let (won, lost) = (rotation(), rotation());
    assert!(store.use_refresh_token(&token, &won).await.expect("use"));
    assert!(!store.use_refresh_token(&token, &lost).await.expect("reuse"));
    let used = store
        .refresh_token(token.id)
        .await
        .expect("read")
        .expect("found");
    assert!(used.used);
    assert_eq!(used.rotation, Some(won), "the winner's rotation, only");

    let next = refresh_token(who, token.family);
    store.insert_refresh_token(&next).await.expect("insert");
    store
        .revoke_token_family(token.family)
        .await
        .expect("revoke");
    for id in [token.id, next.id] {
        let state = store.refresh_token(id).await.expect("read").expect("found");
        assert!(state.family_revoked, "{id}");
    }
    assert_eq!(
        store
            .refresh_token(uuid::Uuid::new_v4())
            .await
            .expect("read"),
        None
    );
}

pub async fn revoking_a_user_revokes_every_family_and_only_theirs(stores: &Stores, _: &Metrics) {
    let store = &stores.refresh_tokens;
    let (who, bystander) = (UserId::random(), UserId::random());
    let phone = refresh_token(who, uuid::Uuid::new_v4());
    let tablet = refresh_token(who, uuid::Uuid::new_v4());
    let other = refresh_token(bystander, uuid::Uuid::new_v4());
    for token in [&phone, &tablet, &other] {
        store.insert_refresh_token(token).await.expect("insert");
    }
    store.revoke_user_tokens(who).await.expect("revoke");
    for token in [&phone, &tablet] {
        assert!(
            store
                .refresh_token(token.id)
                .await
                .expect("read")
                .expect("found")
                .family_revoked
        );
    }
    assert!(
        !store
            .refresh_token(other.id)
            .await
            .expect("read")
            .expect("found")
            .family_revoked
    );
}

pub async fn exactly_one_concurrent_use_of_a_refresh_token_wins(stores: &Stores, _: &Metrics) {
    const CALLERS: usize = 8;
    let token = refresh_token(UserId::random(), uuid::Uuid::new_v4());
    stores
        .refresh_tokens
        .insert_refresh_token(&token)
        .await
        .expect("insert");
    let uses: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (store, token) = (stores.refresh_tokens.clone(), token.clone());
            let rotation = rotation();
            tokio::spawn(async move {
                let won = store.use_refresh_token(&token, &rotation).await?;
                Ok::<_, fitpulse_actors::ports::store::StoreError>(won.then_some(rotation))
            })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in uses {
        winners.extend(attempt.await.expect("task").expect("use"));
    }
    assert_eq!(winners.len(), 1);
    let kept = stores
        .refresh_tokens
        .refresh_token(token.id)
        .await
        .expect("read")
        .expect("found")
        .rotation;
    assert_eq!(
        kept.as_ref(),
        winners.first(),
        "the winner's rotation is kept"
    );
}

pub async fn entitlements_are_granted_replaced_and_listed_by_name(stores: &Stores, _: &Metrics) {
    let who = UserId::random();
    let now = now_millis();
    let grant = |name: &str, expires_at: Option<i64>| Entitlement {
        name: name.into(),
        expires_at,
        source: "test".into(),
    };
    let store = &stores.entitlements;
    store
        .grant_entitlement(who, &grant("premium", Some(now - 1_000)))
        .await
        .expect("grant");
    store
        .grant_entitlement(who, &grant("coaching", None))
        .await
        .expect("grant");
    let listed = store.entitlements(who).await.expect("read");
    assert_eq!(
        listed.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["coaching", "premium"]
    );
    assert!(!listed[1].is_active_at(now));

    store
        .grant_entitlement(who, &grant("premium", Some(now + 60_000)))
        .await
        .expect("renew");
    let listed = store.entitlements(who).await.expect("read");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|e| e.is_active_at(now)));
    assert!(
        store
            .entitlements(UserId::random())
            .await
            .expect("read")
            .is_empty()
    );
}

fn feed_event(seq: u64) -> fitpulse_actors::ports::store::FeedEvent {
    fitpulse_actors::ports::store::FeedEvent {
        seq,
        kind: "custom.note".into(),
        at: now_millis(),
        data: format!(r#"{{"n":{seq}}}"#),
    }
}

pub async fn feed_events_read_back_in_order_after_any_position(stores: &Stores, _: &Metrics) {
    let feed = &stores.feed;
    let who = UserId::random();
    assert_eq!(feed.feed_head(who).await.expect("head").last_seq, 0);
    assert_eq!(feed.oldest_seq(who).await.expect("oldest"), None);

    let first: Vec<_> = (1..=3).map(feed_event).collect();
    feed.append_events(who, &first).await.expect("append");
    let second: Vec<_> = (4..=6).map(feed_event).collect();
    feed.append_events(who, &second).await.expect("append");

    let all = feed.events_after(who, 0, 100).await.expect("read");
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(all[3], second[0]);
    let tail = feed.events_after(who, 4, 100).await.expect("read");
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6]);
    let page = feed.events_after(who, 1, 2).await.expect("read");
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
    assert!(
        feed.events_after(who, 6, 100)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(feed.oldest_seq(who).await.expect("oldest"), Some(1));
    assert_eq!(feed.feed_head(who).await.expect("head").last_seq, 6);
    assert!(
        feed.events_after(UserId::random(), 0, 10)
            .await
            .expect("read")
            .is_empty()
    );
}

/// A broadcast makes every session flush at once: each user's events land under their own
/// head, in order, however the store groups the writes.
pub async fn many_users_appending_at_once_each_keep_their_own_feed(stores: &Stores, _: &Metrics) {
    const USERS: u64 = 60;
    let users: Vec<UserId> = (0..USERS).map(|_| UserId::random()).collect();
    let appends = users.iter().enumerate().map(|(i, who)| {
        let events: Vec<_> = (1..=(i as u64 % 3) + 1).map(feed_event).collect();
        async move { stores.feed.append_events(*who, &events).await }
    });
    for outcome in futures_util::future::join_all(appends).await {
        outcome.expect("append");
    }
    for (i, who) in users.iter().enumerate() {
        let expected: Vec<u64> = (1..=(i as u64 % 3) + 1).collect();
        let read = stores.feed.events_after(*who, 0, 10).await.expect("read");
        assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);
        let head = stores.feed.feed_head(*who).await.expect("head");
        assert_eq!(head.last_seq, *expected.last().expect("one at least"));
    }
}

/// A feature message's entries, written behind their deliveries by every session at once:
/// each lands under its user's head (on scylla most wait for room, the suite allowing 4 in
/// flight), and an append someone waits for, made while they wait, lands too.
pub async fn appends_behind_at_once_each_land_and_let_a_waited_one_through(
    stores: &Stores,
    _: &Metrics,
) {
    const USERS: usize = 120;
    let users: Vec<UserId> = (0..USERS).map(|_| UserId::random()).collect();
    // Nobody hurries them: the senders live until every append is done.
    let (_tell, hurries): (Vec<_>, Vec<_>) = (0..USERS).map(|_| oneshot::channel()).unzip();
    let behind =
        futures_util::future::join_all(users.iter().zip(hurries).map(|(who, hurry)| async move {
            stores
                .feed
                .append_events_behind(*who, &[feed_event(1)], hurry)
                .await
        }));
    let waited_for = UserId::random();
    let waited = async {
        stores
            .feed
            .append_events(waited_for, &[feed_event(1), feed_event(2)])
            .await
    };
    let (behind, waited) = tokio::join!(behind, waited);
    waited.expect("the append waited for");
    for outcome in behind {
        outcome.expect("append behind");
    }
    for who in &users {
        let read = stores.feed.events_after(*who, 0, 10).await.expect("read");
        assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
        assert_eq!(stores.feed.feed_head(*who).await.expect("head").last_seq, 1);
    }
    let head = stores.feed.feed_head(waited_for).await.expect("head");
    assert_eq!(head.last_seq, 2);
}

pub async fn a_retried_feed_batch_overwrites_instead_of_duplicating(stores: &Stores, _: &Metrics) {
    let who = UserId::random();
    let batch: Vec<_> = (1..=2).map(feed_event).collect();
    stores
        .feed
        .append_events(who, &batch)
        .await
        .expect("append");
    stores.feed.append_events(who, &batch).await.expect("retry");
    let all = stores.feed.events_after(who, 0, 100).await.expect("read");
    assert_eq!(all.len(), 2);
}

pub async fn the_read_position_is_kept_beside_the_head(stores: &Stores, _: &Metrics) {
    let who = UserId::random();
    stores
        .feed
        .append_events(who, &[feed_event(1), feed_event(2)])
        .await
        .expect("append");
    stores.feed.set_read_seq(who, 2).await.expect("ack");
    let head = stores.feed.feed_head(who).await.expect("head");
    assert_eq!((head.last_seq, head.read_seq), (2, 2));
}

pub async fn a_plan_is_stored_and_replaced_whole(stores: &Stores, _: &Metrics) {
    let who = UserId::random();
    assert_eq!(stores.plans.plan(who).await.expect("read"), None);
    stores
        .plans
        .put_plan(who, r#"{"template":"lose-weight-2w"}"#)
        .await
        .expect("put");
    stores
        .plans
        .put_plan(who, r#"{"template":"strength-4w"}"#)
        .await
        .expect("replace");
    assert_eq!(
        stores.plans.plan(who).await.expect("read").as_deref(),
        Some(r#"{"template":"strength-4w"}"#)
    );
}

fn live_class(scheduled_at: i64) -> fitpulse_actors::domain::LiveClassRecord {
    use fitpulse_actors::domain::{ClassId, ClassState, LiveClassRecord};
    LiveClassRecord {
        id: ClassId::random(),
        coach: UserId::random(),
        title: "Sunrise HIIT".into(),
        workout_id: Some("hiit-20".into()),
        scheduled_at,
        duration_minutes: 30,
        premium: true,
        state: ClassState::Scheduled,
        started_at: None,
        ended_at: None,
        created_at: now_millis(),
    }
}

pub async fn a_live_class_reads_back_and_lists_in_its_window(stores: &Stores, _: &Metrics) {
    // A window of its own, far from other tests' classes.
    let base = now_millis() + 400 * 24 * 60 * 60 * 1000 + (rand_offset() % 1_000_000);
    let early = live_class(base);
    let late = live_class(base + 3 * 60 * 60 * 1000);
    let outside = live_class(base + 3 * 24 * 60 * 60 * 1000);
    for class in [&late, &early, &outside] {
        stores.live.create_class(class).await.expect("created");
    }
    assert_eq!(
        stores.live.class(early.id).await.expect("read"),
        Some(early.clone())
    );
    let listed = stores
        .live
        .classes_between(base, base + 24 * 60 * 60 * 1000)
        .await
        .expect("listed");
    let ids: Vec<_> = listed.iter().map(|c| c.id).collect();
    assert_eq!(ids, [early.id, late.id], "in start order, window only");
    let err = stores.live.create_class(&early).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
}

fn rand_offset() -> i64 {
    (uuid::Uuid::new_v4().as_u128() % 1_000_000) as i64
}

pub async fn a_class_transition_applies_once_and_stamps_its_time(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::domain::ClassState::{Cancelled, Ended, Live, Scheduled};
    let class = live_class(now_millis());
    stores.live.create_class(&class).await.expect("created");
    let started = now_millis();
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let live = stores.live.clone();
            tokio::spawn(async move {
                live.transition_class(class.id, Scheduled, Live, started)
                    .await
            })
        })
        .collect();
    let mut applied = 0;
    for racer in racers {
        applied += usize::from(racer.await.expect("task").expect("transition"));
    }
    assert_eq!(applied, 1, "exactly one start wins");
    assert!(
        !stores
            .live
            .transition_class(class.id, Scheduled, Cancelled, started)
            .await
            .expect("t")
    );
    assert!(
        stores
            .live
            .transition_class(class.id, Live, Ended, started + 5)
            .await
            .expect("t")
    );
    let stored = stores
        .live
        .class(class.id)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(
        (stored.state, stored.started_at, stored.ended_at),
        (Ended, Some(started), Some(started + 5))
    );
}

pub async fn class_results_and_reminders_are_kept(stores: &Stores, _: &Metrics) {
    let class = live_class(now_millis());
    stores.live.create_class(&class).await.expect("created");
    assert_eq!(stores.live.results(class.id).await.expect("read"), None);
    stores
        .live
        .put_results(class.id, r#"{"entries":[]}"#)
        .await
        .expect("put");
    assert_eq!(
        stores
            .live
            .results(class.id)
            .await
            .expect("read")
            .as_deref(),
        Some(r#"{"entries":[]}"#)
    );

    let (a, b) = (UserId::random(), UserId::random());
    stores.live.add_reminder(class.id, a).await.expect("remind");
    stores.live.add_reminder(class.id, b).await.expect("remind");
    stores.live.add_reminder(class.id, a).await.expect("again");
    stores
        .live
        .remove_reminder(class.id, b)
        .await
        .expect("forget");
    assert_eq!(stores.live.reminders(class.id).await.expect("read"), [a]);
}

pub async fn a_users_likes_and_saves_list_back_with_their_times(stores: &Stores, _: &Metrics) {
    let (who, other) = (UserId::random(), UserId::random());
    let (oats, run) = (
        item(),
        ItemRef::parse("workout", &unique("run")).expect("valid"),
    );
    let before = now_millis();
    stores.likes.like(who, &oats).await.expect("like");
    stores.likes.like(who, &run).await.expect("like");
    stores.likes.like(other, &oats).await.expect("like");
    let mut liked: Vec<ItemRef> = stores
        .likes
        .likes_of(who)
        .await
        .expect("likes")
        .into_iter()
        .map(|m| {
            assert!(m.at >= before - 1_000, "a like keeps when it was made");
            m.item
        })
        .collect();
    liked.sort_by_key(|i| i.to_string());
    let mut expected = vec![oats.clone(), run.clone()];
    expected.sort_by_key(|i| i.to_string());
    assert_eq!(liked, expected);
    stores.likes.unlike(who, &run).await.expect("unlike");
    assert_eq!(stores.likes.likes_of(who).await.expect("likes").len(), 1);

    assert!(stores.saves.save(who, &run).await.expect("save"));
    assert!(!stores.saves.save(who, &run).await.expect("again"));
    let saved = stores.saves.saved_of(who).await.expect("saved");
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].item, run);
    assert!(
        stores
            .saves
            .saved_of(other)
            .await
            .expect("saved")
            .is_empty()
    );
    assert!(stores.saves.unsave(who, &run).await.expect("unsave"));
    assert!(!stores.saves.unsave(who, &run).await.expect("again"));
    assert!(stores.saves.saved_of(who).await.expect("saved").is_empty());
}

pub async fn catalog_items_are_replaced_whole_and_all_read_back(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::ports::store::ContentRecord;
    let recipe = ContentRecord {
        item: item(),
        doc: r#"{"title":"Oats"}"#.into(),
        updated_at: now_millis(),
    };
    let post = ContentRecord {
        item: ItemRef::parse("post", &unique("hello")).expect("valid"),
        doc: r#"{"title":"Hello"}"#.into(),
        updated_at: now_millis(),
    };
    stores
        .content
        .put_content(&[recipe.clone(), post.clone()])
        .await
        .expect("put");
    let edited = ContentRecord {
        doc: r#"{"title":"Overnight oats","published":false}"#.into(),
        updated_at: recipe.updated_at + 5,
        ..recipe.clone()
    };
    stores
        .content
        .put_content(std::slice::from_ref(&edited))
        .await
        .expect("replace");

    let all = stores.content.all_content().await.expect("all");
    let find = |wanted: &ItemRef| {
        let matches: Vec<_> = all.iter().filter(|r| &r.item == wanted).collect();
        assert_eq!(matches.len(), 1, "one row per item");
        matches[0].clone()
    };
    assert_eq!(find(&recipe.item), edited);
    assert_eq!(find(&post.item), post);
}

pub async fn a_setting_is_absent_until_put_and_then_replaced(stores: &Stores, _: &Metrics) {
    let name = unique("client_config");
    assert_eq!(stores.settings.setting(&name).await.expect("read"), None);
    stores
        .settings
        .put_setting(&name, r#"{"a":1}"#)
        .await
        .expect("put");
    stores
        .settings
        .put_setting(&name, r#"{"a":2}"#)
        .await
        .expect("replace");
    assert_eq!(
        stores
            .settings
            .setting(&name)
            .await
            .expect("read")
            .as_deref(),
        Some(r#"{"a":2}"#)
    );
}

fn outbox_item(kind: &str, now: i64) -> fitpulse_actors::ports::commerce::OutboxItem {
    fitpulse_actors::ports::commerce::OutboxItem::new(
        uuid::Uuid::new_v4(),
        kind,
        r#"{"n":1}"#.into(),
        now,
    )
}

pub async fn a_subscription_commit_stores_the_state_its_entitlement_and_its_side_effects(
    stores: &Stores,
    _: &Metrics,
) {
    use fitpulse_actors::ports::commerce::{SubscriptionCommit, SubscriptionRecord};
    let who = UserId::random();
    let now = now_millis();
    let record = SubscriptionRecord {
        user: who,
        id: unique("appstore"),
        product_id: "premium_monthly".into(),
        state: "active".into(),
        expires_at: Some(now + 30 * 86_400_000),
        auto_renew: true,
        trial: true,
        changed_at: now,
    };
    let email = outbox_item("email.send", now);
    let commit = SubscriptionCommit {
        subscription: record.clone(),
        entitlement: Entitlement {
            name: "premium".into(),
            expires_at: record.expires_at,
            source: record.id.clone(),
        },
        outbox: vec![email.clone()],
    };
    stores
        .subscriptions
        .commit_subscription(&commit)
        .await
        .expect("commit");
    assert_eq!(
        stores.subscriptions.subscriptions(who).await.expect("list"),
        vec![record.clone()]
    );
    let granted = stores
        .entitlements
        .entitlements(who)
        .await
        .expect("entitlements");
    assert_eq!(granted[0].expires_at, record.expires_at);
    assert_eq!(
        stores.outbox.outbox_item(email.id).await.expect("item"),
        Some(email.clone())
    );
    let due = stores.outbox.due(now + 1, 1000).await.expect("due");
    assert!(
        due.iter().any(|i| i.id == email.id),
        "the side effect is due"
    );

    let expired = SubscriptionRecord {
        state: "expired".into(),
        auto_renew: false,
        trial: false,
        changed_at: now + 10,
        ..record.clone()
    };
    let commit = SubscriptionCommit {
        subscription: expired.clone(),
        entitlement: Entitlement {
            name: "premium".into(),
            expires_at: Some(now),
            source: record.id.clone(),
        },
        outbox: Vec::new(),
    };
    stores
        .subscriptions
        .commit_subscription(&commit)
        .await
        .expect("commit");
    assert_eq!(
        stores
            .subscriptions
            .subscription(who, &record.id)
            .await
            .expect("get"),
        Some(expired)
    );
    assert!(!stores.entitlements.entitlements(who).await.expect("e")[0].is_active_at(now + 1));
    assert_eq!(
        stores
            .subscriptions
            .subscription(who, "other")
            .await
            .expect("get"),
        None
    );
}

/// The census counts every stored subscription once, by product and state, however many
/// users and changes there were. Products unique to this test keep it apart from others
/// sharing the keyspace.
pub async fn subscriptions_are_counted_by_product_and_state(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::ports::commerce::{SubscriptionCommit, SubscriptionRecord};
    let (trial, yearly) = (unique("trial"), unique("yearly"));
    let now = now_millis();
    let commit = |user: UserId, product: &str, state: &str, n: i64| SubscriptionCommit {
        subscription: SubscriptionRecord {
            user,
            id: format!("web:{product}-{n}"),
            product_id: product.to_owned(),
            state: state.into(),
            expires_at: Some(now + 86_400_000),
            auto_renew: true,
            trial: false,
            changed_at: now + n,
        },
        entitlement: Entitlement {
            name: "premium".into(),
            expires_at: Some(now + 86_400_000),
            source: format!("web:{product}-{n}"),
        },
        outbox: Vec::new(),
    };
    let (ann, bob) = (UserId::random(), UserId::random());
    for c in [
        commit(ann, &trial, "active", 1),
        commit(bob, &trial, "active", 2),
        commit(bob, &trial, "cancelled", 3),
        commit(ann, &yearly, "active", 4),
        // The same subscription moved on: it counts once, in its new state.
        commit(ann, &yearly, "refunded", 4),
    ] {
        stores
            .subscriptions
            .commit_subscription(&c)
            .await
            .expect("commit");
    }
    let counts = stores
        .subscriptions
        .subscription_counts()
        .await
        .expect("counts");
    let mut mine: Vec<(String, String, u64)> = counts
        .into_iter()
        .filter(|c| c.product_id == trial || c.product_id == yearly)
        .map(|c| (c.product_id, c.state, c.count))
        .collect();
    mine.sort();
    let mut expected = vec![
        (trial.clone(), "active".to_owned(), 2),
        (trial.clone(), "cancelled".to_owned(), 1),
        (yearly.clone(), "refunded".to_owned(), 1),
    ];
    expected.sort();
    assert_eq!(mine, expected);
}

pub async fn the_first_link_of_a_purchase_wins(stores: &Stores, _: &Metrics) {
    let purchase = unique("token");
    assert_eq!(
        stores
            .subscriptions
            .purchase_owner(&purchase)
            .await
            .expect("owner"),
        None
    );
    let users: Vec<UserId> = (0..6).map(|_| UserId::random()).collect();
    let links = users
        .iter()
        .map(|u| stores.subscriptions.link_purchase(&purchase, *u));
    let owners: Vec<UserId> = futures_util::future::join_all(links)
        .await
        .into_iter()
        .map(|r| r.expect("link"))
        .collect();
    assert!(
        owners.iter().all(|o| *o == owners[0]),
        "every caller learns the one owner"
    );
    assert!(users.contains(&owners[0]));
    assert_eq!(
        stores
            .subscriptions
            .purchase_owner(&purchase)
            .await
            .expect("owner"),
        Some(owners[0])
    );
}

pub async fn an_outbox_item_is_enqueued_once_claimed_once_and_retried_until_dead(
    stores: &Stores,
    _: &Metrics,
) {
    use fitpulse_actors::ports::commerce::OutboxState;
    let now = now_millis();
    let item = outbox_item("webhook.test", now);
    assert!(stores.outbox.enqueue(&item).await.expect("enqueue"));
    assert!(
        !stores.outbox.enqueue(&item).await.expect("again"),
        "an id is enqueued once"
    );
    assert!(stores.outbox.pending_count().await.expect("count") >= 1);
    let is_due = |items: Vec<fitpulse_actors::ports::commerce::OutboxItem>| {
        items.iter().any(|i| i.id == item.id)
    };
    assert!(is_due(stores.outbox.due(now, 1000).await.expect("due")));

    let claims = (0..6).map(|_| stores.outbox.claim(item.id, now, 30_000));
    let won = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().expect("claim"))
        .count();
    assert_eq!(won, 1, "exactly one worker runs an item");
    assert!(
        !stores
            .outbox
            .claim(item.id, now + 1_000, 30_000)
            .await
            .expect("leased")
    );

    stores
        .outbox
        .fail(item.id, 1, Some(now + 60_000), "smtp down")
        .await
        .expect("fail");
    assert!(
        !is_due(stores.outbox.due(now + 1_000, 1000).await.expect("due")),
        "backs off"
    );
    assert!(is_due(
        stores.outbox.due(now + 60_000, 1000).await.expect("due")
    ));
    assert!(
        stores
            .outbox
            .claim(item.id, now + 60_000, 30_000)
            .await
            .expect("claim after failure")
    );

    stores
        .outbox
        .fail(item.id, 2, None, "gave up")
        .await
        .expect("bury");
    let dead = stores
        .outbox
        .outbox_item(item.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!((dead.state, dead.attempts), (OutboxState::Dead, 2));
    assert_eq!(dead.last_error.as_deref(), Some("gave up"));
    assert!(!is_due(
        stores
            .outbox
            .due(now + 10_000_000, 1000)
            .await
            .expect("due")
    ));
    assert!(
        stores
            .outbox
            .dead_items(1000)
            .await
            .expect("dead")
            .iter()
            .any(|i| i.id == item.id)
    );

    let later = now + 120_000;
    assert!(stores.outbox.revive(item.id, later).await.expect("revive"));
    assert!(
        !stores
            .outbox
            .revive(item.id, later)
            .await
            .expect("only dead items revive")
    );
    assert!(
        !stores
            .outbox
            .dead_items(1000)
            .await
            .expect("dead")
            .iter()
            .any(|i| i.id == item.id)
    );
    assert!(is_due(stores.outbox.due(later, 1000).await.expect("due")));
    assert!(
        stores
            .outbox
            .claim(item.id, later, 30_000)
            .await
            .expect("claim")
    );
    stores.outbox.complete(item.id).await.expect("complete");
    let done = stores
        .outbox
        .outbox_item(item.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(done.state, OutboxState::Done);
    assert!(!is_due(
        stores
            .outbox
            .due(later + 10_000_000, 1000)
            .await
            .expect("due")
    ));
    assert!(
        !stores
            .outbox
            .enqueue(&item)
            .await
            .expect("a done id stays deduplicated")
    );
    assert!(!is_due(
        stores
            .outbox
            .due(later + 10_000_000, 1000)
            .await
            .expect("due")
    ));
}

pub async fn a_held_outbox_item_is_brought_forward_only_while_pending_and_due_later(
    stores: &Stores,
    _: &Metrics,
) {
    let now = now_millis();
    let mut item = outbox_item("push.test", now);
    item.next_at = now + 60_000;
    assert!(stores.outbox.enqueue(&item).await.expect("enqueue"));
    let due_at = |at: i64| {
        let outbox = stores.outbox.clone();
        async move {
            let due = outbox.due(at, 1000).await.expect("due");
            due.iter().any(|i| i.id == item.id)
        }
    };
    assert!(!due_at(now).await, "held");

    assert!(
        !stores
            .outbox
            .bring_forward(item.id, now + 90_000)
            .await
            .expect("later"),
        "never pushed back"
    );
    assert!(
        stores
            .outbox
            .bring_forward(item.id, now)
            .await
            .expect("released")
    );
    assert!(due_at(now).await);
    let read = stores
        .outbox
        .outbox_item(item.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!((read.next_at, read.attempts), (now, 0));
    assert!(
        !stores
            .outbox
            .bring_forward(item.id, now)
            .await
            .expect("again"),
        "due by then already"
    );
    // Brought forward once, it is indexed once: the old time finds it no more than once.
    let found = stores
        .outbox
        .due(now + 60_000, 1000)
        .await
        .expect("due")
        .iter()
        .filter(|i| i.id == item.id)
        .count();
    assert_eq!(found, 1);

    assert!(
        stores
            .outbox
            .claim(item.id, now, 30_000)
            .await
            .expect("claim")
    );
    stores.outbox.complete(item.id).await.expect("complete");
    assert!(
        !stores
            .outbox
            .bring_forward(item.id, now - 1)
            .await
            .expect("done"),
        "only pending items move"
    );
    assert!(!due_at(now + 10_000_000).await);
}

pub async fn feature_messages_list_until_they_expire_and_states_keep_their_first_time(
    stores: &Stores,
    _: &Metrics,
) {
    use fitpulse_actors::ports::messages::{MessageAction, MessageRecord};
    let now = now_millis();
    let live = MessageRecord {
        id: uuid::Uuid::new_v4(),
        doc: r#"{"title":"New 2-week plan"}"#.into(),
        expires_at: now + 60_000,
    };
    let old = MessageRecord {
        id: uuid::Uuid::new_v4(),
        doc: "{}".into(),
        expires_at: now - 1,
    };
    stores.messages.put_message(&live).await.expect("put");
    stores.messages.put_message(&old).await.expect("put");
    assert_eq!(
        stores.messages.message(live.id).await.expect("read"),
        Some(live.clone())
    );
    let unexpired = stores.messages.unexpired_messages(now).await.expect("list");
    assert!(unexpired.contains(&live));
    assert!(!unexpired.iter().any(|m| m.id == old.id));

    let who = UserId::random();
    let read = stores
        .messages
        .mark_message(who, live.id, MessageAction::Read, now)
        .await
        .expect("mark");
    assert_eq!(
        (read.state.read_at, read.state.clicked_at, read.recorded),
        (Some(now), None, true)
    );
    let again = stores
        .messages
        .mark_message(who, live.id, MessageAction::Read, now + 5)
        .await
        .expect("mark");
    assert_eq!(again.state.read_at, Some(now), "the first time is kept");
    assert!(!again.recorded, "a repeated mark is not recorded again");
    let clicked = stores
        .messages
        .mark_message(who, live.id, MessageAction::Clicked, now + 9)
        .await
        .expect("mark");
    assert!(clicked.recorded, "another action is recorded on its own");
    let states = stores.messages.message_states(who).await.expect("states");
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].0, live.id);
    assert_eq!(
        (states[0].1.read_at, states[0].1.clicked_at),
        (Some(now), Some(now + 9))
    );
    assert!(
        stores
            .messages
            .message_states(UserId::random())
            .await
            .expect("s")
            .is_empty()
    );
}

fn a_checkin(
    day: i32,
    mood: &str,
    note: Option<&str>,
) -> fitpulse_actors::ports::community::CheckinRecord {
    fitpulse_actors::ports::community::CheckinRecord {
        day,
        mood: mood.into(),
        satisfaction: 4,
        note: note.map(Into::into),
        updated_at: now_millis(),
    }
}

pub async fn a_days_checkin_is_replaced_and_checkins_list_newest_day_first(
    stores: &Stores,
    _: &Metrics,
) {
    let who = UserId::random();
    let today = (now_millis() / 86_400_000) as i32;
    for day in [today - 2, today, today - 1] {
        stores
            .community
            .put_checkin(who, &a_checkin(day, "great", Some("long run")))
            .await
            .expect("put");
    }
    let replaced = fitpulse_actors::ports::community::CheckinRecord {
        satisfaction: 2,
        ..a_checkin(today - 1, "tired", None)
    };
    stores
        .community
        .put_checkin(who, &replaced)
        .await
        .expect("replace");

    let all = stores.community.checkins(who, 10).await.expect("list");
    let days: Vec<i32> = all.iter().map(|c| c.day).collect();
    assert_eq!(
        days,
        vec![today, today - 1, today - 2],
        "one per day, newest first"
    );
    assert_eq!(all[1], replaced, "the day's check-in replaced whole");
    let newest = stores.community.checkins(who, 2).await.expect("list");
    assert_eq!(newest, all[..2].to_vec());
    assert!(
        stores
            .community
            .checkins(UserId::random(), 10)
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn following_twice_counts_once_and_both_directions_list_back(
    stores: &Stores,
    _: &Metrics,
) {
    let (ada, bob, cy) = (UserId::random(), UserId::random(), UserId::random());
    let community = &stores.community;
    assert!(community.follow(ada, bob).await.expect("follow"));
    assert!(!community.follow(ada, bob).await.expect("follow again"));
    assert!(community.follow(cy, bob).await.expect("follow"));
    assert!(community.follow(ada, cy).await.expect("follow"));

    let followers: HashSet<UserId> = community
        .followers(bob, 10)
        .await
        .expect("followers")
        .into_iter()
        .collect();
    assert_eq!(followers, HashSet::from([ada, cy]));
    assert_eq!(
        community.followers(bob, 1).await.expect("followers").len(),
        1
    );
    let following: HashSet<UserId> = community
        .following(ada)
        .await
        .expect("following")
        .into_iter()
        .collect();
    assert_eq!(following, HashSet::from([bob, cy]));

    assert!(community.unfollow(ada, bob).await.expect("unfollow"));
    assert!(!community.unfollow(ada, bob).await.expect("unfollow again"));
    assert_eq!(
        community.followers(bob, 10).await.expect("followers"),
        vec![cy]
    );
    assert_eq!(community.following(ada).await.expect("following"), vec![cy]);
    assert!(
        community
            .follow(ada, bob)
            .await
            .expect("follow after unfollow")
    );
}

pub async fn blocked_users_list_until_unblocked(stores: &Stores, _: &Metrics) {
    let (ada, bob, cy) = (UserId::random(), UserId::random(), UserId::random());
    let community = &stores.community;
    community.block(ada, bob).await.expect("block");
    community.block(ada, bob).await.expect("block again");
    community.block(ada, cy).await.expect("block");
    let blocked: HashSet<UserId> = community
        .blocked(ada)
        .await
        .expect("blocked")
        .into_iter()
        .collect();
    assert_eq!(blocked, HashSet::from([bob, cy]));
    assert!(community.blocked(bob).await.expect("blocked").is_empty());

    community.unblock(ada, bob).await.expect("unblock");
    community.unblock(ada, bob).await.expect("unblock again");
    assert_eq!(community.blocked(ada).await.expect("blocked"), vec![cy]);
}

pub async fn a_group_admits_exactly_its_max_members_under_concurrent_joins(
    stores: &Stores,
    _: &Metrics,
) {
    use fitpulse_actors::ports::community::{GroupRecord, JoinOutcome};
    let community = &stores.community;
    let group = GroupRecord {
        id: uuid::Uuid::new_v4(),
        name: "Sunrise runners".into(),
        owner: UserId::random(),
        max_members: 5,
        created_at: now_millis(),
    };
    community.create_group(&group).await.expect("create");
    assert_eq!(
        community.group(group.id).await.expect("read"),
        Some(group.clone())
    );
    assert_eq!(
        community.group(uuid::Uuid::new_v4()).await.expect("read"),
        None
    );

    let users: Vec<UserId> = (0..12).map(|_| UserId::random()).collect();
    let joins = users
        .iter()
        .map(|u| community.join_group(group.id, *u, group.max_members));
    let outcomes: Vec<JoinOutcome> = futures_util::future::join_all(joins)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();
    let joined: Vec<UserId> = users
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == JoinOutcome::Joined)
        .map(|(u, _)| *u)
        .collect();
    let refused: Vec<UserId> = users
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == JoinOutcome::Full)
        .map(|(u, _)| *u)
        .collect();
    assert_eq!((joined.len(), refused.len()), (5, 7), "{outcomes:?}");
    let members: HashSet<UserId> = community
        .group_members(group.id)
        .await
        .expect("members")
        .into_iter()
        .collect();
    assert_eq!(members, joined.iter().copied().collect());

    assert_eq!(
        community
            .join_group(group.id, joined[0], 5)
            .await
            .expect("join"),
        JoinOutcome::AlreadyMember
    );
    assert_eq!(
        community
            .join_group(group.id, refused[0], 5)
            .await
            .expect("join"),
        JoinOutcome::Full
    );
    assert!(
        community
            .leave_group(group.id, joined[0])
            .await
            .expect("leave")
    );
    assert!(
        !community
            .leave_group(group.id, joined[0])
            .await
            .expect("leave again")
    );
    assert_eq!(
        community
            .join_group(group.id, refused[0], 5)
            .await
            .expect("join"),
        JoinOutcome::Joined,
        "a leave frees a place"
    );
    assert_eq!(
        community
            .join_group(group.id, refused[1], 5)
            .await
            .expect("join"),
        JoinOutcome::Full
    );
    assert_eq!(
        community
            .group_members(group.id)
            .await
            .expect("members")
            .len(),
        5
    );
}

fn a_post(
    group: uuid::Uuid,
    parent: Option<uuid::Uuid>,
    created_at: i64,
) -> fitpulse_actors::ports::community::PostRecord {
    fitpulse_actors::ports::community::PostRecord {
        id: uuid::Uuid::new_v4(),
        group,
        parent,
        author: UserId::random(),
        text: unique("text"),
        image_ref: parent.is_none().then(|| unique("img")),
        created_at,
        removed: false,
    }
}

pub async fn group_posts_list_newest_first_comments_oldest_first_and_removed_ones_stay(
    stores: &Stores,
    _: &Metrics,
) {
    let community = &stores.community;
    let group = uuid::Uuid::new_v4();
    let t = now_millis();
    let first = a_post(group, None, t);
    let second = a_post(group, None, t + 1);
    let third = a_post(group, None, t + 2);
    let late_comment = a_post(group, Some(first.id), t + 50);
    let early_comment = a_post(group, Some(first.id), t + 30);
    for post in [&second, &first, &late_comment, &third, &early_comment] {
        community.put_post(post).await.expect("put");
    }

    assert_eq!(
        community.post(first.id).await.expect("read"),
        Some(first.clone())
    );
    assert_eq!(
        community.post(early_comment.id).await.expect("read"),
        Some(early_comment.clone())
    );
    assert_eq!(
        community.group_posts(group, 10).await.expect("list"),
        vec![third.clone(), second.clone(), first.clone()],
        "posts only, newest first"
    );
    assert_eq!(
        community.group_posts(group, 2).await.expect("list"),
        vec![third.clone(), second.clone()]
    );
    assert_eq!(
        community.comments(first.id).await.expect("comments"),
        vec![early_comment.clone(), late_comment.clone()],
        "oldest first"
    );
    assert!(
        community
            .comments(second.id)
            .await
            .expect("comments")
            .is_empty()
    );

    let taken_down = fitpulse_actors::ports::community::PostRecord {
        removed: true,
        ..second.clone()
    };
    community.put_post(&taken_down).await.expect("remove");
    let removed_comment = fitpulse_actors::ports::community::PostRecord {
        removed: true,
        ..late_comment.clone()
    };
    community.put_post(&removed_comment).await.expect("remove");
    assert_eq!(
        community.post(second.id).await.expect("read"),
        Some(taken_down.clone())
    );
    assert_eq!(
        community.group_posts(group, 10).await.expect("list"),
        vec![third, taken_down, first.clone()]
    );
    assert_eq!(
        community.comments(first.id).await.expect("comments"),
        vec![early_comment, removed_comment]
    );
    assert_eq!(
        community.post(uuid::Uuid::new_v4()).await.expect("read"),
        None
    );
}

pub async fn reports_list_newest_first_up_to_the_limit(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::ports::community::ReportRecord;
    // Dated ahead of now, so these are the newest reports even in a shared keyspace; the
    // oldest lies two days earlier, in another day's bucket.
    let base = now_millis() + 365 * 86_400_000;
    let report = |created_at: i64| ReportRecord {
        id: uuid::Uuid::new_v4(),
        reporter: UserId::random(),
        target_kind: "post".into(),
        target_id: uuid::Uuid::new_v4().to_string(),
        reason: unique("spam"),
        created_at,
    };
    let oldest = report(base - 2 * 86_400_000);
    let middle = report(base);
    let newest = report(base + 1_000);
    for r in [&middle, &oldest, &newest] {
        stores.community.put_report(r).await.expect("put");
    }
    assert_eq!(
        stores.community.reports(2).await.expect("list"),
        vec![newest.clone(), middle.clone()]
    );
    let ours: HashSet<uuid::Uuid> = [oldest.id, middle.id, newest.id].into();
    let listed: Vec<ReportRecord> = stores
        .community
        .reports(1_000)
        .await
        .expect("list")
        .into_iter()
        .filter(|r| ours.contains(&r.id))
        .collect();
    assert_eq!(listed, vec![newest, middle, oldest]);
    assert!(stores.community.reports(0).await.expect("list").is_empty());
}

pub async fn a_users_groups_follow_their_joins_and_leaves(stores: &Stores, _: &Metrics) {
    use fitpulse_actors::ports::community::GroupRecord;
    let who = UserId::random();
    let groups: Vec<GroupRecord> = (0..2)
        .map(|n| GroupRecord {
            id: uuid::Uuid::new_v4(),
            name: format!("Group {n}"),
            owner: UserId::random(),
            max_members: 5,
            created_at: now_millis(),
        })
        .collect();
    for group in &groups {
        stores.community.create_group(group).await.expect("create");
        stores
            .community
            .join_group(group.id, who, 5)
            .await
            .expect("join");
    }
    let mut mine = stores.community.groups_of(who).await.expect("groups");
    mine.sort();
    let mut expected: Vec<uuid::Uuid> = groups.iter().map(|g| g.id).collect();
    expected.sort();
    assert_eq!(mine, expected);
    stores
        .community
        .leave_group(groups[0].id, who)
        .await
        .expect("leave");
    assert_eq!(
        stores.community.groups_of(who).await.expect("groups"),
        vec![groups[1].id]
    );
    assert!(
        stores
            .community
            .groups_of(UserId::random())
            .await
            .expect("none")
            .is_empty()
    );
}

pub async fn token_revocations_list_since_a_moment_while_they_are_kept(
    stores: &Stores,
    _: &Metrics,
) {
    use fitpulse_actors::ports::store::Revocation;
    let now = now_millis();
    let (old, recent, expired) = (UserId::random(), UserId::random(), UserId::random());
    for (user, ago, kept_for) in [
        (old, 5_000, 60_000),
        (recent, 1_000, 60_000),
        (expired, 2_000, 1_000),
    ] {
        stores
            .revocations
            .revoke_tokens(
                Revocation {
                    user,
                    at: now - ago,
                },
                now - ago + kept_for,
            )
            .await
            .expect("stored");
    }
    let mine = |found: Vec<Revocation>| -> Vec<UserId> {
        found
            .into_iter()
            .filter(|r| [old, recent, expired].contains(&r.user))
            .map(|r| r.user)
            .collect()
    };
    let since = stores
        .revocations
        .revocations_since(now - 3_000, now)
        .await
        .expect("read");
    assert_eq!(
        mine(since),
        [recent],
        "too old or no longer kept are left out"
    );
    let all = stores
        .revocations
        .revocations_since(now - 10_000, now)
        .await
        .expect("read");
    assert_eq!(mine(all.clone()), [old, recent], "oldest first");
    let at = all.iter().find(|r| r.user == old).expect("old").at;
    assert_eq!(
        at,
        now - 5_000,
        "the time of the revocation reads back exactly"
    );
}

pub async fn blocks_page_by_user_id_and_blockers_are_found_among_candidates(
    stores: &Stores,
    _: &Metrics,
) {
    let community = &stores.community;
    let user = UserId::random();
    let mut blocked: Vec<UserId> = (0..5).map(|_| UserId::random()).collect();
    for other in &blocked {
        community.block(user, *other).await.expect("block");
    }
    blocked.sort_by_key(|u| u.as_uuid());
    let first = community.blocked_page(user, None, 2).await.expect("page");
    assert_eq!(first, blocked[..2]);
    let second = community
        .blocked_page(user, Some(first[1]), 2)
        .await
        .expect("page");
    assert_eq!(second, blocked[2..4]);
    let last = community
        .blocked_page(user, Some(second[1]), 2)
        .await
        .expect("page");
    assert_eq!(last, blocked[4..]);

    // Who blocked `victim`, among candidates: two of three did.
    let victim = UserId::random();
    let (a, b, c) = (UserId::random(), UserId::random(), UserId::random());
    community.block(a, victim).await.expect("block");
    community.block(c, victim).await.expect("block");
    let mut found = community
        .blockers_among(victim, &[a, b, c])
        .await
        .expect("read");
    found.sort_by_key(|u| u.as_uuid());
    let mut expected = vec![a, c];
    expected.sort_by_key(|u| u.as_uuid());
    assert_eq!(found, expected);
    community.unblock(a, victim).await.expect("unblock");
    assert_eq!(
        community
            .blockers_among(victim, &[a, b, c])
            .await
            .expect("read"),
        [c]
    );
}

pub use super::suite_drops::*;
pub use super::suite_messages::*;
pub use super::suite_push::*;
pub use super::suite_workouts::*;
