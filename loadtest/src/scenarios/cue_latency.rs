//! A live run's cue delivery latency, whole and broken down: by the node a participant
//! is connected to and by cue. A slow tail then shows what it is: a few whole cues late
//! (every participant waited for them) or one node's share of every cue.

use std::collections::BTreeMap;
use std::sync::Mutex;

use hdrhistogram::Histogram;

use crate::report::{Latency, micros_histogram};

/// Runs with more cues than this keep and report no per-cue parts (the report would be a
/// list of hundreds, and each part's histogram is ~170 KB); the node parts are always
/// there when there is more than one node.
pub const CUE_PARTS_UP_TO: usize = 40;

pub struct CueLatency {
    parts: Mutex<Parts>,
}

struct Parts {
    all: Histogram<u64>,
    by_node: Vec<Histogram<u64>>,
    /// By the cue's send time, which names it (and orders the cues); `None` for a run of
    /// more than [`CUE_PARTS_UP_TO`] cues.
    by_cue: Option<BTreeMap<u64, Histogram<u64>>>,
}

impl CueLatency {
    /// For a run over `nodes` nodes sending `cues` cues.
    pub fn new(nodes: usize, cues: usize) -> CueLatency {
        CueLatency {
            parts: Mutex::new(Parts {
                all: micros_histogram(),
                by_node: (0..nodes.max(1)).map(|_| micros_histogram()).collect(),
                by_cue: (cues <= CUE_PARTS_UP_TO).then(BTreeMap::new),
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
        if let Some(by_cue) = &mut parts.by_cue {
            let _ = by_cue
                .entry(sent)
                .or_insert_with(micros_histogram)
                .record(latency);
        }
    }

    /// The whole latency and its parts: `node N` (with more than one node) and `cue NNN`
    /// in the order sent (with at most [`CUE_PARTS_UP_TO`] cues).
    pub fn report(&self) -> (Latency, BTreeMap<String, Latency>) {
        let Ok(parts) = self.parts.lock() else {
            return (Latency::default(), BTreeMap::new());
        };
        let mut by = BTreeMap::new();
        if parts.by_node.len() > 1 {
            for (node, histogram) in parts.by_node.iter().enumerate() {
                by.insert(format!("node {node}"), Latency::from_micros(histogram));
            }
        }
        let cues = parts.by_cue.iter().flat_map(BTreeMap::values);
        for (index, histogram) in cues.enumerate() {
            by.insert(
                format!("cue {:03}", index + 1),
                Latency::from_micros(histogram),
            );
        }
        (Latency::from_micros(&parts.all), by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_cue_and_a_slow_node_each_show_as_their_own_part() {
        let latency = CueLatency::new(2, 2);
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
        let (all, by) = latency.report();
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
        let cues = CUE_PARTS_UP_TO as u64 + 1;
        let latency = CueLatency::new(1, cues as usize);
        for cue in 0..cues {
            latency.record(0, cue * 1_000, cue * 1_000 + 500);
        }
        let (all, by) = latency.report();
        assert_eq!(all.count, cues);
        assert!(by.is_empty(), "{by:?}");
    }
}
