//! What a stored subscription change means for the business counters
//! (`fitpulse_subscription_transitions_total`): a trial started, a trial converted into a
//! paid subscription, a paid start, a renewal, a failed payment, a cancellation (auto-renew
//! turned off), an expiry, a refund, a revocation.
//!
//! A change counts only when it moved the stored standing: store notifications arrive at
//! least once, and one seen again (a replay, or the same news under another event id)
//! gives back the standing already stored, so it counts nothing.

use super::state::{Event, Standing};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A new subscription to a product with a free trial.
    TrialStarted,
    /// A paid start: a new subscription without a trial, or one bought again after it
    /// ended.
    Purchased,
    /// The first payment of a subscription in its trial.
    Converted,
    /// A later payment.
    Renewed,
    /// A renewal charge failed (grace period or on hold).
    PaymentFailed,
    /// Auto-renew turned off: access lasts until the paid period ends.
    Cancelled,
    Expired,
    Refunded,
    Revoked,
}

impl Transition {
    pub const ALL: [Transition; 9] = [
        Transition::TrialStarted,
        Transition::Purchased,
        Transition::Converted,
        Transition::Renewed,
        Transition::PaymentFailed,
        Transition::Cancelled,
        Transition::Expired,
        Transition::Refunded,
        Transition::Revoked,
    ];

    /// The `transition` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::TrialStarted => "trial_started",
            Transition::Purchased => "purchased",
            Transition::Converted => "converted",
            Transition::Renewed => "renewed",
            Transition::PaymentFailed => "payment_failed",
            Transition::Cancelled => "cancelled",
            Transition::Expired => "expired",
            Transition::Refunded => "refunded",
            Transition::Revoked => "revoked",
        }
    }
}

/// What moving from `current` (`None` for a subscription not stored yet) to `next` because
/// of `event` means, if anything.
pub fn transition(
    current: Option<&Standing>,
    next: &Standing,
    event: &Event,
) -> Option<Transition> {
    if current.is_some_and(|c| c.same_as(next)) {
        return None;
    }
    let was_in_trial = current.is_some_and(|c| c.trial);
    match event {
        Event::Purchased { .. } => match current {
            None if next.trial => Some(Transition::TrialStarted),
            None => Some(Transition::Purchased),
            // A purchase restated while it still gives access (a new expiry, a crossgrade)
            // is not a new customer.
            Some(c) if c.state.grants_access() => None,
            Some(_) => Some(Transition::Purchased),
        },
        Event::Renewed { .. } if was_in_trial => Some(Transition::Converted),
        Event::Renewed { .. } => Some(Transition::Renewed),
        Event::RenewalFailed { .. } => Some(Transition::PaymentFailed),
        Event::AutoRenewOff => Some(Transition::Cancelled),
        Event::Expired => Some(Transition::Expired),
        Event::Refunded => Some(Transition::Refunded),
        Event::Revoked => Some(Transition::Revoked),
        // Grace running out is the tail of a failed payment; auto-renew back on undoes a
        // cancellation without a payment.
        Event::GraceExpired | Event::AutoRenewOn => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::state::apply;
    use super::*;

    const DAY: i64 = 86_400_000;

    /// Applies each event in turn and names the transition each one counts.
    fn counted(events: &[(Event, i64)]) -> Vec<Option<Transition>> {
        let mut current: Option<Standing> = None;
        let mut found = Vec::new();
        for (event, at) in events {
            let Some(change) = apply(current, event, *at) else {
                found.push(None);
                continue;
            };
            found.push(transition(current.as_ref(), &change.standing, event));
            current = Some(change.standing);
        }
        found
    }

    fn bought(trial: bool, expires_at: i64) -> Event {
        Event::Purchased {
            expires_at: Some(expires_at),
            trial,
        }
    }

    fn renewed(expires_at: i64) -> Event {
        Event::Renewed {
            expires_at: Some(expires_at),
        }
    }

    #[test]
    fn a_trial_starts_then_its_first_payment_converts_and_later_ones_renew() {
        assert_eq!(
            counted(&[
                (bought(true, 7 * DAY), 0),
                (renewed(37 * DAY), 7 * DAY),
                (renewed(67 * DAY), 37 * DAY),
            ]),
            [
                Some(Transition::TrialStarted),
                Some(Transition::Converted),
                Some(Transition::Renewed),
            ]
        );
    }

    #[test]
    fn a_purchase_without_a_trial_is_a_paid_start_and_its_renewal_no_conversion() {
        assert_eq!(
            counted(&[(bought(false, 30 * DAY), 0), (renewed(60 * DAY), 30 * DAY)]),
            [Some(Transition::Purchased), Some(Transition::Renewed)]
        );
    }

    #[test]
    fn a_notification_seen_again_counts_nothing() {
        assert_eq!(
            counted(&[
                (bought(true, 7 * DAY), 0),
                (bought(true, 7 * DAY), 0),
                (bought(true, 7 * DAY), DAY),
                (renewed(37 * DAY), 7 * DAY),
                (renewed(37 * DAY), 7 * DAY),
                (Event::Refunded, 8 * DAY),
                (Event::Refunded, 8 * DAY),
            ]),
            [
                Some(Transition::TrialStarted),
                None,
                None,
                Some(Transition::Converted),
                None,
                Some(Transition::Refunded),
                None,
            ]
        );
    }

    #[test]
    fn a_failed_payment_in_the_trial_keeps_it_so_the_recovery_still_converts() {
        assert_eq!(
            counted(&[
                (bought(true, 7 * DAY), 0),
                (
                    Event::RenewalFailed {
                        grace_until: Some(10 * DAY)
                    },
                    7 * DAY
                ),
                (renewed(38 * DAY), 8 * DAY),
            ]),
            [
                Some(Transition::TrialStarted),
                Some(Transition::PaymentFailed),
                Some(Transition::Converted),
            ]
        );
    }

    #[test]
    fn a_trial_that_ends_unpaid_expires_and_buying_again_is_paid_at_once() {
        assert_eq!(
            counted(&[
                (bought(true, 7 * DAY), 0),
                (Event::AutoRenewOff, DAY),
                (Event::Expired, 7 * DAY),
                (bought(true, 40 * DAY), 10 * DAY),
                (renewed(70 * DAY), 40 * DAY),
            ]),
            [
                Some(Transition::TrialStarted),
                Some(Transition::Cancelled),
                Some(Transition::Expired),
                Some(Transition::Purchased),
                Some(Transition::Renewed),
            ]
        );
    }

    #[test]
    fn a_purchase_restated_while_active_and_auto_renew_back_on_count_nothing() {
        assert_eq!(
            counted(&[
                (bought(false, 30 * DAY), 0),
                (bought(false, 31 * DAY), DAY),
                (Event::AutoRenewOff, 2 * DAY),
                (Event::AutoRenewOn, 3 * DAY),
                (Event::Revoked, 4 * DAY),
            ]),
            [
                Some(Transition::Purchased),
                None,
                Some(Transition::Cancelled),
                None,
                Some(Transition::Revoked),
            ]
        );
    }
}
