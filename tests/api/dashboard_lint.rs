//! The rules of Grafana's dashboard-linter (`--strict`), checked on every dashboard in
//! `dashboards/`. The linter itself is not served by the module proxy this project may use,
//! so its rules are restated here by name; a dashboard that breaks one fails with the rule's
//! name, the panel and the query.

use serde_json::Value;

use crate::ops::dashboards;

/// The metric selectors of a PromQL expression: `(metric name, label matchers)`, with an
/// empty matcher text for a bare metric name. Function names (followed by `(`), keywords,
/// label names in `by (...)` and durations are not selectors.
fn selectors(expr: &str) -> Vec<(String, String)> {
    const KEYWORDS: [&str; 12] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "le",
    ];
    let bytes = expr.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    let mut in_grouping = false;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c == '"' {
            // Skip a string (label values, legend text).
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        if c == '[' {
            // A range: `[$__rate_interval]`, `[5m]`.
            while i < bytes.len() && bytes[i] != b']' {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < bytes.len()
                && ((bytes[i] as char).is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b':')
            {
                i += 1;
            }
            let word = &expr[start..i];
            let rest = expr[i..].trim_start();
            if KEYWORDS.contains(&word) {
                in_grouping = matches!(word, "by" | "without" | "on" | "ignoring");
                continue;
            }
            let aggregation = rest.starts_with("by") || rest.starts_with("without");
            if rest.starts_with('(') || in_grouping || aggregation {
                // A function, an aggregation with its grouping, or a label after `by`.
                continue;
            }
            if let Some(after) = rest.strip_prefix('{') {
                let end = matchers_end(after);
                found.push((word.to_owned(), after[..end].to_owned()));
                i = expr.len() - after.len() + end;
            } else {
                found.push((word.to_owned(), String::new()));
            }
            continue;
        }
        if c == ')' {
            in_grouping = false;
        }
        i += 1;
    }
    found
}

/// Where the label matchers that `text` starts with end: the `}` outside any string.
fn matchers_end(text: &str) -> usize {
    let mut in_string = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '}' if !in_string => return at,
            _ => {}
        }
    }
    text.len()
}

/// Every query panel's targets, with the panel's title.
fn targets(dashboard: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?").to_owned();
            found.push((title, target.clone()));
        }
    }
    found
}

