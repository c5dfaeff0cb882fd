//! A run's report: printed as a human summary and written as JSON; two JSON reports can be
//! compared side by side.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// From a histogram recorded in microseconds.
    pub fn from_micros(histogram: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: histogram.len(),
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    }
}

/// A new latency histogram in microseconds, 1 µs to 10 minutes, 3 significant digits.
pub fn micros_histogram() -> Histogram<u64> {
    // The bounds are constants within hdrhistogram's supported range.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub parameters: Value,
    /// Outcome counts, e.g. `connected`, `failed_connect`.
    pub counts: BTreeMap<String, u64>,
    pub latency_ms: Latency,
    /// Latency of a part of the run, e.g. one request kind (`catalog`) or phase (`hold`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_by: BTreeMap<String, Latency>,
    /// The scenario's own figures, e.g. `bytes_per_session`.
    pub figures: BTreeMap<String, f64>,
    /// The bars the run missed (e.g. answers not 100% correct); the command exits non-zero
    /// when there is any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// When and where it ran.
    pub started_at: String,
    pub host: Value,
}

impl Report {
    pub fn summary(&self) -> String {
        let mut out = format!("== {} ==\n", self.scenario);
        out.push_str(&format!("parameters: {}\n", self.parameters));
        for (name, count) in &self.counts {
            out.push_str(&format!("{name:>24}: {count}\n"));
        }
        let l = &self.latency_ms;
        out.push_str(&format!(
            "{:>24}: n={} p50={:.2} p90={:.2} p99={:.2} max={:.2}\n",
            "latency ms", l.count, l.p50, l.p90, l.p99, l.max
        ));
        for (part, l) in &self.latency_by {
            out.push_str(&format!(
                "{:>24}: n={} p50={:.2} p90={:.2} p99={:.2} max={:.2}\n",
                format!("{part} ms"),
                l.count,
                l.p50,
                l.p90,
                l.p99,
                l.max
            ));
        }
        for (name, value) in &self.figures {
            out.push_str(&format!("{name:>24}: {value:.2}\n"));
        }
        for line in &self.failed {
            out.push_str(&format!("FAILED: {line}\n"));
        }
        out
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }

    pub fn read(path: &Path) -> std::io::Result<Report> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}

/// Two reports side by side: every count, percentile and figure with the change.
pub fn compare(a: &Report, b: &Report) -> String {
    let mut rows: Vec<(String, Option<f64>, Option<f64>)> = Vec::new();
    let mut keys: Vec<&String> = a.counts.keys().chain(b.counts.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        rows.push((
            key.clone(),
            a.counts.get(key).map(|v| *v as f64),
            b.counts.get(key).map(|v| *v as f64),
        ));
    }
    for (name, pick) in [
        (
            "latency p50 ms",
            (|l: &Latency| l.p50) as fn(&Latency) -> f64,
        ),
        ("latency p90 ms", |l| l.p90),
        ("latency p99 ms", |l| l.p99),
        ("latency max ms", |l| l.max),
    ] {
        rows.push((
            name.into(),
            Some(pick(&a.latency_ms)),
            Some(pick(&b.latency_ms)),
        ));
    }
    let mut parts: Vec<&String> = a.latency_by.keys().chain(b.latency_by.keys()).collect();
    parts.sort();
    parts.dedup();
    for part in parts {
        for (name, pick) in [
            ("p50", (|l: &Latency| l.p50) as fn(&Latency) -> f64),
            ("p99", |l| l.p99),
        ] {
            rows.push((
                format!("{part} {name} ms"),
                a.latency_by.get(part).map(pick),
                b.latency_by.get(part).map(pick),
            ));
        }
    }
    let mut figures: Vec<&String> = a.figures.keys().chain(b.figures.keys()).collect();
    figures.sort();
    figures.dedup();
    for key in figures {
        rows.push((
            key.clone(),
            a.figures.get(key).copied(),
            b.figures.get(key).copied(),
        ));
    }
    let mut out = format!(
        "{:<28} {:>16} {:>16} {:>9}\n",
        "", a.scenario, b.scenario, "change"
    );
    for (name, left, right) in rows {
        let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        let change = match (left, right) {
            (Some(l), Some(r)) if l != 0.0 => format!("{:+.1}%", (r - l) / l * 100.0),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{name:<28} {:>16} {:>16} {change:>9}\n",
            show(left),
            show(right)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(p99: f64, connected: u64) -> Report {
        Report {
            scenario: "connect".into(),
            parameters: serde_json::json!({}),
            counts: [("connected".to_owned(), connected)].into(),
            latency_ms: Latency {
                count: 1,
                p50: 1.0,
                p90: 2.0,
                p99,
                max: p99,
            },
            latency_by: [("catalog".to_owned(), Latency::default())].into(),
            figures: [("bytes_per_session".to_owned(), 10_000.0)].into(),
            failed: Vec::new(),
            started_at: "2026-11-22T00:00:00Z".into(),
            host: serde_json::json!({}),
        }
    }

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        let mut histogram = micros_histogram();
        for us in 1..=1000 {
            histogram.record(us * 1000).expect("in range");
        }
        let latency = Latency::from_micros(&histogram);
        assert_eq!(latency.count, 1000);
        assert!((latency.p50 - 500.0).abs() < 1.0, "{latency:?}");
        assert!((latency.p99 - 990.0).abs() < 2.0, "{latency:?}");
        assert!((latency.max - 1000.0).abs() < 1.0, "{latency:?}");
    }

    #[test]
    fn a_report_round_trips_through_json_and_compares_with_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.json");
        report(4.0, 100).write(&path).expect("written");
        let a = Report::read(&path).expect("read back");
        let table = compare(&a, &report(6.0, 100));
        assert!(table.contains("latency p99 ms"), "{table}");
        assert!(table.contains("+50.0%"), "{table}");
        assert!(table.contains("catalog p99 ms"), "{table}");
    }

    #[test]
    fn a_report_from_before_parts_and_bars_still_reads() {
        let mut json = serde_json::to_value(report(4.0, 1)).expect("json");
        let object = json.as_object_mut().expect("object");
        object.remove("latency_by");
        object.remove("failed");
        let read: Report = serde_json::from_value(json).expect("reads");
        assert!(read.latency_by.is_empty() && read.failed.is_empty());
    }
}
