//! Reservations whose node no longer times them, timed once for the cluster. A node times
//! the reservations it makes, and keeps its lease live while it does (so the others know
//! they are timed). A reservation of a lease that ended (handed back on drain, or expired
//! after a crash) or of no lease is an orphan: the drop's keeper, the node holding the
//! drop's room target in the cluster (as for its waiting room), times it. A node that
//! notices orphans (loading the drop, or seeing a lease end) asks the keeper to look;
//! when the keeper cannot be reached it times them itself, since a reservation timed
//! twice expires once (the expiry is conditional) while one timed by nobody never would.

use std::sync::Arc;

use fitpulse_actors::ports::drops::OrderStatus;
use fitpulse_actors::ports::store::StoreError;

use super::{DropState, Drops};

impl Drops {
    /// Asks the drop's keeper to time its orphaned reservations (this node, when it is
    /// the keeper or the keeper cannot be reached).
    pub(super) async fn hand_orphans_to_keeper(self: &Arc<Self>, state: &Arc<DropState>) {
        let keeper = self.rooms.keep(state.record()).await;
        let here = match &keeper {
            Ok(node) => *node == self.terms.owner,
            Err(_) => true,
        };
        if here && let Err(err) = self.time_orphans(state).await {
            tracing::warn!(drop_id = %state.record().id, error = %err, "cannot time a drop's orphaned reservations");
        }
    }

    /// Times every reservation of the drop that no live lease's node times.
    pub(super) async fn time_orphans(
        self: &Arc<Self>,
        state: &Arc<DropState>,
    ) -> Result<usize, StoreError> {
        let id = state.record().id;
        let stock = self.stores.drops.stock_state(id).await?;
        let now = self.clock.now();
        let mine = state.seller.lease();
        let timed_by_their_node: std::collections::HashSet<_> = stock
            .leases
            .iter()
            .filter(|l| l.id != mine && l.live_at(now))
            .map(|l| l.id)
            .collect();
        let mut timed = 0;
        for order in self.stores.drops.orders_of_drop(id).await? {
            let theirs = order
                .lease
                .is_some_and(|l| l == mine || timed_by_their_node.contains(&l));
            if order.status == OrderStatus::Reserved && !theirs {
                self.schedule_expiry(state.clone(), order);
                timed += 1;
            }
        }
        if timed > 0 {
            tracing::info!(drop_id = %id, reservations = timed, "timing reservations whose node no longer does");
        }
        Ok(timed)
    }
}
