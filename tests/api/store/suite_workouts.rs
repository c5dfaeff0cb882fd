//! The conformance suite's workouts and replays: history paging and its cursor, re-recording
//! a workout, personal-record raises (alone and racing), a class's bound on timelines and
//! their exact samples, replays created once and finished once, and what an account
//! erasure leaves of them, against every backend. User, class and replay ids are random
//! per test, so tests may share a keyspace.

use fitpulse::metrics::Metrics;
use fitpulse::store::Stores;
use fitpulse_actors::domain::{
    ClassId, DisplayName, Email, Locale, Role, Units, UnixMillis, UserId, now_millis,
};
use fitpulse_actors::ports::replays::{ReplayRecord, Timeline};
use fitpulse_actors::ports::store::{StoreError, UserRecord};
use fitpulse_actors::ports::workouts::{WorkoutCursor, WorkoutKind, WorkoutRecord};
use uuid::Uuid;

fn workout(user: UserId, finished_at: UnixMillis) -> WorkoutRecord {
    WorkoutRecord {
        id: Uuid::new_v4(),
        user,
        kind: WorkoutKind::Live,
        class_id: Some(ClassId::random()),
        workout_id: Some("hiit-20".into()),
        title: "HIIT 20".into(),
        started_at: finished_at - 1_200_000,
        finished_at,
        output: Some(212.375),
        reps: Some(140),
        rank: Some(3),
        of: Some(41),
    }
}

/// A replay taken on demand, with none of the optional fields.
fn bare_workout(user: UserId, finished_at: UnixMillis) -> WorkoutRecord {
    WorkoutRecord {
        kind: WorkoutKind::Replay,
        class_id: None,
        workout_id: None,
        output: None,
        reps: None,
        rank: None,
        of: None,
        ..workout(user, finished_at)
    }
}

fn timeline(taker: UserId, recorded_at: UnixMillis, output: Vec<f32>) -> Timeline {
    Timeline {
        taker,
        name: "Ada".into(),
        kind: WorkoutKind::Live,
        recorded_at,
        output,
    }
}

async fn history(
    stores: &Stores,
    user: UserId,
    cursor: Option<WorkoutCursor>,
    limit: usize,
) -> Vec<WorkoutRecord> {
    stores
        .workouts
        .workouts(user, cursor, limit)
        .await
        .expect("history")
}

fn cursor_after(w: &WorkoutRecord) -> WorkoutCursor {
    WorkoutCursor {
        finished_at: w.finished_at,
        id: w.id,
    }
}

pub async fn workout_history_pages_newest_first_then_by_id(stores: &Stores, metrics: &Metrics) {
    let (user, other) = (UserId::random(), UserId::random());
    let now = now_millis();
    // Three share a millisecond, so a page boundary falls among them.
    let mut all: Vec<WorkoutRecord> = [now - 50, now, now, now, now - 10, now - 40, now - 20]
        .into_iter()
        .enumerate()
        .map(|(i, at)| {
            if i % 2 == 0 {
                workout(user, at)
            } else {
                bare_workout(user, at)
            }
        })
        .collect();
    for w in &all {
        stores.workouts.record_workout(w).await.expect("record");
    }
    stores
        .workouts
        .record_workout(&workout(other, now + 5))
        .await
        .expect("record");
    all.sort_by(|a, b| b.finished_at.cmp(&a.finished_at).then(a.id.cmp(&b.id)));

    assert_eq!(history(stores, user, None, 100).await, all);
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = history(stores, user, cursor, 3).await;
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        cursor = Some(cursor_after(last));
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert_eq!(history(stores, user, None, 0).await, vec![]);
    assert_eq!(history(stores, UserId::random(), None, 10).await, vec![]);

    let timed = format!(
        r#"fitpulse_store_op_duration_seconds_count{{backend="{}",op="record_workout"}} 8"#,
        stores.backend
    );
    assert!(metrics.render().contains(&timed), "{timed} not in metrics");
}

pub async fn recording_a_workout_again_replaces_it(stores: &Stores, _: &Metrics) {
    let user = UserId::random();
    let now = now_millis();
    let (first, kept) = (workout(user, now - 1_000), workout(user, now - 500));
    for w in [&first, &kept] {
        stores.workouts.record_workout(w).await.expect("record");
    }
    // The same record again, then with a later finish and other numbers.
    stores.workouts.record_workout(&first).await.expect("again");
    assert_eq!(
        history(stores, user, None, 10).await,
        vec![kept.clone(), first.clone()]
    );
    let moved = WorkoutRecord {
        finished_at: now,
        output: Some(250.5),
        rank: Some(1),
        ..first.clone()
    };
    stores
        .workouts
        .record_workout(&moved)
        .await
        .expect("replace");
    assert_eq!(history(stores, user, None, 10).await, vec![moved, kept]);
}

