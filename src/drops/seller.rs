//! A drop's seller on this node: the one place this node sells the drop's units from.
//!
//! # Why it never oversells
//!
//! The store's pool hands out units only into leases (`lease_stock`, a compare-and-set on
//! the units out of the pool, bounded by the stock), so the units in all leases together
//! never exceed the stock (the store's guarantee, held by the conformance suite against
//! both backends). A seller takes a buyer's units only out of `available`, the units of
//! its own lease it has not sold, only while the lease is valid by its clock, and changes
//! `available` only while holding its lock: a unit leased once is sold at most once.
//! Units go back to the pool when a reservation expires unpaid (once, see the store), when
//! the seller hands back what it did not sell, or when its lease is reclaimed after its
//! owner stopped renewing it; a reclaim counts the lease's orders first and the owner
//! stops selling `SAFETY_MS` before the lease's expiry, while a reclaim waits a whole
//! lease past it, so no order of a stopped owner can still be on its way.
//!
//! # Why it never undersells
//!
//! Every unit is in the pool, in a lease or in an order. A seller hands back its unsold
//! units when the drop goes quiet, when the node drains and when it stops; a crashed
//! node's lease is reclaimed by whichever node looks at the drop after the lease expired.
//! Units of expired reservations are in the pool at once; `remaining` counts the pool and
//! every live lease's unsold units, so the sale reopens as soon as anything comes back.
//!
//! # Why it never puts every buyer on one hot partition
//!
//! Buyers never touch the drop's pool: a seller leases a chunk at a time (a twentieth of
//! the stock, at most 50 units), so a 500-unit drop costs about 20 conditional writes on
//! that row, and a sold-out seller answers `sold_out` from memory (checking the pool again
//! at most every half second, for units returned by expired reservations).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::drops::{DropRecord, DropStore, LeaseGrant, StockState};
use fitpulse_actors::ports::store::StoreError;
use tokio::sync::Mutex;
use uuid::Uuid;

/// How often a sold-out seller looks at the pool again.
const RECHECK: Duration = Duration::from_millis(500);
const MAX_CHUNK: u32 = 50;
/// A seller stops selling from its lease this long before the lease expires (or a quarter
/// of a shorter lease).
const SAFETY_MS: i64 = 5_000;

/// How a seller leases: whose it is, for how long.
#[derive(Clone)]
pub struct LeaseTerms {
    /// This node's id, the owner of its leases.
    pub owner: String,
    pub lease_ms: i64,
    pub clock: SharedClock,
}

#[derive(Debug, Default)]
struct Pool {
    /// Leased by this node and not yet reserved.
    available: u32,
    /// The expiry of this seller's lease as last written; 0 before the first lease.
    expires_at: UnixMillis,
    /// The pool answered 0 at this instant.
    exhausted_at: Option<Instant>,
    /// At the last look: the pool's units and other live leases' unsold ones.
    elsewhere: u32,
    /// When this seller last took units for a buyer.
    last_taken_at: Option<UnixMillis>,
    /// Counts this seller's own moves of units between it, the pool and orders: a look
    /// read before one of them is stale and must not overwrite `elsewhere`.
    moves: u64,
    /// This seller released its lease (handed everything back); units taken before and
    /// given back after (an order that was not made) are still in the lease's grant.
    released: bool,
}

/// Why a reservation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReserveError {
    #[error("sold out")]
    SoldOut,
}

pub struct Seller {
    pub record: DropRecord,
    terms: LeaseTerms,
    /// This seller's lease: one per drop per node start.
    lease: Uuid,
    pool: Mutex<Pool>,
    chunk: u32,
}

impl Seller {
    pub fn new(record: DropRecord, terms: LeaseTerms) -> Seller {
        let chunk = (record.stock / 20).clamp(1, MAX_CHUNK);
        Seller {
            pool: Mutex::new(Pool {
                elsewhere: record.stock,
                ..Pool::default()
            }),
            record,
            terms,
            lease: Uuid::new_v4(),
            chunk,
        }
    }

