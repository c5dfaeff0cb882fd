//! The subscription state machine. Store notifications are mapped to provider-neutral
//! [`Event`]s; [`apply`] moves a subscription from its current state and says what the
//! change means for the user's entitlement and which emails it causes.
//!
//! | state | access | reached by |
//! |---|---|---|
//! | `active` | until `expires_at` | purchase, renewal, recovery, auto-renew back on |
//! | `in_grace` | until the grace period ends | a failed renewal with a grace period |
//! | `on_hold` | none | a failed renewal without grace, or grace over (billing retry goes on) |
//! | `cancelled` | until `expires_at` | auto-renew turned off: active until the paid period ends |
//! | `expired` | none | the period ended without renewal |
//! | `refunded` | none | the purchase was refunded |
//! | `revoked` | none | the store revoked it (family sharing removed, chargeback) |
//!
//! Beside its state a subscription may be in its free trial: a new subscription to a
//! product with a trial starts in it, and its first renewal (the first payment) ends it;
//! so does the subscription ending. [`super::transitions`] names what each stored change
//! means for the business counters.
//!
//! Notifications arrive at least once and out of order: one older than the last applied
//! change (by the provider's event time) changes nothing.

use fitpulse_actors::domain::UnixMillis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    Active,
    InGrace,
    OnHold,
    Cancelled,
    Expired,
    Refunded,
    Revoked,
}

impl SubscriptionState {
    pub const ALL: [SubscriptionState; 7] = [
        SubscriptionState::Active,
        SubscriptionState::InGrace,
        SubscriptionState::OnHold,
        SubscriptionState::Cancelled,
        SubscriptionState::Expired,
        SubscriptionState::Refunded,
        SubscriptionState::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Active => "active",
            SubscriptionState::InGrace => "in_grace",
            SubscriptionState::OnHold => "on_hold",
            SubscriptionState::Cancelled => "cancelled",
            SubscriptionState::Expired => "expired",
            SubscriptionState::Refunded => "refunded",
            SubscriptionState::Revoked => "revoked",
        }
    }

    pub fn parse(raw: &str) -> Option<SubscriptionState> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the state gives access at all (until `expires_at`).
    pub fn grants_access(self) -> bool {
        matches!(
            self,
            SubscriptionState::Active | SubscriptionState::InGrace | SubscriptionState::Cancelled
        )
    }
}

/// What a store told us happened, in provider-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Purchased {
        expires_at: Option<UnixMillis>,
        /// The product starts with a free trial. Absent in notifications queued before
        /// trials were tracked: those count as paid.
        #[serde(default)]
        trial: bool,
    },
    Renewed {
        expires_at: Option<UnixMillis>,
    },
    /// A renewal charge failed; with `grace_until` access continues until then.
    RenewalFailed {
        grace_until: Option<UnixMillis>,
    },
    GraceExpired,
    AutoRenewOff,
    AutoRenewOn,
    Expired,
    Refunded,
    Revoked,
}

impl Event {
    /// The event for a product that starts with a free trial (`has_trial`): a purchase of
    /// it begins the trial; other events are the same for every product.
    pub fn for_product(self, has_trial: bool) -> Event {
        match self {
            Event::Purchased { expires_at, .. } => Event::Purchased {
                expires_at,
                trial: has_trial,
            },
            other => other,
        }
    }
}

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub state: SubscriptionState,
    pub expires_at: Option<UnixMillis>,
    pub auto_renew: bool,
    /// In its free trial (see the module doc).
    pub trial: bool,
    pub changed_at: UnixMillis,
}

impl Standing {
    /// The same standing apart from when it was reached: a notification that moves
    /// nothing (a replay, a duplicate under another id) gives back an unchanged standing.
    pub fn same_as(&self, other: &Standing) -> bool {
        (self.state, self.expires_at, self.auto_renew, self.trial)
            == (other.state, other.expires_at, other.auto_renew, other.trial)
    }
}

/// An email a change causes.
pub type Email = crate::email::Template;

