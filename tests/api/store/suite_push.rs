//! The conformance suite's push part: devices and who holds each push token, the per-user
//! device limit, the scan over every device, notification settings, daily push counts and
//! what an account erasure leaves of them, against every backend. Tokens and device ids
//! are unique per test, so tests may share a keyspace.

use std::collections::HashMap;

use fitpulse::metrics::Metrics;
use fitpulse::store::Stores;
use fitpulse_actors::domain::{DisplayName, Email, Locale, Role, Units, UserId, now_millis};
use fitpulse_actors::ports::push::{DeviceRegistration, PushDevice, PushPlatform};
use fitpulse_actors::ports::store::UserRecord;

const MAX_DEVICES: usize = 20;

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A device with every optional field set, registered at `at`.
fn device(at: i64) -> PushDevice {
    PushDevice {
        device_id: unique("install"),
        platform: PushPlatform::Ios,
        push_token: unique("token"),
        app_version: Some("3.14.0".into()),
        locale: Some("pt-BR".into()),
        timezone: Some("Europe/Lisbon".into()),
        updated_at: at,
    }
}

/// A device with none of the optional fields.
fn bare_device(at: i64) -> PushDevice {
    PushDevice {
        platform: PushPlatform::Android,
        app_version: None,
        locale: None,
        timezone: None,
        ..device(at)
    }
}

async fn put(stores: &Stores, user: UserId, device: &PushDevice) -> DeviceRegistration {
    stores
        .push
        .put_device(user, device, MAX_DEVICES)
        .await
        .expect("put device")
}

async fn devices(stores: &Stores, user: UserId) -> Vec<PushDevice> {
    stores.push.devices(user).await.expect("devices")
}

fn created() -> DeviceRegistration {
    DeviceRegistration {
        created: true,
        ..DeviceRegistration::default()
    }
}

pub async fn a_device_reads_back_whole_and_devices_list_most_recent_first(
    stores: &Stores,
    metrics: &Metrics,
) {
    let user = UserId::random();
    let now = now_millis();
    let (old, newest, middle) = (device(now), bare_device(now + 20), device(now + 10));
    for d in [&old, &newest, &middle] {
        assert_eq!(put(stores, user, d).await, created());
    }
    assert_eq!(devices(stores, user).await, vec![newest, middle, old]);
    assert_eq!(devices(stores, UserId::random()).await, vec![]);

    let text = metrics.render();
    let timed = format!(
        r#"fitpulse_store_op_duration_seconds_count{{backend="{}",op="put_device"}} 3"#,
        stores.backend
    );
    assert!(text.contains(&timed), "{text}");
}

pub async fn updating_a_device_keeps_one_row_and_releases_its_old_token(
    stores: &Stores,
    _: &Metrics,
) {
    let user = UserId::random();
    let first = device(now_millis());
    put(stores, user, &first).await;
    let refreshed = PushDevice {
        push_token: unique("token"),
        app_version: None,
        locale: Some("en-GB".into()),
        updated_at: first.updated_at + 1,
        ..first.clone()
    };
    assert_eq!(
        put(stores, user, &refreshed).await,
        DeviceRegistration::default(),
        "an update creates nothing, takes nothing, evicts nothing"
    );
    assert_eq!(devices(stores, user).await, vec![refreshed.clone()]);

    // The old token reaches nobody now: another member registering it takes it from no one.
    let other = UserId::random();
    let reused = PushDevice {
        push_token: first.push_token.clone(),
        ..device(now_millis())
    };
    assert_eq!(put(stores, other, &reused).await, created());
    assert_eq!(devices(stores, user).await, vec![refreshed]);
}