    pub fn lease(&self) -> Uuid {
        self.lease
    }

    fn now(&self) -> UnixMillis {
        self.terms.clock.now()
    }

    fn safety(&self) -> i64 {
        SAFETY_MS.min(self.terms.lease_ms / 4)
    }

    /// True when the seller knows, without asking the store, that nothing is left.
    pub async fn known_sold_out(&self) -> bool {
        let pool = self.pool.lock().await;
        pool.available == 0 && pool.exhausted_at.is_some_and(|at| at.elapsed() < RECHECK)
    }

    /// Takes `quantity` units for a buyer, leasing more from the pool when this node has
    /// too few; answers the lease they come from. A failed order gives them back with
    /// [`Seller::untake`].
    pub async fn take(
        &self,
        store: &dyn DropStore,
        quantity: u32,
    ) -> Result<Result<Uuid, ReserveError>, StoreError> {
        let mut pool = self.pool.lock().await;
        let now = self.now();
        if pool.available > 0 && now >= pool.expires_at - self.safety() {
            // The lease is about to lapse or lapsed (a pause): its units are still ours
            // only if it was not reclaimed meanwhile.
            self.renew_or_lose(store, &mut pool, now).await?;
        }
        // Bounded: each round either leases at least one unit or ends.
        for _ in 0..=quantity {
            if pool.available >= quantity && now < pool.expires_at - self.safety() {
                pool.available -= quantity;
                pool.last_taken_at = Some(now);
                return Ok(Ok(self.lease));
            }
            if pool.exhausted_at.is_some_and(|at| at.elapsed() < RECHECK) {
                return Ok(Err(ReserveError::SoldOut));
            }
            // Taking units renews the lease.
            let expires_at = now + self.terms.lease_ms;
            let grant = LeaseGrant {
                drop: self.record.id,
                lease: self.lease,
                owner: self.terms.owner.clone(),
                want: self.chunk.max(quantity.saturating_sub(pool.available)),
                expires_at,
                unsold: pool.available,
            };
            let granted = store.lease_stock(&grant).await?;
            if granted == 0 {
                pool.exhausted_at = Some(Instant::now());
                return Ok(Err(ReserveError::SoldOut));
            }
            pool.available += granted;
            pool.expires_at = expires_at;
            pool.elsewhere = pool.elsewhere.saturating_sub(granted);
            pool.exhausted_at = None;
            pool.moves += 1;
            pool.released = false;
        }
        Ok(Err(ReserveError::SoldOut))
    }

    /// Renews the lease; when it is no longer ours (reclaimed after a pause of this node),
    /// forgets its units: another node put them back in the pool.
    async fn renew_or_lose(
        &self,
        store: &dyn DropStore,
        pool: &mut Pool,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        let expires_at = now + self.terms.lease_ms;
        if store
            .renew_lease(
                self.record.id,
                self.lease,
                &self.terms.owner,
                expires_at,
                pool.available,
            )
            .await?
        {
            pool.expires_at = expires_at;
        } else if pool.released {
            // Released by this seller, and units came back to it since (an order that
            // was not made): they are still in the lease's grant, so they go back too.
            store
                .hand_back(self.record.id, self.lease, pool.available, true)
                .await?;
            pool.elsewhere += pool.available;
            pool.available = 0;
            pool.moves += 1;
        } else {
            tracing::warn!(drop_id = %self.record.id, lost = pool.available, "a drop's lease was reclaimed while this node held units");
            pool.available = 0;
            pool.expires_at = 0;
        }
        Ok(())
    }

    /// Units taken for an order that was not made go back on sale here.
    pub async fn untake(&self, quantity: u32) {
        self.pool.lock().await.available += quantity;
    }

    /// A reservation expired unpaid: its units are back in the store's pool.
    pub async fn expired(&self, quantity: u32) {
        let mut pool = self.pool.lock().await;
        pool.elsewhere += quantity;
        pool.exhausted_at = None;
        pool.moves += 1;
    }

