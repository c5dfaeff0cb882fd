//! Ranking participants from their latest metrics: by output (cumulative work, kJ), then
//! reps, then who joined first. Pure functions, so the class actor stays about messaging.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::UserId;

/// A participant's latest reported metrics. Output and reps are cumulative for the class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sample {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pace: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heart_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
}

impl Sample {
    /// Later fields replace earlier ones; absent fields keep their last value.
    pub fn merge(&mut self, newer: Sample) {
        self.pace = newer.pace.or(self.pace);
        self.reps = newer.reps.or(self.reps);
        self.heart_rate = newer.heart_rate.or(self.heart_rate);
        self.output = newer.output.or(self.output);
    }
}

/// One line of a leaderboard or of the final results.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "LeaderboardEntry")]
pub struct Entry {
    pub rank: usize,
    pub user_id: String,
    pub name: String,
    #[serde(flatten)]
    pub sample: Sample,
}

/// A participant as ranking sees it.
pub struct Ranked<'a> {
    pub user: UserId,
    pub name: &'a str,
    pub sample: Sample,
    /// Join order, the last tie-break.
    pub order: u64,
}

/// Every participant with a metric, best first, ranks from 1.
pub fn rank(mut participants: Vec<Ranked<'_>>) -> Vec<Entry> {
    participants.retain(|p| p.sample != Sample::default());
    participants.sort_by(|a, b| {
        let output = |p: &Ranked<'_>| p.sample.output.unwrap_or(0.0);
        output(b)
            .total_cmp(&output(a))
            .then(b.sample.reps.unwrap_or(0).cmp(&a.sample.reps.unwrap_or(0)))
            .then(a.order.cmp(&b.order))
    });
    participants
        .into_iter()
        .enumerate()
        .map(|(i, p)| Entry {
            rank: i + 1,
            user_id: p.user.to_string(),
            name: p.name.to_owned(),
            sample: p.sample,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(name: &str, output: Option<f64>, reps: Option<u32>, order: u64) -> Ranked<'_> {
        Ranked {
            user: UserId::random(),
            name,
            sample: Sample {
                output,
                reps,
                ..Sample::default()
            },
            order,
        }
    }

    #[test]
    fn higher_output_ranks_first_then_reps_then_who_joined_first() {
        let entries = rank(vec![
            ranked("low", Some(10.0), Some(50), 0),
            ranked("high", Some(30.0), None, 1),
            ranked("tie-more-reps", Some(10.0), Some(60), 2),
            ranked("tie-late", Some(10.0), Some(50), 3),
        ]);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["high", "tie-more-reps", "low", "tie-late"]);
        assert_eq!(
            entries.iter().map(|e| e.rank).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
    }

    #[test]
    fn participants_without_metrics_are_not_ranked() {
        let entries = rank(vec![
            ranked("idle", None, None, 0),
            ranked("busy", None, Some(1), 1),
        ]);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, "busy");
    }

    #[test]
    fn a_partial_sample_keeps_the_other_fields() {
        let mut sample = Sample {
            reps: Some(10),
            heart_rate: Some(120),
            ..Sample::default()
        };
        sample.merge(Sample {
            heart_rate: Some(150),
            output: Some(2.5),
            ..Sample::default()
        });
        assert_eq!(
            sample,
            Sample {
                pace: None,
                reps: Some(10),
                heart_rate: Some(150),
                output: Some(2.5)
            }
        );
    }
}
