//! The conformance suite's drops part: the pool and its leases, reservations with their
//! keys and quotas, payment and expiry, against every backend.

use fitpulse::metrics::Metrics;
use fitpulse::store::Stores;
use fitpulse_actors::domain::{UnixMillis, UserId, now_millis};
use fitpulse_actors::ports::drops::{
    DropRecord, LeaseGrant, MAX_LISTED_DAYS, OrderRecord, OrderStatus, Reservation, Reserved,
    StockState,
};
use fitpulse_actors::ports::store::{IdempotencyClaim, IdempotencyKey, StoredResponse};
use uuid::Uuid;

pub fn a_drop(stock: u32) -> DropRecord {
    DropRecord {
        id: Uuid::new_v4(),
        title: "Limited hoodie".into(),
        stock,
        price_cents: 4_900,
        currency: "EUR".into(),
        starts_at: now_millis(),
        per_user_limit: 2,
        reservation_ttl_seconds: 300,
        admission_per_second: Some(50),
        created_at: now_millis(),
        announce_at: None,
    }
}

fn grant(drop: Uuid, lease: Uuid, owner: &str, want: u32) -> LeaseGrant {
    LeaseGrant {
        drop,
        lease,
        owner: owner.into(),
        want,
        expires_at: now_millis() + 60_000,
        unsold: 0,
    }
}

fn granted(state: &StockState) -> u32 {
    state.leases.iter().map(|l| l.granted).sum()
}

fn answer(text: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        body: text.into(),
    }
}

/// A reservation of `quantity` units from `lease` for `user`, under a fresh key.
fn reservation(
    drop: &DropRecord,
    lease: Uuid,
    user: UserId,
    quantity: u32,
    key: &str,
) -> Reservation {
    let now = now_millis();
    Reservation {
        order: OrderRecord {
            id: Uuid::new_v4(),
            drop_id: drop.id,
            user,
            quantity,
            status: OrderStatus::Reserved,
            created_at: now,
            expires_at: now + 300_000,
            lease: Some(lease),
        },
        limit: drop.per_user_limit,
        key: IdempotencyKey {
            scope: format!("drop-orders:{user}:{}", drop.id),
            key: key.into(),
        },
        fingerprint: format!("body of {quantity}"),
        reserved_answer: answer("made"),
        limit_answer: StoredResponse {
            status: 409,
            body: "limit".into(),
        },
        now,
        claim_lease_ms: 30_000,
    }
}