/// The result of applying an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub standing: Standing,
    /// The label of `fitpulse_entitlement_changes_total`.
    pub label: &'static str,
    pub emails: Vec<Email>,
}

/// Applies `event`, which the provider dated `at`, to the subscription's `current` standing
/// (`None` for a subscription we have not seen). `None` when it changes nothing: it is
/// older than the last applied change.
pub fn apply(current: Option<Standing>, event: &Event, at: UnixMillis) -> Option<Change> {
    use SubscriptionState::*;
    if current.is_some_and(|c| at < c.changed_at) {
        return None;
    }
    let previous_expiry = current.and_then(|c| c.expires_at);
    let auto_renew = current.is_none_or(|c| c.auto_renew);
    // Only the first payment ends a trial; billing trouble and auto-renew switches keep it.
    let in_trial = current.is_some_and(|c| c.trial);
    let standing = |state, expires_at, auto_renew, trial| Standing {
        state,
        expires_at,
        auto_renew,
        trial,
        changed_at: at,
    };
    let (standing, label, emails): (Standing, &'static str, Vec<Email>) = match event {
        // A trial is had once: buying again after it ended is paid at once, while the
        // same purchase seen again stays in its trial.
        Event::Purchased { expires_at, trial } => (
            standing(
                Active,
                *expires_at,
                true,
                *trial && current.is_none_or(|c| c.trial),
            ),
            "granted",
            vec![Email::SubscriptionStarted],
        ),
        Event::Renewed { expires_at } => (
            standing(Active, expires_at.or(previous_expiry), true, false),
            "renewed",
            vec![],
        ),
        Event::RenewalFailed {
            grace_until: Some(until),
        } => (
            standing(InGrace, Some(*until), auto_renew, in_trial),
            "grace",
            vec![Email::PaymentFailed],
        ),
        Event::RenewalFailed { grace_until: None } | Event::GraceExpired => (
            standing(
                OnHold,
                previous_expiry.map(|e| e.min(at)),
                auto_renew,
                in_trial,
            ),
            "on_hold",
            if matches!(event, Event::RenewalFailed { .. }) {
                vec![Email::PaymentFailed]
            } else {
                vec![]
            },
        ),
        Event::AutoRenewOff => {
            let state = match current.map(|c| c.state) {
                Some(Active) | None => Cancelled,
                Some(other) => other,
            };
            (
                standing(state, previous_expiry, false, in_trial),
                "cancelled",
                if state == Cancelled {
                    vec![Email::ExpiringSoon]
                } else {
                    vec![]
                },
            )
        }
        Event::AutoRenewOn => {
            let state = match current.map(|c| c.state) {
                Some(Cancelled) | None => Active,
                Some(other) => other,
            };
            (
                standing(state, previous_expiry, true, in_trial),
                "renewed",
                vec![],
            )
        }
        Event::Expired => (
            standing(Expired, previous_expiry.or(Some(at)), false, false),
            "expired",
            vec![],
        ),
        Event::Refunded => (
            standing(Refunded, Some(at), false, false),
            "refunded",
            vec![],
        ),
        Event::Revoked => (standing(Revoked, Some(at), false, false), "revoked", vec![]),
    };
    Some(Change {
        standing,
        label,
        emails,
    })
}