pub async fn a_push_token_belongs_to_the_device_that_registered_it_last(
    stores: &Stores,
    _: &Metrics,
) {
    let (a, b) = (UserId::random(), UserId::random());
    let now = now_millis();
    let on_a = device(now);
    let a_other = device(now);
    put(stores, a, &on_a).await;
    put(stores, a, &a_other).await;

    let on_b = PushDevice {
        push_token: on_a.push_token.clone(),
        ..device(now + 1)
    };
    let taken = put(stores, b, &on_b).await;
    assert_eq!(
        taken,
        DeviceRegistration {
            created: true,
            token_taken_from: vec![(a, on_a.device_id.clone())],
            evicted: vec![],
        }
    );
    assert_eq!(
        devices(stores, a).await,
        vec![a_other],
        "only A's other device"
    );
    assert_eq!(devices(stores, b).await, vec![on_b.clone()]);

    // Registering it again from the same device takes nothing.
    let again = PushDevice {
        updated_at: now + 2,
        ..on_b.clone()
    };
    assert_eq!(put(stores, b, &again).await, DeviceRegistration::default());

    // Another device of the same member takes it too.
    let b_second = PushDevice {
        push_token: on_b.push_token.clone(),
        ..device(now + 3)
    };
    let moved = put(stores, b, &b_second).await;
    assert_eq!(moved.token_taken_from, vec![(b, on_b.device_id.clone())]);
    assert_eq!(devices(stores, b).await, vec![b_second]);
}

pub async fn beyond_the_device_limit_the_least_recently_registered_go(
    stores: &Stores,
    _: &Metrics,
) {
    let user = UserId::random();
    let now = now_millis();
    // Registered out of time order, so the store must go by the time, not the order.
    let mut registered: Vec<PushDevice> = (0..MAX_DEVICES as i64)
        .map(|i| device(now + (i * 7) % 20))
        .collect();
    for d in &registered {
        assert!(put(stores, user, d).await.evicted.is_empty());
    }
    registered.sort_by_key(|d| d.updated_at);
    let oldest = registered[0].device_id.clone();

    // An update at the limit evicts nothing.
    let update = PushDevice {
        updated_at: now + 30,
        ..registered[5].clone()
    };
    assert!(put(stores, user, &update).await.evicted.is_empty());

    let newest = device(now + 40);
    let outcome = put(stores, user, &newest).await;
    assert_eq!(outcome.evicted, vec![oldest.clone()]);
    assert!(outcome.created);
    let listed = devices(stores, user).await;
    assert_eq!(listed.len(), MAX_DEVICES);
    assert_eq!(listed[0], newest);
    assert!(listed.iter().all(|d| d.device_id != oldest));

    // A lower limit evicts the least recently registered first.
    let expected: Vec<String> = listed
        .iter()
        .rev()
        .take(3)
        .map(|d| d.device_id.clone())
        .collect();
    let latest = device(now + 50);
    let outcome = stores
        .push
        .put_device(user, &latest, MAX_DEVICES - 2)
        .await
        .expect("put");
    assert_eq!(outcome.evicted, expected);
    assert_eq!(devices(stores, user).await.len(), MAX_DEVICES - 2);

    // An evicted device's token is free: registering it elsewhere takes it from no one.
    let evicted = registered
        .iter()
        .find(|d| d.device_id == oldest)
        .expect("the oldest");
    let reused = PushDevice {
        push_token: evicted.push_token.clone(),
        ..device(now)
    };
    assert_eq!(put(stores, UserId::random(), &reused).await, created());
}

pub async fn deleting_a_device_answers_whether_it_was_there(stores: &Stores, _: &Metrics) {
    let user = UserId::random();
    let (gone, kept) = (device(now_millis()), device(now_millis()));
    put(stores, user, &gone).await;
    put(stores, user, &kept).await;
    let push = &stores.push;
    assert!(
        push.delete_device(user, &gone.device_id)
            .await
            .expect("delete")
    );
    assert!(
        !push
            .delete_device(user, &gone.device_id)
            .await
            .expect("again")
    );
    assert!(
        !push
            .delete_device(UserId::random(), &kept.device_id)
            .await
            .expect("another member's id"),
        "a device id is the user's own"
    );
    assert_eq!(devices(stores, user).await, vec![kept]);

    let reused = PushDevice {
        push_token: gone.push_token.clone(),
        ..device(now_millis())
    };
    assert_eq!(put(stores, UserId::random(), &reused).await, created());
}

