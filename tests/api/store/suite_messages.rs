//! The conformance suite's feature-message counts: a first mark is recorded once however
//! many devices race, and counts added by many nodes at once all add up, against every
//! backend. Message and user ids are random per test, so tests may share a keyspace.

use fitpulse::metrics::Metrics;
use fitpulse::store::Stores;
use fitpulse_actors::domain::{UserId, now_millis};
use fitpulse_actors::ports::messages::{MessageAction, MessageStats};
use uuid::Uuid;

fn stats(delivered: u64, read: u64, clicked: u64, dismissed: u64) -> MessageStats {
    MessageStats {
        delivered,
        read,
        clicked,
        dismissed,
    }
}

pub async fn of_concurrent_first_marks_of_an_action_exactly_one_is_recorded(
    stores: &Stores,
    _: &Metrics,
) {
    let (who, message) = (UserId::random(), Uuid::new_v4());
    let now = now_millis();
    let marks = (0..8).map(|n| {
        let messages = stores.messages.clone();
        async move {
            messages
                .mark_message(who, message, MessageAction::Read, now + n)
                .await
                .expect("mark")
        }
    });
    let marks = futures_util::future::join_all(marks).await;
    let recorded: Vec<_> = marks.iter().filter(|m| m.recorded).collect();
    assert_eq!(recorded.len(), 1, "{marks:?}");
    let first = recorded[0].state.read_at;
    assert!(
        marks.iter().all(|m| m.state.read_at.is_some()),
        "every mark sees the action recorded: {marks:?}"
    );
    let states = stores.messages.message_states(who).await.expect("states");
    assert_eq!(states.len(), 1);
    assert_eq!(
        states[0].1.read_at, first,
        "the recorded mark's time is kept"
    );
    let dismissed = stores
        .messages
        .mark_message(who, message, MessageAction::Dismissed, now + 100)
        .await
        .expect("mark");
    assert!(dismissed.recorded);
}

pub async fn message_counts_start_at_zero_and_add_up_per_message(stores: &Stores, _: &Metrics) {
    let (counted, other) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        stores.messages.message_stats(counted).await.expect("read"),
        MessageStats::default(),
        "nothing counted yet"
    );
    stores
        .messages
        .add_message_stats(counted, stats(3, 1, 0, 0))
        .await
        .expect("add");
    stores
        .messages
        .add_message_stats(counted, stats(2, 1, 1, 0))
        .await
        .expect("add");
    stores
        .messages
        .add_message_stats(other, stats(0, 0, 0, 7))
        .await
        .expect("add");
    assert_eq!(
        stores.messages.message_stats(counted).await.expect("read"),
        stats(5, 2, 1, 0)
    );
    assert_eq!(
        stores.messages.message_stats(other).await.expect("read"),
        stats(0, 0, 0, 7)
    );
}

pub async fn concurrent_count_adds_from_many_nodes_all_count(stores: &Stores, _: &Metrics) {
    let message = Uuid::new_v4();
    let adds = (0..16u64).map(|n| {
        let messages = stores.messages.clone();
        async move {
            messages
                .add_message_stats(message, stats(n, 1, n % 2, 0))
                .await
                .expect("add")
        }
    });
    futures_util::future::join_all(adds).await;
    assert_eq!(
        stores.messages.message_stats(message).await.expect("read"),
        stats((0..16).sum(), 16, 8, 0)
    );
}