pub async fn a_personal_record_is_raised_only_by_a_better_value(stores: &Stores, _: &Metrics) {
    let user = UserId::random();
    let (workouts, w) = (&stores.workouts, "ftp-test");
    assert_eq!(workouts.personal_record(user, w).await.expect("read"), None);
    assert_eq!(workouts.personal_records(user).await.expect("read"), vec![]);

    let first = workouts
        .raise_personal_record(user, w, Some(180.25), Some(50), 1_000)
        .await
        .expect("raise");
    assert_eq!(
        (
            first.best_output,
            first.best_output_at,
            first.most_reps,
            first.most_reps_at
        ),
        (Some(180.25), Some(1_000), Some(50), Some(1_000))
    );
    // Lower (and equal) values leave the bests and their times.
    let same = workouts
        .raise_personal_record(user, w, Some(170.0), Some(50), 2_000)
        .await
        .expect("raise");
    assert_eq!(same, first);
    // One best rises on its own, with its own time.
    let reps = workouts
        .raise_personal_record(user, w, Some(100.0), Some(61), 3_000)
        .await
        .expect("raise");
    assert_eq!(
        (
            reps.best_output,
            reps.best_output_at,
            reps.most_reps,
            reps.most_reps_at
        ),
        (Some(180.25), Some(1_000), Some(61), Some(3_000))
    );
    assert_eq!(
        workouts.personal_record(user, w).await.expect("read"),
        Some(reps.clone())
    );

    let only_output = workouts
        .raise_personal_record(user, "row-5k", Some(99.5), None, 4_000)
        .await
        .expect("raise");
    assert_eq!(
        (only_output.most_reps, only_output.most_reps_at),
        (None, None)
    );
    let mut all = workouts.personal_records(user).await.expect("read");
    all.sort_by(|a, b| a.workout_id.cmp(&b.workout_id));
    assert_eq!(all, vec![reps, only_output]);
    assert_eq!(
        workouts
            .personal_records(UserId::random())
            .await
            .expect("read"),
        vec![]
    );
}

pub async fn racing_raises_of_a_personal_record_end_at_the_highest(stores: &Stores, _: &Metrics) {
    let user = UserId::random();
    let raises = (1..=8_u32).map(|n| {
        let workouts = stores.workouts.clone();
        tokio::spawn(async move {
            workouts
                .raise_personal_record(
                    user,
                    "sprint",
                    Some(f64::from(n) * 10.5),
                    Some(n),
                    i64::from(n),
                )
                .await
                .expect("raise")
        })
    });
    for raise in futures_util::future::join_all(raises).await {
        let after = raise.expect("task");
        // Each answer is a state the record passed through: at least the raise itself.
        assert!(after.most_reps.is_some_and(|r| r >= 1));
    }
    let best = stores
        .workouts
        .personal_record(user, "sprint")
        .await
        .expect("read")
        .expect("a record");
    assert_eq!(
        (
            best.best_output,
            best.best_output_at,
            best.most_reps,
            best.most_reps_at
        ),
        (Some(84.0), Some(8), Some(8), Some(8))
    );
}

pub async fn a_class_keeps_at_most_max_timelines_even_under_concurrent_puts(
    stores: &Stores,
    _: &Metrics,
) {
    let class = ClassId::random();
    let max = 5;
    let puts = (0..12).map(|n| {
        let replays = stores.replays.clone();
        tokio::spawn(async move {
            let t = timeline(UserId::random(), 1_000 + n, vec![n as f32; 3]);
            let kept = replays.put_timeline(class, &t, max).await.expect("put");
            (t, kept)
        })
    });
    let outcomes: Vec<(Timeline, bool)> = futures_util::future::join_all(puts)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let kept: Vec<&Timeline> = outcomes
        .iter()
        .filter(|(_, k)| *k)
        .map(|(t, _)| t)
        .collect();
    assert_eq!(kept.len(), max, "{outcomes:?}");
    let stored = stores.replays.timelines(class, 100).await.expect("read");
    assert_eq!(stored.len(), max);
    assert!(stored.iter().all(|t| kept.contains(&t)));

    // A kept timeline may be written again; a new one may not.
    let again = Timeline {
        output: vec![9.5; 4],
        ..kept[0].clone()
    };
    let replays = &stores.replays;
    assert!(replays.put_timeline(class, &again, max).await.expect("put"));
    let extra = timeline(UserId::random(), 1, vec![1.0]);
    assert!(!replays.put_timeline(class, &extra, max).await.expect("put"));
    let stored = replays.timelines(class, 100).await.expect("read");
    assert_eq!(stored.len(), max);
    assert!(stored.contains(&again));
    assert_eq!(replays.timelines(class, 2).await.expect("read").len(), 2);
    assert!(
        !replays
            .put_timeline(ClassId::random(), &extra, 0)
            .await
            .expect("put")
    );
}

