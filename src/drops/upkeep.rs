//! A served drop's upkeep, once a second from its load until it ends (a day after its
//! start): look at the pool and every lease again (the remaining figure), reclaim leases
//! whose owner stopped renewing a whole lease ago (a crash), hand the reservations of
//! leases that ended elsewhere to the drop's keeper (`orphans`), keep this node's lease
//! (renewed while it holds units or times reservations) or hand its units back when the
//! drop went quiet, and tell watchers when the remaining figure changed. Also the
//! hand-back of every lease when the node drains or stops.

use super::events::{DropSoldOut, DropStock, StockLevel};
use fitpulse_actors::events::data::EventData;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use fitpulse_actors::ports::store::StoreError;
use uuid::Uuid;

use super::seller::used_by_lease;
use super::{DropState, Drops};

/// How often a drop is looked after.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);
/// A drop ends this long after its start: its upkeep stops and its stock series goes.
const ENDS_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

impl Drops {
    /// Looks after the drop every second (see the module doc); also feeds the stock gauge
    /// from the drop's announcement until it ends, so the gauge never names an
    /// unannounced drop and its label set stays bounded.
    /// `live_elsewhere`: the leases of other nodes that were live when the drop loaded
    /// (their reservations are timed by their owners until those stop).
    pub(super) fn keep_up(self: Arc<Self>, state: Arc<DropState>, live_elsewhere: HashSet<Uuid>) {
        tokio::spawn(async move {
            let record = state.record();
            let (id, ends_at) = (record.id, record.starts_at + ENDS_AFTER_MS);
            let label = id.to_string();
            let mut last = None;
            let mut live_elsewhere = live_elsewhere;
            let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                tick.tick().await;
                let now = self.clock.now();
                if now >= ends_at {
                    break;
                }
                if let Err(err) = self.look_after(&state, &mut live_elsewhere).await {
                    tracing::warn!(drop_id = %id, error = %err, "cannot look after a drop");
                }
                state
                    .upkeeps
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if !record.announced(now) {
                    continue;
                }
                let remaining = state.seller.remaining().await;
                self.metrics.drop_stock(&label, remaining, record.stock);
                self.metrics.business.watch_drop(&label);
                if last == Some(remaining) {
                    continue;
                }
                let level = StockLevel {
                    drop_id: id,
                    remaining,
                };
                let (kind, frame) = if remaining == 0 {
                    (DropSoldOut::KIND, DropSoldOut(level).notice(now))
                } else {
                    (DropStock::KIND, DropStock(level).notice(now))
                };
                for user in state.watchers() {
                    self.hub.notify_user(user, frame.clone(), &kind);
                }
                last = Some(remaining);
            }
            self.metrics.forget_drop(&label);
        });
    }

    async fn look_after(
        self: &Arc<Self>,
        state: &Arc<DropState>,
        live_elsewhere: &mut HashSet<Uuid>,
    ) -> Result<(), StoreError> {
        let store = self.stores.drops.as_ref();
        let id = state.record().id;
        let moves = state.seller.moves().await;
        let mut stock = store.stock_state(id).await?;
        let stale = state.seller.look(&stock, moves).await;
        let now = self.clock.now();
        let live: HashSet<Uuid> = stock
            .leases
            .iter()
            .filter(|l| l.owner != self.terms.owner && l.live_at(now))
            .map(|l| l.id)
            .collect();
        let stopped: HashSet<Uuid> = live_elsewhere.difference(&live).copied().collect();
        *live_elsewhere = live;
        if !stale.is_empty() || !stopped.is_empty() {
            let orders = store.orders_of_drop(id).await?;
            let used = used_by_lease(&orders);
            for (lease, seen_expires_at) in stale {
                let used = used.get(&lease).copied().unwrap_or(0);
                if store
                    .reclaim_lease(id, lease, seen_expires_at, used)
                    .await?
                {
                    tracing::info!(drop_id = %id, lease = %lease, used, "reclaimed the lease of a node that stopped renewing it");
                }
            }
            if !stopped.is_empty() {
                // Their nodes timed these reservations; now the drop's keeper does.
                self.hand_orphans_to_keeper(state).await;
            }
            let moves = state.seller.moves().await;
            stock = store.stock_state(id).await?;
            state.seller.look(&stock, moves).await;
        }
        let timing = state.timers() > 0;
        state.seller.keep(store, self.terms.quiet_ms, timing).await
    }

    /// Hands every served drop's unsold units back to the pool and ends this node's
    /// leases (the node drains or stops): their reservations go to each drop's keeper.
    pub async fn hand_back_all(self: &Arc<Self>) {
        let served: Vec<Arc<DropState>> = self.loaded.lock().await.values().cloned().collect();
        for state in served {
            if let Err(err) = state.seller.hand_back(self.stores.drops.as_ref()).await {
                tracing::warn!(drop_id = %state.record().id, error = %err, "cannot hand a drop's unsold units back; they return when the lease expires");
            }
            if state.timers() > 0 {
                self.hand_orphans_to_keeper(&state).await;
            }
        }
    }
}