pub async fn a_drops_announcement_time_reads_back(stores: &Stores, _: &Metrics) {
    let announced_later = DropRecord {
        announce_at: Some(now_millis() + 3_600_000),
        ..a_drop(10)
    };
    stores
        .drops
        .create_drop(&announced_later)
        .await
        .expect("create");
    let read = stores
        .drops
        .drop_record(announced_later.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(read, announced_later);
    assert!(!read.announced(now_millis()));
    assert!(read.announced(now_millis() + 3_600_001));
}

pub async fn concurrent_stock_leases_never_hand_out_more_than_the_stock(
    stores: &Stores,
    _: &Metrics,
) {
    let drop = a_drop(100);
    stores.drops.create_drop(&drop).await.expect("create");
    assert_eq!(
        stores.drops.drop_record(drop.id).await.expect("read"),
        Some(drop.clone())
    );
    let leases: Vec<Uuid> = (0..30).map(|_| Uuid::new_v4()).collect();
    let grants: Vec<LeaseGrant> = leases
        .iter()
        .enumerate()
        .map(|(n, lease)| grant(drop.id, *lease, &format!("node-{}", n % 3), 7))
        .collect();
    let taken = grants.iter().map(|g| stores.drops.lease_stock(g));
    let total: u32 = futures_util::future::join_all(taken)
        .await
        .into_iter()
        .map(|r| r.expect("lease"))
        .sum();
    assert_eq!(total, 100, "every unit leased once, none twice");
    let state = stores.drops.stock_state(drop.id).await.expect("state");
    assert_eq!((state.stock, state.out, state.pool()), (100, 100, 0));
    assert_eq!(granted(&state), 100, "the pool and the leases agree");
    let late = grant(drop.id, Uuid::new_v4(), "node-9", 5);
    assert_eq!(stores.drops.lease_stock(&late).await.expect("lease"), 0);

    // An owner hands units back: any node may lease them again.
    let holder = state
        .leases
        .iter()
        .find(|l| l.granted >= 5)
        .expect("a lease holding 5");
    stores
        .drops
        .hand_back(drop.id, holder.id, 5, false)
        .await
        .expect("hand back");
    let want = grant(drop.id, Uuid::new_v4(), "node-9", 25);
    assert_eq!(stores.drops.lease_stock(&want).await.expect("lease"), 5);
    let state = stores.drops.stock_state(drop.id).await.expect("state");
    assert_eq!((state.out, granted(&state)), (100, 100));
}

pub async fn a_lease_is_its_owners_until_released_or_reclaimed(stores: &Stores, _: &Metrics) {
    let drop = a_drop(20);
    stores.drops.create_drop(&drop).await.expect("create");
    let lease = Uuid::new_v4();
    let mine = grant(drop.id, lease, "node-a", 10);
    assert_eq!(stores.drops.lease_stock(&mine).await.expect("lease"), 10);
    let theirs = grant(drop.id, lease, "node-b", 5);
    assert_eq!(
        stores.drops.lease_stock(&theirs).await.expect("lease"),
        0,
        "another owner cannot take units into it"
    );
    let later = now_millis() + 120_000;
    let renew = |owner: &'static str| stores.drops.renew_lease(drop.id, lease, owner, later, 7);
    assert!(!renew("node-b").await.expect("renew"));
    assert!(renew("node-a").await.expect("renew"));
    let state = stores.drops.stock_state(drop.id).await.expect("state");
    let held = &state.leases[0];
    assert_eq!(
        (
            held.owner.as_str(),
            held.granted,
            held.unsold,
            held.expires_at,
            held.released
        ),
        ("node-a", 10, 7, later, false)
    );

    // Released: nothing more sells from it, until its owner leases into it again.
    stores
        .drops
        .hand_back(drop.id, lease, 7, true)
        .await
        .expect("release");
    assert!(!renew("node-a").await.expect("renew"));
    let state = stores.drops.stock_state(drop.id).await.expect("state");
    assert_eq!(
        (state.out, state.leases[0].granted, state.leases[0].released),
        (3, 3, true)
    );
    assert_eq!(stores.drops.lease_stock(&mine).await.expect("lease"), 10);
    assert!(renew("node-a").await.expect("renewed again"));
}

pub async fn a_stalled_lease_is_reclaimed_once_keeping_what_its_orders_took(
    stores: &Stores,
    _: &Metrics,
) {
    let drop = a_drop(20);
    stores.drops.create_drop(&drop).await.expect("create");
    let lease = Uuid::new_v4();
    let expires_at: UnixMillis = now_millis() + 60_000;
    let g = LeaseGrant {
        expires_at,
        ..grant(drop.id, lease, "node-crashed", 10)
    };
    assert_eq!(stores.drops.lease_stock(&g).await.expect("lease"), 10);
    for n in 0..3 {
        let made = stores
            .drops
            .reserve(&reservation(
                &drop,
                lease,
                UserId::random(),
                1,
                &format!("k{n}"),
            ))
            .await
            .expect("reserve");
        assert_eq!(made, Reserved::Made);
    }
    let reclaim = |seen: UnixMillis| stores.drops.reclaim_lease(drop.id, lease, seen, 3);
    assert!(
        !reclaim(expires_at - 1).await.expect("reclaim"),
        "renewed since it was seen: not reclaimed"
    );
    assert!(reclaim(expires_at).await.expect("reclaim"));
    assert!(!reclaim(expires_at).await.expect("reclaim"), "only once");
    let state = stores.drops.stock_state(drop.id).await.expect("state");
    assert_eq!(
        (state.out, state.leases[0].granted, state.leases[0].released),
        (3, 3, true),
        "the three ordered units stay out, the seven unsold are back"
    );
    assert!(
        !stores
            .drops
            .renew_lease(drop.id, lease, "node-crashed", now_millis() + 60_000, 7)
            .await
            .expect("renew"),
        "its owner, back from a pause, learns it lost it"
    );
}

pub async fn a_reservation_records_the_key_the_quota_and_the_order_together(
    stores: &Stores,
    _: &Metrics,
) {
    let drop = a_drop(10);
    stores.drops.create_drop(&drop).await.expect("create");
    let lease = Uuid::new_v4();
    let buyer = UserId::random();
    let first = reservation(&drop, lease, buyer, 1, "k-1");
    assert_eq!(
        stores.drops.reserve(&first).await.expect("reserve"),
        Reserved::Made
    );
    assert_eq!(
        stores.drops.order(first.order.id).await.expect("read"),
        Some(first.order.clone())
    );
    assert_eq!(
        stores.drops.orders_of_drop(drop.id).await.expect("list"),
        vec![first.order.clone()]
    );
    // The same key again: the stored answer, and no second order.
    let again = Reservation {
        order: OrderRecord {
            id: Uuid::new_v4(),
            ..first.order.clone()
        },
        ..first.clone()
    };
    assert_eq!(
        stores.drops.reserve(&again).await.expect("reserve"),
        Reserved::Replay(answer("made"))
    );
    let other_body = Reservation {
        fingerprint: "another body".into(),
        ..again.clone()
    };
    assert_eq!(
        stores.drops.reserve(&other_body).await.expect("reserve"),
        Reserved::KeyReused
    );
    let seen = stores.idempotency.seen(&first.key).await.expect("seen");
    assert_eq!(
        seen.map(|s| (s.fingerprint, s.response)),
        Some((first.fingerprint.clone(), Some(answer("made"))))
    );
    assert_eq!(
        stores
            .drops
            .orders_of_drop(drop.id)
            .await
            .expect("list")
            .len(),
        1
    );

    // The limit holds under concurrency: of six keys for a buyer with room for one
    // more, one makes an order.
    let racing: Vec<Reservation> = (0..6)
        .map(|n| reservation(&drop, lease, buyer, 1, &format!("race-{n}")))
        .collect();
    let outcomes = futures_util::future::join_all(racing.iter().map(|r| stores.drops.reserve(r)))
        .await
        .into_iter()
        .map(|r| r.expect("reserve"))
        .collect::<Vec<_>>();
    let made = outcomes.iter().filter(|o| **o == Reserved::Made).count();
    let refused = outcomes
        .iter()
        .filter(|o| **o == Reserved::LimitReached)
        .count();
    assert_eq!((made, refused), (1, 5), "{outcomes:?}");
    let refused_key = racing
        .iter()
        .zip(&outcomes)
        .find(|(_, o)| **o == Reserved::LimitReached)
        .map(|(r, _)| r.clone())
        .expect("a refusal");
    assert_eq!(
        stores.drops.reserve(&refused_key).await.expect("reserve"),
        Reserved::Replay(refused_key.limit_answer.clone()),
        "a refusal's answer is kept for its retries too"
    );
    assert_eq!(
        stores
            .drops
            .orders_of_drop(drop.id)
            .await
            .expect("list")
            .len(),
        2
    );
}

/// Order ids come from keys, so a key sent again after it was forgotten (a day later)
/// names an order that exists: it is the answer, never written over (a paid order would
/// go back to reserved, and its units would be sold twice).
pub async fn an_existing_order_is_never_written_over(stores: &Stores, _: &Metrics) {
    let drop = a_drop(10);
    stores.drops.create_drop(&drop).await.expect("create");
    let buyer = UserId::random();
    let first = reservation(&drop, Uuid::new_v4(), buyer, 1, "k-old");
    assert_eq!(
        stores.drops.reserve(&first).await.expect("reserve"),
        Reserved::Made
    );
    assert!(stores.drops.pay_order(first.order.id).await.expect("pay"));
    // Another key (the old one forgotten) naming the same order id, from another lease.
    let later = reservation(&drop, Uuid::new_v4(), buyer, 2, "k-forgotten");
    let later = Reservation {
        order: OrderRecord {
            id: first.order.id,
            ..later.order
        },
        ..later
    };
    match stores.drops.reserve(&later).await.expect("reserve") {
        Reserved::Exists(order) => {
            assert_eq!(
                (order.status, order.quantity, order.lease),
                (OrderStatus::Paid, 1, first.order.lease)
            );
        }
        other => panic!("expected the existing order, got {other:?}"),
    }
    let stored = stores.drops.order(first.order.id).await.expect("read");
    assert_eq!(
        stored.map(|o| (o.status, o.quantity)),
        Some((OrderStatus::Paid, 1)),
        "the paid order is as it was"
    );
}

pub async fn a_claim_that_never_answered_is_taken_over_after_its_lease(
    stores: &Stores,
    _: &Metrics,
) {
    let drop = a_drop(10);
    stores.drops.create_drop(&drop).await.expect("create");
    let r = reservation(&drop, Uuid::new_v4(), UserId::random(), 1, "k-stalled");
    // A request claimed the key and died before anything else.
    assert_eq!(
        stores
            .idempotency
            .claim(&r.key, &r.fingerprint)
            .await
            .expect("claim"),
        IdempotencyClaim::Fresh
    );
    assert_eq!(
        stores.drops.reserve(&r).await.expect("reserve"),
        Reserved::Running,
        "within its lease, the claim is someone's"
    );
    let later = Reservation {
        now: r.now + r.claim_lease_ms + 1,
        ..r.clone()
    };
    assert_eq!(
        stores.drops.reserve(&later).await.expect("reserve"),
        Reserved::Made,
        "after its lease, a retry takes it over"
    );
    // A retry after one that made the order and died before answering finds the order.
    let made_then_died = reservation(&drop, Uuid::new_v4(), UserId::random(), 1, "k-died");
    let r2 = Reservation {
        order: OrderRecord {
            id: later.order.id,
            ..made_then_died.order.clone()
        },
        ..made_then_died.clone()
    };
    assert_eq!(
        stores
            .idempotency
            .claim(&r2.key, &r2.fingerprint)
            .await
            .expect("claim"),
        IdempotencyClaim::Fresh
    );
    let retry = Reservation {
        now: r2.now + r2.claim_lease_ms + 1,
        ..r2
    };
    match stores.drops.reserve(&retry).await.expect("reserve") {
        Reserved::Exists(order) => assert_eq!(order.id, later.order.id),
        other => panic!("expected the existing order, got {other:?}"),
    }
}

pub async fn an_order_moves_from_reserved_exactly_once(stores: &Stores, _: &Metrics) {
    let drop = a_drop(10);
    stores.drops.create_drop(&drop).await.expect("create");
    let lease = Uuid::new_v4();
    assert_eq!(
        stores
            .drops
            .lease_stock(&grant(drop.id, lease, "node-a", 1))
            .await
            .expect("lease"),
        1
    );
    let r = reservation(&drop, lease, UserId::random(), 1, "k");
    assert_eq!(
        stores.drops.reserve(&r).await.expect("reserve"),
        Reserved::Made
    );
    let order = &r.order;
    let racing = [
        Box::pin(stores.drops.pay_order(order.id))
            as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>,
        Box::pin(stores.drops.expire_order(order)),
        Box::pin(stores.drops.pay_order(order.id)),
    ];
    let applied = futures_util::future::join_all(racing)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().expect("transition"))
        .count();
    assert_eq!(applied, 1, "a payment and an expiry never both apply");
    let status = stores
        .drops
        .order(order.id)
        .await
        .expect("read")
        .expect("kept")
        .status;
    assert_ne!(status, OrderStatus::Reserved);
    let out = stores.drops.stock_state(drop.id).await.expect("state").out;
    match status {
        OrderStatus::Expired => assert_eq!(out, 0, "its unit went back"),
        _ => assert_eq!(out, 1, "a paid unit stays out"),
    }
    assert_eq!(
        stores.drops.order(Uuid::new_v4()).await.expect("read"),
        None
    );
}