fn variable<'a>(dashboard: &'a Value, name: &str) -> Option<&'a Value> {
    dashboard["templating"]["list"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

fn uses_datasource_variable(datasource: &Value) -> bool {
    matches!(
        datasource["uid"].as_str(),
        Some("${datasource}" | "$datasource")
    ) || matches!(datasource.as_str(), Some("${datasource}" | "$datasource"))
}

fn lint(name: &str, dashboard: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let mut fail = |rule: &str, what: String| errors.push(format!("{name}: {rule}: {what}"));

    // uneditable-dashboard
    if dashboard["editable"] != false {
        fail("uneditable-dashboard", "`editable` must be false".into());
    }
    // template-datasource-rule
    match variable(dashboard, "datasource") {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
        _ => fail(
            "template-datasource-rule",
            "a `datasource` variable of type datasource for prometheus".into(),
        ),
    }
    // template-job-rule, template-instance-rule, template-on-time-change-reload-rule
    for (var, rule) in [
        ("job", "template-job-rule"),
        ("instance", "template-instance-rule"),
    ] {
        let Some(v) = variable(dashboard, var) else {
            fail(rule, format!("no `{var}` variable"));
            continue;
        };
        if v["type"] != "query" || !uses_datasource_variable(&v["datasource"]) {
            fail(rule, format!("`{var}` is a query variable on $datasource"));
        }
        if v["multi"] != true || v["includeAll"] != true {
            fail(
                rule,
                format!("`{var}` must be multi-select and include All"),
            );
        }
        if v["allValue"] != ".+" {
            fail(rule, format!("`{var}` must have allValue `.+`"));
        }
        if v["refresh"] != 2 {
            fail(
                "template-on-time-change-reload-rule",
                format!("`{var}` must refresh on time range change (2)"),
            );
        }
    }

    for panel in dashboard["panels"].as_array().expect("panels") {
        let kind = panel["type"].as_str().unwrap_or_default();
        let title = panel["title"].as_str().unwrap_or_default();
        if kind == "row" {
            continue;
        }
        // panel-title-description-rule
        if title.is_empty() || panel["description"].as_str().unwrap_or_default().is_empty() {
            fail(
                "panel-title-description-rule",
                format!("panel {title:?} needs a title and a description"),
            );
        }
        if kind == "text" {
            continue;
        }
        // panel-datasource-rule
        if !uses_datasource_variable(&panel["datasource"]) {
            fail(
                "panel-datasource-rule",
                format!("panel {title:?} must use $datasource"),
            );
        }
        // panel-no-targets-rule
        if panel["targets"].as_array().is_none_or(|t| t.is_empty()) {
            fail(
                "panel-no-targets-rule",
                format!("panel {title:?} has no targets"),
            );
        }
        // panel-units-rule
        let units_apply = matches!(kind, "timeseries" | "stat" | "gauge" | "bargauge" | "graph");
        if units_apply
            && panel["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        {
            fail("panel-units-rule", format!("panel {title:?} has no unit"));
        }
    }

    for (title, target) in targets(dashboard) {
        let expr = target["expr"].as_str().unwrap_or_default();
        if expr.is_empty() {
            fail(
                "target-promql-rule",
                format!("panel {title:?} has a target without a query"),
            );
            continue;
        }
        // target-job-rule, target-instance-rule
        for (metric, matchers) in selectors(expr) {
            if !matchers.contains(r#"job=~"$job""#) {
                fail(
                    "target-job-rule",
                    format!("panel {title:?}: `{metric}` needs job=~\"$job\" in {expr}"),
                );
            }
            if !matchers.contains(r#"instance=~"$instance""#) {
                fail(
                    "target-instance-rule",
                    format!("panel {title:?}: `{metric}` needs instance=~\"$instance\" in {expr}"),
                );
            }
            // target-counter-agg-rule: a counter is only read through rate() or increase().
            let counter = metric.ends_with("_total")
                || metric.ends_with("_bucket")
                || metric.ends_with("_count");
            if counter {
                let at = expr
                    .find(&format!("{metric}{{"))
                    .or_else(|| expr.find(&metric))
                    .unwrap_or(0);
                let before = expr[..at].trim_end();
                let wrapped = ["rate(", "irate(", "increase("]
                    .iter()
                    .any(|f| before.ends_with(f));
                if !wrapped {
                    fail(
                        "target-counter-agg-rule",
                        format!(
                            "panel {title:?}: counter `{metric}` outside rate()/increase() in {expr}"
                        ),
                    );
                }
            }
        }
        // target-rate-interval-rule
        for range in expr.split('[').skip(1) {
            let window = range.split(']').next().unwrap_or_default();
            if window != "$__rate_interval" {
                fail(
                    "target-rate-interval-rule",
                    format!(
                        "panel {title:?}: range [{window}] must be [$__rate_interval] in {expr}"
                    ),
                );
            }
        }
    }
    errors
}

#[test]
fn the_selector_reader_finds_every_metric_and_only_metrics() {
    let found = selectors(
        r#"histogram_quantile(0.99, sum by (le) (rate(fitpulse_x_bucket{job=~"$job", le!="a{b}"}[$__rate_interval]))) / up"#,
    );
    let names: Vec<&str> = found.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["fitpulse_x_bucket", "up"]);
    assert!(found[0].1.contains(r#"job=~"$job""#));
    assert_eq!(found[1].1, "");
}

/// A positive control: a dashboard with each fault is refused under the fault's rule.
#[test]
fn the_rules_refuse_what_the_linter_refuses() {
    let bad: Value = serde_json::json!({
        "editable": true,
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "job", "type": "query", "datasource": {"uid": "${datasource}"}, "refresh": 2},
        ]},
        "panels": [{
            "type": "timeseries", "title": "T", "datasource": {"uid": "prom"},
            "fieldConfig": {"defaults": {}},
            "targets": [{"expr": r#"sum(fitpulse_x_total{job="$job"}) + rate(fitpulse_y_total{job=~"$job", instance=~"$instance"}[5m])"#}],
        }],
    });
    let errors = lint("bad.json", &bad).join("\n");
    for rule in [
        "uneditable-dashboard",
        "template-job-rule",
        "template-instance-rule",
        "panel-title-description-rule",
        "panel-datasource-rule",
        "panel-units-rule",
        "target-job-rule",
        "target-instance-rule",
        "target-counter-agg-rule",
        "target-rate-interval-rule",
    ] {
        assert!(errors.contains(rule), "{rule} not reported:\n{errors}");
    }
}

#[test]
fn every_dashboard_passes_the_dashboard_linter_rules() {
    let all = dashboards();
    assert!(all.len() >= 3, "the overview, live and commerce dashboards");
    let errors: Vec<String> = all
        .iter()
        .flat_map(|(name, dashboard)| lint(name, dashboard))
        .collect();
    assert!(
        errors.is_empty(),
        "{} lint errors:\n{}",
        errors.len(),
        errors.join("\n")
    );
}