pub async fn timelines_read_back_exactly(stores: &Stores, _: &Metrics) {
    let class = ClassId::random();
    // Values with no short decimal form among them: the one just above 0.3, a subnormal.
    let samples = vec![
        0.0,
        0.1,
        f32::from_bits(0x3e99_999b),
        f32::from_bits(1),
        1.0e-7,
        12_345.679,
        f32::MAX,
        3.4028e38,
        -0.0,
    ];
    let mut written = vec![
        timeline(UserId::random(), now_millis(), samples.clone()),
        Timeline {
            kind: WorkoutKind::Replay,
            name: "Grace Hopper".into(),
            ..timeline(
                UserId::random(),
                now_millis() + 7,
                samples.iter().rev().copied().collect(),
            )
        },
        timeline(UserId::random(), now_millis(), vec![]),
    ];
    // Two timelines of one taker at different times are two timelines.
    written.push(Timeline {
        recorded_at: written[0].recorded_at + 60_000,
        ..written[0].clone()
    });
    for t in &written {
        assert!(
            stores
                .replays
                .put_timeline(class, t, 10)
                .await
                .expect("put")
        );
    }
    let mut back = stores.replays.timelines(class, 10).await.expect("read");
    let order = |a: &Timeline, b: &Timeline| {
        (a.taker.to_string(), a.recorded_at).cmp(&(b.taker.to_string(), b.recorded_at))
    };
    back.sort_by(order);
    written.sort_by(order);
    let bits = |ts: &[Timeline]| -> Vec<Vec<u32>> {
        ts.iter()
            .map(|t| t.output.iter().map(|v| v.to_bits()).collect())
            .collect()
    };
    assert_eq!(bits(&back), bits(&written));
    assert_eq!(back, written);
}

/// A user's timelines (each with its class) and replays, through their indexes, at most
/// the limit; another user's in the same class are not theirs.
pub async fn a_users_timelines_and_replays_are_listed_up_to_the_limit(
    stores: &Stores,
    _: &Metrics,
) {
    let replays = &stores.replays;
    let (taker, other) = (UserId::random(), UserId::random());
    let (first, second) = (ClassId::random(), ClassId::random());
    let at = now_millis();
    let mine = [
        (first, timeline(taker, at, vec![0.5, 1.25])),
        (second, timeline(taker, at + 1, vec![2.0])),
        (second, timeline(taker, at + 2, vec![3.0, 4.5])),
    ];
    for (class, t) in &mine {
        assert!(replays.put_timeline(*class, t, 50).await.expect("put"));
    }
    let theirs = timeline(other, at, vec![7.0]);
    assert!(replays.put_timeline(first, &theirs, 50).await.expect("put"));
    let mut listed = replays.timelines_of(taker, 100).await.expect("read");
    listed.sort_by_key(|(_, t)| t.recorded_at);
    assert_eq!(listed, mine.to_vec());
    assert_eq!(replays.timelines_of(taker, 2).await.expect("read").len(), 2);
    assert!(
        replays
            .timelines_of(taker, 0)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        replays
            .timelines_of(UserId::random(), 10)
            .await
            .expect("read")
            .is_empty()
    );

    let started: Vec<ReplayRecord> = (0..3)
        .map(|n| ReplayRecord {
            id: Uuid::new_v4(),
            class_id: first,
            user: taker,
            created_at: at + n,
            finished_at: None,
        })
        .collect();
    for replay in &started {
        replays.create_replay(replay).await.expect("create");
    }
    let elsewhere = ReplayRecord {
        id: Uuid::new_v4(),
        user: other,
        ..started[0].clone()
    };
    replays.create_replay(&elsewhere).await.expect("create");
    assert!(
        replays
            .finish_replay(started[1].id, at + 60_000)
            .await
            .expect("finish")
    );
    let mut listed = replays.replays_of(taker, 10).await.expect("read");
    listed.sort_by_key(|r| r.created_at);
    let mut expected = started.clone();
    expected[1].finished_at = Some(at + 60_000);
    assert_eq!(listed, expected);
    assert_eq!(replays.replays_of(taker, 2).await.expect("read").len(), 2);
    assert!(replays.replays_of(taker, 0).await.expect("read").is_empty());
}