pub async fn an_expiry_puts_units_and_quota_back_exactly_once(stores: &Stores, _: &Metrics) {
    let drop = a_drop(10);
    stores.drops.create_drop(&drop).await.expect("create");
    let lease = Uuid::new_v4();
    assert_eq!(
        stores
            .drops
            .lease_stock(&grant(drop.id, lease, "node-a", 5))
            .await
            .expect("lease"),
        5
    );
    let buyer = UserId::random();
    let r = reservation(&drop, lease, buyer, 2, "k");
    assert_eq!(
        stores.drops.reserve(&r).await.expect("reserve"),
        Reserved::Made
    );
    let twice = [
        stores.drops.expire_order(&r.order),
        stores.drops.expire_order(&r.order),
    ];
    let applied = futures_util::future::join_all(twice)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().expect("expire"))
        .count();
    assert_eq!(applied, 1);
    assert_eq!(
        stores
            .drops
            .restore_expired(drop.id)
            .await
            .expect("restore"),
        0
    );
    let state = stores.drops.stock_state(drop.id).await.expect("state");
    assert_eq!(state.out, 3, "two units back in the pool, once");
    // The quota came back too: the buyer may order their two again.
    let again = reservation(&drop, lease, buyer, 2, "k-again");
    assert_eq!(
        stores.drops.reserve(&again).await.expect("reserve"),
        Reserved::Made
    );
}

