//! The rule both backends apply when raising a personal record: a value replaces the
//! stored best (and its time) only when it beats it, so a late report of a worse effort
//! never moves a record or its date.

use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::workouts::PersonalRecord;

/// The bests after reporting `output` and `reps` at `at` on top of `current`, and whether
/// they changed (nothing to write when they did not).
pub(crate) fn raised(
    current: Option<&PersonalRecord>,
    workout_id: &str,
    output: Option<f64>,
    reps: Option<u32>,
    at: UnixMillis,
) -> (PersonalRecord, bool) {
    let mut next = current.cloned().unwrap_or_else(|| PersonalRecord {
        workout_id: workout_id.to_owned(),
        best_output: None,
        best_output_at: None,
        most_reps: None,
        most_reps_at: None,
    });
    let mut changed = false;
    // A NaN output beats nothing, not even a missing best.
    let beats = |o: &f64| !o.is_nan() && next.best_output.is_none_or(|best| *o > best);
    if let Some(output) = output.filter(beats) {
        next.best_output = Some(output);
        next.best_output_at = Some(at);
        changed = true;
    }
    if let Some(reps) = reps.filter(|r| next.most_reps.is_none_or(|most| *r > most)) {
        next.most_reps = Some(reps);
        next.most_reps_at = Some(at);
        changed = true;
    }
    (next, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(output: Option<f64>, reps: Option<u32>, at: UnixMillis) -> PersonalRecord {
        PersonalRecord {
            workout_id: "w".into(),
            best_output: output,
            best_output_at: output.map(|_| at),
            most_reps: reps,
            most_reps_at: reps.map(|_| at),
        }
    }

    #[test]
    fn a_first_report_sets_both_bests_at_its_time() {
        let (next, changed) = raised(None, "w", Some(10.5), Some(3), 7);
        assert!(changed);
        assert_eq!(next, record(Some(10.5), Some(3), 7));
    }

    #[test]
    fn a_lower_value_leaves_the_best_and_its_time() {
        let current = record(Some(10.0), Some(5), 1);
        let (next, changed) = raised(Some(&current), "w", Some(9.0), Some(5), 2);
        assert!(!changed);
        assert_eq!(next, current);
    }

    #[test]
    fn each_best_is_raised_on_its_own() {
        let current = record(Some(10.0), Some(5), 1);
        let (next, changed) = raised(Some(&current), "w", Some(9.0), Some(6), 2);
        assert!(changed);
        assert_eq!(
            (next.best_output, next.best_output_at),
            (Some(10.0), Some(1))
        );
        assert_eq!((next.most_reps, next.most_reps_at), (Some(6), Some(2)));
    }

    #[test]
    fn a_nan_output_is_never_a_best() {
        let (next, changed) = raised(None, "w", Some(f64::NAN), None, 1);
        assert!(!changed);
        assert_eq!(next.best_output, None);
    }

    #[test]
    fn nothing_reported_changes_nothing() {
        assert!(!raised(None, "w", None, None, 1).1);
    }
}
