//! How many replays one member may start: every start stores a replay (and, once finished,
//! a workout), so a script starting and finishing replays in a loop would grow the store
//! without end. Each member has a budget of `per_hour` starts that refills evenly over the
//! hour (a GCRA on the app's clock: a full budget can be spent at once, then one start comes
//! back every `hour / per_hour`). A refusal says how long to wait.
//!
//! Memory: one entry per member who started a replay and whose budget has not refilled
//! yet; entries that have are swept every [`SWEEP_EVERY`] checks.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::{UnixMillis, UserId};

const HOUR_MS: i64 = 3_600_000;
/// Checks between sweeps of members whose budgets are full again.
const SWEEP_EVERY: u64 = 4096;

pub struct StartBudget {
    /// Milliseconds one start takes from the budget.
    interval: i64,
    /// How far ahead of now a member's budget may be spent (a full hour less one start).
    tolerance: i64,
    state: Mutex<Spent>,
}

#[derive(Default)]
struct Spent {
    /// When each member's budget is full again (the GCRA's theoretical arrival time).
    full_at: HashMap<UserId, UnixMillis>,
    checks: u64,
}

impl StartBudget {
    /// `per_hour` starts (at least one).
    pub fn new(per_hour: u32) -> StartBudget {
        let interval = HOUR_MS / i64::from(per_hour.max(1));
        StartBudget {
            interval,
            tolerance: HOUR_MS - interval,
            state: Mutex::default(),
        }
    }

    /// Takes one start of `user`'s budget at `now`; `Err` holds the milliseconds until
    /// one comes back.
    pub fn take(&self, user: UserId, now: UnixMillis) -> Result<(), i64> {
        let mut spent = self.state.lock().expect("not poisoned");
        spent.checks += 1;
        if spent.checks.is_multiple_of(SWEEP_EVERY) {
            spent.full_at.retain(|_, full_at| *full_at > now);
        }
        let full_at = spent.full_at.get(&user).copied().unwrap_or(now).max(now);
        let ahead = full_at - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        spent.full_at.insert(user, full_at + self.interval);
        Ok(())
    }

    /// Gives back a start taken at `now` that stored nothing (the store refused it).
    pub fn give_back(&self, user: UserId, now: UnixMillis) {
        let mut spent = self.state.lock().expect("not poisoned");
        if let Some(full_at) = spent.full_at.get_mut(&user) {
            *full_at = (*full_at - self.interval).max(now);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state.lock().expect("not poisoned").full_at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_budget_is_spent_at_once_then_refills_one_start_at_a_time() {
        let budget = StartBudget::new(3);
        let (ada, grace) = (UserId::random(), UserId::random());
        let t = 1_000_000;
        for _ in 0..3 {
            assert_eq!(budget.take(ada, t), Ok(()));
        }
        // The fourth waits for one start to come back: 20 minutes after the first.
        assert_eq!(budget.take(ada, t), Err(20 * 60_000));
        assert_eq!(budget.take(ada, t + 20 * 60_000 - 1), Err(1));
        // Another member's budget is their own.
        assert_eq!(budget.take(grace, t), Ok(()));
        assert_eq!(budget.take(ada, t + 20 * 60_000), Ok(()));
        assert!(budget.take(ada, t + 20 * 60_000).is_err());
        // An idle hour refills it whole, and no more than whole.
        let later = t + 3 * HOUR_MS;
        for _ in 0..3 {
            assert_eq!(budget.take(ada, later), Ok(()));
        }
        assert!(budget.take(ada, later).is_err());
    }

    #[test]
    fn a_start_given_back_can_be_taken_again() {
        let budget = StartBudget::new(2);
        let ada = UserId::random();
        let t = 5_000_000;
        budget.take(ada, t).expect("first");
        budget.take(ada, t).expect("second");
        assert!(budget.take(ada, t).is_err());
        budget.give_back(ada, t);
        assert_eq!(budget.take(ada, t), Ok(()));
        assert!(budget.take(ada, t).is_err());
        // Giving back more than was taken never makes the budget more than full.
        for _ in 0..5 {
            budget.give_back(ada, t);
        }
        assert_eq!(budget.take(ada, t), Ok(()));
        assert_eq!(budget.take(ada, t), Ok(()));
        assert!(budget.take(ada, t).is_err());
    }

    #[test]
    fn members_whose_budgets_refilled_are_forgotten() {
        let budget = StartBudget::new(60);
        for _ in 0..SWEEP_EVERY - 1 {
            budget.take(UserId::random(), 0).expect("a fresh budget");
        }
        assert_eq!(budget.tracked() as u64, SWEEP_EVERY - 1);
        // An hour on, the sweep's check forgets every refilled member, keeping the one
        // it charges.
        budget
            .take(UserId::random(), HOUR_MS)
            .expect("a fresh budget");
        assert_eq!(budget.tracked(), 1);
    }
}