    /// The count of this seller's own moves, taken before reading the stock for a
    /// [`Seller::look`].
    pub async fn moves(&self) -> u64 {
        self.pool.lock().await.moves
    }

    /// Units still for sale: the pool's, other live leases' and this node's.
    pub async fn remaining(&self) -> u32 {
        let pool = self.pool.lock().await;
        (pool.elsewhere + pool.available).min(self.record.stock)
    }

    /// Keeps the lease: renews it while it holds units, and while this node still times
    /// reservations (`timing`: a live lease tells the others its reservations are timed);
    /// hands unsold units back when nobody bought for `quiet_ms`, ending the lease too
    /// unless `timing`.
    pub async fn keep(
        &self,
        store: &dyn DropStore,
        quiet_ms: i64,
        timing: bool,
    ) -> Result<(), StoreError> {
        let mut pool = self.pool.lock().await;
        let now = self.now();
        if pool.available > 0 && pool.last_taken_at.is_none_or(|at| now - at >= quiet_ms) {
            return self.give_back(store, &mut pool, !timing).await;
        }
        let holds = pool.available > 0 || (timing && !pool.released && pool.expires_at != 0);
        // Renewed a third of the way through, well before the safety margin.
        if !holds || now < pool.expires_at - self.terms.lease_ms * 2 / 3 {
            return Ok(());
        }
        self.renew_or_lose(store, &mut pool, now).await
    }

    /// Hands every unsold unit back to the pool (draining, stopping).
    pub async fn hand_back(&self, store: &dyn DropStore) -> Result<(), StoreError> {
        let mut pool = self.pool.lock().await;
        self.give_back(store, &mut pool, true).await
    }

    async fn give_back(
        &self,
        store: &dyn DropStore,
        pool: &mut Pool,
        release: bool,
    ) -> Result<(), StoreError> {
        if pool.available == 0 {
            if release && !pool.released && pool.expires_at != 0 {
                // Nothing to give, but the lease ends now rather than when it expires:
                // other nodes take over its reservations' timers at once.
                store.hand_back(self.record.id, self.lease, 0, true).await?;
                pool.released = true;
                pool.expires_at = 0;
            }
            return Ok(());
        }
        store
            .hand_back(self.record.id, self.lease, pool.available, release)
            .await?;
        tracing::debug!(drop_id = %self.record.id, units = pool.available, "unsold units handed back");
        pool.elsewhere += pool.available;
        pool.available = 0;
        pool.exhausted_at = None;
        pool.moves += 1;
        if release {
            pool.released = true;
            pool.expires_at = 0;
        }
        Ok(())
    }

    /// Looks at the pool and the other leases again: the remaining figure (unless this
    /// seller moved units since `moves_before` was taken, which makes `state` stale), and
    /// the leases of owners that stopped renewing a whole lease ago (answered to be
    /// reclaimed).
    pub async fn look(&self, state: &StockState, moves_before: u64) -> Vec<(Uuid, UnixMillis)> {
        let now = self.now();
        let others: u32 = state
            .leases
            .iter()
            .filter(|l| l.id != self.lease && l.live_at(now))
            .map(|l| l.unsold)
            .sum();
        let mut pool = self.pool.lock().await;
        if pool.moves == moves_before {
            pool.elsewhere = state.pool() + others;
            if state.pool() > 0 {
                pool.exhausted_at = None;
            }
        }
        state
            .leases
            .iter()
            .filter(|l| {
                l.id != self.lease && !l.released && l.expires_at + self.terms.lease_ms <= now
            })
            .map(|l| (l.id, l.expires_at))
            .collect()
    }
}

/// Units each lease's orders took, for reclaiming: the orders name their lease.
pub fn used_by_lease(orders: &[fitpulse_actors::ports::drops::OrderRecord]) -> HashMap<Uuid, u32> {
    let mut used = HashMap::new();
    for order in orders {
        if let Some(lease) = order.lease {
            *used.entry(lease).or_insert(0) += order.quantity;
        }
    }
    used
}
