//! A latency chart as a small hand-written SVG: one percentile curve per report, latency
//! (ms) against the percentile on the usual HDR scale (50%, 90%, 99%, 99.9%, ... evenly
//! spaced), so the tail gets as much room as the median.
//!
//! The points of a report are its `latency_ms` (p50, p90, p99, max) and any extra
//! percentiles it keeps among its figures as `latency_p<N>_ms`, with `_` for a decimal
//! point (`latency_p75_ms`, `latency_p99_9_ms`).

use crate::report::Report;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// The quantile a figure named `latency_p<N>_ms` stands for (`latency_p99_9_ms`: 0.999).
fn figure_quantile(name: &str) -> Option<f64> {
    let digits = name.strip_prefix("latency_p")?.strip_suffix("_ms")?;
    let (whole, fraction) = digits.split_once('_').unwrap_or((digits, ""));
    if whole.is_empty() || !(whole.chars().chain(fraction.chars())).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let percent: f64 = if fraction.is_empty() {
        whole.parse().ok()?
    } else {
        format!("{whole}.{fraction}").parse().ok()?
    };
    (percent > 0.0 && percent < 100.0).then_some(percent / 100.0)
}

/// A report's (quantile, ms) points, sorted by quantile; the max is quantile 1.
pub fn points(report: &Report) -> Vec<(f64, f64)> {
    let l = &report.latency_ms;
    if l.count == 0 {
        return Vec::new();
    }
    let mut points = vec![(0.5, l.p50), (0.9, l.p90), (0.99, l.p99), (1.0, l.max)];
    for (name, value) in &report.figures {
        if let Some(q) = figure_quantile(name) {
            points.push((q, *value));
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points.dedup_by(|a, b| a.0 == b.0);
    points
}

/// Position on the percentile axis: -log10(1 - q), so 90% is 1, 99% is 2. The max sits
/// at the rank of the last sample (1 - 1/count), at least one step past the last point.
fn x_of(q: f64, count: u64, last: f64) -> f64 {
    if q >= 1.0 {
        let by_count = if count > 1 {
            (count as f64).log10()
        } else {
            0.0
        };
        by_count.max(last + 1.0)
    } else {
        -(1.0 - q).log10()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round step for about `n` ticks up to `max`.
fn nice_step(max: f64, n: f64) -> f64 {
    let raw = (max / n).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    let scaled = raw / magnitude;
    let nice = if scaled <= 1.0 {
        1.0
    } else if scaled <= 2.0 {
        2.0
    } else if scaled <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn percent_label(x: f64) -> String {
    // x = 1 -> 90%, 2 -> 99%, 3 -> 99.9%
    let q = 100.0 * (1.0 - 10f64.powf(-x));
    let text = format!("{q:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// The chart of `series` (a label and its report each) as an SVG document.
pub fn svg(title: &str, series: &[(String, Report)]) -> String {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, report)| {
            let pts = points(report);
            let last = pts
                .iter()
                .filter(|p| p.0 < 1.0)
                .map(|p| x_of(p.0, 0, 0.0))
                .fold(0.0, f64::max);
            let xy = pts
                .iter()
                .map(|&(q, ms)| (x_of(q, report.latency_ms.count, last), ms))
                .collect();
            (label.as_str(), xy)
        })
        .collect();
    let x_max = curves
        .iter()
        .flat_map(|(_, xy)| xy.iter().map(|p| p.0))
        .fold(2.0, f64::max);
    let y_top = curves
        .iter()
        .flat_map(|(_, xy)| xy.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(0.001);
    let y_step = nice_step(y_top, 5.0);
    let y_max = (y_top / y_step).ceil() * y_step;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x / x_max * plot_w;
    let py = |y: f64| TOP + plot_h - y / y_max * plot_h;

    let mut out = String::new();
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    out.push_str(&format!(
        "<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n"
    ));
    out.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"24\" font-size=\"15\">{}</text>\n",
        escape(title)
    ));
    // Grid and axes.
    let mut y = 0.0;
    while y <= y_max + y_step / 2.0 {
        out.push_str(&format!(
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{4}</text>\n",
            py(y),
            LEFT + plot_w,
            LEFT - 6.0,
            py(y) + 4.0,
            format_ms(y)
        ));
        y += y_step;
    }
    let mut x = 0.0;
    while x <= x_max + 1e-9 {
        out.push_str(&format!(
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{3}</text>\n",
            px(x),
            TOP + plot_h,
            TOP + plot_h + 16.0,
            if x == 0.0 {
                "0%".to_owned()
            } else {
                percent_label(x)
            }
        ));
        x += 1.0;
    }
    out.push_str(&format!(
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#333\"/>\n\
         <text x=\"{0:.1}\" y=\"{1:.1}\" text-anchor=\"middle\">percentile</text>\n\
         <text x=\"16\" y=\"{2:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {2:.1})\">latency (ms)</text>\n",
        LEFT + plot_w / 2.0,
        HEIGHT - 10.0,
        TOP + plot_h / 2.0
    ));
    // One curve per report, its points marked, and a legend entry.
    for (index, (label, xy)) in curves.iter().enumerate() {
        let color = COLORS[index % COLORS.len()];
        let path: Vec<String> = xy
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        out.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            path.join(" ")
        ));
        for &(x, y) in xy {
            out.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"><title>{}</title></circle>\n",
                px(x),
                py(y),
                format_ms(y)
            ));
        }
        let ly = TOP + 10.0 + index as f64 * 20.0;
        let lx = LEFT + plot_w + 14.0;
        out.push_str(&format!(
            "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            escape(label)
        ));
    }
    out.push_str("</svg>\n");
    out
}