pub async fn a_dead_token_removes_its_device_only_while_the_device_holds_it(
    stores: &Stores,
    _: &Metrics,
) {
    let user = UserId::random();
    let first = device(now_millis());
    put(stores, user, &first).await;
    let push = &stores.push;
    let id = first.device_id.as_str();
    assert!(
        !push
            .delete_device_token(user, id, &unique("token"))
            .await
            .expect("another token")
    );
    // The app registered a fresh token before the provider answered for the old one.
    let fresh = PushDevice {
        push_token: unique("token"),
        updated_at: first.updated_at + 1,
        ..first.clone()
    };
    put(stores, user, &fresh).await;
    assert!(
        !push
            .delete_device_token(user, id, &first.push_token)
            .await
            .expect("the old token")
    );
    assert_eq!(devices(stores, user).await, vec![fresh.clone()]);
    assert!(
        push.delete_device_token(user, id, &fresh.push_token)
            .await
            .expect("the held token")
    );
    assert_eq!(devices(stores, user).await, vec![]);
    assert!(
        !push
            .delete_device_token(user, id, &fresh.push_token)
            .await
            .expect("again")
    );
    let reused = PushDevice {
        push_token: fresh.push_token.clone(),
        ..device(now_millis())
    };
    assert_eq!(put(stores, UserId::random(), &reused).await, created());
}

