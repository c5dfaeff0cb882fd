//! A live run's cue delivery latency, whole and broken down: by the node a participant
//! is connected to and by cue. A slow tail then shows what it is: a few whole cues late
//! (every participant waited for them) or one node's share of every cue.

use std::collections::BTreeMap;
use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::report::{Latency, micros_histogram};

/// Runs with more cues than this report no per-cue parts (the report would be a list of
/// hundreds); the node parts are always there when there is more than one node.
pub const CUE_PARTS_UP_TO: usize = 40;

pub struct CueLatency {
    parts: Mutex<Parts>,
}

struct Parts {
    all: Histogram<u64>,
    by_node: Vec<Histogram<u64>>,
    /// By the cue's send time, which names it (and orders the cues).
    by_cue: BTreeMap<u64, Histogram<u64>>,
}

impl CueLatency {
    pub fn new(nodes: usize) -> CueLatency {
        CueLatency {
            parts: Mutex::new(Parts {
                all: micros_histogram(),
                by_node: (0..nodes.max(1)).map(|_| micros_histogram()).collect(),
                by_cue: BTreeMap::new(),
            }),
        }
    }

    /// A cue sent at `sent` (µs since the epoch) reached a participant on `node` at `now`.
    pub fn record(&self, node: usize, sent: u64, now: u64) {
        let latency = now.saturating_sub(sent).max(1);
        let Ok(mut parts) = self.parts.lock() else {
            return;
        };
        let _ = parts.all.record(latency);
        if let Some(histogram) = parts.by_node.get_mut(node) {
            let _ = histogram.record(latency);
        }
        let _ = parts
            .by_cue
            .entry(sent)
            .or_insert_with(micros_histogram)
            .record(latency);
    }

    /// The whole latency and its parts: `node N` (with more than one node) and `cue NN`
    /// in the order sent (with at most `cue_parts_up_to` cues).
    pub fn report(&self, cue_parts_up_to: usize) -> (Latency, BTreeMap<String, Latency>) {
        let Ok(parts) = self.parts.lock() else {
            return (Latency::default(), BTreeMap::new());
        };
        let mut by = BTreeMap::new();
        if parts.by_node.len() > 1 {
            for (node, histogram) in parts.by_node.iter().enumerate() {
                by.insert(format!("node {node}"), Latency::from_micros(histogram));
            }
        }
        if parts.by_cue.len() <= cue_parts_up_to {
            for (index, histogram) in parts.by_cue.values().enumerate() {
                by.insert(
                    format!("cue {:03}", index + 1),
                    Latency::from_micros(histogram),
                );
            }
        }
        (Latency::from_micros(&parts.all), by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_cue_and_a_slow_node_each_show_as_their_own_part() {
        let latency = CueLatency::new(2);
        // Cue 1 (sent at 1,000) reaches everyone in 10 ms; cue 2 (sent at 5,000) is 300 ms
        // late on node 1 only.
        for node in 0..2 {
            for _ in 0..50 {
                latency.record(node, 1_000, 11_000);
            }
        }
        for _ in 0..50 {
            latency.record(0, 5_000, 15_000);
            latency.record(1, 5_000, 305_000);
        }
        let (all, by) = latency.report(CUE_PARTS_UP_TO);
        assert_eq!(all.count, 200);
        let cue = |n: &str| by[n].p99.round();
        assert_eq!((cue("cue 001"), cue("cue 002")), (10.0, 300.0));
        assert_eq!(
            (by["node 0"].p99.round(), by["node 1"].p99.round()),
            (10.0, 300.0)
        );
        assert_eq!(by["node 1"].p50.round(), 10.0);
    }

    #[test]
    fn one_node_and_many_cues_report_the_whole_only() {
        let latency = CueLatency::new(1);
        for cue in 0..3u64 {
            latency.record(0, cue * 1_000, cue * 1_000 + 500);
        }
        let (all, by) = latency.report(2);
        assert_eq!(all.count, 3);
        assert!(by.is_empty(), "{by:?}");
    }
}