fn format_ms(ms: f64) -> String {
    if ms >= 100.0 || ms == ms.trunc() {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Latency;

    fn report(p50: f64, max: f64) -> Report {
        Report {
            scenario: "broadcast".into(),
            parameters: serde_json::json!({}),
            counts: Default::default(),
            latency_ms: Latency {
                count: 10_000,
                p50,
                p90: p50 * 2.0,
                p99: p50 * 3.0,
                max,
            },
            latency_by: Default::default(),
            figures: [
                ("latency_p75_ms".to_owned(), p50 * 1.5),
                ("latency_p99_9_ms".to_owned(), max * 0.9),
                ("time_to_last_delivery_ms".to_owned(), max),
            ]
            .into(),
            failed: Vec::new(),
            started_at: "2026-11-22T00:00:00Z".into(),
            host: serde_json::json!({}),
        }
    }

    /// Checks that `text` is well-formed XML as far as an SVG of ours goes: every tag
    /// closed in order, attributes quoted, no raw `<` or `&` in text. Answers the number
    /// of elements.
    fn well_formed(text: &str) -> Result<usize, String> {
        let mut open: Vec<String> = Vec::new();
        let mut elements = 0;
        let mut rest = text;
        while let Some(start) = rest.find('<') {
            let between = &rest[..start];
            check_text(between)?;
            let end = rest[start..].find('>').ok_or("a tag is not closed")? + start;
            let tag = &rest[start + 1..end];
            if let Some(name) = tag.strip_prefix('/') {
                let expected = open.pop().ok_or(format!("</{name}> closes nothing"))?;
                if expected != name.trim() {
                    return Err(format!("</{name}> closes <{expected}>"));
                }
            } else {
                let self_closing = tag.ends_with('/');
                let body = tag.trim_end_matches('/');
                let name: String = body
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                if name.is_empty() {
                    return Err(format!("bad tag <{tag}>"));
                }
                if !body[name.len()..].matches('"').count().is_multiple_of(2) {
                    return Err(format!("unbalanced quotes in <{tag}>"));
                }
                check_text(&body[name.len()..].replace('"', ""))?;
                elements += 1;
                if !self_closing {
                    open.push(name);
                }
            }
            rest = &rest[end + 1..];
        }
        check_text(rest)?;
        if let Some(name) = open.pop() {
            return Err(format!("<{name}> is never closed"));
        }
        Ok(elements)
    }

    fn check_text(text: &str) -> Result<(), String> {
        if text.contains('<') {
            return Err(format!("raw < in {text:?}"));
        }
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            if !["&amp;", "&lt;", "&gt;", "&quot;"]
                .iter()
                .any(|e| entity.starts_with(e))
            {
                return Err(format!("raw & in {text:?}"));
            }
        }
        Ok(())
    }

    #[test]
    fn extra_percentiles_are_read_from_figures_by_name() {
        assert_eq!(figure_quantile("latency_p75_ms"), Some(0.75));
        let q = figure_quantile("latency_p99_9_ms").expect("a quantile");
        assert!((q - 0.999).abs() < 1e-12, "{q}");
        assert_eq!(figure_quantile("latency_p100_ms"), None);
        assert_eq!(figure_quantile("time_to_last_delivery_ms"), None);
        assert_eq!(figure_quantile("latency_pX_ms"), None);
        let qs: Vec<f64> = points(&report(10.0, 50.0)).iter().map(|p| p.0).collect();
        let expected = [0.5, 0.75, 0.9, 0.99, 0.999, 1.0];
        assert_eq!(qs.len(), expected.len(), "{qs:?}");
        assert!(
            qs.iter().zip(expected).all(|(q, e)| (q - e).abs() < 1e-12),
            "{qs:?}"
        );
    }

    #[test]
    fn the_chart_is_well_formed_svg_with_a_curve_per_report() {
        let svg = svg(
            "broadcast <19k> & 10k",
            &[
                ("19k & more".to_owned(), report(100.0, 900.0)),
                ("10k".to_owned(), report(40.0, 300.0)),
            ],
        );
        let elements = well_formed(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert!(elements > 20, "{elements}");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 12);
        assert!(svg.contains("99.9%"), "{svg}");
        assert!(svg.contains("19k &amp; more"));
    }

    #[test]
    fn the_checker_catches_broken_documents() {
        assert!(well_formed("<svg><g></svg></g>").is_err());
        assert!(well_formed("<svg><text>a < b</text></svg>").is_err());
        assert!(well_formed("<svg><text>a & b</text></svg>").is_err());
        assert!(well_formed("<svg>").is_err());
        assert_eq!(well_formed("<svg><g/><text>a &amp; b</text></svg>"), Ok(3));
    }

    #[test]
    fn an_empty_report_draws_axes_only() {
        let mut empty = report(1.0, 1.0);
        empty.latency_ms = Latency::default();
        empty.figures.clear();
        let svg = svg("empty", &[("none".to_owned(), empty)]);
        assert!(well_formed(&svg).is_ok(), "{svg}");
    }
}