/// Until when the standing gives access at `now`: `None` means no access now.
pub fn access_until(standing: &Standing, now: UnixMillis) -> Option<Option<UnixMillis>> {
    if !standing.state.grants_access() {
        return None;
    }
    match standing.expires_at {
        Some(until) if until <= now => None,
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::SubscriptionState::*;
    use super::*;

    const DAY: i64 = 86_400_000;

    fn run(events: &[(Event, i64)]) -> Standing {
        let mut current = None;
        for (event, at) in events {
            if let Some(change) = apply(current, event, *at) {
                current = Some(change.standing);
            }
        }
        current.expect("a standing")
    }

    #[test]
    fn a_purchase_renews_then_fails_into_grace_and_recovers() {
        let bought = Event::Purchased {
            expires_at: Some(30 * DAY),
            trial: false,
        };
        let s = run(&[(bought.clone(), 0)]);
        assert_eq!((s.state, s.expires_at), (Active, Some(30 * DAY)));
        let s = run(&[
            (bought.clone(), 0),
            (
                Event::RenewalFailed {
                    grace_until: Some(36 * DAY),
                },
                30 * DAY,
            ),
        ]);
        assert_eq!(
            (s.state, access_until(&s, 31 * DAY)),
            (InGrace, Some(Some(36 * DAY)))
        );
        let s = run(&[
            (bought, 0),
            (
                Event::RenewalFailed {
                    grace_until: Some(36 * DAY),
                },
                30 * DAY,
            ),
            (
                Event::Renewed {
                    expires_at: Some(62 * DAY),
                },
                33 * DAY,
            ),
        ]);
        assert_eq!((s.state, s.expires_at), (Active, Some(62 * DAY)));
    }

    #[test]
    fn grace_running_out_puts_the_subscription_on_hold_without_access() {
        let s = run(&[
            (
                Event::Purchased {
                    expires_at: Some(30 * DAY),
                    trial: false,
                },
                0,
            ),
            (
                Event::RenewalFailed {
                    grace_until: Some(36 * DAY),
                },
                30 * DAY,
            ),
            (Event::GraceExpired, 36 * DAY),
        ]);
        assert_eq!(s.state, OnHold);
        assert_eq!(access_until(&s, 36 * DAY), None);
    }

    #[test]
    fn turning_auto_renew_off_keeps_access_until_the_period_ends() {
        let s = run(&[
            (
                Event::Purchased {
                    expires_at: Some(30 * DAY),
                    trial: false,
                },
                0,
            ),
            (Event::AutoRenewOff, DAY),
        ]);
        assert_eq!((s.state, s.auto_renew), (Cancelled, false));
        assert_eq!(access_until(&s, 2 * DAY), Some(Some(30 * DAY)));
        assert_eq!(access_until(&s, 30 * DAY), None);
        let back = run(&[
            (
                Event::Purchased {
                    expires_at: Some(30 * DAY),
                    trial: false,
                },
                0,
            ),
            (Event::AutoRenewOff, DAY),
            (Event::AutoRenewOn, 2 * DAY),
        ]);
        assert_eq!(back.state, Active);
    }

    #[test]
    fn refunds_and_revocations_end_access_at_once() {
        for (event, state) in [(Event::Refunded, Refunded), (Event::Revoked, Revoked)] {
            let s = run(&[
                (
                    Event::Purchased {
                        expires_at: Some(30 * DAY),
                        trial: false,
                    },
                    0,
                ),
                (event, DAY),
            ]);
            assert_eq!(s.state, state);
            assert_eq!(access_until(&s, DAY + 1), None);
        }
    }

    #[test]
    fn an_older_event_than_the_last_applied_changes_nothing() {
        let current = run(&[(
            Event::Purchased {
                expires_at: Some(30 * DAY),
                trial: false,
            },
            10 * DAY,
        )]);
        assert_eq!(apply(Some(current), &Event::Expired, 5 * DAY), None);
        let again = apply(
            Some(current),
            &Event::Renewed { expires_at: None },
            10 * DAY,
        )
        .expect("same instant applies");
        assert_eq!(
            again.standing.expires_at,
            Some(30 * DAY),
            "a renewal without a date keeps it"
        );
    }

    #[test]
    fn changes_name_their_emails() {
        let bought = apply(
            None,
            &Event::Purchased {
                expires_at: None,
                trial: false,
            },
            0,
        )
        .expect("change");
        assert_eq!(bought.emails, [Email::SubscriptionStarted]);
        let failed = apply(
            Some(bought.standing),
            &Event::RenewalFailed { grace_until: None },
            1,
        )
        .expect("change");
        assert_eq!(
            (failed.standing.state, failed.emails.clone()),
            (OnHold, vec![Email::PaymentFailed])
        );
    }
}