pub async fn drops_list_by_start_soonest_first_within_a_bounded_window(
    stores: &Stores,
    _: &Metrics,
) {
    let day = 24 * 60 * 60 * 1000;
    // Far from the drops of other tests sharing the keyspace, which start about now.
    let base = now_millis() + 400 * day;
    let at = |offset: i64| DropRecord {
        starts_at: base + offset,
        ..a_drop(10)
    };
    let (late, early, middle) = (at(2 * day + 5_000), at(1_000), at(3_000));
    let (outside, beyond_the_cap) = (at(5 * day), at((MAX_LISTED_DAYS + 5) * day));
    for drop in [&late, &early, &outside, &middle, &beyond_the_cap] {
        stores.drops.create_drop(drop).await.expect("create");
    }
    let listed = stores
        .drops
        .drops_between(base, base + 3 * day)
        .await
        .expect("list");
    assert_eq!(listed, [early.clone(), middle.clone(), late.clone()]);
    let long = stores
        .drops
        .drops_between(base, base + 100 * day)
        .await
        .expect("list");
    let ids: Vec<_> = long.iter().map(|d| d.id).collect();
    assert_eq!(ids, [early.id, middle.id, late.id, outside.id]);
    assert!(
        stores
            .drops
            .drops_between(base - 2 * day, base - day)
            .await
            .expect("list")
            .is_empty()
    );
}
