//! What `rest` and `spike` share: the browsing mix's arguments, its requests (`workload`)
//! run through the open-loop engine, and its report, whose bar is every answer correct.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::mix::{Kind, Mix};
use super::open_loop::{Engine, SendArgs};
use super::profile::Profile;
use super::tally::Run;
use super::workload::{Learned, Workload};
use crate::LoadError;
use crate::report::{Latency, Report};

/// What both scenarios take besides their rate profile.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub send: SendArgs,
    /// Weights of the request kinds: catalog, like, plan (a week read), edit (an entry of
    /// the plan marked done or not done).
    #[arg(long, default_value = "catalog=90,like=5,plan=5")]
    pub mix: Mix,
    /// Simulated users, each with a plan; every fourth has premium access.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// The plan template every user follows.
    #[arg(long, default_value = "lose-weight-2-week-plan")]
    pub plan_template: String,
}

impl LoadArgs {
    /// The parameters every report of these scenarios shows.
    pub fn parameters(&self) -> Map<String, Value> {
        let mut map = self.send.parameters();
        map.insert("mix".into(), json!(self.mix.to_string()));
        map.insert("users".into(), json!(self.users));
        map.insert("plan_template".into(), json!(self.plan_template));
        map
    }
}

/// Prepares the mix, runs `profile` against the target and reports; `parameters` are the
/// scenario's own.
pub async fn run(
    scenario: &'static str,
    args: &LoadArgs,
    profile: Profile,
    mut parameters: Map<String, Value>,
) -> Result<Report, LoadError> {
    let engine = Engine::start(&args.send).await?;
    let workload = Arc::new(
        Workload::prepare(
            engine.pool(),
            engine.minter(),
            &args.mix,
            args.users,
            &args.plan_template,
            engine.token_ttl(&profile),
        )
        .await?,
    );
    let run = engine.run(scenario, &profile, workload.clone()).await;
    parameters.insert("fd_limit".into(), json!(run.fd_limit));
    Ok(report(
        scenario,
        &profile,
        &run,
        Value::Object(parameters),
        workload.learned(),
    ))
}

fn report(
    scenario: &str,
    profile: &Profile,
    run: &Run,
    parameters: Value,
    learned: Learned,
) -> Report {
    let sent = run.sent;
    let ok = run.count("ok");
    // The classes every report shows, even when none happened.
    let mut counts: BTreeMap<String, u64> = ["ok", "wrong_body", "timeout", "connect_error"]
        .into_iter()
        .map(|label| (label.to_owned(), 0))
        .collect();
    counts.extend(run.counts.iter().map(|(k, v)| (k.clone(), *v)));
    let mut latency_by = BTreeMap::new();
    for kind in Kind::ALL {
        if let Some(histogram) = run.by_part.get(kind.as_str())
            && !histogram.is_empty()
        {
            latency_by.insert(kind.as_str().to_owned(), Latency::from_micros(histogram));
        }
    }
    if profile.has_ramp() {
        latency_by.insert("ramp".into(), Latency::from_micros(&run.phases[0]));
        latency_by.insert("hold".into(), Latency::from_micros(&run.phases[1]));
    }
    let correct = if sent == 0 {
        0.0
    } else {
        ok as f64 / sent as f64
    };
    let mut figures = run.figures(profile);
    figures.insert("correct_fraction".into(), correct);
    figures.insert("catalog_items".into(), learned.catalog_items as f64);
    figures.insert("list_queries".into(), learned.list_queries as f64);
    let mut failed = Vec::new();
    if sent == 0 || ok < sent {
        failed.push(format!(
            "{} of {sent} answers not correct (correct fraction {correct:.6}; the bar is 1)",
            sent - ok.min(sent)
        ));
        failed.extend(run.examples.iter().map(|e| format!("  e.g. {e}")));
    }
    Report {
        scenario: scenario.to_owned(),
        parameters,
        counts,
        latency_ms: Latency::from_micros(&run.all),
        latency_by,
        figures,
        failed,
        started_at: run.started_at.clone(),
        host: crate::host_info(),
    }
}
