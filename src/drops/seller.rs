//! A drop's seller on this node: the one place this node sells the drop's units from.
//!
//! # Why it never oversells
//!
//! The store's pool hands out units only through `lease_stock`, a compare-and-set on the
//! drop's `leased` count bounded by its stock, so the units leased to all nodes together
//! never exceed the stock (the store's guarantee, held by the conformance suite against
//! both backends). A seller reserves a buyer's units only out of `available`, the units it
//! leased and has not sold, and changes `available` only while holding its lock: a unit
//! leased once is sold at most once. Units come back to the pool only when a reservation
//! expires unpaid (its order's `reserved -> expired` transition applies exactly once, so
//! they come back once) or when the seller hands back what it did not sell. Hence sold +
//! reserved <= leased <= stock, on any number of nodes.
//!
//! # Why it never puts every buyer on one hot partition
//!
//! Buyers never touch the drop's row: a seller leases a chunk at a time (a twentieth of the
//! stock, at most 50 units), so a 500-unit drop costs about 20 conditional writes on that
//! row, and a sold-out seller answers `sold_out` from memory (checking the pool again at
//! most every half second, for units returned by expired reservations).

use std::time::{Duration, Instant};

use fitpulse_actors::ports::drops::{DropRecord, DropStore};
use fitpulse_actors::ports::store::StoreError;
use tokio::sync::Mutex;

/// How often a sold-out seller looks at the pool again.
const RECHECK: Duration = Duration::from_millis(500);
const MAX_CHUNK: u32 = 50;

#[derive(Debug, Default)]
struct Pool {
    /// Leased by this node and not yet reserved.
    available: u32,
    /// The pool answered 0 at this instant.
    exhausted_at: Option<Instant>,
    /// The store's `leased` after this node's last lease: what other nodes and this one
    /// took, for the remaining-stock figure.
    leased_total: u32,
    reserved: u32,
    paid: u32,
}

/// Why a reservation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReserveError {
    #[error("sold out")]
    SoldOut,
}

pub struct Seller {
    pub record: DropRecord,
    pool: Mutex<Pool>,
    chunk: u32,
}

impl Seller {
    pub fn new(record: DropRecord) -> Seller {
        let chunk = (record.stock / 20).clamp(1, MAX_CHUNK);
        Seller {
            record,
            pool: Mutex::new(Pool::default()),
            chunk,
        }
    }

    /// True when the seller knows, without asking the store, that nothing is left.
    pub async fn known_sold_out(&self) -> bool {
        let pool = self.pool.lock().await;
        pool.available == 0 && pool.exhausted_at.is_some_and(|at| at.elapsed() < RECHECK)
    }

    /// Reserves `quantity` units, leasing more from the pool when this node has too few.
    pub async fn reserve(
        &self,
        store: &dyn DropStore,
        quantity: u32,
    ) -> Result<Result<(), ReserveError>, StoreError> {
        let mut pool = self.pool.lock().await;
        // Bounded: each round either leases at least one unit or ends.
        for _ in 0..=quantity {
            if pool.available >= quantity {
                pool.available -= quantity;
                pool.reserved += quantity;
                return Ok(Ok(()));
            }
            if pool.exhausted_at.is_some_and(|at| at.elapsed() < RECHECK) {
                return Ok(Err(ReserveError::SoldOut));
            }
            let want = self.chunk.max(quantity - pool.available);
            let granted = store.lease_stock(self.record.id, want).await?;
            if granted == 0 {
                pool.exhausted_at = Some(Instant::now());
                return Ok(Err(ReserveError::SoldOut));
            }
            pool.available += granted;
            pool.exhausted_at = None;
            pool.leased_total = store.stock_state(self.record.id).await?.leased;
        }
        Ok(Err(ReserveError::SoldOut))
    }

    /// Puts units of a reservation that could not be recorded back on sale here.
    pub async fn unreserve(&self, quantity: u32) {
        let mut pool = self.pool.lock().await;
        pool.reserved = pool.reserved.saturating_sub(quantity);
        pool.available += quantity;
    }

    /// A reservation expired unpaid: its units went back to the store's pool.
    pub async fn expired(&self, quantity: u32) {
        let mut pool = self.pool.lock().await;
        pool.reserved = pool.reserved.saturating_sub(quantity);
        pool.exhausted_at = None;
    }

    pub async fn paid(&self, quantity: u32) {
        let mut pool = self.pool.lock().await;
        pool.reserved = pool.reserved.saturating_sub(quantity);
        pool.paid += quantity;
    }

    /// Units still for sale: the pool's and this node's unsold ones.
    pub async fn remaining(&self) -> u32 {
        let pool = self.pool.lock().await;
        self.record.stock.saturating_sub(pool.leased_total) + pool.available
    }
}