pub async fn a_device_scan_visits_every_device_once_page_by_page(stores: &Stores, _: &Metrics) {
    const LIMIT: usize = 10;
    let users: Vec<UserId> = (0..4).map(|_| UserId::random()).collect();
    let mut expected: HashMap<(UserId, String), PushDevice> = HashMap::new();
    for i in 0..25 {
        let user = users[i % users.len()];
        let d = if i % 2 == 0 {
            device(now_millis())
        } else {
            bare_device(now_millis())
        };
        put(stores, user, &d).await;
        expected.insert((user, d.device_id.clone()), d);
    }

    let mut seen: HashMap<(UserId, String), PushDevice> = HashMap::new();
    let (mut after, mut pages, mut total) = (None::<String>, 0usize, 0usize);
    loop {
        let page = stores
            .push
            .device_page(after.as_deref(), LIMIT)
            .await
            .expect("page");
        pages += 1;
        assert!(
            page.devices.len() <= LIMIT,
            "{} devices",
            page.devices.len()
        );
        total += page.devices.len();
        for owned in page.devices {
            let id = (owned.user, owned.device.device_id.clone());
            if expected.contains_key(&id) {
                let twice = seen.insert(id, owned.device);
                assert!(twice.is_none(), "a device came twice: {twice:?}");
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
        assert!(pages < 100_000, "the scan does not end");
    }
    assert_eq!(seen, expected);
    // Pages are full until the end (other tests may add devices while this one scans).
    assert!(
        pages <= total / LIMIT + 2,
        "{pages} pages for {total} devices"
    );
}

pub async fn a_malformed_device_cursor_is_an_error(stores: &Stores, _: &Metrics) {
    for cursor in ["not a cursor!", "AAAA", ""] {
        let answer = stores.push.device_page(Some(cursor), 10).await;
        assert!(answer.is_err(), "{cursor:?}: {answer:?}");
    }
}

pub async fn notification_settings_are_absent_until_put_and_then_replaced(
    stores: &Stores,
    _: &Metrics,
) {
    let (user, other) = (UserId::random(), UserId::random());
    let push = &stores.push;
    assert_eq!(push.notification_settings(user).await.expect("read"), None);
    let first = r#"{"feature_messages":true,"quiet_hours":{"from":"22:00","to":"07:00"}}"#;
    let second = r#"{"feature_messages":false}"#;
    push.put_notification_settings(user, first)
        .await
        .expect("put");
    assert_eq!(
        push.notification_settings(user).await.expect("read"),
        Some(first.to_owned())
    );
    push.put_notification_settings(user, second)
        .await
        .expect("replace");
    assert_eq!(
        push.notification_settings(user).await.expect("read"),
        Some(second.to_owned())
    );
    assert_eq!(push.notification_settings(other).await.expect("read"), None);
}

pub async fn pushes_are_counted_per_user_day_and_kind(stores: &Stores, _: &Metrics) {
    let (user, other) = (UserId::random(), UserId::random());
    let day = i32::try_from(now_millis() / 86_400_000).expect("a day");
    let count = |user: UserId, day: i32, kind: &'static str| {
        let push = stores.push.clone();
        async move { push.count_push(user, day, kind).await.expect("count") }
    };
    assert_eq!(count(user, day, "feature").await, 1);
    assert_eq!(count(user, day, "feature").await, 2);
    assert_eq!(count(user, day, "reminder").await, 1);
    assert_eq!(count(user, day - 1, "feature").await, 1);
    assert_eq!(count(other, day, "feature").await, 1);
    // A count two days later still keeps this day's.
    assert_eq!(count(user, day + 2, "feature").await, 1);
    assert_eq!(count(user, day, "feature").await, 3);
    assert_eq!(count(user, day, "reminder").await, 2);
}

pub async fn a_batch_of_pushes_is_counted_as_each_would_be(stores: &Stores, _: &Metrics) {
    let (user, other) = (UserId::random(), UserId::random());
    let day = i32::try_from(now_millis() / 86_400_000).expect("a day");
    stores
        .push
        .count_push(user, day, "feature")
        .await
        .expect("count");
    let counts = stores
        .push
        .count_pushes(&[(user, day), (other, day), (user, day - 1)], "feature")
        .await
        .expect("counts");
    assert_eq!(counts, [2, 1, 1]);
    assert_eq!(
        stores
            .push
            .count_pushes(&[(other, day), (user, day)], "feature")
            .await
            .expect("counts"),
        [2, 3]
    );
    assert!(
        stores
            .push
            .count_pushes(&[], "feature")
            .await
            .expect("none")
            .is_empty()
    );
}

pub async fn erasing_a_user_removes_their_devices_tokens_settings_and_counts(
    stores: &Stores,
    _: &Metrics,
) {
    let email = format!("{}@example.com", unique("push"));
    let record = UserRecord {
        id: UserId::random(),
        email: Some(Email::parse(&email).expect("valid test email")),
        display_name: DisplayName::parse("Ada").expect("valid"),
        password_hash: None,
        roles: [Role::Member].into(),
        locale: Locale::parse("pt-BR").expect("valid"),
        units: Units::Metric,
        device_id: None,
        created_at: now_millis(),
        email_verified: false,
        timezone: None,
    };
    stores.users.create_user(&record).await.expect("create");
    let (gone, stays) = (record.id, UserId::random());
    let push = &stores.push;
    let (phone, tablet, theirs) = (
        device(now_millis()),
        bare_device(now_millis()),
        device(now_millis()),
    );
    put(stores, gone, &phone).await;
    put(stores, gone, &tablet).await;
    put(stores, stays, &theirs).await;
    let doc = r#"{"feature_messages":true}"#;
    push.put_notification_settings(gone, doc)
        .await
        .expect("put");
    push.put_notification_settings(stays, doc)
        .await
        .expect("put");
    let day = i32::try_from(now_millis() / 86_400_000).expect("a day");
    push.count_push(gone, day, "feature").await.expect("count");
    push.count_push(stays, day, "feature").await.expect("count");

    let data = &stores.account_data;
    // Positive control: the walk sees the member's push rows and tokens before.
    let before = data.rows_mentioning(&gone.to_string()).await.expect("walk");
    assert!(before.len() >= 5, "{before:#?}");
    let token_rows = data.rows_mentioning(&phone.push_token).await.expect("walk");
    assert!(!token_rows.is_empty());

    data.erase_user(gone, UserId::random())
        .await
        .expect("erase");
    let left = data.rows_mentioning(&gone.to_string()).await.expect("walk");
    assert!(left.is_empty(), "rows still naming the member: {left:#?}");
    for token in [&phone.push_token, &tablet.push_token] {
        let left = data.rows_mentioning(token).await.expect("walk");
        assert!(left.is_empty(), "rows still holding {token}: {left:#?}");
    }
    assert_eq!(devices(stores, gone).await, vec![]);
    assert_eq!(push.notification_settings(gone).await.expect("read"), None);

    // Someone else's push data stays.
    assert_eq!(devices(stores, stays).await, vec![theirs]);
    assert_eq!(
        push.notification_settings(stays).await.expect("read"),
        Some(doc.to_owned())
    );
    assert_eq!(
        push.count_push(stays, day, "feature").await.expect("count"),
        2
    );

    // A new account registering the token takes it from no one; the count starts over.
    let reused = PushDevice {
        push_token: phone.push_token.clone(),
        ..device(now_millis())
    };
    assert_eq!(put(stores, UserId::random(), &reused).await, created());
    assert_eq!(
        push.count_push(gone, day, "feature").await.expect("count"),
        1
    );
}