pub async fn a_replay_is_created_once_and_finished_exactly_once(stores: &Stores, _: &Metrics) {
    let replay = ReplayRecord {
        id: Uuid::new_v4(),
        class_id: ClassId::random(),
        user: UserId::random(),
        created_at: now_millis(),
        finished_at: None,
    };
    let replays = &stores.replays;
    assert_eq!(replays.replay(replay.id).await.expect("read"), None);
    replays.create_replay(&replay).await.expect("create");
    assert_eq!(
        replays.replay(replay.id).await.expect("read"),
        Some(replay.clone())
    );
    let again = replays.create_replay(&replay).await;
    assert!(
        matches!(again, Err(StoreError::Conflict { what: "replay id" })),
        "{again:?}"
    );

    let finishes = (0..8).map(|n| {
        let replays = stores.replays.clone();
        tokio::spawn(async move { (n, replays.finish_replay(replay.id, 5_000 + n).await) })
    });
    let applied: Vec<i64> = futures_util::future::join_all(finishes)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .filter_map(|(n, finished)| finished.expect("finish").then_some(n))
        .collect();
    assert_eq!(applied.len(), 1, "{applied:?}");
    let finished = replays
        .replay(replay.id)
        .await
        .expect("read")
        .expect("a replay");
    assert_eq!(finished.finished_at, Some(5_000 + applied[0]));
    assert!(
        !replays
            .finish_replay(replay.id, 9_000)
            .await
            .expect("finish")
    );

    // Finishing an unknown replay changes nothing and makes no row.
    let unknown = Uuid::new_v4();
    assert!(!replays.finish_replay(unknown, 1).await.expect("finish"));
    assert_eq!(replays.replay(unknown).await.expect("read"), None);
}

pub async fn erasing_a_user_removes_their_workouts_records_timelines_and_replays(
    stores: &Stores,
    _: &Metrics,
) {
    let record = UserRecord {
        id: UserId::random(),
        email: Some(
            Email::parse(&format!("{}@example.com", Uuid::new_v4().simple())).expect("valid"),
        ),
        display_name: DisplayName::parse("Ada").expect("valid"),
        password_hash: None,
        roles: [Role::Member].into(),
        locale: Locale::parse("en").expect("valid"),
        units: Units::Metric,
        device_id: None,
        created_at: now_millis(),
        email_verified: false,
        timezone: None,
    };
    stores.users.create_user(&record).await.expect("create");
    let (gone, stays) = (record.id, UserId::random());
    let (class, max) = (ClassId::random(), 3);
    let now = now_millis();
    for user in [gone, stays] {
        stores
            .workouts
            .record_workout(&workout(user, now))
            .await
            .expect("record");
        stores
            .workouts
            .raise_personal_record(user, "hiit-20", Some(10.0), Some(5), now)
            .await
            .expect("raise");
        let t = timeline(user, now, vec![1.0, 2.0]);
        assert!(
            stores
                .replays
                .put_timeline(class, &t, max)
                .await
                .expect("put")
        );
        let elsewhere = timeline(user, now, vec![3.0]);
        assert!(
            stores
                .replays
                .put_timeline(ClassId::random(), &elsewhere, max)
                .await
                .expect("put")
        );
        let replay = ReplayRecord {
            id: Uuid::new_v4(),
            class_id: class,
            user,
            created_at: now,
            finished_at: None,
        };
        stores.replays.create_replay(&replay).await.expect("create");
    }
    let gone_second = timeline(gone, now + 1, vec![4.0]);
    assert!(
        stores
            .replays
            .put_timeline(class, &gone_second, max)
            .await
            .expect("put")
    );
    // The class is full: one of the stayer's and two of the erased member's.
    let full = timeline(UserId::random(), now, vec![5.0]);
    assert!(
        !stores
            .replays
            .put_timeline(class, &full, max)
            .await
            .expect("put")
    );

    let data = &stores.account_data;
    // Positive control: the walk sees the member's rows before.
    let before = data.rows_mentioning(&gone.to_string()).await.expect("walk");
    assert!(before.len() >= 6, "{before:#?}");
    data.erase_user(gone, UserId::random())
        .await
        .expect("erase");
    let left = data.rows_mentioning(&gone.to_string()).await.expect("walk");
    assert!(left.is_empty(), "rows still naming the member: {left:#?}");
    assert_eq!(history(stores, gone, None, 10).await, vec![]);
    assert_eq!(
        stores.workouts.personal_records(gone).await.expect("read"),
        vec![]
    );

    // Someone else's stay, and the class has room again for two.
    assert_eq!(history(stores, stays, None, 10).await.len(), 1);
    assert_eq!(
        stores
            .workouts
            .personal_records(stays)
            .await
            .expect("read")
            .len(),
        1
    );
    let left = stores.replays.timelines(class, 10).await.expect("read");
    assert_eq!(
        left.iter().map(|t| t.taker).collect::<Vec<_>>(),
        vec![stays]
    );
    assert!(
        stores
            .replays
            .put_timeline(class, &full, max)
            .await
            .expect("put")
    );
}
